// The paper's attention ablations (issue 11 item 5) in analysis and training: the head quantile,
// grouping per sequence / over the whole batch / fixed lists, all-heads averaging, and H_lo = 0.
// Numbers are checked against the recorded full maps (FullMapRecorder) through the pure metric
// functions, or against the materialising reference, never against the streaming path itself.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "common.h"
#include "illume/attention/metrics.h"
#include "illume/attention/reference.h"
#include "illume/attention/streaming.h"
#include "illume/model/model.h"
#include "illume/rl/credit.h"
#include "illume/train/attention_pass.h"
#include "illume/train/grpo_trainer.h"
#include "illume/train/train_config.h"
#include "illume/util/config.h"
#include "illume/util/error.h"
#include "illume/util/file.h"
#include "illume/util/json.h"
#include "train_test_util.h"

using namespace illume;

namespace {

// 4 layers of 4 query heads; weights sharpened so maps are far from uniform and head spans differ.
Model sharp_model(std::uint64_t seed) {
  Json j = {{"model_type", "qwen3"},     {"vocab_size", 97},          {"hidden_size", 32},
            {"intermediate_size", 64},   {"num_hidden_layers", 4},    {"num_attention_heads", 4},
            {"num_key_value_heads", 2},  {"head_dim", 16},            {"rms_norm_eps", 1e-6},
            {"rope_theta", 10000.0},     {"tie_word_embeddings", true}};
  auto model = Model::random(ModelConfig::from_json(j, "test-config"), seed);
  torch::NoGradGuard g;
  for (auto& t : model.parameters()) t.mul_(2.5);
  return model;
}

// Right-padded rows of random ids (the trainer's layout): prompt + response lengths per row.
struct Rows {
  at::Tensor ids, mask;
  std::vector<std::int64_t> prompt, response;
  std::vector<SequenceLayout> layouts() const {
    std::vector<SequenceLayout> out;
    for (std::size_t i = 0; i < prompt.size(); ++i) out.push_back({0, prompt[i], response[i]});
    return out;
  }
  // Rows first .. first+count-1, trimmed to their own longest sequence (as a micro-batch is packed).
  Rows slice(std::int64_t first, std::int64_t count) const {
    Rows r;
    std::int64_t T = 0;
    for (auto b = first; b < first + count; ++b) {
      r.prompt.push_back(prompt[b]);
      r.response.push_back(response[b]);
      T = std::max(T, prompt[b] + response[b]);
    }
    r.ids = ids.narrow(0, first, count).narrow(1, 0, T).contiguous();
    r.mask = mask.narrow(0, first, count).narrow(1, 0, T).contiguous();
    return r;
  }
};

Rows make_rows(const std::vector<std::pair<std::int64_t, std::int64_t>>& lengths, std::uint64_t seed) {
  std::int64_t T = 0;
  for (auto [p, r] : lengths) T = std::max(T, p + r);
  const auto B = static_cast<std::int64_t>(lengths.size());
  auto gen = at::detail::createCPUGenerator(seed);
  Rows rows;
  rows.ids = torch::randint(1, 97, {B, T}, gen, torch::kLong);
  rows.mask = torch::zeros({B, T}, torch::kLong);
  for (std::int64_t b = 0; b < B; ++b) {
    auto [p, r] = lengths[b];
    rows.mask[b].narrow(0, 0, p + r).fill_(1);
    rows.prompt.push_back(p);
    rows.response.push_back(r);
  }
  return rows;
}

// The full maps of `layers` over all rows in one forward: per layer [B, H, T, T].
std::vector<at::Tensor> full_maps(const Model& model, const Rows& rows, const std::vector<int>& layers) {
  FullMapRecorder recorder(layers);
  model.forward_hidden(rows.ids, rows.mask, &recorder);
  return recorder.maps();
}

// Mean over the given heads of row b's maps, over the sequence's own positions: [N, N] float64.
at::Tensor head_mean(const std::vector<at::Tensor>& maps, const std::vector<int>& layers, std::int64_t b,
                     std::int64_t N, const std::vector<HeadId>& heads) {
  auto sum = torch::zeros({N, N}, torch::kDouble);
  for (const auto& h : heads) {
    const auto li = std::find(layers.begin(), layers.end(), h.layer) - layers.begin();
    sum += maps[li][b][h.head].narrow(0, 0, N).narrow(1, 0, N).to(torch::kDouble);
  }
  return sum / static_cast<double>(heads.size());
}

// Relative to max(1, |want|): WAAD runs up to W, and forwards of different widths round differently.
void expect_close(const at::Tensor& got, const at::Tensor& want, double tol, const std::string& what) {
  ASSERT_TRUE(got.defined()) << what;
  ASSERT_EQ(got.sizes(), want.sizes()) << what;
  auto w = want.to(torch::kDouble);
  auto excess = (got.to(torch::kDouble) - w).abs() / w.abs().clamp_min(1.0);
  EXPECT_LE(excess.max().item<double>(), tol) << what;
}

Json recipe() {
  return parse_yaml(R"(
model: {dir: "m"}
data: {task: countdown, path: synthetic.jsonl}
optim: {batch_size: 8, micro_batch_size: 4}
credit: {strategy: global}
run: {out: "o"}
)",
                    "tiny.yaml");
}

train::TrainConfig config_with(const std::vector<std::string>& overrides) {
  auto tree = config_tree(recipe(), "tiny.yaml");
  for (const auto& o : overrides) apply_override(tree, o);
  return train::read_train_config(tree);
}

}  // namespace

// ---- the recipe keys ----

TEST(AttentionAblation, RecipeKeysParseAndRoundTrip) {
  auto root = recipe();
  root["attention"] = parse_yaml(R"(
layers: [1, 2]
horizon: [0, 50]
head_quantile: 0.2
grouping: fixed
local_heads: ["1:0", "2:3"]
global_heads: "2:1,1:2"
)",
                                 "tiny.yaml");
  auto c = train::train_config_from_json(root, "tiny.yaml");
  EXPECT_EQ(c.attention_layers, (std::vector<int>{1, 2}));
  EXPECT_EQ(c.fai_horizon_lo, 0);
  EXPECT_EQ(c.fai_horizon_hi, 50);
  EXPECT_DOUBLE_EQ(c.head_quantile, 0.2);
  EXPECT_EQ(c.attention_grouping, HeadGroupingScope::fixed);
  EXPECT_EQ(c.local_heads, (std::vector<HeadId>{{1, 0}, {2, 3}}));
  EXPECT_EQ(c.global_heads, (std::vector<HeadId>{{2, 1}, {1, 2}}));
  EXPECT_FALSE(c.all_heads);
  // --print-config writes the lists as "layer:head" strings and reads back to the same config.
  auto written = train::train_config_to_json(c);
  EXPECT_EQ(written.at("attention").at("local_heads"), Json::array({"1:0", "2:3"}));
  EXPECT_EQ(written.at("attention").at("grouping"), "fixed");
  auto again = train::train_config_from_json(written, "printed.yaml");
  EXPECT_EQ(again.local_heads, c.local_heads);
  EXPECT_EQ(again.global_heads, c.global_heads);
  EXPECT_EQ(again.fai_horizon_lo, 0);
  EXPECT_DOUBLE_EQ(again.head_quantile, 0.2);

  auto b = config_with({"attention.grouping=batch", "attention.all_heads=true"});
  EXPECT_EQ(b.attention_grouping, HeadGroupingScope::per_batch);
  EXPECT_TRUE(b.all_heads);
  auto printed = train::train_config_to_json(b);
  EXPECT_EQ(printed.at("attention").at("grouping"), "batch");
  EXPECT_EQ(printed.at("attention").at("all_heads"), true);
  EXPECT_TRUE(train::train_config_from_json(printed, "printed.yaml").all_heads);
  // The defaults: the paper's 30% per group, ranked per response.
  auto d = config_with({});
  EXPECT_DOUBLE_EQ(d.head_quantile, 0.3);
  EXPECT_EQ(d.attention_grouping, HeadGroupingScope::per_sequence);
  EXPECT_TRUE(d.local_heads.empty());
  // The trainer's pass options carry every key.
  auto o = train::attention_pass_options(c);
  EXPECT_EQ(o.grouping, HeadGroupingScope::fixed);
  EXPECT_EQ(o.local_heads, c.local_heads);
  EXPECT_EQ(o.fai_horizon_lo, 0);
  EXPECT_DOUBLE_EQ(o.head_quantile, 0.2);
  EXPECT_TRUE(train::attention_pass_options(b).all_heads);
}

TEST(AttentionAblation, RecipeValidationNamesTheKey) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"attention.grouping=fixed"}, "key 'attention.grouping' fixed needs both"},
      {{"attention.grouping=fixed", "attention.local_heads=[\"1:0\"]"}, "key 'attention.grouping' fixed needs both"},
      {{"attention.local_heads=[\"1:0\"]"}, "key 'attention.local_heads' applies to attention.grouping fixed only"},
      {{"attention.grouping=batch", "attention.global_heads=[\"1:0\"]"}, "key 'attention.global_heads' applies"},
      {{"attention.head_quantile=0.6"}, "key 'attention.head_quantile' must be in (0, 0.5]"},
      {{"attention.head_quantile=0"}, "key 'attention.head_quantile' must be in (0, 0.5]"},
      {{"attention.grouping=global"}, "key 'attention.grouping' must be one of sequence|batch|fixed"},
      {{"attention.grouping=fixed", "attention.local_heads=[\"1-0\"]", "attention.global_heads=[\"1:1\"]"},
       "key 'attention.local_heads' '1-0' is not layer:head"},
      {{"attention.grouping=fixed", "attention.local_heads=[3]", "attention.global_heads=[\"1:1\"]"},
       "key 'attention.local_heads' should be a list of \"layer:head\" strings"},
      {{"attention.grouping=fixed", "attention.layers=[1, 2]", "attention.local_heads=[\"3:0\"]",
        "attention.global_heads=[\"1:1\"]"},
       "key 'attention.local_heads' head 3:0 is not in attention.layers"},
      {{"attention.grouping=fixed", "attention.local_heads=[\"1:0\"]", "attention.global_heads=[\"1:1\"]",
        "attention.all_heads=true"},
       "key 'attention.all_heads'"},
      {{"attention.horizon=[-1, 10]"}, "key 'attention.horizon' must satisfy 0 <= H_lo <= H_hi"},
      {{"attention.horizon=[100, 10]"}, "key 'attention.horizon' must satisfy 0 <= H_lo <= H_hi"},
      {{"attention.horizon=[1.5, 10]"}, "key 'attention.horizon' must hold whole numbers"},
      {{"attention.window=0"}, "key 'attention.window' must be in [1, 16777216], got 0"},
      {{"attention.window=1000000000"}, "key 'attention.window' must be in [1, 16777216], got 1000000000"},
      {{"attention.layers=[2, 2]"}, "key 'attention.layers' lists layer 2 twice"},
      {{"attention.layers=[-1]"}, "key 'attention.layers' must be 0-based"},
  };
  for (const auto& [overrides, needle] : cases) {
    const auto error = test::error_of([&] { config_with(overrides); });
    EXPECT_NE(error.find(needle), std::string::npos) << overrides.back() << "\n  error: " << error;
    EXPECT_NE(error.find("override '"), std::string::npos) << error;  // names where the value was set
    EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  }
  // H_lo = 0 is the paper's ablation, not an error.
  EXPECT_EQ(config_with({"attention.horizon=[0, 100]"}).fai_horizon_lo, 0);
}

TEST(AttentionAblation, HeadsBeyondTheModelFailWhenTheModelIsKnown) {
  auto model = sharp_model(1);  // 4 layers, 4 heads
  auto options = train::attention_pass_options(
      config_with({"attention.grouping=fixed", "attention.local_heads=[\"1:0\"]", "attention.global_heads=[\"2:7\"]"}));
  EXPECT_ERROR_CONTAINS(train::attention_stats_config(model.config(), options),
                        "attention.global_heads: head 2:7 is beyond the model (4 heads per layer)");
  // Default layers (the middle third of 4: {1, 2}) are known only with the model.
  options.global_heads = {{0, 1}};
  EXPECT_ERROR_CONTAINS(train::attention_stats_config(model.config(), options),
                        "attention.global_heads: head 0:1 is not in an observed layer");
  options.global_heads = {{2, 3}};
  auto config = train::attention_stats_config(model.config(), options);
  EXPECT_EQ(config.layers, (std::vector<int>{1, 2}));
  EXPECT_EQ(config.fixed_global, (std::vector<HeadId>{{2, 3}}));
  options.layers = {9};
  EXPECT_ERROR_CONTAINS(train::attention_stats_config(model.config(), options),
                        "attention.layers: layer 9 is beyond the model (4 layers)");
}

// ---- H_lo = 0 ----

TEST(AttentionAblation, FaiHorizonZeroIncludesTheTokenItself) {
  // A hand-made global map over 3 response positions (no prompt): rows sum to 1.
  auto a = torch::tensor({1.0, 0.0, 0.0, 0.4, 0.6, 0.0, 0.1, 0.3, 0.6}, torch::kDouble).view({3, 3});
  // H = [0, 1]: T(0) = {0, 1}, T(1) = {1, 2}, T(2) = {2}.
  auto got = fai(a, 0, 0, 1);
  expect_close(got, torch::tensor({(1.0 + 0.4) / 2, (0.6 + 0.3) / 2, 0.6}, torch::kDouble), 1e-12, "H=[0,1]");
  // H = [0, 0]: the diagonal.
  expect_close(fai(a, 0, 0, 0), torch::tensor({1.0, 0.6, 0.6}, torch::kDouble), 1e-12, "H=[0,0]");
}

TEST(AttentionAblation, HorizonZeroStreamingMatchesReference) {
  torch::NoGradGuard no_grad;
  auto model = sharp_model(11);
  model.set_attention_block_rows(3);
  auto rows = make_rows({{6, 17}, {9, 12}, {3, 20}}, 5);
  for (std::int64_t hi : {std::int64_t{0}, std::int64_t{5}, kHorizonToEnd}) {
    for (int passes : {1, 2}) {
      AttentionStatsConfig c;
      c.layers = {1, 3};
      c.fai_horizon_lo = 0;
      c.fai_horizon_hi = hi;
      c.passes = passes;
      auto maps = full_maps(model, rows, c.layers);
      AttentionStatsAccumulator acc(c, rows.layouts());
      for (int p = 0; p < passes; ++p) {
        model.forward_hidden(rows.ids, rows.mask, &acc);
        acc.end_pass();
      }
      auto got = acc.finalize();
      auto want = reference_attention_stats(maps, rows.layouts(), c);
      const auto label = "H=[0," + std::to_string(hi) + "] passes " + std::to_string(passes);
      for (std::size_t b = 0; b < got.size(); ++b) {
        EXPECT_EQ(got[b].global_heads, want[b].global_heads) << label;
        expect_close(got[b].fai, want[b].fai, 1e-6, label + " fai");
        expect_close(got[b].waad, want[b].waad, 1e-6, label + " waad");
        // Every token has a horizon now: FAI > 0 at the last token too (it attends to itself).
        EXPECT_GT(got[b].fai[-1].item<double>(), 0.0) << label;
        if (hi == 0) {
          // T(s) = {s}: FAI is the global heads' mean self-attention, read off the maps.
          const auto P = rows.prompt[b], R = rows.response[b];
          auto g = head_mean(maps, c.layers, static_cast<std::int64_t>(b), P + R, got[b].global_heads);
          expect_close(got[b].fai, g.diagonal().narrow(0, P, R), 1e-6, label + " diagonal");
        }
      }
    }
  }
}

// ---- batch grouping over several forwards ----

TEST(AttentionAblation, BatchGroupingSpansEveryForward) {
  torch::NoGradGuard no_grad;
  auto model = sharp_model(3);
  model.set_attention_block_rows(5);
  auto rows = make_rows({{4, 25}, {12, 10}, {7, 18}, {5, 9}, {10, 22}, {3, 14}}, 9);
  AttentionStatsConfig c;
  c.layers = {0, 2, 3};
  c.fai_horizon_lo = 2;
  c.fai_horizon_hi = 30;
  c.group_fraction = 0.25;
  c.grouping = HeadGroupingScope::per_batch;
  // One-shot reference: the whole batch in one forward.
  auto want = reference_attention_stats(full_maps(model, rows, c.layers), rows.layouts(), c);
  // Streaming: three forwards of two rows each, one accumulator.
  AttentionStatsAccumulator acc(c, rows.layouts());
  for (std::int64_t first : {0, 2, 4}) {
    auto mb = rows.slice(first, 2);
    acc.select_sequences(first, 2);
    model.forward_hidden(mb.ids, mb.mask, &acc);
  }
  acc.end_pass();
  auto got = acc.finalize();
  ASSERT_EQ(got.size(), 6u);
  for (std::size_t b = 0; b < got.size(); ++b) {
    EXPECT_EQ(got[b].local_heads, want[b].local_heads) << b;
    EXPECT_EQ(got[b].global_heads, want[b].global_heads) << b;
    EXPECT_EQ(got[b].global_heads, got[0].global_heads) << b;
    // Forwards of two rows vs one of six: float32 rounding differs (the groups may not).
    expect_close(got[b].waad, want[b].waad, 1e-5, "waad " + std::to_string(b));
    expect_close(got[b].fai, want[b].fai, 1e-5, "fai " + std::to_string(b));
  }
  // The groups are the whole batch's: some forward's own rows would rank differently (else the
  // test could not tell the two apart).
  bool differs = false;
  for (std::int64_t first : {0, 2, 4}) {
    auto mb = rows.slice(first, 2);
    auto own = reference_attention_stats(full_maps(model, mb, c.layers), mb.layouts(), c);
    differs = differs || own[0].local_heads != want[0].local_heads || own[0].global_heads != want[0].global_heads;
  }
  EXPECT_TRUE(differs);

  // The trainer's pass, micro-batch by micro-batch, gives the same statistics.
  train::AttentionPassOptions options;
  options.layers = c.layers;
  options.fai_horizon_lo = c.fai_horizon_lo;
  options.fai_horizon_hi = c.fai_horizon_hi;
  options.head_quantile = c.group_fraction;
  options.grouping = HeadGroupingScope::per_batch;
  train::BatchAttentionPass pass(model, rows.prompt, rows.response, options);
  for (std::int64_t first : {0, 2, 4}) {
    auto mb = rows.slice(first, 2);
    pass.run(first, 2, [&](AttentionObserver* observer) { model.forward_hidden(mb.ids, mb.mask, observer); });
  }
  auto stats = pass.finish();
  for (std::size_t b = 0; b < want.size(); ++b) {
    const auto n = rows.response[b];
    expect_close(stats.fai[b].narrow(0, 0, n), want[b].fai, 1e-5, "pass fai " + std::to_string(b));
    expect_close(stats.waad[b].narrow(0, 0, n), want[b].waad, 1e-5, "pass waad " + std::to_string(b));
  }
  // Every row once: a row left out or shown twice fails clearly.
  train::BatchAttentionPass partial(model, rows.prompt, rows.response, options);
  auto mb = rows.slice(0, 2);
  partial.run(0, 2, [&](AttentionObserver* observer) { model.forward_hidden(mb.ids, mb.mask, observer); });
  EXPECT_ERROR_CONTAINS(partial.run(1, 1, [](AttentionObserver*) {}), "row 2 run twice");
  EXPECT_ERROR_CONTAINS(partial.finish(), "never run");
}

// ---- fixed lists in the training credit ----

TEST(AttentionAblation, FixedHeadsDriveTrainingCredit) {
  torch::NoGradGuard no_grad;
  auto model = sharp_model(5);
  auto rows = make_rows({{5, 24}, {8, 16}, {4, 21}, {6, 12}}, 3);
  auto config = config_with({"attention.grouping=fixed", "attention.horizon=[1, 100]", "attention.layers=[1, 3]",
                             "attention.local_heads=[\"1:2\", \"3:0\"]", "attention.global_heads=[\"3:1\"]"});
  auto options = train::attention_pass_options(config);
  train::BatchAttentionPass pass(model, rows.prompt, rows.response, options);
  for (std::int64_t first : {0, 2}) {
    auto mb = rows.slice(first, 2);
    pass.run(first, 2, [&](AttentionObserver* observer) { model.forward_hidden(mb.ids, mb.mask, observer); });
  }
  auto stats = pass.finish();
  // From the maps: FAI of head 3:1 alone, WAAD of the mean of heads 1:2 and 3:0 (metrics.h).
  auto maps = full_maps(model, rows, {1, 3});
  auto sequence_default = options;
  sequence_default.grouping = HeadGroupingScope::per_sequence;
  sequence_default.local_heads.clear();
  sequence_default.global_heads.clear();
  auto ranked = train::attention_pass(model, rows.ids, rows.mask, rows.prompt, rows.response, sequence_default);
  bool differs_from_ranked = false;
  const auto R = stats.fai.size(1);
  auto want_fai = torch::zeros({4, R});
  for (std::int64_t b = 0; b < 4; ++b) {
    const auto P = rows.prompt[b], n = rows.response[b];
    auto fai_want = fai(head_mean(maps, {1, 3}, b, P + n, {{3, 1}}), P, 1, 100);
    auto waad_want = waad(head_mean(maps, {1, 3}, b, P + n, {{1, 2}, {3, 0}}), P, 10);
    expect_close(stats.fai[b].narrow(0, 0, n), fai_want, 1e-5, "fixed fai " + std::to_string(b));
    expect_close(stats.waad[b].narrow(0, 0, n), waad_want, 1e-5, "fixed waad " + std::to_string(b));
    want_fai[b].narrow(0, 0, n).copy_(fai_want);
    differs_from_ranked = differs_from_ranked || !torch::allclose(ranked.fai[b], stats.fai[b], 1e-4, 1e-6);
  }
  EXPECT_TRUE(differs_from_ranked);
  // The global-anchor credit the trainer computes from them picks the fixed head's top-FAI tokens.
  CreditInputs inputs;
  inputs.response_mask = torch::zeros({4, R}, torch::kBool);
  for (std::int64_t b = 0; b < 4; ++b) inputs.response_mask[b].narrow(0, 0, rows.response[b]).fill_(true);
  inputs.waad = stats.waad;
  inputs.delta = stats.delta;
  inputs.entropy = torch::zeros({4, R});
  CreditOptions credit = config.credit;
  credit.fai_horizon_lo = config.fai_horizon_lo;
  inputs.fai = stats.fai;
  auto gamma = compute_gamma(inputs, credit);
  inputs.fai = want_fai;
  EXPECT_TRUE(torch::equal(gamma, compute_gamma(inputs, credit)));
  EXPECT_GT(gamma.max().item<double>(), 1.0);
}

// ---- all heads ----

TEST(AttentionAblation, AllHeadsIsTheMeanOverEveryHead) {
  torch::NoGradGuard no_grad;
  auto model = sharp_model(7);
  model.set_attention_block_rows(4);
  // Long enough that the receiver kurtosis ranks many keys (three keys would tie every head).
  auto rows = make_rows({{5, 40}, {9, 32}}, 2);
  AttentionStatsConfig c;
  c.layers = {0, 2};
  c.fai_horizon_lo = 1;
  c.fai_horizon_hi = kHorizonToEnd;
  c.all_heads = true;
  c.find_receivers = true;
  c.receiver_fraction = 0.25;
  std::vector<HeadId> every;
  for (int l : c.layers)
    for (int h = 0; h < 4; ++h) every.push_back({l, h});
  auto maps = full_maps(model, rows, c.layers);
  for (int passes : {1, 2}) {
    c.passes = passes;
    AttentionStatsAccumulator acc(c, rows.layouts());
    for (int p = 0; p < passes; ++p) {
      model.forward_hidden(rows.ids, rows.mask, &acc);
      acc.end_pass();
    }
    auto got = acc.finalize();
    auto want = reference_attention_stats(maps, rows.layouts(), c);
    for (std::int64_t b = 0; b < 2; ++b) {
      const auto P = rows.prompt[b], n = rows.response[b];
      auto mean = head_mean(maps, c.layers, b, P + n, every);
      const auto label = "passes " + std::to_string(passes) + " row " + std::to_string(b);
      EXPECT_EQ(got[b].local_heads, every) << label;
      EXPECT_EQ(got[b].global_heads, every) << label;
      expect_close(got[b].waad, waad(mean, P, c.window), 1e-6, label + " waad");
      expect_close(got[b].fai, fai(mean, P, 1, kHorizonToEnd), 1e-6, label + " fai");
      expect_close(want[b].fai, got[b].fai, 1e-6, label + " reference");
      // Receivers are still their own group.
      EXPECT_EQ(got[b].receiver_heads, want[b].receiver_heads) << label;
    }
  }
  // The trainer's option reaches the pass.
  train::AttentionPassOptions options;
  options.layers = c.layers;
  options.fai_horizon_lo = 1;
  options.fai_horizon_hi = 100;
  options.all_heads = true;
  auto stats = train::attention_pass(model, rows.ids, rows.mask, rows.prompt, rows.response, options);
  for (std::int64_t b = 0; b < 2; ++b) {
    const auto P = rows.prompt[b], n = rows.response[b];
    auto mean = head_mean(maps, c.layers, b, P + n, every);
    expect_close(stats.fai[b].narrow(0, 0, n), fai(mean, P, 1, 100), 1e-5, "pass all heads fai");
  }
  // All heads and fixed lists exclude each other.
  c.grouping = HeadGroupingScope::fixed;
  c.fixed_local = c.fixed_global = {{0, 1}};
  EXPECT_ERROR_CONTAINS(validate_attention_config(c), "all heads and fixed head lists exclude each other");
}

TEST(AttentionAblation, HeadListsParse) {
  EXPECT_EQ(parse_head_list("12:3, 15:0"), (std::vector<HeadId>{{12, 3}, {15, 0}}));
  EXPECT_EQ(head_name({12, 3}), "12:3");
  for (const char* bad : {"", "12", "12:", ":3", "a:b", "1:2,", "-1:2", "1:2:3"})
    EXPECT_THROW(parse_head_list(bad), Error) << bad;
  EXPECT_EQ(parse_grouping("batch"), HeadGroupingScope::per_batch);
  EXPECT_STREQ(grouping_name(HeadGroupingScope::fixed), "fixed");
  EXPECT_THROW(parse_grouping("global"), Error);
}

// ---- illume analyze ----

TEST(AttentionAblation, AnalyzeFlagsReachTheStatisticsAndTheSummary) {
  ILLUME_REQUIRE_SHARED_PATH("fixtures/tiny-qwen3/model.safetensors");  // 2 layers, 4 heads
  auto dir = test::scratch_dir();
  write_file_atomic(dir / "r.jsonl",
                    "{\"prompt_ids\": [9707, 1879, 11, 1077], \"response_ids\": [220, 16, 17, 18, 19, 20, 21, 22, 23, "
                    "24, 25, 26, 27, 28]}\n{\"prompt\": \"What is 2+2?\", \"response\": \"It is 4, because two and two "
                    "make four.\"}\n{\"prompt\": \"Name a colour.\", \"response\": \"Blue, like the sky at noon.\"}\n");
  auto analyze = [&](const std::string& out, std::vector<std::string> extra) {
    std::vector<std::string> args = {"analyze", "--model", test::shared_path("fixtures/tiny-qwen3").string(),
                                     "--responses", (dir / "r.jsonl").string(), "--system", "",
                                     "--out", (dir / out).string()};
    args.insert(args.end(), extra.begin(), extra.end());
    return test::run_illume(args);
  };
  auto rows_of = [&](const std::string& out) {
    std::vector<Json> rows;
    std::istringstream in(read_file(dir / out / "tokens_metrics.jsonl"));
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) rows.push_back(Json::parse(line));
    return rows;
  };
  auto settings_of = [&](const std::string& out) {
    return Json::parse(read_file(dir / out / "summary.json")).at("settings");
  };

  auto r = analyze("fixed", {"--grouping", "fixed", "--local-heads", "0:1,1:3", "--global-heads", "1:2",
                             "--fai-horizon-lo", "0"});
  ASSERT_EQ(r.status, 0) << r.err;
  for (const auto& row : rows_of("fixed")) {
    EXPECT_EQ(row.at("local_heads"), Json::parse("[[0, 1], [1, 3]]"));
    EXPECT_EQ(row.at("global_heads"), Json::parse("[[1, 2]]"));
    EXPECT_GT(row.at("fai").back().get<double>(), 0.0);  // H_lo = 0: the last token has its own row
  }
  auto s = settings_of("fixed");
  EXPECT_EQ(s.at("grouping"), "fixed");
  EXPECT_EQ(s.at("local_heads"), Json::array({"0:1", "1:3"}));
  EXPECT_EQ(s.at("global_heads"), Json::array({"1:2"}));
  EXPECT_EQ(s.at("fai_horizon_lo"), 0);
  EXPECT_EQ(s.at("all_heads"), false);

  r = analyze("all", {"--all-heads", "--head-quantile", "0.25"});
  ASSERT_EQ(r.status, 0) << r.err;
  for (const auto& row : rows_of("all")) EXPECT_EQ(row.at("global_heads").size(), 8u);
  EXPECT_EQ(settings_of("all").at("all_heads"), true);
  EXPECT_DOUBLE_EQ(settings_of("all").at("head_quantile").get<double>(), 0.25);

  // Batch grouping over three forwards of one row: one ranking for all three responses.
  r = analyze("batch", {"--grouping", "batch", "--max-batch-rows", "1"});
  ASSERT_EQ(r.status, 0) << r.err;
  auto rows = rows_of("batch");
  ASSERT_EQ(rows.size(), 3u);
  for (const auto& row : rows) {
    EXPECT_EQ(row.at("local_heads"), rows[0].at("local_heads"));
    EXPECT_EQ(row.at("global_heads"), rows[0].at("global_heads"));
  }
  EXPECT_EQ(settings_of("batch").at("grouping"), "batch");
  // ... the same ranking as one forward of all three.
  r = analyze("batch3", {"--grouping", "batch", "--max-batch-rows", "3"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(rows_of("batch3")[0].at("global_heads"), rows[0].at("global_heads"));
  EXPECT_EQ(rows_of("batch3")[0].at("local_heads"), rows[0].at("local_heads"));

  auto one_line_error = [&](std::vector<std::string> extra, const std::string& needle) {
    auto e = analyze("bad", std::move(extra));
    EXPECT_NE(e.status, 0) << needle;
    EXPECT_NE(e.err.find(needle), std::string::npos) << e.err;
    EXPECT_EQ(std::count(e.err.begin(), e.err.end(), '\n'), 1) << e.err;
  };
  one_line_error({"--grouping", "fixed"}, "--grouping fixed needs --local-heads and --global-heads");
  one_line_error({"--local-heads", "0:1"}, "--local-heads and --global-heads need --grouping fixed");
  one_line_error({"--grouping", "fixed", "--local-heads", "0:1", "--global-heads", "1:9"},
                 "--global-heads: head 1:9 is beyond the model (4 heads per layer)");
  one_line_error({"--grouping", "fixed", "--local-heads", "0-1", "--global-heads", "1:1"}, "--local-heads: '0-1'");
  one_line_error({"--grouping", "fixed", "--local-heads", "0:1", "--global-heads", "1:1", "--all-heads"},
                 "--all-heads");
  one_line_error({"--grouping", "layer"}, "--grouping layer: unknown (sequence, batch, fixed)");
}

// ---- the trainer ----

TEST(AttentionAblation, TrainerStepsWithBatchGroupingAndRejectsHeadsBeyondTheModel) {
  const auto scratch = test::scratch_dir();
  auto dir = test::make_tiny_model(scratch / "model", 3, 3);  // 3 layers, 4 heads
  auto make = [&](const std::vector<std::string>& overrides) {
    auto tree = config_tree(parse_yaml(fmt::format(R"(
model: {{dir: "{}"}}
data: {{task: countdown, path: synthetic.jsonl}}
rollout: {{group_size: 4, temperature: 1.0, max_response_tokens: 12}}
optim: {{batch_size: 16, micro_batch_size: 4, lr: 3.0e-3}}
credit: {{strategy: coupled}}
run: {{out: "{}", steps: 1, seed: 7, progress: false}}
)",
                                                   dir.string(), (scratch / "run").string()),
                                       "tiny.yaml"),
                            "tiny.yaml");
    for (const auto& o : overrides) apply_override(tree, o);
    return train::GrpoTrainer(train::read_train_config(tree), Model::load(dir), Tokenizer::from_dir(dir), dir,
                              test::tiny_countdown_problems(24), test::digit_share_reward);
  };
  // Micro-batches of 4 out of 16 responses, heads ranked once over all 16; H_lo = 0.
  auto trainer = make({"attention.grouping=batch", "attention.horizon=[0, 20]"});
  auto row = trainer.step();
  EXPECT_TRUE(std::isfinite(row.at("loss").get<double>())) << row.dump();
  // A fixed head beyond the model fails when the trainer starts, before any rollout.
  EXPECT_ERROR_CONTAINS(make({"attention.grouping=fixed", "attention.local_heads=[\"1:0\"]",
                              "attention.global_heads=[\"1:4\"]"}),
                        "attention.global_heads: head 1:4 is beyond the model (4 heads per layer)");
}
