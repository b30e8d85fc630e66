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
#include <vector>

#include "illume/model/attention_observer.h"
#include "illume/model/model.h"

namespace illume::train {

struct AttentionPassOptions {
  std::vector<int> layers;  // empty: rl_attention_config's default layers
  std::int64_t window = 10;
  std::int64_t fai_horizon_lo = 10, fai_horizon_hi = 100;
};

struct ResponseAttentionStats {
  at::Tensor waad, fai, delta;  // [B, R] float32, response-aligned, 0 past each row's length
  double statistics_seconds = 0;  // time inside the observer and the finalisation (not the forward)
};

// Runs `forward(observer)` once per accumulator pass; the callback must run the model's forward over
// the rows (ids [B, T] right-padded prompt + response, lengths as given) with that observer, e.g. the
// old-log-prob forward. R = max response length.
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
