// GRPO advantages, informative groups and token advantages (METHOD.md section 4), hand-computed.
#include <torch/torch.h>

#include <cmath>

#include "illume/rl/advantage.h"
#include "rl_test_util.h"

using namespace illume;
using illume::test::expect_rows_near;
using illume::test::expect_values_near;
using illume::test::mask_of_lengths;
using illume::test::rows;

// Rewards {1, 0, 0, 0}: mean 0.25, deviations {0.75, -0.25, -0.25, -0.25}, sum of squares 0.75,
// sample variance 0.75 / 3 = 0.25, std 0.5 -> A = {1.5, -0.5, -0.5, -0.5} (up to eps).
TEST(AdvantageGrpo, GroupOfFourUsesTheSampleStd) {
  auto a = grpo_advantages(torch::tensor({1.0f, 0.0f, 0.0f, 0.0f}), 4);
  EXPECT_EQ(a.scalar_type(), at::kFloat);
  const double s = 0.5 + 1e-6;
  expect_values_near(a, {0.75 / s, -0.25 / s, -0.25 / s, -0.25 / s}, 1e-6);
  expect_values_near(a, {1.5, -0.5, -0.5, -0.5}, 1e-5);
}

// Two groups of 4: {3, 1, 2, 6} (mean 3, deviations {0, -2, -1, 3}, SS 14, std sqrt(14/3)) and a
// zero-variance group {2, 2, 2, 2} whose advantages are exactly 0.
TEST(AdvantageGrpo, GroupsAreIndependentAndZeroVarianceGivesZero) {
  auto rewards = torch::tensor({3.0, 1.0, 2.0, 6.0, 2.0, 2.0, 2.0, 2.0}, torch::kDouble);
  auto a = grpo_advantages(rewards, 4, 0.0);
  EXPECT_EQ(a.scalar_type(), at::kDouble);
  const double s = std::sqrt(14.0 / 3.0);
  expect_values_near(a, {0.0, -2.0 / s, -1.0 / s, 3.0 / s, 0, 0, 0, 0}, 1e-12);
  auto exact_zero = a.narrow(0, 4, 4);
  EXPECT_TRUE(at::equal(exact_zero, at::zeros_like(exact_zero)));
  auto informative = informative_groups(rewards, 4);
  EXPECT_EQ(informative.scalar_type(), at::kBool);
  EXPECT_TRUE(at::equal(informative, torch::tensor({true, true, true, true, false, false, false, false})));
}

TEST(AdvantageGrpo, WithoutStdScalingOnlyCentres) {
  auto a = grpo_advantages(torch::tensor({1.0f, 0.0f, 0.0f, 0.0f, 3.0f, 1.0f, 2.0f, 6.0f}), 4, 1e-6, false);
  expect_values_near(a, {0.75, -0.25, -0.25, -0.25, 0, -2, -1, 3}, 1e-6);
}

TEST(AdvantageGrpo, IntegerRewardsAndGroupsOfOne) {
  auto a = grpo_advantages(torch::tensor({1, 0}, torch::kLong), 2);
  expect_values_near(a, {0.5 / (std::sqrt(0.5) + 1e-6), -0.5 / (std::sqrt(0.5) + 1e-6)}, 1e-6);
  // Groups of one carry no signal: advantage 0, uninformative.
  expect_values_near(grpo_advantages(torch::tensor({5.0, -1.0}), 1), {0, 0});
  EXPECT_FALSE(informative_groups(torch::tensor({5.0, -1.0}), 1).any().item<bool>());
}

// A = {2, -1, 0}; lengths {3, 2, 0}; gamma is not 1 on some padding, which must still give 0.
TEST(AdvantageTokens, SignModesChooseWhichResponsesTakeGamma) {
  auto advantages = torch::tensor({2.0, -1.0, 0.0});
  auto gamma = rows({{1.5, 1, 2}, {1.5, 1, 2}, {1.5, 1.5, 1.5}});
  auto mask = mask_of_lengths({3, 2, 0}, 3);
  auto both = token_advantages(advantages, gamma, mask, "both");
  EXPECT_EQ(both.scalar_type(), at::kFloat);
  expect_rows_near(both, {{3, 2, 4}, {-1.5, -1, 0}, {0, 0, 0}});
  expect_rows_near(token_advantages(advantages, gamma, mask, "positive"), {{3, 2, 4}, {-1, -1, 0}, {0, 0, 0}});
  expect_rows_near(token_advantages(advantages, gamma, mask, "negative"), {{2, 2, 2}, {-1.5, -1, 0}, {0, 0, 0}});
}

TEST(AdvantageTokens, GammaOfOneIsPlainGrpoAndUniformGammaScales) {
  auto advantages = torch::tensor({0.5, -2.0});
  auto mask = mask_of_lengths({2, 3}, 3);
  expect_rows_near(token_advantages(advantages, torch::ones({2, 3}), mask, "both"), {{0.5, 0.5, 0}, {-2, -2, -2}});
  // q = 1 amplifies every token: A~ = amp * A, i.e. GRPO with advantages scaled by amp.
  expect_rows_near(token_advantages(advantages, torch::full({2, 3}, 1.5), mask, "both"),
                   {{0.75, 0.75, 0}, {-3, -3, -3}});
}

TEST(AdvantageErrors, BadInputsAreClearErrors) {
  EXPECT_ERROR_CONTAINS(grpo_advantages(torch::tensor({1.0, 0.0, 1.0}), 2), "3 rewards do not split into groups of 2");
  EXPECT_ERROR_CONTAINS(grpo_advantages(torch::tensor({1.0, 0.0}), 0), "group_size must be >= 1");
  EXPECT_ERROR_CONTAINS(grpo_advantages(torch::ones({2, 2}), 2), "rewards must be [N], got [2, 2]");
  EXPECT_ERROR_CONTAINS(grpo_advantages(torch::tensor({1.0, std::nan("")}), 2), "rewards contain NaN");
  EXPECT_ERROR_CONTAINS(informative_groups(torch::tensor({1.0, 0.0, 1.0}), 2), "do not split");
  auto mask = mask_of_lengths({2, 3}, 3);
  EXPECT_ERROR_CONTAINS(token_advantages(torch::ones({2}), torch::ones({2, 3}), mask, "all"),
                        "unknown sign mode 'all' (known: both, positive, negative)");
  EXPECT_ERROR_CONTAINS(token_advantages(torch::ones({3}), torch::ones({2, 3}), mask, "both"),
                        "advantages is [3] but response_mask is [2, 3]");
  EXPECT_ERROR_CONTAINS(token_advantages(torch::ones({2}), torch::ones({2, 4}), mask, "both"),
                        "gamma is [2, 4] but response_mask is [2, 3]");
  EXPECT_EQ(advantage_sign_modes(), (std::vector<std::string>{"both", "positive", "negative"}));
}
