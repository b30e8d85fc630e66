// A tiny self-made model folder for trainer tests: a byte-level BPE tokenizer trained on the Countdown
// prompt text (so prompts are a few dozen tokens) and a random 2-layer Qwen3.
#pragma once
#include <fmt/format.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "illume/data/tasks.h"
#include "illume/model/model.h"
#include "illume/text/tokenizer.h"
#include "illume/text/tokenizer_builder.h"
#include "illume/util/config.h"
#include "illume/util/json.h"

namespace illume::test {

inline std::vector<data::Problem> tiny_countdown_problems(int n) {
  std::vector<data::Problem> out;
  for (int i = 0; i < n; ++i) {
    Json row = {{"nums", {3 + i % 7, 5 + i % 4, 2 + i % 3}}, {"target", 10 + i % 13}};
    out.push_back(data::problem_from_json(data::Task::Countdown, row, "synthetic", static_cast<std::size_t>(i)));
  }
  return out;
}

inline std::filesystem::path make_tiny_model(const std::filesystem::path& dir, std::uint64_t seed = 0,
                                             int layers = 2) {
  std::vector<std::string> corpus;
  for (const auto& p : tiny_countdown_problems(20))
    corpus.push_back(data::build_prompt(data::Task::Countdown, p, data::PromptStyle::Plain));
  TokenizerSpec spec;
  spec.num_merges = 300;
  write_tokenizer_files(dir, corpus, spec);
  auto vocab = Tokenizer::from_dir(dir).vocab_size();
  Json config = {{"model_type", "qwen3"}, {"vocab_size", vocab}, {"hidden_size", 64},
                 {"intermediate_size", 128}, {"num_hidden_layers", layers}, {"num_attention_heads", 4},
                 {"num_key_value_heads", 2}, {"head_dim", 16}, {"rms_norm_eps", 1e-6},
                 {"rope_theta", 10000.0}, {"tie_word_embeddings", true}};
  Model::random(ModelConfig::from_json(config, "tiny config"), seed).save(dir);
  return dir;
}

// The synthetic reward for trainer tests: the share of the response's characters that are decimal
// digits ("answer with a number"). A random model emits some digits, so groups have reward variance
// from the first step and the policy can climb it quickly. correct = at least half digits.
inline reward::RewardResult digit_share_reward(const data::Problem&, const std::string& response) {
  reward::RewardResult r;
  if (response.empty()) return r;
  double digits = 0;
  for (char c : response) digits += (c >= '0' && c <= '9') ? 1 : 0;
  r.reward = digits / static_cast<double>(response.size());
  r.correct = r.reward >= 0.5;
  r.formatted = true;
  return r;
}

// The GRPO recipe of the trainer's end-to-end tests (test_train_e2e.cpp, test_grpo_step.cpp): the
// tiny model in `model_dir`, credit `strategy`, `steps` steps into `out`, as parsed YAML named `name`.
inline Json tiny_grpo_recipe(const std::filesystem::path& model_dir, const std::string& strategy,
                             const std::filesystem::path& out, std::int64_t steps, const std::string& name) {
  return parse_yaml(fmt::format(R"(
model: {{dir: "{}"}}
data: {{task: countdown, path: synthetic}}
rollout: {{group_size: 8, temperature: 1.0, max_response_tokens: 10}}
optim: {{batch_size: 32, micro_batch_size: 8, lr: 3.0e-3, grad_clip: 1.0}}
credit: {{strategy: {}, q: 0.4, gamma_amp: 1.5}}
attention: {{layers: [0, 1], window: 3, horizon: [2, 20]}}
run: {{out: "{}", steps: {}, seed: 11, save_every: 0, progress: false}}
)",
                                model_dir.string(), strategy, out.string(), steps),
                    name);
}

}  // namespace illume::test
