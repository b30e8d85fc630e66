// The GRPO trainer (METHOD.md section 4). One step:
//   1. take the next prompts_per_step problems (a seeded per-epoch permutation; the data position is a
//      plain counter, so resuming needs no RNG state),
//   2. G responses each (batched generation at the rollout temperature, seed = f(seed, step)),
//   3. rewards (the task's reward, or a caller's RewardFn), group-normalised advantages, optional
//      dynamic sampling (drop zero-variance groups),
//   4. old log-probs (and token entropies) from a no-grad *training* forward, so rollout and update
//      numerics never disagree; reference log-probs when loss.kl_coef > 0,
//   5. the attention pass (only for local/global/coupled): the current policy's WAAD/FAI/Delta from the
//      streaming statistics attached to step 4's forward (time_attention = the statistics' own time),
//   6. gamma (no grad), A~ = gamma * A,
//   7. PPO-clip updates: batch_size / micro_batch_size AdamW steps, one per micro-batch, grad-norm clip.
// Each step appends one row to OUT/metrics.jsonl; checkpoints go to OUT/checkpoints/step-NNNNNN
// (written to a temp folder, then renamed: a folder with the final name is complete).
#pragma once
#include <ATen/core/Tensor.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "illume/data/tasks.h"
#include "illume/model/model.h"
#include "illume/text/tokenizer.h"
#include "illume/train/train_config.h"

namespace illume::train {

using RewardFn = std::function<reward::RewardResult(const data::Problem&, const std::string& response)>;

// Response-aligned log-probs of a batch of prompt+response rows (no padding between prompt and
// response; rows right-padded). ids/mask [B, T]; prompt_lengths/response_lengths per row.
// Returns logprobs [B, R] (R = max response length; entries past a row's length are meaningless and
// must be masked) and, when want_entropy, token entropies [B, R] (no grad). Logits are divided by
// `temperature` (the sampling distribution). An observer, if given, sees the forward's attention.
struct ResponseLogprobs {
  at::Tensor logprobs, entropy;
};
ResponseLogprobs response_logprobs(const Model& model, const at::Tensor& ids, const at::Tensor& mask,
                                   const std::vector<std::int64_t>& prompt_lengths,
                                   const std::vector<std::int64_t>& response_lengths, double temperature,
                                   bool want_entropy, AttentionObserver* observer = nullptr);

// The checkpoint folders under OUT/checkpoints, oldest first (complete ones only).
std::vector<std::filesystem::path> list_checkpoints(const std::filesystem::path& out_dir);

class GrpoTrainer {
 public:
  // `problems`: the training set; `tokenizer_dir`: where tokenizer.json (+ tokenizer_config.json)
  // live, copied into checkpoints. `reward` replaces the task's reward when given (tests, synthetic tasks).
  GrpoTrainer(TrainConfig config, Model policy, Tokenizer tokenizer, std::filesystem::path tokenizer_dir,
              std::vector<data::Problem> problems, RewardFn reward = nullptr);
  ~GrpoTrainer();

  // Loads the newest complete checkpoint under OUT (weights, optimiser, step, data position) and
  // trims metrics.jsonl to its steps. Returns false when there is none.
  bool resume();
  // Runs steps until config.steps (or until `stop_after` more steps, for tests), writing metrics and
  // checkpoints (every save_every steps and at the end).
  void run(std::optional<std::int64_t> stop_after = std::nullopt);
  // One step; returns its metrics row (also appended to metrics.jsonl by run()).
  Json step();
  void save_checkpoint();

  std::int64_t current_step() const;
  std::int64_t data_position() const;
  const Model& policy() const;
  const TrainConfig& config() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Loads config.model_dir, the tokenizer, the data, and runs (resuming when asked). The CLI's body.
void run_training(const TrainConfig& config, bool resume);

}  // namespace illume::train
