// The Countdown reward under the TinyZero rule (rl/reward/countdown.h): answer extraction, the
// arithmetic parser and its evaluation, on arbitrary responses. It never throws, and its reward is
// one of 0, the format reward and the correct reward.
#include <cmath>

#include "fuzz_common.h"
#include "fuzz_reward_common.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size), response;
  auto problem = illume::fuzz::split_countdown(input, response);
  illume::reward::CountdownRewardOptions options;
  options.rule = illume::reward::CountdownRule::TinyZero;
  options.use_all_numbers = size % 2 == 0;
  illume::reward::RewardResult result;
  try {
    result = illume::reward::countdown_reward(response, problem, options);
  } catch (const std::exception& e) {
    illume::fuzz::finding(std::string("countdown_reward threw: ") + e.what());
  }
  const double format = illume::reward::countdown_format_reward(options);
  if (!(result.reward == 0 || result.reward == format || result.reward == options.correct_reward))
    illume::fuzz::finding("reward " + std::to_string(result.reward) + " is not 0, format or correct");
  if (result.correct != (result.reward == options.correct_reward)) illume::fuzz::finding("correct flag disagrees with the reward");
  if (result.correct && !result.formatted) illume::fuzz::finding("correct but not formatted");
  // Python's arithmetic on its own, on the whole response.
  auto value = illume::reward::evaluate_python_arithmetic(response);
  if (value.value) {
    (void)value.value->to_string();
    (void)illume::reward::python_close_to(*value.value, problem.target);
  }
  return 0;
}
