// The GRPO step's shortcuts (issue 12, item 7): the old log-probs from the sampler instead of a
// forward (rollout.logprobs_from_sampler), and the old pass that runs the update micro-batches and
// hands the first one's graph to the first update.
#include <torch/torch.h>

#include "common.h"
#include "illume/infer/generate.h"
#include "illume/infer/vocabulary.h"
#include "illume/train/batch.h"
#include "illume/train/grpo_trainer.h"
#include "illume/util/config.h"
#include "illume/util/file.h"
#include "train_test_util.h"

using namespace illume;
namespace fs = std::filesystem;

namespace {

// The largest |sampler - forward| over every response token, log-probs and entropies, of a batch of
// sampled responses (3 prompts x 3 samples, temperature 1) to prompts of different lengths.
struct Difference {
  double logprob = 0, entropy = 0;  // the largest |sampler - forward|
  double relative = 0;              // the largest |sampler - forward| / max(1, |forward|), log-probs
  double mean = 0;                  // the mean |sampler - forward|, log-probs
  std::int64_t tokens = 0;
};

Difference sampler_against_forward(const fs::path& model_dir) {
  const auto model = Model::load(model_dir);
  const auto tokenizer = Tokenizer::from_dir(model_dir);
  std::vector<std::vector<std::int32_t>> prompts;
  for (const char* text : {"Using the numbers 3, 5 and 7, make 22.", "Hi", "What is 12 + 30? Think step by step."})
    prompts.push_back(tokenizer.encode(text, true));
  auto sampling = sampling_options(model.config(), tokenizer);
  sampling.temperature = 1.0;
  sampling.num_samples = 3;
  sampling.max_new_tokens = 24;
  sampling.seed = 5;
  std::vector<Completion> completions;
  {
    torch::NoGradGuard no_grad;
    completions = generate(model, prompts, sampling, [&](const std::vector<std::int32_t>& ids) { return tokenizer.decode(ids, true); });
  }
  std::vector<train::TokenSequence> rows;
  for (const auto& c : completions) {
    if (c.ids.empty()) continue;
    train::TokenSequence row;
    row.ids = prompts[c.prompt_index];
    row.prompt_length = static_cast<std::int64_t>(row.ids.size());
    row.ids.insert(row.ids.end(), c.ids.begin(), c.ids.end());
    rows.push_back(row);
  }
  EXPECT_GE(rows.size(), 6u) << model_dir;
  std::vector<const train::TokenSequence*> pointers;
  for (const auto& row : rows) pointers.push_back(&row);
  const auto packed = train::pack_batch(pointers, sampling.stop_token_ids.empty() ? 0 : sampling.stop_token_ids.front());
  torch::NoGradGuard no_grad;
  const auto invalid = invalid_id_mask(sampling.valid_ids, model.config().vocab_size, model.device());
  const auto lp = train::response_logprobs(model, packed.ids, packed.mask, packed.prompt_lengths,
                                           packed.response_lengths, 1.0, true, nullptr, invalid);
  Difference d;
  std::size_t b = 0;
  for (const auto& c : completions) {
    if (c.ids.empty()) continue;
    for (std::size_t t = 0; t < c.ids.size(); ++t) {
      const auto i = static_cast<std::int64_t>(t);
      const double forward = lp.logprobs[b][i].item<double>(), difference = std::abs(forward - c.logprobs[t]);
      d.logprob = std::max(d.logprob, difference);
      d.relative = std::max(d.relative, difference / std::max(1.0, std::abs(forward)));
      d.mean += difference;
      d.entropy = std::max(d.entropy, std::abs(lp.entropy[b][i].item<double>() - c.entropies[t]));
      ++d.tokens;
    }
    ++b;
  }
  d.mean /= static_cast<double>(std::max<std::int64_t>(d.tokens, 1));
  return d;
}

fs::path source_path(const std::string& relative) { return fs::path(::illume::build::source_dir()) / relative; }

// A few GRPO steps of a tiny random model (the e2e test's recipe, shorter), with recipe overrides;
// returns the metrics rows and the final weights' path.
std::vector<Json> train_rows(const fs::path& dir, const std::string& strategy, const std::vector<std::string>& overrides) {
  auto model_dir = test::make_tiny_model(dir / "model", 3);
  auto root = test::tiny_grpo_recipe(model_dir, strategy, dir / "run", 3, "step.yaml");
  for (const auto& o : overrides) apply_override(root, o);
  auto config = train::train_config_from_json(root, "step.yaml");
  train::GrpoTrainer trainer(config, Model::load(model_dir), Tokenizer::from_dir(model_dir), model_dir,
                             test::tiny_countdown_problems(40), test::digit_share_reward);
  trainer.run();
  return read_jsonl_file(dir / "run" / "metrics.jsonl");
}

}  // namespace

// The sampler records log p(token) and the entropy under the same weights, distribution (temperature
// 1) and invalid-id mask as the training forward: they agree up to float32 rounding (the KV-cache
// path multiplies in other shapes), on the default model and on the tiny-qwen3 fixture.
TEST(GrpoStep, SamplerLogprobsEqualTheForward) {
  const auto fixture = test::shared_path("fixtures/tiny-qwen3");
  ASSERT_TRUE(fs::exists(fixture / "model.safetensors"))
      << "this test needs " << (fixture / "model.safetensors") << " (../shared fixtures), which is absent";
  for (const auto& dir : {source_path("models/illume-countdown-tiny"), fixture}) {
    const auto d = sampler_against_forward(dir);
    std::printf("%s: %lld tokens, |sampler - forward| log-prob max %.3g (relative %.3g), mean %.3g; entropy max %.3g\n",
                dir.string().c_str(), static_cast<long long>(d.tokens), d.logprob, d.relative, d.mean, d.entropy);
    EXPECT_GT(d.tokens, 20) << dir;
    // Rounding, not a different distribution: the KV-cache path multiplies in other shapes, so the
    // float32 logits round differently (by more where they are large). Measured:
    // max 3.7e-5 / 1.9e-5, mean 1.3e-6 / 3.3e-6 (default model / tiny-qwen3). A wrong temperature or
    // a missing invalid-id mask moves them by 1e-2 or more.
    EXPECT_LE(d.logprob, 1e-4) << dir;
    EXPECT_LE(d.mean, 1e-5) << dir;
    EXPECT_LE(d.entropy, 1e-4) << dir;
  }
}

// Plain GRPO with the sampler's old log-probs against the forward's: the same rollouts, and training
// metrics equal within the rounding the two differ by.
TEST(GrpoStep, SamplerLogprobsTrainLikeTheForward) {
  const auto dir = test::scratch_dir();
  const auto sampler = train_rows(dir / "sampler", "none", {});
  const auto forward = train_rows(dir / "forward", "none", {"rollout.logprobs_from_sampler=false"});
  ASSERT_EQ(sampler.size(), 3u);
  ASSERT_EQ(forward.size(), 3u);
  for (std::size_t s = 0; s < 3; ++s) {
    for (const char* key : {"reward/mean", "completions/mean_length", "loss", "grad_norm", "entropy", "approx_kl_old"}) {
      const double a = sampler[s][key].get<double>(), b = forward[s][key].get<double>();
      EXPECT_NEAR(a, b, 1e-4 * std::max(1.0, std::abs(b))) << key << " at step " << s + 1;
    }
    // No old-policy forward ran: that stage is only the copy of the sampler's values.
    EXPECT_LT(sampler[s]["timing/old_logprobs"].get<double>(), forward[s]["timing/old_logprobs"].get<double>());
  }
}

// The old pass runs the update micro-batches themselves (the first one with gradients, reused by the
// first update): with a learning rate of 1e-30 the weights never change (every step is below their rounding), so every update's ratio is exactly
// 1 and nothing is clipped, with and without the attention pass riding on those forwards.
TEST(GrpoStep, OldPassRunsTheUpdateMicroBatches) {
  const auto dir = test::scratch_dir();
  for (const char* strategy : {"none", "coupled"}) {
    const auto rows = train_rows(dir / strategy, strategy, {"rollout.logprobs_from_sampler=false", "optim.lr=1e-30"});
    ASSERT_EQ(rows.size(), 3u) << strategy;
    for (const auto& row : rows) {
      EXPECT_EQ(row["approx_kl_old"].get<double>(), 0.0) << strategy;
      EXPECT_EQ(row["clip_ratio/region_mean"].get<double>(), 0.0) << strategy;
      EXPECT_GT(row["grad_norm"].get<double>(), 0.0) << strategy;  // the updates did backpropagate
    }
  }
}

// optim.group_by_length regroups the rows of a step's updates (fewer padded tokens), nothing else: the
// first step's rollouts are the default's, and it trains.
TEST(GrpoStep, LengthGroupedMicroBatchesTrain) {
  const auto dir = test::scratch_dir();
  const auto grouped = train_rows(dir / "grouped", "coupled", {"optim.group_by_length=true"});
  const auto plain = train_rows(dir / "plain", "coupled", {});
  ASSERT_EQ(grouped.size(), 3u);
  ASSERT_EQ(plain.size(), 3u);
  EXPECT_EQ(grouped[0]["reward/mean"], plain[0]["reward/mean"]);
  // The same old policy and rows (other forwards: equal up to rounding).
  EXPECT_NEAR(grouped[0]["entropy"].get<double>(), plain[0]["entropy"].get<double>(), 1e-6);
  for (const auto& row : grouped) {
    EXPECT_EQ(row["optimizer_steps"].get<int>(), 4);
    EXPECT_TRUE(std::isfinite(row["loss"].get<double>()));
    EXPECT_GT(row["grad_norm"].get<double>(), 0.0);
  }
}
