// The outcome of scoring one response: what every reward function returns.
#pragma once
#include <string>

namespace illume::reward {

struct RewardResult {
  double reward = 0.0;     // the scalar reward given to the RL update
  bool correct = false;    // the answer is right
  bool formatted = false;  // the answer was found where the task asks for it and parsed
  std::string detail;      // short reason, e.g. "no <answer> tag", "uses 7 twice", "result 12 != 15"
};

}  // namespace illume::reward
