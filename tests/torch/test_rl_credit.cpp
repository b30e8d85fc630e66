// Credit strategies (METHOD.md section 4): hand-computed gamma for each strategy and convention.
#include <torch/torch.h>

#include <cmath>
#include <limits>

#include "illume/rl/advantage.h"
#include "illume/rl/credit.h"
#include "illume/rl/policy_loss.h"
#include "rl_test_util.h"

using namespace illume;
using illume::test::expect_rows_near;
using illume::test::mask_of_lengths;
using illume::test::rows;
using illume::test::Rows;

namespace {

const double kNaN = std::numeric_limits<double>::quiet_NaN();

CreditOptions options_for(const std::string& strategy, double q = 0.4, double amp = 1.5) {
  CreditOptions o;
  o.strategy = strategy;
  o.q = q;
  o.gamma_amp = amp;
  // Every token has an FAI horizon, so the tests of the selection rule below see the whole response;
  // the horizon pool has its own tests (CreditFaiPool).
  o.fai_horizon_lo = 0;
  return o;
}

// Which tokens got the bonus, as 0/1 rows.
std::vector<std::vector<int>> amplified(const at::Tensor& gamma) {
  auto g = gamma.to(at::kDouble);
  std::vector<std::vector<int>> out(g.size(0));
  for (std::int64_t b = 0; b < g.size(0); ++b)
    for (std::int64_t t = 0; t < g.size(1); ++t) out[b].push_back(g[b][t].item<double>() != 1.0 ? 1 : 0);
  return out;
}

}  // namespace

// ---- The selection rule -------------------------------------------------------------------------

TEST(CreditSelection, CountIsCeilOfQTimesLengthAtLeastOne) {
  EXPECT_EQ(selection_count(0, 0.4), 0);
  EXPECT_EQ(selection_count(1, 0.4), 1);     // ceil(0.4)
  EXPECT_EQ(selection_count(3, 0.4), 2);     // ceil(1.2)
  EXPECT_EQ(selection_count(5, 0.4), 2);     // exactly 2
  EXPECT_EQ(selection_count(4, 0.5), 2);
  EXPECT_EQ(selection_count(10, 0.7), 7);    // 0.7 * 10 = 7.000000000000001 in doubles: still 7
  EXPECT_EQ(selection_count(10, 0.3), 3);
  EXPECT_EQ(selection_count(7, 1.0), 7);     // q = 1: everything
  EXPECT_EQ(selection_count(1000, 1e-9), 1);  // tiny q: at least one
}

TEST(CreditSelection, TopAndBottomBreakTiesByPosition) {
  auto mask = mask_of_lengths({5, 5, 5}, 5);
  auto values = rows({{0.5, 0.5, 0.5, 0.5, 0.5},    // all tied
                      {0.2, 0.8, 0.5, 0.8, 0.8},    // three tied at the top
                      {0.2, 0.1, 0.1, 0.3, 0.1}});  // three tied at the bottom
  auto top = select_fraction(values, mask, 0.4, true);  // 2 of 5
  auto bottom = select_fraction(values, mask, 0.4, false);
  // Top: the first two of the ties; row 2's two highest are 0.3 (pos 3) and 0.2 (pos 0).
  expect_rows_near(top.to(at::kDouble), {{1, 1, 0, 0, 0}, {0, 1, 0, 1, 0}, {1, 0, 0, 1, 0}});
  // Bottom: the first two of the ties; row 1's two lowest are 0.2 (pos 0) and 0.5 (pos 2).
  expect_rows_near(bottom.to(at::kDouble), {{1, 1, 0, 0, 0}, {1, 0, 1, 0, 0}, {0, 1, 1, 0, 0}});
}

// ---- Each strategy ------------------------------------------------------------------------------

TEST(CreditStrategies, NoneIsOneEverywhere) {
  CreditInputs in;
  in.response_mask = mask_of_lengths({3, 1, 0}, 4);
  auto gamma = compute_gamma(in, options_for("none"));
  EXPECT_EQ(gamma.scalar_type(), at::kFloat);
  expect_rows_near(gamma, {{1, 1, 1, 1}, {1, 1, 1, 1}, {1, 1, 1, 1}});
}

TEST(CreditStrategies, GlobalIsTopQOfFaiPerResponse) {
  CreditInputs in;
  // Row 0: 5 tokens, count ceil(2.0) = 2: FAI 0.9 (pos 3) and 0.5 (pos 1).
  // Row 1: 3 tokens + padding holding large values and NaN that must never be picked;
  //        count ceil(1.2) = 2: 0.7 (pos 0) and 0.4 (pos 2).
  in.fai = rows({{0.1, 0.5, 0.3, 0.9, 0.2}, {0.7, 0.1, 0.4, 9.0, kNaN}});
  in.response_mask = mask_of_lengths({5, 3}, 5);
  auto gamma = compute_gamma(in, options_for("global"));
  expect_rows_near(gamma, {{1, 1.5, 1, 1.5, 1}, {1.5, 1, 1.5, 1, 1}});
}

TEST(CreditStrategies, BottomSelectsTheLowestFraction) {
  CreditInputs in;
  in.fai = rows({{0.1, 0.5, 0.3, 0.9, 0.2}, {0.7, 0.1, 0.4, -9.0, kNaN}});
  in.response_mask = mask_of_lengths({5, 3}, 5);
  auto o = options_for("global");
  o.select = "bottom";
  // Row 0: 0.1 (pos 0), 0.2 (pos 4). Row 1: 0.1 (pos 1), 0.4 (pos 2); padding -9 ignored.
  expect_rows_near(compute_gamma(in, o), {{1.5, 1, 1, 1, 1.5}, {1, 1.5, 1.5, 1, 1}});
}

TEST(CreditStrategies, LocalIsTopQOfDelta) {
  CreditInputs in;
  in.delta = rows({{0.0, 2.0, 1.0, 0.5}});
  in.response_mask = mask_of_lengths({4}, 4);
  // count = ceil(0.5 * 4) = 2: Delta 2.0 (pos 1), 1.0 (pos 2); gamma_amp 2.
  expect_rows_near(compute_gamma(in, options_for("local", 0.5, 2.0)), {{1, 2, 2, 1}});
}

TEST(CreditStrategies, EntropyIsTopQOfTokenEntropy) {
  CreditInputs in;
  in.entropy = rows({{0.3, 0.1, 0.9, 0.05, 0.6, 0.2}});
  in.response_mask = mask_of_lengths({6}, 6);
  // count = ceil(2.4) = 3: 0.9 (pos 2), 0.6 (pos 4), 0.3 (pos 0).
  expect_rows_near(compute_gamma(in, options_for("entropy")), {{1.5, 1, 1.5, 1, 1.5, 1}});
}

TEST(CreditStrategies, EachStrategyReadsItsOwnInput) {
  CreditInputs in;
  in.waad = rows({{9, 9, 9, 9}});
  in.fai = rows({{1, 0, 0, 0}});
  in.delta = rows({{0, 1, 0, 0}});
  in.entropy = rows({{0, 0, 1, 0}});
  in.response_mask = mask_of_lengths({4}, 4);
  auto q = 0.25;  // one token each
  EXPECT_EQ(amplified(compute_gamma(in, options_for("global", q))), (std::vector<std::vector<int>>{{1, 0, 0, 0}}));
  EXPECT_EQ(amplified(compute_gamma(in, options_for("local", q))), (std::vector<std::vector<int>>{{0, 1, 0, 0}}));
  EXPECT_EQ(amplified(compute_gamma(in, options_for("entropy", q))), (std::vector<std::vector<int>>{{0, 0, 1, 0}}));
}

// Each strategy's declared needs are exactly what it reads: given only those inputs it runs, and
// without any one of them it fails naming it. (The trainer computes only the declared inputs.)
TEST(CreditStrategies, DeclaredNeedsAreExactlyTheInputsRead) {
  EXPECT_FALSE(credit_strategy_needs("none").attention());
  EXPECT_FALSE(credit_strategy_needs("random").attention());
  EXPECT_FALSE(credit_strategy_needs("entropy").attention());
  EXPECT_TRUE(credit_strategy_needs("entropy").entropy);
  EXPECT_TRUE(credit_strategy_needs("local").attention());
  EXPECT_TRUE(credit_strategy_needs("global").attention());
  EXPECT_TRUE(credit_strategy_needs("coupled").waad && credit_strategy_needs("coupled").delta);
  EXPECT_ERROR_CONTAINS(credit_strategy_needs("coupld"), "unknown strategy 'coupld'");
  for (const auto& name : credit_strategy_names()) {
    const auto needs = credit_strategy_needs(name);
    CreditInputs full;
    full.response_mask = mask_of_lengths({4}, 4);
    if (needs.entropy) full.entropy = rows({{0, 0, 1, 0}});
    if (needs.waad) full.waad = rows({{1, 2, 3, 4}});
    if (needs.fai) full.fai = rows({{1, 0, 0, 0}});
    if (needs.delta) full.delta = rows({{0, 1, 0, 0}});
    EXPECT_EQ(compute_gamma(full, options_for(name)).size(1), 4) << name;
    for (auto member : {&CreditInputs::entropy, &CreditInputs::waad, &CreditInputs::fai, &CreditInputs::delta}) {
      if (!(full.*member).defined()) continue;
      CreditInputs less = full;
      less.*member = at::Tensor();
      EXPECT_ERROR_CONTAINS(compute_gamma(less, options_for(name)), "needs");
    }
  }
}

TEST(CreditStrategies, RandomSelectsTheCountDeterministicallyPerSeedAndRow) {
  const std::vector<std::int64_t> lengths = {50, 50, 7, 1, 0};
  CreditInputs in;
  in.response_mask = mask_of_lengths(lengths, 50);
  auto o = options_for("random");
  o.seed = 11;
  auto gamma = compute_gamma(in, o);
  auto picked = gamma.ne(1.0).sum(1);
  for (std::size_t b = 0; b < lengths.size(); ++b)
    EXPECT_EQ(picked[b].item<std::int64_t>(), selection_count(lengths[b], 0.4)) << "row " << b;
  EXPECT_TRUE(gamma.ne(1.0).logical_and(in.response_mask.logical_not()).any().item<bool>() == false);
  // Same seed: same gamma. Another seed: another selection. Two rows of equal length differ.
  EXPECT_TRUE(at::equal(gamma, compute_gamma(in, o)));
  auto o2 = o;
  o2.seed = 12;
  EXPECT_FALSE(at::equal(gamma, compute_gamma(in, o2)));
  EXPECT_FALSE(at::equal(gamma[0], gamma[1]));
  // A row's selection depends on (seed, row, length) only, not on the batch's padded width.
  CreditInputs wider;
  wider.response_mask = mask_of_lengths(lengths, 64);
  EXPECT_TRUE(at::equal(gamma, compute_gamma(wider, o).narrow(1, 0, 50)));
}

TEST(CreditStrategies, QOfOneAmplifiesEveryResponseToken) {
  CreditInputs in;
  in.waad = rows({{1, 2, 3}, {3, 2, 1}});
  in.fai = rows({{0.3, 0.1, 0.2}, {0.5, 0.4, 0.0}});
  in.delta = rows({{0.1, 0.1, 0.0}, {1, 0, 0}});
  in.entropy = rows({{2, 1, 0}, {0, 1, 2}});
  in.response_mask = mask_of_lengths({3, 2}, 3);
  for (const char* s : {"random", "entropy", "local", "global"}) {
    SCOPED_TRACE(s);
    expect_rows_near(compute_gamma(in, options_for(s, 1.0)), {{1.5, 1.5, 1.5}, {1.5, 1.5, 1}});
  }
}

TEST(CreditStrategies, TinyQSelectsOneTokenPerResponse) {
  CreditInputs in;
  in.fai = rows({{0.3, 0.8, 0.2, 0.1}, {0.5, 0.4, 0.0, 0.0}});
  in.response_mask = mask_of_lengths({4, 2}, 4);
  expect_rows_near(compute_gamma(in, options_for("global", 1e-6)), {{1, 1.5, 1, 1}, {1.5, 1, 1, 1}});
}

TEST(CreditStrategies, DifferentLengthsOneTokenAndEmptyRowsInOneBatch) {
  CreditInputs in;
  in.waad = rows({{1, 1, 1, 1, 1}, {1, 1, 0, 0, 0}, {1, 0, 0, 0, 0}, {0, 0, 0, 0, 0}});
  in.fai = rows({{0.2, 0.1, 0.5, 0.4, 0.3}, {0.1, 0.6, 7, 7, 7}, {0.0, 7, 7, 7, 7}, {7, 7, 7, 7, 7}});
  in.delta = rows({{0, 0, 0, 0, 0}, {0, 0, 0, 0, 0}, {0, 0, 0, 0, 0}, {0, 0, 0, 0, 0}});
  in.entropy = in.fai;
  in.response_mask = mask_of_lengths({5, 2, 1, 0}, 5);
  // Row 0: count 2 (0.5 pos 2, 0.4 pos 3); row 1: count 1 (0.6 pos 1); row 2: its one token;
  // row 3 (no response): all 1.
  Rows expected = {{1, 1, 1.5, 1.5, 1}, {1, 1.5, 1, 1, 1}, {1.5, 1, 1, 1, 1}, {1, 1, 1, 1, 1}};
  expect_rows_near(compute_gamma(in, options_for("global")), expected);
  expect_rows_near(compute_gamma(in, options_for("entropy")), expected);
  // Coupled: row 2's one token is an anchor at the response start, so it cannot be dominated.
  auto coupled = compute_gamma(in, options_for("coupled"));
  EXPECT_NEAR(coupled[2][0].item<double>(), 1.5, 1e-6);
  expect_rows_near(coupled.narrow(0, 3, 1), {{1, 1, 1, 1, 1}});
}

// ---- Coupled rhythm credit (4.3) ----------------------------------------------------------------

// One response of 8 tokens, q = 0.25 -> G = {3, 6} (FAI 0.9 and 0.8).
//   anchor 3: WAAD 2 <= tau_waad, window [0, 2] has Delta max 4.0 (pos 1) >= tau_delta: dominated,
//             intro(3) = 1. gamma[3] = 1 + (1-alpha)(amp-1) = 1.25; gamma[1] = 1 + alpha(amp-1) = 1.25.
//   anchor 6: WAAD 9 > tau_waad: not dominated, gamma[6] = amp = 1.5.
// Row 1: 3 tokens, count ceil(0.75) = 1 -> G = {0}; the first token cannot be dominated.
TEST(CreditCoupled, DominatedAnchorSharesItsBonusWithItsIntroToken) {
  CreditInputs in;
  in.fai = rows({{0.1, 0.2, 0.05, 0.9, 0.15, 0.3, 0.8, 0.12}, {0.9, 0.1, 0.2, kNaN, kNaN, kNaN, kNaN, kNaN}});
  in.waad = rows({{5, 6, 1, 2, 7, 8, 9, 3}, {0, 0, 0, kNaN, kNaN, kNaN, kNaN, kNaN}});
  in.delta = rows({{0.5, 4.0, 1.0, 0.2, 0.3, 0.1, 0.4, 0.0}, {9, 0, 0, kNaN, kNaN, kNaN, kNaN, kNaN}});
  in.response_mask = mask_of_lengths({8, 3}, 8);
  auto o = options_for("coupled", 0.25);
  Rows expected = {{1, 1.25, 1, 1.25, 1, 1, 1.5, 1}, {1.5, 1, 1, 1, 1, 1, 1, 1}};

  // Explicit thresholds.
  o.tau_waad = 4.0;
  o.tau_delta = 2.0;
  expect_rows_near(compute_gamma(in, o), expected);

  // Default thresholds, per-response lower medians: row 0 WAAD sorted 1 2 3 [5] 6 7 8 9 -> 5,
  // Delta sorted 0 .1 .2 [.3] .4 .5 1 4 -> 0.3: the same decisions.
  o.tau_waad.reset();
  o.tau_delta.reset();
  expect_rows_near(compute_gamma(in, o), expected);

  // A higher tau_delta: anchor 3 is no longer dominated and keeps its whole bonus.
  o.tau_waad = 4.0;
  o.tau_delta = 5.0;
  expect_rows_near(compute_gamma(in, o), {{1, 1, 1, 1.5, 1, 1, 1.5, 1}, {1.5, 1, 1, 1, 1, 1, 1, 1}});

  // alpha = 1 moves the whole bonus; alpha = 0 moves nothing.
  o.tau_delta = 2.0;
  o.alpha = 1.0;
  expect_rows_near(compute_gamma(in, o).narrow(0, 0, 1), {{1, 1.5, 1, 1, 1, 1, 1.5, 1}});
  o.alpha = 0.0;
  expect_rows_near(compute_gamma(in, o).narrow(0, 0, 1), {{1, 1, 1, 1.5, 1, 1, 1.5, 1}});
}

// The default thresholds are lower medians: with 4 tokens, Delta {0.4, 0.1, 0.2, 0.0} has lower
// median 0.1 (the mean of the middle two would be 0.15). Anchor 2 (k = 1) has window {1} with
// Delta 0.1 >= 0.1, and WAAD 1 <= median 2: dominated, intro 1.
TEST(CreditCoupled, DefaultThresholdsAreLowerMedians) {
  CreditInputs in;
  in.fai = rows({{0.1, 0.2, 0.9, 0.3}});
  in.waad = rows({{4, 3, 1, 2}});
  in.delta = rows({{0.4, 0.1, 0.2, 0.0}});
  in.response_mask = mask_of_lengths({4}, 4);
  auto o = options_for("coupled", 0.25);
  o.k = 1;
  expect_rows_near(compute_gamma(in, o), {{1, 1.25, 1.25, 1}});
}

// Overlap: q = 0.5 of 6 -> G = {5, 2, 3} (FAI 0.9, 0.8, 0.7); tau_waad 5, tau_delta 1, k = 2.
//   anchor 2: window {0, 1}, max Delta 3.0 at 1 -> D, intro 1.
//   anchor 3: window {1, 2}, max Delta 4.0 at 2 -> D, intro 2 (itself a dominated anchor).
//   anchor 5: window {3, 4}, max 0.2 < 1 -> G \ D.
// gamma[2] = 1 + (1-alpha)(amp-1) + alpha(amp-1) = 1.5: the terms add.
TEST(CreditCoupled, TermsAddWhereSetsOverlap) {
  CreditInputs in;
  in.fai = rows({{0.1, 0.2, 0.8, 0.7, 0.05, 0.9}});
  in.waad = rows({{9, 9, 2, 3, 9, 2}});
  in.delta = rows({{0.5, 3.0, 4.0, 0.1, 0.2, 0.3}});
  in.response_mask = mask_of_lengths({6}, 6);
  auto o = options_for("coupled", 0.5);
  o.k = 2;
  o.tau_waad = 5.0;
  o.tau_delta = 1.0;
  expect_rows_near(compute_gamma(in, o), {{1, 1.25, 1.5, 1.25, 1, 1.5}});
}

// An undominated anchor at the response start that is also the intro of the next anchor:
// G = {0, 1}; anchor 0 has no window (G \ D); anchor 1's window is clipped to {0}: D, intro 0.
// gamma[0] = 1 + 0.5 + 0.25 = 1.75.
TEST(CreditCoupled, WindowIsClippedAtTheResponseStart) {
  CreditInputs in;
  in.fai = rows({{0.9, 0.8, 0.1}});
  in.waad = rows({{0, 0, 5}});
  in.delta = rows({{3, 0, 0}});
  in.response_mask = mask_of_lengths({3}, 3);
  auto o = options_for("coupled", 0.5);
  o.tau_waad = 1.0;
  o.tau_delta = 1.0;
  expect_rows_near(compute_gamma(in, o), {{1.75, 1.25, 1}});
}

// Two dominated anchors (2 and 3, k = 2) whose windows peak at the same token 1 (Delta 3.0).
// Default: the intro bonus is an indicator of I(D), added once; per-anchor: once per anchor.
TEST(CreditCoupled, SharedIntroTokenGetsTheBonusOnceByDefault) {
  CreditInputs in;
  in.fai = rows({{0.1, 0.2, 0.8, 0.7, 0.05, 0.9}});
  in.waad = rows({{9, 9, 2, 3, 9, 2}});
  in.delta = rows({{0.5, 3.0, 2.0, 0.1, 0.2, 0.3}});
  in.response_mask = mask_of_lengths({6}, 6);
  auto o = options_for("coupled", 0.5);
  o.k = 2;
  o.tau_waad = 5.0;
  o.tau_delta = 1.0;
  expect_rows_near(compute_gamma(in, o), {{1, 1.25, 1.25, 1.25, 1, 1.5}});
  o.intro_bonus_per_anchor = true;
  expect_rows_near(compute_gamma(in, o), {{1, 1.5, 1.25, 1.25, 1, 1.5}});
}

// Window {0, 1, 2} of anchor 3 has Delta {2, 2, 1}: the tie goes to the latest position, 1.
TEST(CreditCoupled, IntroTiesGoToTheLatestPosition) {
  CreditInputs in;
  in.fai = rows({{0, 0, 0, 0.9, 0}});
  in.waad = rows({{5, 5, 5, 0, 5}});
  in.delta = rows({{2, 2, 1, 0, 0}});
  in.response_mask = mask_of_lengths({5}, 5);
  auto o = options_for("coupled", 0.2);
  o.tau_waad = 1.0;
  o.tau_delta = 1.0;
  expect_rows_near(compute_gamma(in, o), {{1, 1.25, 1, 1.25, 1}});
}

// The roles shown with sample completions (credit_roles), on the overlap example above:
// anchors G = {2, 3, 5}; preplans I(D) = {1, 2} (the intros of dominated anchors 2 and 3). global
// marks the same anchors (TopQ(FAI)) and no preplan; strategies without FAI mark nothing.
TEST(CreditRoles, AnchorsAreTheFaiSetAndPreplansTheIntroTokens) {
  CreditInputs in;
  in.fai = rows({{0.1, 0.2, 0.8, 0.7, 0.05, 0.9}, {0.3, 0.6, kNaN, kNaN, kNaN, kNaN}});
  in.waad = rows({{9, 9, 2, 3, 9, 2}, {1, 1, kNaN, kNaN, kNaN, kNaN}});
  in.delta = rows({{0.5, 3.0, 4.0, 0.1, 0.2, 0.3}, {0, 0, kNaN, kNaN, kNaN, kNaN}});
  in.entropy = rows({{1, 2, 3, 4, 5, 6}, {1, 2, 0, 0, 0, 0}});
  in.response_mask = mask_of_lengths({6, 2}, 6);
  auto o = options_for("coupled", 0.5);
  o.k = 2;
  o.tau_waad = 5.0;
  o.tau_delta = 1.0;
  auto as_rows = [](const at::Tensor& flags) { return flags.to(at::kDouble); };
  auto roles = credit_roles(in, o);
  // Row 1: 2 tokens, count 1 -> G = {1}; its window {0} has Delta 0 < 1: not dominated, no preplan.
  expect_rows_near(as_rows(roles.anchor), {{0, 0, 1, 1, 0, 1}, {0, 1, 0, 0, 0, 0}});
  expect_rows_near(as_rows(roles.preplan), {{0, 1, 1, 0, 0, 0}, {0, 0, 0, 0, 0, 0}});
  o.strategy = "global";
  roles = credit_roles(in, o);
  expect_rows_near(as_rows(roles.anchor), {{0, 0, 1, 1, 0, 1}, {0, 1, 0, 0, 0, 0}});
  expect_rows_near(as_rows(roles.preplan), {{0, 0, 0, 0, 0, 0}, {0, 0, 0, 0, 0, 0}});
  for (const char* strategy : {"none", "random", "entropy", "local"}) {
    o.strategy = strategy;
    roles = credit_roles(in, o);
    EXPECT_FALSE(roles.anchor.any().item<bool>()) << strategy;
    EXPECT_FALSE(roles.preplan.any().item<bool>()) << strategy;
  }
}

// ---- No gradient through gamma ------------------------------------------------------------------

TEST(CreditNoGradient, GammaAndTokenAdvantagesCarryNoGradientIntoTheLoss) {
  // Attention statistics computed from a parameter that requires grad.
  auto parameter = torch::tensor({0.3, 0.9, 0.1, 0.5, 0.7, 0.2}, torch::requires_grad());
  auto p = parameter.view({2, 3});
  CreditInputs in;
  in.waad = p * 2.0;
  in.fai = p.sin();
  in.delta = (p * 3.0).cos().abs();
  in.entropy = p.square();
  in.response_mask = mask_of_lengths({3, 2}, 3);
  for (const auto& strategy : credit_strategy_names()) {
    SCOPED_TRACE(strategy);
    auto o = options_for(strategy, 0.5);
    o.tau_waad = 10.0;  // so that coupled has dominated anchors too
    o.tau_delta = 0.0;
    auto gamma = compute_gamma(in, o);
    EXPECT_FALSE(gamma.requires_grad());
    auto advantages = torch::tensor({1.0, -0.5}) * (1.0 + p.sum() - p.sum().detach());  // even if A had a graph
    auto a_tilde = token_advantages(advantages, gamma, in.response_mask, "both");
    EXPECT_FALSE(a_tilde.requires_grad());
    auto logprobs = torch::full({2, 3}, -0.7, torch::requires_grad());
    auto old = torch::full({2, 3}, -0.75);
    auto result = ppo_clip_loss(logprobs, old, a_tilde, in.response_mask, PolicyLossOptions{});
    result.loss.backward();
    EXPECT_TRUE(!parameter.grad().defined() || parameter.grad().abs().sum().item<double>() == 0.0);
    ASSERT_TRUE(logprobs.grad().defined());
    EXPECT_GT(logprobs.grad().abs().sum().item<double>(), 0.0);
  }
}

// ---- Bad input ----------------------------------------------------------------------------------

TEST(CreditErrors, BadNamesRangesAndShapesAreClearErrors) {
  CreditInputs in;
  in.fai = rows({{0.1, 0.2, 0.3}});
  in.response_mask = mask_of_lengths({3}, 3);
  EXPECT_ERROR_CONTAINS(compute_gamma(in, options_for("attention")),
                        "unknown strategy 'attention' (known: none, random, entropy, local, global, coupled)");
  EXPECT_ERROR_CONTAINS(compute_gamma(in, options_for("global", 0.0)), "q must be in (0, 1]");
  EXPECT_ERROR_CONTAINS(compute_gamma(in, options_for("global", 1.5)), "q must be in (0, 1]");
  EXPECT_ERROR_CONTAINS(compute_gamma(in, options_for("global", -0.1)), "q must be in (0, 1]");
  EXPECT_ERROR_CONTAINS(compute_gamma(in, options_for("global", kNaN)), "q must be in (0, 1]");
  auto o = options_for("global");
  o.select = "middle";
  EXPECT_ERROR_CONTAINS(compute_gamma(in, o), "select must be top or bottom");
  EXPECT_ERROR_CONTAINS(compute_gamma(in, options_for("local")), "strategy 'local' needs delta");
  EXPECT_ERROR_CONTAINS(compute_gamma(in, options_for("coupled")), "needs waad");
  auto coupled = options_for("coupled");
  coupled.alpha = 1.5;
  EXPECT_ERROR_CONTAINS(compute_gamma(in, coupled), "alpha must be in [0, 1]");
  coupled.alpha = 0.5;
  coupled.k = 0;
  EXPECT_ERROR_CONTAINS(compute_gamma(in, coupled), "k must be >= 1");

  CreditInputs mismatch;
  mismatch.fai = rows({{0.1, 0.2, 0.3, 0.4}});
  mismatch.response_mask = mask_of_lengths({3}, 3);
  EXPECT_ERROR_CONTAINS(compute_gamma(mismatch, options_for("global")), "fai is [1, 4] but response_mask is [1, 3]");
  CreditInputs flat;
  flat.response_mask = torch::ones({3});
  EXPECT_ERROR_CONTAINS(compute_gamma(flat, options_for("none")), "response_mask must be [B, T]");
  CreditInputs nan;
  nan.fai = rows({{0.1, kNaN, 0.3}});
  nan.response_mask = mask_of_lengths({3}, 3);
  EXPECT_ERROR_CONTAINS(compute_gamma(nan, options_for("global")), "fai has NaN on response tokens");
  CreditInputs no_mask;
  EXPECT_ERROR_CONTAINS(compute_gamma(no_mask, options_for("none")), "response_mask is required");
}

TEST(CreditStrategies, EmptyBatchGivesEmptyGamma) {
  CreditInputs in;
  in.response_mask = torch::zeros({2, 0}, torch::kBool);
  for (const auto& strategy : credit_strategy_names()) {
    auto gamma = compute_gamma(in, options_for(strategy));
    EXPECT_EQ(gamma.sizes(), (std::vector<std::int64_t>{2, 0})) << strategy;
  }
}

// ---- FAI-based selection ranks only tokens with a non-empty horizon (issue 11 item 4) ------------

// With H_lo = 2 the last 2 tokens of each response have no receivers (FAI := 0, not a measurement).
// Row 0: 7 tokens, pool = positions 0..4 (n = 5), q = 0.4 -> count ceil(2.0) = 2: 0.5 (pos 1), 0.4
//        (pos 3). Positions 5 and 6 hold large values that the pool excludes.
// Row 1: 3 tokens, pool = {0}: count 1 -> pos 0 whatever its value.
// Row 2: 2 tokens = H_lo: empty pool, no bonus at all.
TEST(CreditFaiPool, TopQRanksOnlyTokensWithAHorizon) {
  CreditInputs in;
  in.fai = rows({{0.1, 0.5, 0.3, 0.4, 0.2, 0.9, 0.8}, {0.0, 0.7, 0.6, 7, 7, 7, 7}, {0.9, 0.8, 7, 7, 7, 7, 7}});
  in.response_mask = mask_of_lengths({7, 3, 2}, 7);
  auto o = options_for("global");
  o.fai_horizon_lo = 2;
  expect_rows_near(compute_gamma(in, o),
                   {{1, 1.5, 1, 1.5, 1, 1, 1}, {1.5, 1, 1, 1, 1, 1, 1}, {1, 1, 1, 1, 1, 1, 1}});
}

// BottomQ over the pool: the trailing zeros are not the lowest FAI. Row 0 as above: pool values
// {0.1, 0.5, 0.3, 0.4, 0.2}, count 2 -> 0.1 (pos 0), 0.2 (pos 4); positions 5, 6 (FAI 0) stay at 1.
TEST(CreditFaiPool, BottomQExcludesTheLastHorizonTokens) {
  CreditInputs in;
  in.fai = rows({{0.1, 0.5, 0.3, 0.4, 0.2, 0.0, 0.0}});
  in.response_mask = mask_of_lengths({7}, 7);
  auto o = options_for("global");
  o.fai_horizon_lo = 2;
  o.select = "bottom";
  expect_rows_near(compute_gamma(in, o), {{1.5, 1, 1, 1, 1.5, 1, 1}});
}

// The RL default H_lo = 10: a response of at most 10 tokens has FAI 0 everywhere and gets no FAI
// bonus (before, TopQ picked its first tokens); an 11-token response has exactly one token with a
// horizon (position 0), which is the whole pool.
TEST(CreditFaiPool, ShortResponsesAtTheDefaultHorizonGetNoFaiBonus) {
  CreditInputs in;
  in.fai = torch::zeros({2, 11}, torch::kDouble);
  in.fai[1][0] = 0.3;
  in.waad = torch::zeros({2, 11}, torch::kDouble);
  in.delta = torch::zeros({2, 11}, torch::kDouble);
  in.response_mask = mask_of_lengths({10, 11}, 11);
  CreditOptions o;  // defaults: q = 0.4, amp = 1.5, fai_horizon_lo = 10
  o.strategy = "global";
  EXPECT_EQ(o.fai_horizon_lo, 10);
  Rows expected = {{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, {1.5, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}};
  expect_rows_near(compute_gamma(in, o), expected);
  // Coupled: G is the same pool's TopQ; position 0 cannot be dominated, so it keeps the full bonus.
  o.strategy = "coupled";
  expect_rows_near(compute_gamma(in, o), expected);
}

// The coupled medians still run over every response token; only G is restricted to the pool.
// 6 tokens, H_lo = 2: pool = 0..3, q = 0.5 -> count 2: FAI 0.9 (pos 3), 0.6 (pos 1). WAAD lower
// median over all 6 = 3rd smallest of {5,9,5,1,2,0} = 2; Delta lower median of {0,3,0,0,0,0} = 0.
// Anchor 3: WAAD 1 <= 2, window (k = 1) {2} Delta 0 >= 0: dominated, intro 2 -> 1.25 at 2 and 3.
// Anchor 1: WAAD 9 > 2: keeps 1.5. Positions 4, 5 (FAI 0.95, 0.99 by mistake) are never anchors.
TEST(CreditFaiPool, CoupledAnchorsComeFromThePool) {
  CreditInputs in;
  in.fai = rows({{0.1, 0.6, 0.2, 0.9, 0.95, 0.99}});
  in.waad = rows({{5, 9, 5, 1, 2, 0}});
  in.delta = rows({{0, 3, 0, 0, 0, 0}});
  in.response_mask = mask_of_lengths({6}, 6);
  auto o = options_for("coupled", 0.5);
  o.fai_horizon_lo = 2;
  o.k = 1;
  expect_rows_near(compute_gamma(in, o), {{1, 1.5, 1.25, 1.25, 1, 1}});
}
