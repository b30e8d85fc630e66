// End-to-end GRPO on CPU: a tiny random model learns a synthetic task within a few dozen steps.
//
// The task: Countdown prompts, but the reward is the share of the response's characters that are
// decimal digits ("answer with a number"; tests/torch/train_test_util.h). A random-init model emits
// some digits, so every group has reward variance from step 1 and the signal is dense; the policy
// must shift probability mass onto ~10 of ~560 tokens, which GRPO does in a few dozen AdamW steps.
// We check that the mean reward over the last steps clearly exceeds that over the first steps, for
// plain GRPO (credit none) and for coupled rhythm credit (which runs the attention pass every step).
#include <torch/torch.h>

#include "common.h"
#include "illume/train/grpo_trainer.h"
#include "illume/util/config.h"
#include "train_test_util.h"

using namespace illume;
namespace fs = std::filesystem;

namespace {

std::vector<double> train_rewards(const std::string& strategy) {
  auto dir = test::scratch_dir() / strategy;
  auto model_dir = test::make_tiny_model(dir / "model", 3);
  auto root = test::tiny_grpo_recipe(model_dir, strategy, dir / "run", 30, "e2e.yaml");
  auto config = train::train_config_from_json(root, "e2e.yaml");
  train::GrpoTrainer trainer(config, Model::load(model_dir), Tokenizer::from_dir(model_dir), model_dir,
                             test::tiny_countdown_problems(40), test::digit_share_reward);
  trainer.run();
  std::vector<double> rewards;
  for (const auto& row : read_jsonl_file(dir / "run" / "metrics.jsonl")) rewards.push_back(row["reward/mean"].get<double>());
  return rewards;
}

void expect_reward_rises(const std::vector<double>& r, const std::string& strategy) {
  ASSERT_EQ(r.size(), 30u);
  double first = 0, last = 0;
  for (int i = 0; i < 5; ++i) first += r[i] / 5;
  for (int i = 25; i < 30; ++i) last += r[i] / 5;
  std::string all;
  for (double x : r) all += fmt::format("{:.3f} ", x);
  std::printf("[%s] reward per step: %s\n", strategy.c_str(), all.c_str());
  EXPECT_GT(last, first + 0.2) << strategy << ": first 5 steps " << first << ", last 5 steps " << last;
}

}  // namespace

TEST(TrainEndToEnd, RewardRisesWithPlainGrpo) { expect_reward_rises(train_rewards("none"), "none"); }

TEST(TrainEndToEnd, RewardRisesWithCoupledCredit) { expect_reward_rises(train_rewards("coupled"), "coupled"); }
