// Task prompts for the commands that take prompts (generate, analyze, perturb): a task's data file
// (`--task countdown --data test.jsonl`) becomes the very prompts that train and eval give the model
// (tasks.h prompt_text), so nobody copies a template out of the source.
//
//   chat:  the chat template around build_prompt's user text, generation prompt appended; no system
//          message unless one is given (Countdown has none; the math tasks carry their \boxed{}
//          instruction in the user text already)
//   plain: build_prompt's base-model text; a given system line goes in front as a first paragraph
// Without a system line and with thinking on, the text is exactly prompt_text's.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "illume/data/tasks.h"
#include "illume/text/prompt.h"
#include "illume/text/tokenizer.h"

namespace illume::data {

// The whole prompt text of `problem` in `format` (format.chat: chat, else plain; format.system and
// format.enable_thinking as above). Encode it with parse_special = true, as eval does.
std::string task_prompt_text(Task task, const Problem& problem, const PromptFormat& format);

// The problems of `path` (limit > 0: the first `limit`), encoded; texts[i] is build_prompt's text
// (the user message), for reports. Fails naming "PATH:LINE" on a bad row and "PATH: no problems" on
// an empty file.
EncodedPrompts encode_task_prompts(const Tokenizer& tokenizer, Task task, const std::filesystem::path& path,
                                   const PromptFormat& format, std::int64_t limit = 0);

}  // namespace illume::data
