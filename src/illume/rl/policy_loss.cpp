// PPO-clip policy loss, loss aggregations and the k3 KL (METHOD.md section 4); conventions in policy_loss.h.
#include "illume/rl/policy_loss.h"

#include <fmt/ranges.h>
#include <torch/torch.h>

#include <array>
#include <cmath>

#include "illume/util/error.h"
#include "illume/util/text.h"

namespace illume {
namespace {


// Log-ratios beyond this are numerically meaningless for exp(); clamping keeps rho and k3 finite.
constexpr double kMaxLogRatio = 20.0;

// Reduced-precision inputs are computed in float32; float64 stays float64.
at::Tensor computable(const at::Tensor& x) {
  return x.scalar_type() == at::kDouble ? x : x.to(at::kFloat);
}

at::Tensor zeros_where_invalid(const at::Tensor& x, const at::Tensor& valid) {
  return at::where(valid, x, at::zeros_like(x));
}

// Each aggregation: (per_token [B, T] floating, valid [B, T] bool, norm_length) -> scalar.
using AggregateFn = at::Tensor (*)(const at::Tensor&, const at::Tensor&, double);

// Sum over all response tokens / their number.
at::Tensor aggregate_token_mean(const at::Tensor& x, const at::Tensor& valid, double) {
  auto count = valid.sum().to(x.scalar_type()).clamp_min(1.0);
  return zeros_where_invalid(x, valid).sum() / count;
}

// Mean over non-empty rows of (row token sum / row_divisor[row]).
at::Tensor mean_over_rows(const at::Tensor& row_values, const at::Tensor& nonempty) {
  auto rows = nonempty.sum().to(row_values.scalar_type()).clamp_min(1.0);
  return zeros_where_invalid(row_values, nonempty).sum() / rows;
}

at::Tensor aggregate_seq_mean_token_mean(const at::Tensor& x, const at::Tensor& valid, double) {
  auto n = valid.sum(1).to(x.scalar_type());  // [B]
  auto row_means = zeros_where_invalid(x, valid).sum(1) / n.clamp_min(1.0);
  return mean_over_rows(row_means, n > 0);
}

at::Tensor aggregate_seq_mean_token_sum_norm(const at::Tensor& x, const at::Tensor& valid, double norm_length) {
  check(std::isfinite(norm_length) && norm_length > 0,
        "aggregate_loss: seq-mean-token-sum-norm needs norm_length > 0 (e.g. the max response length), got {}",
        norm_length);
  auto row_sums = zeros_where_invalid(x, valid).sum(1) / norm_length;
  return mean_over_rows(row_sums, valid.sum(1) > 0);
}

struct Aggregation {
  const char* name;
  AggregateFn fn;
};

constexpr std::array<Aggregation, 3> kAggregations{{
    {"seq-mean-token-mean", aggregate_seq_mean_token_mean},
    {"token-mean", aggregate_token_mean},
    {"seq-mean-token-sum-norm", aggregate_seq_mean_token_sum_norm},
}};

AggregateFn checked_aggregation(const std::string& mode) {
  for (const auto& a : kAggregations)
    if (mode == a.name) return a.fn;
  fail("aggregate_loss: unknown aggregation '{}' (known: {})", mode, fmt::join(loss_aggregation_names(), ", "));
}

void check_like(const at::Tensor& x, const char* name, const at::Tensor& like, const char* like_name,
                const char* what) {
  check(x.defined(), "{}: {} is required", what, name);
  check(x.sizes() == like.sizes(), "{}: {} is {} but {} is {}", what, name, shape_of(x.sizes()), like_name, shape_of(like.sizes()));
}

}  // namespace

std::vector<std::string> loss_aggregation_names() {
  std::vector<std::string> names;
  for (const auto& a : kAggregations) names.emplace_back(a.name);
  return names;
}

at::Tensor aggregate_loss(const at::Tensor& per_token, const at::Tensor& mask, const std::string& mode,
                          double norm_length) {
  auto fn = checked_aggregation(mode);
  check(per_token.defined() && per_token.dim() == 2, "aggregate_loss: per_token must be [B, T], got {}",
        per_token.defined() ? shape_of(per_token.sizes()) : std::string("nothing"));
  check_like(mask, "mask", per_token, "per_token", "aggregate_loss");
  auto valid = mask.detach().to(per_token.device()) != 0;
  return fn(computable(per_token), valid, norm_length);
}

at::Tensor kl_k3(const at::Tensor& logprobs, const at::Tensor& ref_logprobs) {
  check(logprobs.defined(), "kl_k3: logprobs is required");
  check_like(ref_logprobs, "ref_logprobs", logprobs, "logprobs", "kl_k3");
  auto diff = (computable(ref_logprobs) - computable(logprobs)).clamp(-kMaxLogRatio, kMaxLogRatio);
  return diff.exp() - diff - 1.0;
}

PolicyLossResult ppo_clip_loss(const at::Tensor& logprobs, const at::Tensor& old_logprobs,
                               const at::Tensor& token_advantages, const at::Tensor& response_mask,
                               const PolicyLossOptions& options, const at::Tensor& ref_logprobs,
                               const at::Tensor& entropy) {
  constexpr const char* what = "ppo_clip_loss";
  checked_aggregation(options.aggregation);
  check(std::isfinite(options.clip_low) && options.clip_low >= 0 && options.clip_low < 1,
        "{}: clip_low must be in [0, 1), got {}", what, options.clip_low);
  check(std::isfinite(options.clip_high) && options.clip_high >= 0, "{}: clip_high must be >= 0, got {}", what,
        options.clip_high);
  check(std::isfinite(options.kl_coef) && options.kl_coef >= 0, "{}: kl_coef must be >= 0, got {}", what,
        options.kl_coef);
  check(std::isfinite(options.entropy_coef), "{}: entropy_coef must be finite, got {}", what, options.entropy_coef);
  check(logprobs.defined() && logprobs.dim() == 2, "{}: logprobs must be [B, T], got {}", what,
        logprobs.defined() ? shape_of(logprobs.sizes()) : std::string("nothing"));
  check_like(old_logprobs, "old_logprobs", logprobs, "logprobs", what);
  check_like(token_advantages, "token_advantages", logprobs, "logprobs", what);
  check_like(response_mask, "response_mask", logprobs, "logprobs", what);
  if (ref_logprobs.defined()) check_like(ref_logprobs, "ref_logprobs", logprobs, "logprobs", what);
  if (entropy.defined()) check_like(entropy, "entropy", logprobs, "logprobs", what);
  check(options.kl_coef == 0 || ref_logprobs.defined(), "{}: kl_coef {} needs ref_logprobs", what, options.kl_coef);
  check(options.entropy_coef == 0 || entropy.defined(), "{}: entropy_coef {} needs entropy", what,
        options.entropy_coef);

  auto logp = computable(logprobs);
  auto valid = response_mask.detach().to(logp.device()) != 0;
  auto old = old_logprobs.detach().to(logp.device(), logp.scalar_type());
  auto adv = zeros_where_invalid(token_advantages.detach().to(logp.device(), logp.scalar_type()), valid);

  // Padding gets log-ratio 0 (rho 1) by selection, so whatever logprobs hold there cannot produce
  // inf/NaN values or gradients.
  auto log_ratio = zeros_where_invalid((logp - old).clamp(-kMaxLogRatio, kMaxLogRatio), valid);
  auto rho = log_ratio.exp();
  auto loss_unclipped = -adv * rho;
  auto loss_clipped = -adv * rho.clamp(1.0 - options.clip_low, 1.0 + options.clip_high);
  auto per_token = at::maximum(loss_unclipped, loss_clipped);  // = -min(rho A, clip(rho) A)
  auto loss = aggregate_loss(per_token, valid, options.aggregation, options.norm_length);

  at::Tensor kl_tokens, entropy_tokens;
  if (ref_logprobs.defined()) {
    kl_tokens = kl_k3(logp, ref_logprobs.detach().to(logp.device(), logp.scalar_type()));
    if (options.kl_coef > 0)
      loss = loss + options.kl_coef * aggregate_loss(kl_tokens, valid, options.aggregation, options.norm_length);
  }
  if (entropy.defined()) {
    entropy_tokens = computable(entropy.to(logp.device()));
    if (options.entropy_coef != 0)
      loss = loss - options.entropy_coef * aggregate_loss(entropy_tokens, valid, options.aggregation,
                                                          options.norm_length);
  }

  // Statistics: token means over response tokens, fetched from the device in one copy.
  at::Tensor stats;
  {
    at::NoGradGuard no_grad;
    auto token_mean = [&](const at::Tensor& x) { return aggregate_token_mean(x.detach().to(at::kDouble), valid, 0); };
    auto zero = at::zeros({}, logp.options().dtype(at::kDouble));
    // The two sides of the clip (TRL's clip_ratio/low_mean and high_mean): where the clipped term is
    // active, the gradient of the token is 0. A~ = 0 is neither.
    auto low = adv.lt(0).logical_and(rho.lt(1.0 - options.clip_low)).logical_and(valid);
    auto high = adv.gt(0).logical_and(rho.gt(1.0 + options.clip_high)).logical_and(valid);
    stats = at::stack({token_mean(low.to(logp.scalar_type())), token_mean(high.to(logp.scalar_type())),
                       token_mean(rho - 1.0 - log_ratio),
                       kl_tokens.defined() ? token_mean(kl_tokens) : zero,
                       entropy_tokens.defined() ? token_mean(entropy_tokens) : zero})
                .to(at::kCPU, at::kDouble);
  }
  const double* s = stats.data_ptr<double>();
  PolicyLossResult result;
  result.loss = loss;
  result.clip_low_fraction = s[0];
  result.clip_high_fraction = s[1];
  result.clip_fraction = s[0] + s[1];
  result.approx_kl_old = s[2];
  result.kl_ref = s[3];
  result.entropy = s[4];
  return result;
}

}  // namespace illume
