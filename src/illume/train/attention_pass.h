// The trainer's attention pass (METHOD.md section 4): the current policy's WAAD/FAI/Delta over
// prompt + response, from the streaming accumulator attached to a no-grad forward; only the chosen
// layers' running sums are kept, never a map.
//
// The trainer fuses it with the forward that computes the old log-probs (same weights, same rows, both
// without gradient), so the pass costs only the statistics themselves, not a second forward; the
// paper runs one extra forward and reports 2.0-3.3% of a step.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "illume/attention/streaming.h"
#include "illume/model/attention_observer.h"
#include "illume/model/model.h"
#include "illume/train/train_config.h"

namespace illume::train {

// The recipe's attention section (train_config.h), as the pass reads it.
struct AttentionPassOptions {
  std::vector<int> layers;  // empty: rl_attention_config's default layers
  std::int64_t window = 10;
  std::int64_t fai_horizon_lo = 10, fai_horizon_hi = 100;  // H_lo may be 0 (T(s) then includes s)
  double head_quantile = 0.3;                               // fraction of heads in each group
  HeadGroupingScope grouping = HeadGroupingScope::per_sequence;  // per_batch: the whole training batch
  std::vector<HeadId> local_heads, global_heads;            // grouping fixed
  bool all_heads = false;                                   // WAAD/FAI from every head of the layers
};

AttentionPassOptions attention_pass_options(const TrainConfig& config);

// The accumulator's config for this model, checked against its layers and heads (what the recipe
// could not know when it was read): "attention.local_heads: head 12:40 is beyond the model (32 heads
// per layer)". The trainer calls it when it starts, so a bad head fails before the first rollout.
AttentionStatsConfig attention_stats_config(const ModelConfig& model, const AttentionPassOptions& options);

struct ResponseAttentionStats {
  at::Tensor waad, fai, delta;  // [B, R] float32, response-aligned, 0 past each row's length
  double statistics_seconds = 0;  // time inside the observer and the finalisation (not the forward)
};

// The attention pass of one training batch whose rows go through the model in several forwards
// (micro-batches). Per-sequence and fixed grouping finalise each forward's rows at once, so memory is
// bounded by one forward. Batch grouping ranks the heads over the whole batch (METHOD.md §1 [ours]):
// one accumulator spans every forward and keeps every head's running sums until finish(), i.e.
// layers x heads x R x 16 bytes per response (Qwen3-4B, 5 layers, R = 1024: 2.6 MB a response).
class BatchAttentionPass {
 public:
  // Rows b = 0 .. B-1: right-padded prompt + response, the response starting at prompt_lengths[b].
  BatchAttentionPass(const Model& model, std::vector<std::int64_t> prompt_lengths,
                     std::vector<std::int64_t> response_lengths, const AttentionPassOptions& options);
  ~BatchAttentionPass();
  BatchAttentionPass(const BatchAttentionPass&) = delete;
  BatchAttentionPass& operator=(const BatchAttentionPass&) = delete;

  // Rows first .. first+count-1 in one forward: `forward(observer)` must run the model over exactly
  // those rows, in order (e.g. the old-log-prob forward of that micro-batch), with the observer.
  void run(std::int64_t first, std::int64_t count, const std::function<void(AttentionObserver*)>& forward);
  // After every row has been run once: [B, R] for the whole batch, R = the longest response.
  ResponseAttentionStats finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// One forward over all rows: `forward(observer)` runs the model over the rows (ids [B, T] right-padded
// prompt + response, lengths as given) with that observer, e.g. the old-log-prob forward.
ResponseAttentionStats attention_pass(const Model& model, const std::vector<std::int64_t>& prompt_lengths,
                                      const std::vector<std::int64_t>& response_lengths,
                                      const AttentionPassOptions& options,
                                      const std::function<void(AttentionObserver*)>& forward);

// The same with a plain forward_hidden of ids/mask (a stand-alone pass).
ResponseAttentionStats attention_pass(const Model& model, const at::Tensor& ids, const at::Tensor& mask,
                                      const std::vector<std::int64_t>& prompt_lengths,
                                      const std::vector<std::int64_t>& response_lengths,
                                      const AttentionPassOptions& options);

}  // namespace illume::train
