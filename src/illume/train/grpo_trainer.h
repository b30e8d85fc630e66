// The GRPO trainer (METHOD.md section 4). A step is six stages, each a function of the previous
// stages' results (grpo_trainer.cpp, GrpoTrainer::Impl::do_step):
//   1. rollouts: the next prompts_per_step problems (a seeded per-epoch permutation, util/random.h; the
//      data position is a plain counter, so resuming needs no RNG state) and G responses each
//      (batched generation at the rollout temperature, seed = f(seed, step));
//   2. scores and advantages: rewards (the task's reward, or a caller's RewardFn), group-normalised
//      advantages, optional dynamic sampling (drop zero-variance groups);
//   3. the old-policy pass, a *training* forward over the update micro-batches (step 5's, in their
//      order; no grad, except the first, whose graph the first update reuses: no optimiser step has
//      run yet, so it is the old policy's forward): old log-probs and token entropies; reference
//      log-probs when loss.kl_coef > 0; the attention statistics (WAAD/FAI/Delta) when the credit
//      strategy declares it reads them (credit_strategy_needs), from the streaming observer on that
//      same forward (timing/attention = the statistics' own time). When nothing needs the forward
//      (temperature 1, float32, no reference model, no attention; rollout.logprobs_from_sampler,
//      default true), the old log-probs and entropies are the sampler's and no forward runs;
//   4. credit: gamma (no grad) and the token advantages A~ = gamma * A;
//   5. PPO-clip updates: batch_size / micro_batch_size AdamW steps (train/adamw.h), one per
//      micro-batch in a seeded row order (optim.group_by_length: rows of similar length together),
//      with global grad-norm clipping;
//   6. step metrics: one row appended to OUT/metrics.jsonl (train/run_log.h; names: metric_names.h,
//      docs/metrics.md), and run.log_samples sample completions appended to OUT/samples.jsonl: evenly
//      spaced rows of the training batch, one JSON line each, {step, problem, prompt, response,
//      finish_reason, reward, advantage (the sequence's A), strategy, tokens (each id's decoded text),
//      gamma (each token's credit weight), anchors, preplans (response positions the strategy marked:
//      rl/credit.h credit_roles)}; trimmed on resume like metrics.jsonl.
// In-training evaluation (eval.every > 0; train_config.h's EvalSection): the policy on the held-out
// problems of eval.data through eval/evaluate.h, before training (a row of its own, step 0), every
// eval.every steps and at the last step, after that step's update. The row of that step gets
// eval/accuracy (pass@1: mean of c/n), eval/pass@k (k > 1), eval/reward_mean, eval/mean_length,
// eval/format_rate (share of responses with a well-formed answer) and timing/eval (not part of
// timing/step). A new best accuracy (strictly above the earlier ones) replaces
// OUT/checkpoints/best (checkpoint.h); OUT/eval_summary.json (atomic) holds the last, peak and
// peak-EMA accuracy and their steps (eval/statistics.h: summarize_curve) and the history. On resume,
// the history is read back from the trimmed metrics.jsonl, so the summary is the log's.
// Checkpoints go to OUT/checkpoints/step-NNNNNN in the layout every trainer shares
// (train/checkpoint.h); --resume also reads an SFT checkpoint (weights, step, and the optimiser state
// when it fits the model).
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
// invalid_ids ([V] bool, infer/vocabulary.h) masks the ids the tokenizer cannot decode, as the
// sampler does, so the log-probs are those of the distribution the responses were drawn from.
struct ResponseLogprobs {
  at::Tensor logprobs, entropy;
};
ResponseLogprobs response_logprobs(const Model& model, const at::Tensor& ids, const at::Tensor& mask,
                                   const std::vector<std::int64_t>& prompt_lengths,
                                   const std::vector<std::int64_t>& response_lengths, double temperature,
                                   bool want_entropy, AttentionObserver* observer = nullptr,
                                   const at::Tensor& invalid_ids = {});

class AdamW;

class GrpoTrainer {
 public:
  // `problems`: the training set; `tokenizer_dir`: where tokenizer.json (+ tokenizer_config.json)
  // live, copied into checkpoints. `reward` replaces the task's reward when given (tests, synthetic tasks).
  GrpoTrainer(TrainConfig config, Model policy, Tokenizer tokenizer, std::filesystem::path tokenizer_dir,
              std::vector<data::Problem> problems, RewardFn reward = nullptr);
  ~GrpoTrainer();

  // Loads the newest complete checkpoint under OUT (weights, optimiser, step, data position); run()
  // then trims metrics.jsonl to its steps. Returns false when there is none.
  bool resume();
  // Runs steps until config.run.steps (or until `stop_after` more steps, for tests), writing metrics and
  // checkpoints (every save_every steps and at the end).
  void run(std::optional<std::int64_t> stop_after = std::nullopt);
  // One step; returns its metrics row (also appended to metrics.jsonl by run()).
  Json step();
  void save_checkpoint();

  std::int64_t current_step() const;
  std::int64_t data_position() const;
  const Model& policy() const;
  const TrainConfig& config() const;
  const AdamW& optimizer() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Loads config.model.dir, the tokenizer, the data, and runs (resuming when asked). The CLI's body.
void run_training(const TrainConfig& config, bool resume);

}  // namespace illume::train
