// Which prompt format a model folder expects, so that `illume eval` (and friends) default to it: the
// default model was trained on chat-formatted prompts, and scoring it on plain ones measured nothing.
//
// The format is recorded in the folder's tokenizer_config.json as "illume_prompt_style": "chat" or
// "plain" (illume's trainers write it into every model folder they save; transformers ignores the
// key). A folder without the key (a Hugging Face checkpoint) is treated as plain, the base-model
// template the paper uses; `--chat` / `--plain` override either way.
#pragma once
#include <filesystem>
#include <optional>

#include "illume/data/tasks.h"

namespace illume::data {

inline constexpr const char* kPromptStyleKey = "illume_prompt_style";

// The recorded style, or nullopt when the folder records none. Fails naming the file when the key holds
// something else than "chat" or "plain".
std::optional<PromptStyle> recorded_prompt_style(const std::filesystem::path& model_dir);
// Records `style` in DIR/tokenizer_config.json (created if absent), atomically.
void record_prompt_style(const std::filesystem::path& model_dir, PromptStyle style);

// The style a command uses: --chat or --plain when given (both: an error), else the recorded one, else plain.
PromptStyle resolve_prompt_style(const std::filesystem::path& model_dir, bool chat_flag, bool plain_flag);

}  // namespace illume::data
