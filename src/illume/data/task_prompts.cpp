#include "illume/data/task_prompts.h"

#include <fmt/format.h>

#include "illume/text/chat.h"
#include "illume/util/error.h"

namespace illume::data {

std::string task_prompt_text(Task task, const Problem& problem, const PromptFormat& format) {
  const auto style = format.chat ? PromptStyle::Chat : PromptStyle::Plain;
  if (format.system.empty() && format.enable_thinking) return prompt_text(task, problem, style);
  const auto text = build_prompt(task, problem, style);
  if (!format.chat) return format_plain(format.system, text);
  std::vector<ChatMessage> messages;
  if (!format.system.empty()) messages.push_back({"system", format.system});
  messages.push_back({"user", text});
  return format_chat(messages, /*add_generation_prompt=*/true, format.enable_thinking);
}

EncodedPrompts encode_task_prompts(const Tokenizer& tokenizer, Task task, const std::filesystem::path& path,
                                   const PromptFormat& format, std::int64_t limit) {
  auto problems = load_problems(task, path);
  if (problems.empty()) fail("{}: no problems", path.string());
  if (limit > 0 && static_cast<std::int64_t>(problems.size()) > limit) problems.resize(static_cast<std::size_t>(limit));
  EncodedPrompts out;
  for (std::size_t i = 0; i < problems.size(); ++i) {
    const auto source = fmt::format("{} problem {}", path.string(), i);
    out.ids.push_back(tokenizer.encode(task_prompt_text(task, problems[i], format), /*parse_special=*/true, source));
    out.texts.push_back(build_prompt(task, problems[i], format.chat ? PromptStyle::Chat : PromptStyle::Plain));
  }
  return out;
}

}  // namespace illume::data
