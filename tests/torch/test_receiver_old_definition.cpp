// `illume analyze --receiver-horizon-lo 0 --receiver-min-rows 1` reproduces the receiver-head
// definition before issue 11's fix (the "before" run of the closing note): key j scored from every
// response row t >= j, the diagonal included, divided by R - j, no key dropped. Checked against that
// formula written out, and end to end: the previous-token head that the old definition preferred is
// chosen again by both the streaming statistics and the reference.
#include <torch/torch.h>

#include "common.h"
#include "illume/attention/metrics.h"
#include "illume/attention/reference.h"
#include "illume/attention/streaming.h"

using namespace illume;

TEST(ReceiverOldDefinition, HorizonZeroMinRowsOneIsTheMeanOverRowsFromTheDiagonal) {
  torch::manual_seed(3);
  const std::int64_t K = 3, R = 12;
  auto block = torch::rand({K, R, R}, torch::kDouble).tril();
  block = block / block.sum(-1, true);  // causal, row-stochastic
  // The old code: sum over all rows (rows above the key hold 0), divided by the R - j rows that see key j.
  auto old = block.sum(1) / (static_cast<double>(R) - torch::arange(R, torch::kDouble));
  auto now = receiver_key_means(received_beyond_horizon(block, 0), 0, 1);
  ASSERT_EQ(now.sizes(), old.sizes());
  EXPECT_TRUE(torch::allclose(now, old, 1e-12, 1e-14));
  // The fixed default differs: keys from rows >= j + 10, the last 9 keys dropped (R - 10 - 10 + 1 = 0 here).
  EXPECT_EQ(receiver_key_means(received_beyond_horizon(block, 10), 10, 10).size(1), 0);
}

namespace {

// Head 0 attends to the previous token; head 1 spreads 40% uniformly and 60% over the anchors seen so
// far (the maps of test_attention_streaming's receiver test).
at::Tensor previous_token_and_anchor_maps(std::int64_t P, std::int64_t R, const std::vector<std::int64_t>& anchors) {
  const auto N = P + R;
  auto maps = torch::zeros({1, 2, N, N}, torch::kFloat);
  auto acc = maps.accessor<float, 4>();
  for (std::int64_t t = 0; t < N; ++t) {
    acc[0][0][t][std::max<std::int64_t>(t - 1, 0)] = 1.0f;
    std::vector<std::int64_t> seen;
    for (auto a : anchors)
      if (P + a < t) seen.push_back(P + a);
    const double anchor_share = seen.empty() ? 0.0 : 0.6;
    for (std::int64_t s = 0; s <= t; ++s) acc[0][1][t][s] = static_cast<float>((1.0 - anchor_share) / double(t + 1));
    for (auto s : seen) acc[0][1][t][s] += static_cast<float>(anchor_share / double(seen.size()));
  }
  return maps;
}

}  // namespace

TEST(ReceiverOldDefinition, PicksThePreviousTokenHeadAgain) {
  torch::NoGradGuard no_grad;
  const std::int64_t P = 5, R = 200;
  std::vector<at::Tensor> maps = {previous_token_and_anchor_maps(P, R, {10, 30, 50, 70, 90, 110, 130, 150, 170})};
  std::vector<SequenceLayout> layouts = {{0, P, R}};
  AttentionStatsConfig c = analysis_attention_config(1);
  c.layers = {0};
  c.group_fraction = 0.5;
  c.receiver_fraction = 0.5;
  c.receiver_horizon_lo = 0;
  c.receiver_min_rows = 1;
  validate_attention_config(c);  // 0 is accepted: it names the old definition
  const std::vector<HeadId> previous_token_head = {{0, 0}};
  EXPECT_EQ(reference_attention_stats(maps, layouts, c)[0].receiver_heads, previous_token_head);
  AttentionStatsAccumulator acc(c, layouts);
  for (std::int64_t q = 0; q < P + R; q += 16) {
    auto rows = maps[0].narrow(2, q, std::min<std::int64_t>(16, P + R - q)).contiguous();
    AttentionBlock block;
    block.layer = 0;
    block.query_begin = q;
    block.probs = &rows;
    acc.on_block(block);
  }
  acc.end_pass();
  EXPECT_EQ(acc.finalize()[0].receiver_heads, previous_token_head);
  c.receiver_horizon_lo = -1;
  EXPECT_ERROR_CONTAINS(validate_attention_config(c), "receiver horizon start must be >= 0");
}
