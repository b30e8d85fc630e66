// Prompt formatting without a template engine.
//
// format_chat renders Qwen3's chat template (ChatML with <think> handling), the one in Qwen3's
// tokenizer_config.json, for messages without tools or tool calls:
//   <|im_start|>{role}\n{content}<|im_end|>\n            for each message
//   <|im_start|>assistant\n                              when add_generation_prompt
//   <think>\n\n</think>\n\n                              also, when enable_thinking is false
// Assistant messages follow the template's reasoning rules: a "<think>...</think>" block is
// dropped from assistant turns before the last user query, and re-written as
// "<think>\n{reasoning}\n</think>\n\n{answer}" in turns after it. Messages with role "tool" are
// wrapped in <tool_response> blocks inside a user turn, as the template does.
// The result contains special-token text (<|im_start|>): encode it with parse_special = true.
#pragma once
#include <string>
#include <vector>

namespace illume {

struct ChatMessage {
  std::string role;  // "system", "user", "assistant" or "tool"; other roles fail
  std::string content;
};

// Throws illume::Error for an unknown role.
std::string format_chat(const std::vector<ChatMessage>& messages, bool add_generation_prompt, bool enable_thinking);

// A prompt for base (non-chat) models: the system text, a blank line, then the user text,
// with no special tokens: "{system}\n\n{user}". With an empty system text, just the user text.
std::string format_plain(const std::string& system, const std::string& user);

}  // namespace illume
