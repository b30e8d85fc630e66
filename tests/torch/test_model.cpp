// Model and generation on small random models (the fixture comparisons are in test_fixtures.cpp).
#include <torch/torch.h>

#include <map>

#include "common.h"
#include "illume/infer/generate.h"
#include "illume/io/safetensors.h"
#include "illume/model/model.h"
#include "illume/model/weight_table.h"
#include "illume/util/error.h"

using namespace illume;

namespace {

ModelConfig tiny_config(Architecture arch = Architecture::Qwen3) {
  Json j = {{"model_type", arch == Architecture::Qwen3 ? "qwen3" : arch == Architecture::Qwen2 ? "qwen2" : "llama"},
            {"vocab_size", 97},
            {"hidden_size", 32},
            {"intermediate_size", 64},
            {"num_hidden_layers", 2},
            {"num_attention_heads", 4},
            {"num_key_value_heads", 2},
            {"head_dim", 16},
            {"rms_norm_eps", 1e-6},
            {"rope_theta", 10000.0},
            {"tie_word_embeddings", arch != Architecture::Qwen2}};
  if (arch == Architecture::Llama)
    j["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0},
                         {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 16}};
  return ModelConfig::from_json(j, "test-config");
}

// Larger weights than the default init, so attention is far from uniform and bugs show.
Model sharp_model(Architecture arch, std::uint64_t seed) {
  auto model = Model::random(tiny_config(arch), seed);
  torch::NoGradGuard g;
  for (auto& t : model.parameters()) t.mul_(2.0);
  return model;
}

at::Tensor random_ids(std::int64_t n, std::uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  return torch::randint(0, 97, {1, n}, gen, torch::kLong);
}

class ModelArchitectures : public ::testing::TestWithParam<Architecture> {};

}  // namespace

TEST_P(ModelArchitectures, KvCacheDecodeEqualsFullForward) {
  auto model = sharp_model(GetParam(), 1);
  auto ids = random_ids(40, 2);
  auto mask = torch::ones_like(ids);
  auto full = model.forward(ids, mask).squeeze(0);  // [40, V]
  auto cache = model.new_cache(1, 64);
  std::vector<at::Tensor> step_logits;
  step_logits.push_back(model.prefill(cache, ids.narrow(1, 0, 9), mask.narrow(1, 0, 9)));
  for (int t = 9; t < 40; ++t) step_logits.push_back(model.decode(cache, ids.select(1, t)));
  auto cached = torch::cat(step_logits, 0);  // positions 8..39
  double diff = (cached - full.narrow(0, 8, 32)).abs().max().item<double>();
  double scale = full.abs().max().item<double>();
  RecordProperty("max_abs_diff", std::to_string(diff));
  std::printf("KV-cache decode vs full forward: max abs diff %.3g (logits up to %.3g)\n", diff, scale);
  // fp32 summation order differs (mv vs matmul); relative to the logit scale.
  EXPECT_LT(diff, 1e-4);
}

TEST_P(ModelArchitectures, LeftPaddedBatchEqualsEachRowAlone) {
  auto model = sharp_model(GetParam(), 3);
  std::vector<std::int64_t> lengths = {3, 11, 7};
  std::int64_t T = 11;
  auto ids = torch::zeros({3, T}, torch::kLong), mask = torch::zeros({3, T}, torch::kLong);
  std::vector<at::Tensor> alone;
  for (int r = 0; r < 3; ++r) {
    auto row = random_ids(lengths[r], 10 + r);
    ids[r].narrow(0, T - lengths[r], lengths[r]).copy_(row[0]);
    mask[r].narrow(0, T - lengths[r], lengths[r]).fill_(1);
    alone.push_back(model.forward(row, torch::ones_like(row))[0]);
  }
  auto batched = model.forward(ids, mask);
  for (int r = 0; r < 3; ++r) {
    double diff = (batched[r].narrow(0, T - lengths[r], lengths[r]) - alone[r]).abs().max().item<double>();
    EXPECT_LT(diff, 1e-4) << "row " << r;
  }
  // Right padding works in the training forward too.
  auto right_ids = torch::zeros({1, 9}, torch::kLong), right_mask = torch::zeros({1, 9}, torch::kLong);
  auto row = random_ids(5, 20);
  right_ids[0].narrow(0, 0, 5).copy_(row[0]);
  right_mask[0].narrow(0, 0, 5).fill_(1);
  double diff = (model.forward(right_ids, right_mask)[0].narrow(0, 0, 5) - model.forward(row, torch::ones_like(row))[0])
                    .abs().max().item<double>();
  EXPECT_LT(diff, 1e-4);
}

TEST_P(ModelArchitectures, BatchedGreedyGenerationEqualsEachPromptAlone) {
  auto model = sharp_model(GetParam(), 4);
  std::vector<std::vector<std::int32_t>> prompts;
  for (int p = 0; p < 4; ++p) {
    auto ids = random_ids(2 + 5 * p, 30 + p);
    std::vector<std::int32_t> v;
    for (int i = 0; i < ids.size(1); ++i) v.push_back(static_cast<std::int32_t>(ids[0][i].item<std::int64_t>()));
    prompts.push_back(v);
  }
  SamplingOptions o;
  o.valid_ids.assign(model.config().vocab_size, 1);  // no tokenizer: every id is valid
  o.temperature = 0;
  o.max_new_tokens = 12;
  auto batched = generate(model, prompts, o);
  ASSERT_EQ(batched.size(), prompts.size());
  for (std::size_t p = 0; p < prompts.size(); ++p) {
    auto alone = generate(model, {prompts[p]}, o);
    EXPECT_EQ(batched[p].ids, alone[0].ids) << "prompt " << p;
    EXPECT_EQ(batched[p].ids.size(), 12u);
    // Greedy log-probs are the max log-prob; entropies non-negative.
    for (std::size_t t = 0; t < alone[0].ids.size(); ++t) {
      EXPECT_NEAR(batched[p].logprobs[t], alone[0].logprobs[t], 1e-4);
      EXPECT_GE(batched[p].entropies[t], 0.0f);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Arch, ModelArchitectures,
                         ::testing::Values(Architecture::Qwen3, Architecture::Qwen2, Architecture::Llama),
                         [](const auto& info) { return std::string(architecture_name(info.param)); });

TEST(Generation, SamplingIsReproducibleAndIndependentOfBatching) {
  auto model = sharp_model(Architecture::Qwen3, 5);
  std::vector<std::vector<std::int32_t>> prompts = {{1, 2, 3}, {4, 5, 6, 7, 8}};
  SamplingOptions o;
  o.valid_ids.assign(model.config().vocab_size, 1);  // no tokenizer: every id is valid
  o.temperature = 1.0;
  o.top_p = 0.9;
  o.max_new_tokens = 10;
  o.num_samples = 3;
  o.seed = 42;
  auto a = generate(model, prompts, o);
  auto b = generate(model, prompts, o);
  ASSERT_EQ(a.size(), 6u);
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].ids, b[i].ids);
  // The second prompt alone gives the same samples as in the batch.
  auto alone = generate(model, {prompts[1]}, o);
  // Sample streams are keyed by prompt index; prompt 1 alone is prompt index 0, so compare via a
  // batch where it keeps index 1.
  auto again = generate(model, {prompts[0], prompts[1]}, o);
  for (int s = 0; s < 3; ++s) EXPECT_EQ(again[3 + s].ids, a[3 + s].ids);
  // Different samples of one prompt differ (with overwhelming probability for a sharp random model).
  EXPECT_FALSE(a[0].ids == a[1].ids && a[1].ids == a[2].ids);
  o.seed = 43;
  auto c = generate(model, prompts, o);
  bool any_diff = false;
  for (std::size_t i = 0; i < a.size(); ++i) any_diff |= a[i].ids != c[i].ids;
  EXPECT_TRUE(any_diff);
}

TEST(Generation, TopKOneEqualsGreedyAndStopTokensEnd) {
  auto model = sharp_model(Architecture::Qwen3, 6);
  SamplingOptions greedy;
  greedy.valid_ids.assign(model.config().vocab_size, 1);  // no tokenizer: every id is valid
  greedy.temperature = 0;
  greedy.max_new_tokens = 8;
  auto g = generate(model, {{9, 8, 7}}, greedy);
  SamplingOptions k1 = greedy;
  k1.temperature = 0.7;
  k1.top_k = 1;
  auto s = generate(model, {{9, 8, 7}}, k1);
  EXPECT_EQ(g[0].ids, s[0].ids);
  // Stop at the third greedy token: it is the last id, the reason is recorded.
  SamplingOptions stop = greedy;
  stop.stop_token_ids = {g[0].ids[2]};
  auto st = generate(model, {{9, 8, 7}}, stop);
  auto first = std::find(g[0].ids.begin(), g[0].ids.end(), g[0].ids[2]) - g[0].ids.begin();
  EXPECT_EQ(st[0].ids.size(), static_cast<std::size_t>(first + 1));
  EXPECT_EQ(st[0].finish_reason, "stop_token");
}

TEST(Generation, SampleFromCdf) {
  float p[4] = {0.1f, 0.0f, 0.6f, 0.3f};
  EXPECT_EQ(sample_from_cdf(p, 4, 0.0), 0);
  EXPECT_EQ(sample_from_cdf(p, 4, 0.05), 0);
  EXPECT_EQ(sample_from_cdf(p, 4, 0.15), 2);
  EXPECT_EQ(sample_from_cdf(p, 4, 0.69), 2);
  EXPECT_EQ(sample_from_cdf(p, 4, 0.71), 3);
  EXPECT_EQ(sample_from_cdf(p, 4, 0.999999), 3);
}

namespace {
struct RecordingObserver : AttentionObserver {
  std::vector<at::Tensor> blocks;
  std::vector<std::int64_t> begins;
  bool wants_layer(int layer) const override { return layer == 1; }
  void on_block(const AttentionBlock& b) override {
    blocks.push_back(b.probs->clone());
    begins.push_back(b.query_begin);
  }
};
}  // namespace

TEST(Model, ObserverSeesEveryRowInBlocksAsProperDistributions) {
  auto model = sharp_model(Architecture::Qwen3, 7);
  model.set_attention_block_rows(4);
  auto ids = random_ids(10, 8);
  RecordingObserver obs;
  model.forward(ids, torch::ones_like(ids), &obs);
  ASSERT_EQ(obs.blocks.size(), 3u);  // rows 0-3, 4-7, 8-9
  EXPECT_EQ(obs.begins, (std::vector<std::int64_t>{0, 4, 8}));
  auto full = torch::cat(obs.blocks, 2)[0];  // [H, 10, 10]
  EXPECT_EQ(full.sizes(), (std::vector<std::int64_t>{4, 10, 10}));
  EXPECT_LT((full.sum(-1) - 1).abs().max().item<double>(), 1e-5);
  EXPECT_EQ(torch::triu(full, 1).abs().max().item<double>(), 0.0);
  // Block size does not change the result.
  model.set_attention_block_rows(256);
  RecordingObserver whole;
  auto a = model.forward(ids, torch::ones_like(ids), &whole);
  EXPECT_LT((whole.blocks[0][0] - full).abs().max().item<double>(), 1e-6);
}

namespace {
// Records each block's first row, row count and the keys its scores were computed against.
struct KeyRangeObserver : AttentionObserver {
  std::vector<std::int64_t> begins, rows, keys;
  bool wants_layer(int layer) const override { return layer == 0; }
  void on_block(const AttentionBlock& b) override {
    begins.push_back(b.query_begin);
    rows.push_back(b.probs->size(2));
    keys.push_back(b.keys_computed);
  }
};
}  // namespace

TEST(Model, CausalBlocksComputeOnlyKeysUpToTheirLastRow) {
  auto model = sharp_model(Architecture::Qwen3, 7);
  model.set_attention_block_rows(4);
  // Training forward, 10 tokens: blocks of rows 0-3, 4-7, 8-9 reach keys 4, 8 and 10 (not 10 each).
  auto ids = random_ids(10, 8);
  KeyRangeObserver forward_blocks;
  model.forward(ids, torch::ones_like(ids), &forward_blocks);
  EXPECT_EQ(forward_blocks.keys, (std::vector<std::int64_t>{4, 8, 10}));
  std::int64_t elements = 0;
  for (std::size_t i = 0; i < forward_blocks.keys.size(); ++i) elements += forward_blocks.rows[i] * forward_blocks.keys[i];
  // The lower triangle with its diagonal is 55 of the 100 scores; blocks of 4 rows compute 68.
  EXPECT_EQ(elements, 4 * 4 + 4 * 8 + 2 * 10);
  EXPECT_LT(elements, 10 * 10);
  // KV cache with left padding: a 6-slot prefill, then a second prefill of 5 slots at offset 6 (keys 0-10),
  // then one decoded token that sees all 12 slots.
  auto batch_ids = torch::cat({random_ids(6, 9), random_ids(6, 10)});
  auto batch_mask = torch::ones_like(batch_ids);
  batch_mask[0].narrow(0, 0, 2).fill_(0);
  auto cache = model.new_cache(2, 16);
  KeyRangeObserver cached_blocks;
  model.prefill(cache, batch_ids, batch_mask, &cached_blocks);
  model.prefill(cache, torch::cat({random_ids(5, 11), random_ids(5, 12)}), torch::ones({2, 5}, torch::kLong),
                &cached_blocks);
  model.decode(cache, torch::tensor({std::int64_t(3), std::int64_t(4)}), &cached_blocks);
  EXPECT_EQ(cached_blocks.begins, (std::vector<std::int64_t>{0, 4, 6, 10, 11}));
  EXPECT_EQ(cached_blocks.keys, (std::vector<std::int64_t>{4, 6, 10, 11, 12}));
}

TEST(Model, CausalBlockGradientsEqualTheFullSquare) {
  // Blocks of 3 rows skip the causally hidden keys; one block of 64 rows (>= every length here)
  // computes the full square and masks it, the computation before keys were skipped.
  auto model = sharp_model(Architecture::Qwen3, 5);
  model.set_requires_grad(true);
  std::vector<std::int64_t> lengths = {11, 6};  // the second row left-padded
  const std::int64_t T = 11;
  auto ids = torch::zeros({2, T}, torch::kLong), mask = torch::zeros({2, T}, torch::kLong);
  for (int r = 0; r < 2; ++r) {
    ids[r].narrow(0, T - lengths[r], lengths[r]).copy_(random_ids(lengths[r], 30 + r)[0]);
    mask[r].narrow(0, T - lengths[r], lengths[r]).fill_(1);
  }
  auto gen = at::detail::createCPUGenerator(31);
  auto weights = torch::randn({2, T, 97}, gen);
  auto gradients = [&](std::int64_t block_rows, double& loss_value) {
    model.set_attention_block_rows(block_rows);
    for (auto& p : model.parameters()) p.mutable_grad() = at::Tensor();
    auto loss = (model.forward(ids, mask) * weights * mask.unsqueeze(-1)).sum();
    loss.backward();
    loss_value = loss.item<double>();
    std::vector<at::Tensor> out;
    for (auto& p : model.parameters()) out.push_back(p.grad().clone());
    return out;
  };
  double skipped_loss = 0, full_loss = 0;
  auto skipped = gradients(3, skipped_loss);
  auto full = gradients(64, full_loss);
  EXPECT_NEAR(skipped_loss, full_loss, 1e-4 * std::abs(full_loss));
  ASSERT_EQ(skipped.size(), full.size());
  for (std::size_t i = 0; i < full.size(); ++i) {
    const double scale = full[i].abs().max().item<double>();
    EXPECT_GT(scale, 0.0) << "parameter " << i;
    EXPECT_LT((skipped[i] - full[i]).abs().max().item<double>(), 1e-4 * scale) << "parameter " << i;
  }
}

TEST(Model, ConfigErrorsAreClear) {
  Json j = {{"model_type", "gpt2"}};
  try {
    ModelConfig::from_json(j, "x/config.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("x/config.json: unknown model_type 'gpt2'"), std::string::npos) << e.what();
  }
  Json k = {{"model_type", "qwen3"}, {"vocab_size", 10}};
  try {
    ModelConfig::from_json(k, "y/config.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "y/config.json: missing key 'hidden_size'");
  }
}

// The one weight table against real Hugging Face files: tiny-qwen3 (q/k norms, tied head) and tiny-qwen2
// (q/k/v biases, untied head) hold exactly the table's names with the table's shapes.
TEST(Model, WeightTableMatchesTheFixtureFiles) {
  for (const char* name : {"tiny-qwen3", "tiny-qwen2"}) {
    const auto dir = test::shared_path(std::string("fixtures/") + name);
    ILLUME_REQUIRE_SHARED_PATH(std::string("fixtures/") + name + "/model.safetensors");
    auto config = ModelConfig::load(dir);
    st::SafetensorsFile file(dir / "model.safetensors");
    std::map<std::string, std::vector<std::int64_t>> in_file, in_table;
    for (const auto& n : file.names()) in_file[n] = file.get(n).shape;
    for (const auto& slot : weight_slots(config)) in_table[slot.name] = slot.shape;
    EXPECT_EQ(in_table, in_file) << name;
    // Saving writes the same names back.
    auto model = Model::load(dir);
    std::map<std::string, std::vector<std::int64_t>> saved;
    for (const auto& [n, t] : model.weights().named_tensors(config)) saved[n] = t.sizes().vec();
    EXPECT_EQ(saved, in_file) << name;
  }
}
