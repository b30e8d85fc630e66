#include "illume/text/prompt.h"

#include "illume/text/chat.h"
#include "illume/text/utf8.h"
#include "illume/util/error.h"
#include "illume/util/jsonl.h"

namespace illume {

namespace {

// The template text is ours and valid; the user's parts are checked here so that the message names
// their source rather than failing later inside the tokenizer.
void check_utf8(const std::string& text, const std::string& what, const std::string& source) {
  if (auto bad = utf8::find_invalid(text)) fail("{}: invalid UTF-8 in the {} at byte {}", source, what, *bad);
}

}  // namespace

std::vector<std::int32_t> encode_prompt(const Tokenizer& tokenizer, const std::string& text, const PromptFormat& format,
                                        const std::string& source) {
  check_utf8(text, "prompt", source);
  check_utf8(format.system, "system line", source);
  std::vector<std::int32_t> ids;
  if (format.chat) {
    std::vector<ChatMessage> messages;
    if (!format.system.empty()) messages.push_back({"system", format.system});
    messages.push_back({"user", text});
    ids = tokenizer.encode(format_chat(messages, /*add_generation_prompt=*/true, format.enable_thinking),
                           /*parse_special=*/true, source);
  } else {
    // Plain text is a base model's input: special-token text in it stays text.
    ids = tokenizer.encode(format_plain(format.system, text), /*parse_special=*/false, source);
  }
  if (ids.empty()) fail("{}: the prompt is empty", source);
  return ids;
}

PromptRow prompt_row_from_json(const Json& row, const std::string& source) {
  if (!row.is_object()) fail("{}: expected a JSON object, found {}", source, row.type_name());
  PromptRow prompt;
  prompt.source = source;
  bool found = false;
  for (const char* key : {"prompt", "question", "problem"}) {
    auto it = row.find(key);
    if (it != row.end() && it->is_string()) {
      prompt.text = it->get<std::string>();
      found = true;
      break;
    }
  }
  if (!found) fail("{}: no 'prompt' (or 'question'/'problem') string", source);
  if (auto it = row.find("system"); it != row.end() && !it->is_null()) {
    if (!it->is_string()) fail("{}: 'system' must be a string (it is {})", source, it->type_name());
    prompt.system = it->get<std::string>();
  }
  return prompt;
}

std::vector<PromptRow> read_prompt_rows(const std::filesystem::path& path, std::int64_t limit) {
  std::vector<PromptRow> prompts;
  for (const auto& row : read_jsonl_rows(path)) {
    if (limit > 0 && static_cast<std::int64_t>(prompts.size()) >= limit) break;
    prompts.push_back(prompt_row_from_json(row.value, row_source(path, row)));
  }
  if (prompts.empty()) fail("{}: no prompts", path.string());
  return prompts;
}

EncodedPrompts encode_prompt_file(const Tokenizer& tokenizer, const std::filesystem::path& path,
                                  const PromptFormat& format, std::int64_t limit) {
  EncodedPrompts out;
  for (auto& row : read_prompt_rows(path, limit)) {
    PromptFormat row_format = format;
    if (row.system) row_format.system = *row.system;
    out.ids.push_back(encode_prompt(tokenizer, row.text, row_format, row.source));
    out.texts.push_back(std::move(row.text));
  }
  return out;
}

void check_ids_in_vocabulary(const std::vector<std::int32_t>& ids, std::int64_t vocab, const std::string& source) {
  for (auto id : ids)
    if (id < 0 || id >= vocab) fail("{}: id {} is outside the vocabulary (size {})", source, id, vocab);
}

}  // namespace illume
