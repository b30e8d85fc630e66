// The trainer's attention pass (METHOD.md section 4): one extra no-grad forward of the current policy
// over prompt + response with the streaming WAAD/FAI accumulator attached; only the chosen layers'
// running sums are kept, never a map.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "illume/model/model.h"

namespace illume::train {

struct AttentionPassOptions {
  std::vector<int> layers;  // empty: rl_attention_config's default layers
  std::int64_t window = 10;
  std::int64_t horizon_lo = 10, horizon_hi = 100;
};

struct ResponseAttentionStats {
  at::Tensor waad, fai, delta;  // [B, R] float32, response-aligned, 0 past each row's length
};

// ids/mask [B, T] right-padded rows of prompt + response (lengths as given); R = max response length.
ResponseAttentionStats attention_pass(const Model& model, const at::Tensor& ids, const at::Tensor& mask,
                                      const std::vector<std::int64_t>& prompt_lengths,
                                      const std::vector<std::int64_t>& response_lengths,
                                      const AttentionPassOptions& options);

}  // namespace illume::train
