// Group-relative advantages (GRPO, METHOD.md section 4) and their per-token form A~ = gamma * A.
//
// Conventions:
//   * Rewards [N] are ordered by group: responses g*G .. g*G+G-1 answer prompt g.
//   * std is the sample (unbiased, n-1) standard deviation, as torch.std and verl's GRPO use; a group
//     of one has std 0 (and advantage 0). A zero-variance group gets advantage exactly 0 either way.
//   * Sign modes say which responses take gamma: "both" (v2 default), "positive" (A_i >= 0 only, v1),
//     "negative" (A_i < 0 only); the others keep weight 1.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace illume {

// A_i = (r_i - mean_g) / (std_g + eps), or r_i - mean_g when scale_by_std = false. rewards [N]
// (any real dtype), N a multiple of group_size. Returns [N] float32 (float64 for float64 rewards),
// detached.
at::Tensor grpo_advantages(const at::Tensor& rewards, std::int64_t group_size, double eps = 1e-6,
                           bool scale_by_std = true);

// [N] bool: false for every response of a group whose rewards are all equal (zero variance, no
// learning signal; dynamic sampling drops them), true otherwise. A group of one is uninformative.
at::Tensor informative_groups(const at::Tensor& rewards, std::int64_t group_size);

// A~[i, t] = w[i, t] * A_i on response tokens, 0 on padding, where w = gamma if the sign mode applies
// to A_i, else 1. advantages [B], gamma [B, T], response_mask [B, T]. Returns [B, T] float32, detached
// (no gradient through gamma or the advantages).
at::Tensor token_advantages(const at::Tensor& advantages, const at::Tensor& gamma, const at::Tensor& response_mask,
                            const std::string& sign_mode);

// "both", "positive", "negative".
std::vector<std::string> advantage_sign_modes();

}  // namespace illume
