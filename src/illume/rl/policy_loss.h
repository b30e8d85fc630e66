// The PPO-clip policy loss over token advantages (METHOD.md section 4), its aggregations and the k3 KL.
//
//   rho[t]      = exp(logp[t] - old_logp[t])             (log-ratio clamped to [-20, 20] for stability)
//   per_token   = -min(rho * A~, clip(rho, 1 - clip_low, 1 + clip_high) * A~)
//   loss        = aggregate(per_token) + kl_coef * aggregate(k3(logp, ref)) - entropy_coef * aggregate(entropy)
//
// Aggregations over a [B, T] per-token matrix with a response mask (loss_aggregation_names()):
//   seq-mean-token-mean      mean over sequences of (sum over its tokens / its token count)  (paper default)
//   token-mean               sum over all response tokens / number of response tokens     (DAPO)
//   seq-mean-token-sum-norm  mean over sequences of (sum over its tokens / norm_length)   (Dr.GRPO); needs
//                            norm_length > 0, a constant such as the max response length
// The seq-mean modes average over the sequences that have at least one response token (rows without
// any are ignored); with no response token at all every mode gives 0 (still differentiable).
// Padding values never reach the result, not even NaN or inf (they are selected away, not multiplied by 0).
//
// Logged statistics (doubles, over response tokens, token-mean):
//   clip_fraction  share of tokens where the clipped term is the active one and differs from the
//                  unclipped one: A~ > 0 and rho > 1 + clip_high, or A~ < 0 and rho < 1 - clip_low
//                  (there the gradient is 0). Tokens with A~ = 0 or rho inside the range count as unclipped.
//                  It is the sum of the two sides (TRL's clip_ratio/region_mean):
//   clip_low_fraction   A~ < 0 and rho < 1 - clip_low   (TRL's clip_ratio/low_mean)
//   clip_high_fraction  A~ > 0 and rho > 1 + clip_high  (TRL's clip_ratio/high_mean)
//   approx_kl_old  k3 estimate of KL(pi_old || pi) from the old policy's samples: (rho - 1) - log rho.
//   kl_ref         mean of k3(logp, ref_logp); 0 when ref_logprobs is not given.
//   entropy        mean of the given token entropies; 0 when not given.
#pragma once
#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

namespace illume {

struct PolicyLossOptions {
  double clip_low = 0.2;   // eps_low
  double clip_high = 0.2;  // eps_high (DAPO's clip-higher uses 0.28)
  std::string aggregation = "seq-mean-token-mean";  // | token-mean | seq-mean-token-sum-norm
  double kl_coef = 0.0;       // > 0 needs ref_logprobs
  double entropy_coef = 0.0;  // > 0 needs entropy (and subtracts its aggregate: a bonus)
  double norm_length = 0;     // seq-mean-token-sum-norm: divide token sums by this constant
};

struct PolicyLossResult {
  at::Tensor loss;  // scalar, differentiable w.r.t. logprobs (and entropy when entropy_coef != 0)
  double clip_fraction = 0;       // clip_low_fraction + clip_high_fraction
  double clip_low_fraction = 0;
  double clip_high_fraction = 0;
  double approx_kl_old = 0;
  double kl_ref = 0;
  double entropy = 0;
};

// logprobs [B, T] (new policy, requires grad), old_logprobs [B, T] (used detached), token_advantages
// [B, T] (A~, used detached), response_mask [B, T]. Optional ref_logprobs [B, T] and entropy [B, T].
PolicyLossResult ppo_clip_loss(const at::Tensor& logprobs, const at::Tensor& old_logprobs,
                               const at::Tensor& token_advantages, const at::Tensor& response_mask,
                               const PolicyLossOptions& options, const at::Tensor& ref_logprobs = {},
                               const at::Tensor& entropy = {});

// per_token [B, T], mask [B, T] -> scalar (float32 at least), differentiable w.r.t. per_token.
at::Tensor aggregate_loss(const at::Tensor& per_token, const at::Tensor& mask, const std::string& mode,
                          double norm_length = 0);

// Per-token k3 estimator of KL(pi || ref) from samples of pi: exp(ref - logp) - (ref - logp) - 1 >= 0,
// the difference clamped to [-20, 20]. [B, T] -> [B, T], differentiable w.r.t. logprobs. Not masked.
at::Tensor kl_k3(const at::Tensor& logprobs, const at::Tensor& ref_logprobs);

// "seq-mean-token-mean", "token-mean", "seq-mean-token-sum-norm".
std::vector<std::string> loss_aggregation_names();

}  // namespace illume
