// Issue 11 item 8: every coupling statistic has a seeded percentile-bootstrap 95% interval over
// responses. The percentile rule and the resampling are checked on cases small enough to work by
// hand; then a synthetic set whose lift is clearly positive (interval above 0, "above chance") and
// one that is noise around chance (interval includes 0, "not detected"); then determinism per seed.
#include <torch/torch.h>

#include <cmath>

#include "common.h"
#include "illume/attention/analysis.h"

using namespace illume;

TEST(CouplingBootstrap, PercentileIntervalInterpolatesOrderStatistics) {
  // Sorted 1..5: position q * 4. 2.5%: 0.1 -> 1.1; 97.5%: 3.9 -> 4.9 (input order does not matter).
  auto i = percentile_interval({5, 3, 1, 4, 2});
  EXPECT_NEAR(i.lo, 1.1, 1e-12);
  EXPECT_NEAR(i.hi, 4.9, 1e-12);
  // 90%: positions 0.2 and 3.8 -> 1.2 and 4.8. One value: both ends are it.
  auto j = percentile_interval({1, 2, 3, 4, 5}, 0.9);
  EXPECT_NEAR(j.lo, 1.2, 1e-12);
  EXPECT_NEAR(j.hi, 4.8, 1e-12);
  auto k = percentile_interval({7.5});
  EXPECT_EQ(k.lo, 7.5);
  EXPECT_EQ(k.hi, 7.5);
  EXPECT_ERROR_CONTAINS(percentile_interval({}), "empty sample");
  EXPECT_ERROR_CONTAINS(percentile_interval({1, 2}, 1.0), "level");
}

TEST(CouplingBootstrap, ResamplesUnitsWithReplacement) {
  // Three units with values 1, 2, 3; statistic = the resample's mean. A resample of 3 draws has sum
  // 3 with probability 1/27 (all 1s) and 9 with 1/27 (all 3s): both tails hold more than 2.5% of
  // 4,000 resamples (about 148 each), so the 95% interval is exactly [1, 3].
  const std::vector<double> values = {1, 2, 3};
  std::int64_t calls = 0;
  auto mean = [&](const std::vector<std::uint32_t>& w) {
    ++calls;
    double sum = 0, n = 0;
    for (std::size_t i = 0; i < w.size(); ++i) sum += w[i] * values[i], n += w[i];
    EXPECT_EQ(n, 3.0) << "a resample draws as many units as there are";
    return sum / n;
  };
  auto i = bootstrap_interval(3, mean, 4000, 7);
  ASSERT_TRUE(i.has_value());
  EXPECT_EQ(calls, 4000);
  EXPECT_DOUBLE_EQ(i->lo, 1.0);
  EXPECT_DOUBLE_EQ(i->hi, 3.0);
  // One unit: every resample is the unit itself.
  auto one = bootstrap_interval(1, [](const std::vector<std::uint32_t>& w) { return 10.0 * w[0]; }, 50, 1);
  ASSERT_TRUE(one.has_value());
  EXPECT_EQ(one->lo, 10.0);
  EXPECT_EQ(one->hi, 10.0);
  // Undefined everywhere (NaN), no units, no resamples: no interval.
  EXPECT_FALSE(bootstrap_interval(2, [](const std::vector<std::uint32_t>&) { return std::nan(""); }, 10, 1));
  EXPECT_FALSE(bootstrap_interval(0, mean, 10, 1));
  EXPECT_FALSE(bootstrap_interval(3, mean, 0, 1));
}

namespace {

// A response of R tokens with entropy `base` everywhere except `at_preplan` at its preplan tokens
// (every 8th position from 3); anchors at 4 + 8k (one after each preplan token: fai_after_waad's
// observed share is 1); receiver peaks on every other anchor plus two non-anchors.
AnalyzedResponse response(std::int64_t R, double base, double at_preplan) {
  AnalyzedResponse r;
  r.entropy = torch::full({R}, base, torch::kDouble);
  for (std::int64_t t = 3; t < R; t += 8) {
    r.preplan.push_back(t);
    r.entropy[t] = at_preplan;
    if (t + 1 < R) r.anchor.push_back(t + 1);
  }
  for (std::size_t k = 0; k < r.anchor.size(); k += 2) r.receiver_peaks.push_back(r.anchor[k]);
  r.receiver_peaks.push_back(0);
  r.receiver_peaks.push_back(1);
  std::sort(r.receiver_peaks.begin(), r.receiver_peaks.end());
  return r;
}

std::pair<double, double> interval(const Json& entry, const char* key) {
  return {entry.at(key)[0].get<double>(), entry.at(key)[1].get<double>()};
}

}  // namespace

TEST(CouplingBootstrap, ClearLiftExcludesZeroAndNoiseIncludesIt) {
  AnalysisSettings settings;
  settings.shuffles = 50;
  // Clear: in 24 responses the preplan tokens carry entropy 0.6-0.9 against 0.2 elsewhere.
  std::vector<AnalyzedResponse> clear;
  for (int i = 0; i < 24; ++i) clear.push_back(response(64 + 4 * i, 0.2, 0.6 + 0.3 * (i % 4) / 3.0));
  Json stats = coupling_statistics(clear, settings);
  const auto& entropy = stats.at("entropy_at_preplan");
  EXPECT_EQ(entropy.at("bootstrap"), 1000);
  auto [lo, hi] = interval(entropy, "lift_ci");
  EXPECT_GT(lo, 0.5) << "entropy at preplan is about 3x-4.5x the rest";
  EXPECT_LE(lo, entropy.at("lift").get<double>());
  EXPECT_GE(hi, entropy.at("lift").get<double>());
  EXPECT_EQ(entropy.at("verdict"), "above chance");
  auto [olo, ohi] = interval(entropy, "observed_ci");
  EXPECT_GE(olo, 0.6 - 1e-12);
  EXPECT_LE(ohi, 0.9 + 1e-12);
  // Every anchor sits one after a preplan token: observed 1 in every resample, far above shuffling.
  const auto& after = stats.at("fai_after_waad");
  EXPECT_EQ(interval(after, "observed_ci"), std::make_pair(1.0, 1.0));
  EXPECT_GT(interval(after, "lift_ci").first, 0.0);
  EXPECT_EQ(after.at("verdict"), "above chance");

  // Noise: half the responses have high entropy at preplan tokens, half low, symmetric about the
  // 0.5 elsewhere, so the pooled lift is about 0 and a resample can tip either way.
  std::vector<AnalyzedResponse> noise;
  for (int i = 0; i < 24; ++i) noise.push_back(response(64, 0.5, i % 2 ? 0.9 : 0.1));
  Json flat = coupling_statistics(noise, settings);
  const auto& e2 = flat.at("entropy_at_preplan");
  EXPECT_NEAR(e2.at("lift").get<double>(), 0.0, 1e-12);
  auto [nlo, nhi] = interval(e2, "lift_ci");
  EXPECT_LT(nlo, 0.0);
  EXPECT_GT(nhi, 0.0);
  EXPECT_EQ(e2.at("verdict"), "not detected");
}

TEST(CouplingBootstrap, SameSeedSameIntervalsOtherSeedOthers) {
  std::vector<AnalyzedResponse> rs;
  for (int i = 0; i < 12; ++i) rs.push_back(response(40 + 3 * i, 0.3, 0.2 + 0.1 * (i % 5)));
  AnalysisSettings settings;
  settings.seed = 11;
  settings.shuffles = 20;
  Json a = coupling_statistics(rs, settings), b = coupling_statistics(rs, settings);
  EXPECT_EQ(a.dump(), b.dump());
  settings.seed = 12;
  Json c = coupling_statistics(rs, settings);
  EXPECT_NE(a.at("entropy_at_preplan").at("lift_ci"), c.at("entropy_at_preplan").at("lift_ci"));
  // The point statistics do not depend on the seed where no shuffle is involved.
  EXPECT_EQ(a.at("entropy_at_preplan").at("lift"), c.at("entropy_at_preplan").at("lift"));
  // B = 0: no interval fields.
  settings.bootstrap = 0;
  Json d = coupling_statistics(rs, settings);
  EXPECT_FALSE(d.at("entropy_at_preplan").contains("lift_ci"));
  settings.bootstrap = -1;
  EXPECT_ERROR_CONTAINS(coupling_statistics(rs, settings), "bootstrap");
}
