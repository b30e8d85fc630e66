// GPT-2's byte-level alphabet, shared by the tokenizer and the tokenizer builder.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "illume/text/utf8.h"

namespace illume {

// GPT-2's bytes_to_unicode: printable bytes stand for themselves, the other 68 bytes are shifted
// to U+0100..U+0143, so every byte is a visible character and a token is a plain string.
struct ByteAlphabet {
  // The token string (UTF-8 of the alphabet characters) that stands for these bytes.
  std::string encode(std::string_view bytes) const {
    std::string out;
    for (unsigned char b : bytes) utf8::append(out, byte_to_char[b]);
    return out;
  }

  std::array<char32_t, 256> byte_to_char{};
  std::array<std::int16_t, 324> char_to_byte{};  // -1 for characters outside the alphabet

  ByteAlphabet() {
    char_to_byte.fill(-1);
    char32_t shifted = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
      byte_to_char[b] = printable ? char32_t(b) : shifted++;
      char_to_byte[byte_to_char[b]] = static_cast<std::int16_t>(b);
    }
  }
  // The bytes a byte-level token stands for, or nullopt if it has a character outside the alphabet.
  std::optional<std::string> decode(std::string_view token) const {
    std::string bytes;
    bytes.reserve(token.size());
    for (std::size_t i = 0; i < token.size();) {
      std::size_t length = 0;
      const char32_t c = utf8::decode_at(token, i, length);
      if (c >= char_to_byte.size() || char_to_byte[c] < 0) return std::nullopt;
      bytes.push_back(static_cast<char>(char_to_byte[c]));
      i += length;
    }
    return bytes;
  }
};

}  // namespace illume
