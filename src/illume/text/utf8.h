// Small UTF-8 helpers shared by the tokenizer and text code. No allocation, no locale.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace illume::utf8 {

// Offset (0-based) of the first byte of the first ill-formed sequence, or nullopt when `text` is
// well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF).
std::optional<std::size_t> find_invalid(std::string_view text);

// Decodes the code point that starts at text[pos] and sets `length` to its byte count.
// Precondition: `text` is well-formed UTF-8 and pos is a character boundary.
char32_t decode_at(std::string_view text, std::size_t pos, std::size_t& length);

// Code point of the character that ends just before text[end] (`length` its byte count).
// Precondition as for decode_at; end > 0.
char32_t decode_before(std::string_view text, std::size_t end, std::size_t& length);

// Appends the UTF-8 encoding of `code_point` (which must be a valid scalar value).
void append(std::string& out, char32_t code_point);

// Unicode White_Space, the set Rust's char::is_whitespace uses.
bool is_whitespace(char32_t code_point);

}  // namespace illume::utf8
