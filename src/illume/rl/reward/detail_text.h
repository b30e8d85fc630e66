// Internal helpers that turn arbitrary response bytes into short, printable, valid-UTF-8 ASCII for
// RewardResult::detail (responses may hold NUL bytes, invalid UTF-8 or megabytes of text).
#pragma once
#include <cstdio>
#include <string>
#include <string_view>

namespace illume::reward::detail {

// "'c'" for printable ASCII, "byte 0xE2" otherwise.
inline std::string describe_byte(char c) {
  unsigned char u = static_cast<unsigned char>(c);
  if (u >= 0x20 && u < 0x7f) return std::string("'") + c + "'";
  char buffer[16];
  std::snprintf(buffer, sizeof buffer, "byte 0x%02X", u);
  return buffer;
}

// At most max_chars bytes of text, non-printable or non-ASCII bytes as '?', "..." when cut.
inline std::string excerpt(std::string_view text, std::size_t max_chars = 40) {
  std::string out;
  for (std::size_t i = 0; i < text.size() && i < max_chars; ++i) {
    unsigned char u = static_cast<unsigned char>(text[i]);
    out.push_back(u >= 0x20 && u < 0x7f ? static_cast<char>(u) : '?');
  }
  if (text.size() > max_chars) out += "...";
  return out;
}

}  // namespace illume::reward::detail
