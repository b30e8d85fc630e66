// Input layout of the Countdown reward targets: the first line holds the numbers, the last of them
// the target ("25 5 3 90"); the rest of the input is the response.
#pragma once
#include <cstdlib>
#include <string_view>

#include "illume/rl/reward/countdown.h"

namespace illume::fuzz {

inline illume::reward::CountdownProblem split_countdown(std::string_view input, std::string_view& response) {
  illume::reward::CountdownProblem problem;
  auto newline = input.find('\n');
  std::string_view first = input.substr(0, newline);
  response = newline == std::string_view::npos ? std::string_view() : input.substr(newline + 1);
  std::vector<std::int64_t> values;
  std::size_t i = 0;
  while (i < first.size() && values.size() < 8) {
    while (i < first.size() && first[i] == ' ') ++i;
    std::size_t start = i;
    if (i < first.size() && first[i] == '-') ++i;
    std::int64_t value = 0;
    bool digits = false;
    while (i < first.size() && first[i] >= '0' && first[i] <= '9' && value < 1'000'000'000'000LL) {
      value = value * 10 + (first[i] - '0');
      ++i;
      digits = true;
    }
    if (!digits) break;
    values.push_back(first[start] == '-' ? -value : value);
  }
  if (!values.empty()) {
    problem.target = values.back();
    values.pop_back();
  }
  problem.nums = values;
  return problem;
}

}  // namespace illume::fuzz
