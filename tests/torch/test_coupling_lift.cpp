// The coupling statistics' "lift" is the paper's relative increase, (observed - random) / random, and
// "ratio" keeps observed / random: the paper's entropy row 0.3608 vs 0.2386 is "+51%", lift 0.51.
#include <torch/torch.h>

#include "common.h"
#include "illume/attention/analysis.h"

using namespace illume;

TEST(CouplingLift, IsTheRelativeIncreaseAndRatioIsTheQuotient) {
  // One response of 10 tokens: entropy 0.2 everywhere but 0.5 at its one preplan token (t = 2).
  AnalyzedResponse r;
  r.entropy = torch::full({10}, 0.2, torch::kDouble);
  r.entropy[2] = 0.5;
  r.preplan = {2};
  AnalysisSettings settings;
  settings.shuffles = 4;
  Json stats = coupling_statistics({r}, settings);
  const auto& entropy = stats.at("entropy_at_preplan");
  const double random = (9 * 0.2 + 0.5) / 10;  // 0.23
  EXPECT_DOUBLE_EQ(entropy.at("observed").get<double>(), 0.5);
  EXPECT_NEAR(entropy.at("random").get<double>(), random, 1e-15);
  EXPECT_NEAR(entropy.at("lift").get<double>(), (0.5 - random) / random, 1e-12);  // 1.1739..., not 2.1739...
  EXPECT_NEAR(entropy.at("ratio").get<double>(), 0.5 / random, 1e-12);
  // No anchors: random 0, lift and ratio 0 (not a division by zero).
  const auto& after = stats.at("fai_after_waad");
  EXPECT_EQ(after.at("lift").get<double>(), 0.0);
  EXPECT_EQ(after.at("ratio").get<double>(), 0.0);
}
