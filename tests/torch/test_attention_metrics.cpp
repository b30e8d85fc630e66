// Pure metric functions (METHOD.md §1-3) against hand-computed values on tiny maps.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <vector>

#include "illume/attention/metrics.h"
#include "illume/util/error.h"

using namespace illume;

namespace {

std::vector<double> values(const at::Tensor& t) {
  auto c = t.to(torch::kDouble).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

std::vector<std::int64_t> indices(const at::Tensor& t) {
  auto c = t.to(torch::kLong).contiguous();
  return std::vector<std::int64_t>(c.data_ptr<std::int64_t>(), c.data_ptr<std::int64_t>() + c.numel());
}

void expect_values(const at::Tensor& t, const std::vector<double>& expected, double tol = 1e-12) {
  auto v = values(t);
  ASSERT_EQ(v.size(), expected.size());
  for (std::size_t i = 0; i < v.size(); ++i) EXPECT_NEAR(v[i], expected[i], tol) << "index " << i;
}

// The 4x4 causal map used below (rows sum to 1):
//   row 0: 1
//   row 1: .4 .6
//   row 2: .1 .2 .7
//   row 3: .5 .1 .1 .3
at::Tensor map4() {
  return torch::tensor({1.0, 0.0, 0.0, 0.0, 0.4, 0.6, 0.0, 0.0, 0.1, 0.2, 0.7, 0.0, 0.5, 0.1, 0.1, 0.3}, torch::kDouble)
      .view({4, 4});
}

}  // namespace

TEST(AttentionMetrics, MiddleThirdLayers) {
  EXPECT_EQ(middle_third_layers(36), (std::vector<int>{12, 15, 18, 21, 24}));
  // L = 28: linspace(9, 18, 5) = 9, 11.25, 13.5, 15.75, 18 -> 9, 11, 14 (half to even), 16, 18.
  EXPECT_EQ(middle_third_layers(28), (std::vector<int>{9, 11, 14, 16, 18}));
  // L = 2: linspace(0, 1, 5) rounds to 0, 0, 0, 1, 1 -> deduplicated {0, 1}.
  EXPECT_EQ(middle_third_layers(2), (std::vector<int>{0, 1}));
  EXPECT_EQ(middle_third_layers(1), (std::vector<int>{0}));
  EXPECT_EQ(middle_third_layers(36, 1), (std::vector<int>{12}));
  EXPECT_THROW(middle_third_layers(0), Error);
  EXPECT_THROW(middle_third_layers(36, 0), Error);
}

TEST(AttentionMetrics, HeadSpanHandComputed) {
  // Head 0: [[1],[.5,.5],[.2,.3,.5]]; response = rows 1, 2.
  //   row 1: .5*1 + .5*0 = .5; row 2: .2*2 + .3*1 + .5*0 = .7 -> mean .6
  // Head 1: identity -> 0.  Head 2: every row attends to position 0 -> rows 1, 2 give 1, 2 -> 1.5.
  auto a = torch::tensor({1.0, 0.0, 0.0, 0.5, 0.5, 0.0, 0.2, 0.3, 0.5,  //
                          1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0,  //
                          1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0},
                         torch::kDouble)
               .view({3, 3, 3});
  expect_values(head_span(a, 1), {0.6, 0.0, 1.5});
  // Response = all rows: head 0 (0 + .5 + .7) / 3 = .4; head 2 (0 + 1 + 2) / 3 = 1.
  expect_values(head_span(a, 0), {0.4, 0.0, 1.0});
  // Float input gives float64 output.
  EXPECT_EQ(head_span(a.to(torch::kFloat), 1).scalar_type(), torch::kDouble);
  EXPECT_THROW(head_span(a, 3), Error);  // empty response
  EXPECT_THROW(head_span(a[0], 1), Error);
}

TEST(AttentionMetrics, GroupHeadsQuantilesAndTies) {
  // K = 10, fraction .3 -> 3 heads each. Ascending: .5(5) 1(1) 1(3) 1.5(8) 2(2) 2.5(7) 3(0) 4(6) 5(4) 6(9).
  auto spans = torch::tensor({3.0, 1.0, 2.0, 1.0, 5.0, 0.5, 4.0, 2.5, 1.5, 6.0}, torch::kDouble);
  auto g = group_heads(spans, 0.3);
  EXPECT_EQ(g.local, (std::vector<std::int64_t>{1, 3, 5}));
  EXPECT_EQ(g.global, (std::vector<std::int64_t>{4, 6, 9}));
  // Ties: equal spans rank by index, local takes the first and global the last of one ranking.
  auto tie = group_heads(torch::tensor({2.0, 2.0, 2.0, 2.0}, torch::kDouble), 0.25);
  EXPECT_EQ(tie.local, (std::vector<std::int64_t>{0}));
  EXPECT_EQ(tie.global, (std::vector<std::int64_t>{3}));
  // [1, 3, 3, 2]: ascending 0(1) 3(2) 1(3) 2(3) -> global is head 2 (the later of the tied 3s).
  auto tie2 = group_heads(torch::tensor({1.0, 3.0, 3.0, 2.0}, torch::kDouble), 0.25);
  EXPECT_EQ(tie2.local, (std::vector<std::int64_t>{0}));
  EXPECT_EQ(tie2.global, (std::vector<std::int64_t>{2}));
  // At least one head each; K = 3 with fraction .5: round(1.5) = 2 would overlap, capped to K/2 = 1.
  auto small = group_heads(torch::tensor({3.0, 1.0, 2.0}, torch::kDouble), 0.5);
  EXPECT_EQ(small.local, (std::vector<std::int64_t>{1}));
  EXPECT_EQ(small.global, (std::vector<std::int64_t>{0}));
  auto one = group_heads(torch::tensor({7.0}, torch::kDouble), 0.3);
  EXPECT_EQ(one.local, (std::vector<std::int64_t>{0}));
  EXPECT_EQ(one.global, (std::vector<std::int64_t>{0}));
  EXPECT_THROW(group_heads(spans, 0.0), Error);
  EXPECT_THROW(group_heads(spans, 0.6), Error);
}

TEST(AttentionMetrics, WaadHandComputed) {
  // W = 2, response rows 1..3 of map4:
  //   row 1: .4*min(1,2) = .4
  //   row 2: .1*2 + .2*1 = .4
  //   row 3: .5*min(3,2) + .1*2 + .1*1 = 1.3
  expect_values(waad(map4(), 1, 2), {0.4, 0.4, 1.3});
  // W = 1: every earlier key counts 1: .4, .3, .7
  expect_values(waad(map4(), 1, 1), {0.4, 0.3, 0.7});
  // W = 10 is the plain mean distance: row 3: .5*3 + .1*2 + .1*1 = 1.8; row 0 included when begin = 0.
  expect_values(waad(map4(), 0, 10), {0.0, 0.4, 0.4, 1.8});
  EXPECT_THROW(waad(map4(), 1, 0), Error);
}

TEST(AttentionMetrics, FaiHandComputed) {
  // Response = positions 1..3 of map4 (N = 4).
  // [1, end]: s=1: T={2,3}: (.2 + .1)/2 = .15; s=2: T={3}: .1; s=3: T empty -> 0.
  expect_values(fai(map4(), 1, 1, kHorizonToEnd), {0.15, 0.1, 0.0});
  // [1, 1]: s=1: A[2,1] = .2; s=2: A[3,2] = .1; s=3: 0.
  expect_values(fai(map4(), 1, 1, 1), {0.2, 0.1, 0.0});
  // [2, 5]: s=1: T={3}: .1; s=2: T={4..} outside -> 0; s=3: 0.
  expect_values(fai(map4(), 1, 2, 5), {0.1, 0.0, 0.0});
  // Whole sequence as response: s=0: (.4 + .1 + .5)/3.
  expect_values(fai(map4(), 0, 1, kHorizonToEnd), {1.0 / 3.0, 0.15, 0.1, 0.0});
  // Horizon beyond the sequence: every T(s) empty.
  expect_values(fai(map4(), 1, 10, 100), {0.0, 0.0, 0.0});
  EXPECT_THROW(fai(map4(), 1, -1, 5), Error);  // H_lo = 0 is allowed (T(s) includes s)
  EXPECT_THROW(fai(map4(), 1, 5, 4), Error);
}

TEST(AttentionMetrics, DeltaLastTokenIsZero) {
  expect_values(waad_delta(torch::tensor({0.4, 0.4, 1.3}, torch::kDouble)), {0.0, 0.9, 0.0});
  expect_values(waad_delta(torch::tensor({2.0, 0.5}, torch::kDouble)), {1.5, 0.0});
  expect_values(waad_delta(torch::tensor({3.0}, torch::kDouble)), {0.0});
}

TEST(AttentionMetrics, PeaksHandComputed) {
  auto x = torch::tensor({1.0, 3.0, 2.0, 5.0, 4.0, 4.0, 0.0, 6.0, 6.0, 1.0}, torch::kDouble);
  // top 20% of 10 -> rank 2 -> threshold 6: t=7 (left 4, 0 < 6; right 6 >= 6 ok); t=8 has an equal
  // left neighbour (plateau: first position only).
  EXPECT_EQ(indices(find_peaks(x, 2, 0.2)), (std::vector<std::int64_t>{7}));
  // top 50% -> threshold 4: t=3 (5 > 3, 2; >= 4, 4), t=4/5 lose to 5 on the left, t=7.
  EXPECT_EQ(indices(find_peaks(x, 2, 0.5)), (std::vector<std::int64_t>{3, 7}));
  // radius 1, no quantile filter: 1, 3, 7 (5 sits on a plateau after 4; 8 after 7).
  EXPECT_EQ(indices(find_peaks(x, 1, 1.0)), (std::vector<std::int64_t>{1, 3, 7}));
  // A plateau at the end counts once, at its start.
  EXPECT_EQ(indices(find_peaks(torch::tensor({0.0, 2.0, 2.0, 2.0}, torch::kDouble), 1, 1.0)),
            (std::vector<std::int64_t>{1}));
  // Constant: the first position only.
  EXPECT_EQ(indices(find_peaks(torch::tensor({1.0, 1.0, 1.0}, torch::kDouble), 2, 0.2)), (std::vector<std::int64_t>{0}));
  EXPECT_EQ(find_peaks(torch::zeros({0}, torch::kDouble)).numel(), 0);
  EXPECT_THROW(find_peaks(x, -1, 0.2), Error);
  EXPECT_THROW(find_peaks(x, 2, 0.0), Error);
}

TEST(AttentionMetrics, KurtosisHandComputed) {
  // [1,0,0,0]: mean .25, m2 = (.5625 + 3*.0625)/4 = .1875, m4 = (.31640625 + 3*.00390625)/4 = .08203125,
  //            m4/m2^2 = 2.3333 -> excess -2/3.
  // [1,-1,1,-1]: m2 = m4 = 1 -> -2.   constant -> 0.   [2,1,1,0]: m2 = .5, m4 = .5 -> -1.
  auto x = torch::tensor({1.0, 0.0, 0.0, 0.0, 1.0, -1.0, 1.0, -1.0, 3.0, 3.0, 3.0, 3.0, 2.0, 1.0, 1.0, 0.0}, torch::kDouble)
               .view({4, 4});
  expect_values(kurtosis(x), {-2.0 / 3.0, -2.0, 0.0, -1.0}, 1e-12);
  // One spike in 8: excess 22/7 (m2 = 7/64, m4 = 2408/32768).
  auto spike = torch::zeros({1, 8}, torch::kDouble);
  spike[0][7] = 1.0;
  expect_values(kurtosis(spike), {22.0 / 7.0}, 1e-12);
}

TEST(AttentionMetrics, ReceiverHeadsByKurtosis) {
  // Kurtoses: head0 constant 0, head1 -2/3, head2 -2, head3 [0,0,0,4] -2/3, head4 -1.
  auto received = torch::tensor({1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, -1.0, 1.0, -1.0, 0.0, 0.0, 0.0, 4.0,
                                 2.0, 1.0, 1.0, 0.0},
                                torch::kDouble)
                      .view({5, 4});
  EXPECT_EQ(receiver_heads(received, 0.2), (std::vector<std::int64_t>{0}));
  // Two heads: 0, then the tie between 1 and 3 goes to the lower index.
  EXPECT_EQ(receiver_heads(received, 0.4), (std::vector<std::int64_t>{0, 1}));
  // Always at least one head.
  EXPECT_EQ(receiver_heads(received, 0.01).size(), 1u);
}

// Receiver scoring from rows at least horizon_lo after the key (hand-computed).
// One head, R = 4 response rows x keys:
//   t0: 1
//   t1: .5 .5
//   t2: .2 .3 .5
//   t3: .1 .2 .3 .4
TEST(AttentionMetrics, ReceiverScoresSkipRowsNearTheKey) {
  auto block = torch::tensor({1.0, 0.0, 0.0, 0.0, 0.5, 0.5, 0.0, 0.0, 0.2, 0.3, 0.5, 0.0, 0.1, 0.2, 0.3, 0.4},
                             torch::kDouble)
                   .view({1, 4, 4});
  // horizon 1: key 0 from rows 1..3 = .8, key 1 from rows 2..3 = .5, key 2 from row 3 = .3, key 3 none.
  auto sums1 = received_beyond_horizon(block, 1);
  expect_values(sums1[0], {0.8, 0.5, 0.3, 0.0}, 1e-12);
  // Means over R - j - 1 = 3, 2, 1 rows; min_rows 2 drops key 2 (one row) and key 3 (none).
  expect_values(receiver_key_means(sums1, 1, 2)[0], {0.8 / 3, 0.25}, 1e-12);
  expect_values(receiver_key_means(sums1, 1, 1)[0], {0.8 / 3, 0.25, 0.3}, 1e-12);
  // horizon 2: key 0 from rows 2..3 = .3 over 2 rows, key 1 from row 3 = .2 over 1 row.
  auto sums2 = received_beyond_horizon(block, 2);
  expect_values(sums2[0], {0.3, 0.2, 0.0, 0.0}, 1e-12);
  expect_values(receiver_key_means(sums2, 2, 1)[0], {0.15, 0.2}, 1e-12);
  // Too short to score: no keys, and then no receiver heads.
  auto none = receiver_key_means(sums2, 2, 3);
  EXPECT_EQ(none.size(1), 0);
  EXPECT_TRUE(receiver_heads(none, 0.5).empty());
}
