// Small pieces the benchmarks share (header-only; bench/*.cpp are one executable each).
#pragma once
#include <sstream>
#include <string>
#include <vector>

namespace illume::bench {

// "f32,bf16" -> {"f32", "bf16"}; empty items are skipped.
inline std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> items;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');)
    if (!item.empty()) items.push_back(item);
  return items;
}

}  // namespace illume::bench
