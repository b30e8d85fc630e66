#include "illume/text/chat.h"

#include <string_view>

#include "illume/util/error.h"

namespace illume {
namespace {

constexpr std::string_view kThinkOpen = "<think>";
constexpr std::string_view kThinkClose = "</think>";

// Python's str.lstrip('\n'), rstrip('\n') and strip('\n').
std::string_view lstrip_newlines(std::string_view s) {
  while (!s.empty() && s.front() == '\n') s.remove_prefix(1);
  return s;
}
std::string_view rstrip_newlines(std::string_view s) {
  while (!s.empty() && s.back() == '\n') s.remove_suffix(1);
  return s;
}
std::string_view strip_newlines(std::string_view s) { return rstrip_newlines(lstrip_newlines(s)); }

bool is_tool_response(std::string_view content) {
  return content.starts_with("<tool_response>") && content.ends_with("</tool_response>");
}

}  // namespace

std::string format_chat(const std::vector<ChatMessage>& messages, bool add_generation_prompt, bool enable_thinking) {
  for (const ChatMessage& message : messages) {
    const std::string& role = message.role;
    if (role != "system" && role != "user" && role != "assistant" && role != "tool") {
      fail("format_chat: unknown role '{}' (expected system, user, assistant or tool)", role);
    }
  }
  const std::size_t count = messages.size();
  std::string out;
  if (count > 0 && messages[0].role == "system") {
    out += "<|im_start|>system\n" + messages[0].content + "<|im_end|>\n";
  }
  // The last user message that is a real query (not a tool response wrapped as a user turn).
  std::size_t last_query = count == 0 ? 0 : count - 1;
  for (std::size_t i = count; i-- > 0;) {
    if (messages[i].role == "user" && !is_tool_response(messages[i].content)) {
      last_query = i;
      break;
    }
  }
  for (std::size_t i = 0; i < count; ++i) {
    const ChatMessage& message = messages[i];
    const bool first = i == 0, last = i + 1 == count;
    if (message.role == "user" || (message.role == "system" && !first)) {
      out += "<|im_start|>" + message.role + "\n" + message.content + "<|im_end|>\n";
    } else if (message.role == "assistant") {
      std::string_view content = message.content;
      std::string_view reasoning;
      const std::size_t close = content.find(kThinkClose);
      if (close != std::string_view::npos) {
        // reasoning: text before the first </think>, after the last <think> in it.
        std::string_view before = rstrip_newlines(content.substr(0, close));
        const std::size_t open = before.rfind(kThinkOpen);
        if (open != std::string_view::npos) before = before.substr(open + kThinkOpen.size());
        reasoning = lstrip_newlines(before);
        // content: text after the last </think>.
        content = lstrip_newlines(content.substr(content.rfind(kThinkClose) + kThinkClose.size()));
      }
      out += "<|im_start|>assistant\n";
      if (i > last_query && (last || !reasoning.empty())) {
        out += "<think>\n";
        out += strip_newlines(reasoning);
        out += "\n</think>\n\n";
        out += lstrip_newlines(content);
      } else {
        out += content;
      }
      out += "<|im_end|>\n";
    } else if (message.role == "tool") {
      if (first || messages[i - 1].role != "tool") out += "<|im_start|>user";
      out += "\n<tool_response>\n" + message.content + "\n</tool_response>";
      if (last || messages[i + 1].role != "tool") out += "<|im_end|>\n";
    }
  }
  if (add_generation_prompt) {
    out += "<|im_start|>assistant\n";
    if (!enable_thinking) out += "<think>\n\n</think>\n\n";
  }
  return out;
}

std::string format_plain(const std::string& system, const std::string& user) {
  if (system.empty()) return user;
  return system + "\n\n" + user;
}

}  // namespace illume
