// PPO-clip loss, its aggregations and k3 KL (METHOD.md section 4), against hand-computed numbers.
#include <torch/torch.h>

#include <cmath>
#include <limits>

#include "illume/rl/policy_loss.h"
#include "rl_test_util.h"

using namespace illume;
using illume::test::expect_rows_near;
using illume::test::mask_of_lengths;
using illume::test::rows;

namespace {

const double kNaN = std::numeric_limits<double>::quiet_NaN();
const double kInf = std::numeric_limits<double>::infinity();

// The 2x3 example: row 0 has 3 response tokens, row 1 has 2 and one padding position.
//   A~  = {{1, 1, 1}, {-2, -2, pad}}     rho = {{1.5, 1.1, 0.5}, {0.7, 1.3, pad}}    clip 0.2
//   (0,0) A>0, rho 1.5 > 1.2: clipped active,  loss -1.2, gradient 0
//   (0,1) A>0, rho 1.1 inside:                 loss -1.1
//   (0,2) A>0, rho 0.5 < 0.8: unclipped active, loss -0.5
//   (1,0) A<0, rho 0.7 < 0.8: clipped active,  loss -(-2 * 0.8) = 1.6, gradient 0
//   (1,1) A<0, rho 1.3 > 1.2: unclipped active, loss 2.6
// clip_fraction = 2 / 5. Padding holds logprob -inf and advantage NaN, which must not leak.
struct Example {
  at::Tensor logprobs, old_logprobs, advantages, mask;
};

Example example() {
  Example e;
  e.logprobs = rows({{std::log(1.5), std::log(1.1), std::log(0.5)}, {std::log(0.7), std::log(1.3), -kInf}})
                   .requires_grad_(true);
  e.old_logprobs = torch::zeros({2, 3});
  e.advantages = rows({{1, 1, 1}, {-2, -2, kNaN}});
  e.mask = mask_of_lengths({3, 2}, 3);
  return e;
}

PolicyLossOptions with_aggregation(const std::string& mode, double norm_length = 0) {
  PolicyLossOptions o;
  o.aggregation = mode;
  o.norm_length = norm_length;
  return o;
}

double k3(double logp, double ref) { return std::exp(ref - logp) - (ref - logp) - 1.0; }

}  // namespace

// ---- Aggregations -------------------------------------------------------------------------------

// per_token {{1, 2, 3}, {4, 5, pad}}: token-mean 15/5 = 3; seq-mean-token-mean (2 + 4.5)/2 = 3.25;
// seq-mean-token-sum-norm with 4: (6/4 + 9/4)/2 = 1.875. Padding (NaN) and an empty third row
// change nothing.
TEST(PolicyLossAggregation, HandComputedWithPaddingAndAnEmptyRow) {
  auto per_token = rows({{1, 2, 3}, {4, 5, kNaN}});
  auto mask = mask_of_lengths({3, 2}, 3);
  EXPECT_NEAR(aggregate_loss(per_token, mask, "token-mean").item<double>(), 3.0, 1e-6);
  EXPECT_NEAR(aggregate_loss(per_token, mask, "seq-mean-token-mean").item<double>(), 3.25, 1e-6);
  EXPECT_NEAR(aggregate_loss(per_token, mask, "seq-mean-token-sum-norm", 4).item<double>(), 1.875, 1e-6);

  auto with_empty = rows({{1, 2, 3}, {4, 5, kNaN}, {kNaN, 7, 7}});
  auto mask3 = mask_of_lengths({3, 2, 0}, 3);
  EXPECT_NEAR(aggregate_loss(with_empty, mask3, "token-mean").item<double>(), 3.0, 1e-6);
  EXPECT_NEAR(aggregate_loss(with_empty, mask3, "seq-mean-token-mean").item<double>(), 3.25, 1e-6);
  EXPECT_NEAR(aggregate_loss(with_empty, mask3, "seq-mean-token-sum-norm", 4).item<double>(), 1.875, 1e-6);
  // Integer 0/1 masks work like bool ones.
  EXPECT_NEAR(aggregate_loss(per_token, mask.to(at::kLong), "seq-mean-token-mean").item<double>(), 3.25, 1e-6);
}

TEST(PolicyLossAggregation, NoResponseTokensGivesADifferentiableZero) {
  auto per_token = torch::ones({2, 3}, torch::requires_grad());
  auto mask = torch::zeros({2, 3});
  for (const auto& mode : loss_aggregation_names()) {
    auto loss = aggregate_loss(per_token, mask, mode, 3);
    EXPECT_EQ(loss.item<double>(), 0.0) << mode;
    loss.backward();
    EXPECT_EQ(per_token.grad().abs().sum().item<double>(), 0.0) << mode;
  }
}

// ---- PPO clip -----------------------------------------------------------------------------------

TEST(PolicyLossPpo, LossPerAggregationHandComputed) {
  auto e = example();
  // Per-token losses {{-1.2, -1.1, -0.5}, {1.6, 2.6}}: sums -2.8 and 4.2.
  auto token_mean = ppo_clip_loss(e.logprobs, e.old_logprobs, e.advantages, e.mask, with_aggregation("token-mean"));
  EXPECT_NEAR(token_mean.loss.item<double>(), 1.4 / 5, 1e-6);
  auto seq_mean = ppo_clip_loss(e.logprobs, e.old_logprobs, e.advantages, e.mask, with_aggregation("seq-mean-token-mean"));
  EXPECT_NEAR(seq_mean.loss.item<double>(), (-2.8 / 3 + 4.2 / 2) / 2, 1e-6);
  auto sum_norm = ppo_clip_loss(e.logprobs, e.old_logprobs, e.advantages, e.mask,
                                with_aggregation("seq-mean-token-sum-norm", 3));
  EXPECT_NEAR(sum_norm.loss.item<double>(), (-2.8 / 3 + 4.2 / 3) / 2, 1e-6);
  // The default is the paper's: per-sequence token mean, then mean over sequences.
  auto by_default = ppo_clip_loss(e.logprobs, e.old_logprobs, e.advantages, e.mask, PolicyLossOptions{});
  EXPECT_NEAR(by_default.loss.item<double>(), seq_mean.loss.item<double>(), 1e-7);
}

TEST(PolicyLossPpo, ClipFractionAndApproxKlHandComputed) {
  auto e = example();
  auto r = ppo_clip_loss(e.logprobs, e.old_logprobs, e.advantages, e.mask, PolicyLossOptions{});
  EXPECT_NEAR(r.clip_fraction, 2.0 / 5.0, 1e-9);
  // The two sides (TRL's clip_ratio/low_mean, high_mean): (1,0) A<0 rho 0.7 < 0.8 is the low side,
  // (0,0) A>0 rho 1.5 > 1.2 the high side; (1,1) A<0 rho 1.3 and (0,2) A>0 rho 0.5 are outside the
  // range on the side where the unclipped term stays active, so neither.
  EXPECT_NEAR(r.clip_low_fraction, 1.0 / 5.0, 1e-9);
  EXPECT_NEAR(r.clip_high_fraction, 1.0 / 5.0, 1e-9);
  double kl = 0;
  for (double rho : {1.5, 1.1, 0.5, 0.7, 1.3}) kl += (rho - 1) - std::log(rho);
  EXPECT_NEAR(r.approx_kl_old, kl / 5, 1e-6);
  EXPECT_EQ(r.kl_ref, 0.0);
  EXPECT_EQ(r.entropy, 0.0);
  // Clip-higher (DAPO 0.28): rho 1.5 is still clipped, 1.3 with A < 0 was never clipped: same 2/5.
  // With clip_high 0.6, (0,0) is inside the range: 1/5.
  PolicyLossOptions dapo;
  dapo.clip_high = 0.28;
  EXPECT_NEAR(ppo_clip_loss(e.logprobs, e.old_logprobs, e.advantages, e.mask, dapo).clip_fraction, 2.0 / 5.0, 1e-9);
  PolicyLossOptions wide;
  wide.clip_high = 0.6;
  const auto wide_result = ppo_clip_loss(e.logprobs, e.old_logprobs, e.advantages, e.mask, wide);
  EXPECT_NEAR(wide_result.clip_fraction, 1.0 / 5.0, 1e-9);
  EXPECT_NEAR(wide_result.clip_low_fraction, 1.0 / 5.0, 1e-9);
  EXPECT_EQ(wide_result.clip_high_fraction, 0.0);
  // clip_low 0.4: rho 0.7 is inside [0.6, 1.2]; only the high side remains.
  PolicyLossOptions low_wide;
  low_wide.clip_low = 0.4;
  const auto low_result = ppo_clip_loss(e.logprobs, e.old_logprobs, e.advantages, e.mask, low_wide);
  EXPECT_EQ(low_result.clip_low_fraction, 0.0);
  EXPECT_NEAR(low_result.clip_high_fraction, 1.0 / 5.0, 1e-9);
  // A~ = 0 never counts as clipped.
  auto zero = ppo_clip_loss(e.logprobs, e.old_logprobs, torch::zeros({2, 3}), e.mask, PolicyLossOptions{});
  EXPECT_EQ(zero.clip_fraction, 0.0);
  EXPECT_EQ(zero.clip_low_fraction + zero.clip_high_fraction, 0.0);
  EXPECT_EQ(zero.loss.item<double>(), 0.0);
}

// d loss / d logp = d loss / d rho * rho. Clipped-active tokens get 0; elsewhere -A * rho / count.
TEST(PolicyLossPpo, GradientIsZeroWhereClippedAndMinusARhoOverCountInside) {
  {
    auto e = example();
    ppo_clip_loss(e.logprobs, e.old_logprobs, e.advantages, e.mask, with_aggregation("token-mean")).loss.backward();
    expect_rows_near(e.logprobs.grad(), {{0, -1.1 / 5, -0.5 / 5}, {0, 2.0 * 1.3 / 5, 0}}, 1e-6);
  }
  {
    auto e = example();
    ppo_clip_loss(e.logprobs, e.old_logprobs, e.advantages, e.mask, PolicyLossOptions{}).loss.backward();
    // seq-mean-token-mean: count = tokens in the row * number of rows.
    expect_rows_near(e.logprobs.grad(), {{0, -1.1 / 6, -0.5 / 6}, {0, 2.0 * 1.3 / 4, 0}}, 1e-6);
  }
  {
    auto e = example();
    ppo_clip_loss(e.logprobs, e.old_logprobs, e.advantages, e.mask, with_aggregation("seq-mean-token-sum-norm", 10))
        .loss.backward();
    expect_rows_near(e.logprobs.grad(), {{0, -1.1 / 20, -0.5 / 20}, {0, 2.0 * 1.3 / 20, 0}}, 1e-6);
  }
}

TEST(PolicyLossPpo, AsymmetricClipRange) {
  // A > 0, rho 1.25: clipped under clip_high 0.2, inside under 0.28. A < 0, rho 0.75: clipped under
  // clip_low 0.2, inside under 0.3.
  auto logprobs = rows({{std::log(1.25), std::log(0.75)}}).requires_grad_(true);
  auto old = torch::zeros({1, 2});
  auto adv = rows({{1, -1}});
  auto mask = mask_of_lengths({2}, 2);
  PolicyLossOptions o;
  o.aggregation = "token-mean";
  auto tight = ppo_clip_loss(logprobs, old, adv, mask, o);
  EXPECT_NEAR(tight.clip_fraction, 1.0, 1e-9);
  EXPECT_NEAR(tight.clip_low_fraction, 0.5, 1e-9);   // the A < 0 token
  EXPECT_NEAR(tight.clip_high_fraction, 0.5, 1e-9);  // the A > 0 token
  EXPECT_NEAR(tight.loss.item<double>(), (-1.2 + 0.8) / 2, 1e-6);
  o.clip_high = 0.28;
  o.clip_low = 0.3;
  auto loose = ppo_clip_loss(logprobs, old, adv, mask, o);
  EXPECT_NEAR(loose.clip_fraction, 0.0, 1e-9);
  EXPECT_NEAR(loose.loss.item<double>(), (-1.25 + 0.75) / 2, 1e-6);
  loose.loss.backward();
  expect_rows_near(logprobs.grad(), {{-1.25 / 2, 0.75 / 2}}, 1e-6);
}

TEST(PolicyLossPpo, KlPenaltyAndEntropyBonusAddToTheLoss) {
  auto e = example();
  // ref = 0: k3 per token = exp(-logp) + logp - 1 = 1/rho + log rho - 1.
  auto ref = torch::zeros({2, 3});
  auto entropy = rows({{0.5, 1.0, 1.5}, {2.0, 3.0, kNaN}});
  PolicyLossOptions o;
  o.aggregation = "token-mean";
  auto base = ppo_clip_loss(e.logprobs, e.old_logprobs, e.advantages, e.mask, o);
  o.kl_coef = 0.1;
  o.entropy_coef = 0.01;
  auto r = ppo_clip_loss(e.logprobs, e.old_logprobs, e.advantages, e.mask, o, ref, entropy);
  double kl = 0;
  for (double rho : {1.5, 1.1, 0.5, 0.7, 1.3}) kl += k3(std::log(rho), 0.0);
  kl /= 5;
  const double mean_entropy = (0.5 + 1.0 + 1.5 + 2.0 + 3.0) / 5;
  EXPECT_NEAR(r.kl_ref, kl, 1e-6);
  EXPECT_NEAR(r.entropy, mean_entropy, 1e-6);
  EXPECT_NEAR(r.loss.item<double>(), base.loss.item<double>() + 0.1 * kl - 0.01 * mean_entropy, 1e-6);
  // Logged without entering the loss when the coefficients are 0.
  PolicyLossOptions logged;
  auto only_logged = ppo_clip_loss(e.logprobs, e.old_logprobs, e.advantages, e.mask, logged, ref, entropy);
  EXPECT_NEAR(only_logged.kl_ref, kl, 1e-6);
  EXPECT_NEAR(only_logged.loss.item<double>(),
              ppo_clip_loss(e.logprobs, e.old_logprobs, e.advantages, e.mask, logged).loss.item<double>(), 1e-7);
}

// ---- KL -----------------------------------------------------------------------------------------

TEST(KlK3, HandComputedAndNonNegative) {
  // logp 0, ref 0 -> 0; logp log 2, ref 0 -> 0.5 + log 2 - 1; logp log 0.5, ref 0 -> 2 - log 2 - 1.
  auto logp = rows({{0.0, std::log(2.0), std::log(0.5)}}).requires_grad_(true);
  auto kl = kl_k3(logp, torch::zeros({1, 3}));
  expect_rows_near(kl, {{0.0, 0.5 + std::log(2.0) - 1.0, 1.0 - std::log(2.0)}}, 1e-6);
  // d/dlogp = 1 - exp(ref - logp): 0, 0.5, -1.
  kl.sum().backward();
  expect_rows_near(logp.grad(), {{0.0, 0.5, -1.0}}, 1e-6);

  auto gen = at::detail::createCPUGenerator(7);
  auto a = torch::randn({64, 32}, gen) * 3.0, b = torch::randn({64, 32}, gen) * 3.0;
  EXPECT_GE(kl_k3(a, b).min().item<double>(), 0.0);
  EXPECT_EQ(kl_k3(a, a).abs().max().item<double>(), 0.0);
  // Extreme differences stay finite (clamped at 20 nats).
  EXPECT_TRUE(std::isfinite(kl_k3(rows({{-1000.0}}), rows({{0.0}})).item<double>()));
}

// ---- Bad input ----------------------------------------------------------------------------------

TEST(PolicyLossErrors, BadNamesShapesAndOptionsAreClearErrors) {
  auto e = example();
  EXPECT_ERROR_CONTAINS(aggregate_loss(torch::ones({2, 3}), e.mask, "sum"),
                        "unknown aggregation 'sum' (known: seq-mean-token-mean, token-mean, seq-mean-token-sum-norm)");
  EXPECT_ERROR_CONTAINS(aggregate_loss(torch::ones({2, 3}), e.mask, "seq-mean-token-sum-norm"),
                        "needs norm_length > 0");
  EXPECT_ERROR_CONTAINS(aggregate_loss(torch::ones({2, 4}), e.mask, "token-mean"),
                        "mask is [2, 3] but per_token is [2, 4]");
  EXPECT_ERROR_CONTAINS(ppo_clip_loss(e.logprobs, e.old_logprobs, e.advantages, e.mask, with_aggregation("mean")),
                        "unknown aggregation 'mean'");
  EXPECT_ERROR_CONTAINS(ppo_clip_loss(e.logprobs, torch::zeros({2, 2}), e.advantages, e.mask, PolicyLossOptions{}),
                        "old_logprobs is [2, 2] but logprobs is [2, 3]");
  EXPECT_ERROR_CONTAINS(ppo_clip_loss(e.logprobs, e.old_logprobs, torch::zeros({3}), e.mask, PolicyLossOptions{}),
                        "token_advantages is [3] but logprobs is [2, 3]");
  EXPECT_ERROR_CONTAINS(ppo_clip_loss(e.logprobs, e.old_logprobs, e.advantages, torch::ones({1, 3}), PolicyLossOptions{}),
                        "response_mask is [1, 3] but logprobs is [2, 3]");
  PolicyLossOptions kl;
  kl.kl_coef = 0.1;
  EXPECT_ERROR_CONTAINS(ppo_clip_loss(e.logprobs, e.old_logprobs, e.advantages, e.mask, kl), "needs ref_logprobs");
  PolicyLossOptions ent;
  ent.entropy_coef = 0.1;
  EXPECT_ERROR_CONTAINS(ppo_clip_loss(e.logprobs, e.old_logprobs, e.advantages, e.mask, ent), "needs entropy");
  PolicyLossOptions clip;
  clip.clip_low = 1.0;
  EXPECT_ERROR_CONTAINS(ppo_clip_loss(e.logprobs, e.old_logprobs, e.advantages, e.mask, clip),
                        "clip_low must be in [0, 1)");
  EXPECT_ERROR_CONTAINS(kl_k3(torch::zeros({2, 3}), torch::zeros({3, 2})),
                        "ref_logprobs is [3, 2] but logprobs is [2, 3]");
}
