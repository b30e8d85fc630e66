// Prompts as a model is given them, for the commands that take free-form prompts (generate, analyze,
// perturb): a prompt text (a JSONL row or a flag) and a format -> token ids. Task prompts (Countdown,
// GSM8K, ...) are built by data/tasks.h instead (data/task_prompts.h for those commands' --task).
//
//   chat:  Qwen's chat template: [system message,] user message, generation prompt (chat.h)
//   plain: a base-model prompt, "{system}\n\n{text}" (just the text when there is no system line)
//
// Prompt rows (JSONL, one object a line): {"prompt"|"question"|"problem": TEXT[, "system": TEXT]};
// "question" is GSM8K's field, "problem" MATH's, so those files are prompt files as they are. A row's
// "system" replaces the format's. Errors name "PATH:LINE" (the line in the file, blank lines counted).
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "illume/text/tokenizer.h"
#include "illume/util/json.h"

namespace illume {

struct PromptFormat {
  bool chat = false;            // chat template with the generation prompt; else plain
  std::string system;           // system message (chat) or first paragraph (plain); empty: none
  bool enable_thinking = true;  // chat: false adds the empty think block (Qwen3's enable_thinking=false)
};

// The ids of `text` in `format`. Fails naming `source` on invalid UTF-8 and on a prompt of no tokens.
std::vector<std::int32_t> encode_prompt(const Tokenizer& tokenizer, const std::string& text, const PromptFormat& format,
                                        const std::string& source);

struct PromptRow {
  std::string text;
  std::optional<std::string> system;  // the row's own system line
  std::string source;                 // "PATH:LINE"
};

// The prompt of one JSONL row ("prompt", else "question", else "problem"); `source` names errors.
PromptRow prompt_row_from_json(const Json& row, const std::string& source);

// The prompt rows of a JSONL file; limit > 0 keeps the first `limit`. Fails "PATH: no prompts" when empty.
std::vector<PromptRow> read_prompt_rows(const std::filesystem::path& path, std::int64_t limit = 0);

// Prompts ready for generation: ids[i] is texts[i] encoded.
struct EncodedPrompts {
  std::vector<std::vector<std::int32_t>> ids;
  std::vector<std::string> texts;  // as given (without the format), for reports and outputs
};

// read_prompt_rows + encode_prompt (each row's own system line replacing the format's).
EncodedPrompts encode_prompt_file(const Tokenizer& tokenizer, const std::filesystem::path& path,
                                  const PromptFormat& format, std::int64_t limit = 0);

// The ids below `vocab` (a model's embedding table is often padded beyond its tokenizer's vocabulary,
// and a random or poorly trained model can pick those rows; they have no text).
inline std::vector<std::int32_t> known_ids(const std::vector<std::int32_t>& ids, std::int64_t vocab) {
  std::vector<std::int32_t> out;
  for (auto id : ids)
    if (id >= 0 && id < vocab) out.push_back(id);
  return out;
}

// Ids must lie in [0, vocab): "SOURCE: id 999999 is outside the vocabulary (size N)".
void check_ids_in_vocabulary(const std::vector<std::int32_t>& ids, std::int64_t vocab, const std::string& source);

}  // namespace illume
