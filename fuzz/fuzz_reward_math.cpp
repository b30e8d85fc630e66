// The math reward (rl/reward/math.cpp): \boxed extraction, answer normalisation, number parsing and
// equality. The first line of the input is the reference answer, the rest the response. Equality is
// symmetric and reflexive for anything that normalises to a non-empty string.
#include "fuzz_common.h"
#include "illume/rl/reward/math.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto newline = input.find('\n');
  std::string_view reference = input.substr(0, newline);
  std::string_view response = newline == std::string_view::npos ? std::string_view() : input.substr(newline + 1);
  try {
    auto result = illume::reward::math_reward(response, reference);
    if (!(result.reward == 0 || result.reward == 1)) illume::fuzz::finding("math reward is not 0 or 1");
    if (result.correct != (result.reward == 1)) illume::fuzz::finding("correct flag disagrees with the reward");
    auto boxed = illume::reward::extract_last_boxed(response);
    std::string normalized = illume::reward::normalize_math_answer(reference);
    (void)illume::reward::parse_math_number(normalized);
    if (boxed) {
      bool forward = illume::reward::math_answers_equal(*boxed, reference);
      bool backward = illume::reward::math_answers_equal(reference, *boxed);
      if (forward != backward) illume::fuzz::finding("math_answers_equal is not symmetric");
    }
    if (!normalized.empty() && reference.size() <= illume::reward::kMathMaxAnswerLength &&
        !illume::reward::math_answers_equal(reference, reference))
      illume::fuzz::finding("an answer is not equal to itself");
  } catch (const std::exception& e) {
    illume::fuzz::finding(std::string("math reward threw: ") + e.what());
  }
  return 0;
}
