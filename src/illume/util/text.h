// Small text helpers shared by the whole library: ASCII white space, trimming, shapes in messages.
#pragma once
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <string>
#include <string_view>

namespace illume {

// The C locale's white space (" \t\n\r\v\f"), independent of the process locale.
constexpr bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

// `text` without leading and trailing white space (a view into `text`).
constexpr std::string_view trim(std::string_view text) {
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  return text;
}

// "[2, 3]": a shape (any range of integers: std::vector<std::int64_t>, at::IntArrayRef) for messages.
template <typename Sizes>
std::string shape_of(const Sizes& sizes) {
  return fmt::format("[{}]", fmt::join(sizes, ", "));
}

}  // namespace illume
