// GRPO advantages and token advantages (METHOD.md section 4); conventions in advantage.h.
#include "illume/rl/advantage.h"

#include <fmt/ranges.h>
#include <torch/torch.h>

#include <array>
#include <cmath>

#include "illume/util/error.h"
#include "illume/util/text.h"

namespace illume {
namespace {


constexpr std::array<const char*, 3> kSignModes{"both", "positive", "negative"};

// rewards [N] -> [groups, G] in a floating dtype, detached.
at::Tensor grouped(const at::Tensor& rewards, std::int64_t group_size, const char* what) {
  check(rewards.defined() && rewards.dim() == 1, "{}: rewards must be [N], got {}", what,
        rewards.defined() ? shape_of(rewards.sizes()) : std::string("nothing"));
  check(group_size >= 1, "{}: group_size must be >= 1, got {}", what, group_size);
  check(rewards.size(0) % group_size == 0, "{}: {} rewards do not split into groups of {}", what, rewards.size(0),
        group_size);
  auto r = rewards.detach();
  if (r.scalar_type() != at::kDouble) r = r.to(at::kFloat);
  check(!r.isnan().any().item<bool>(), "{}: rewards contain NaN", what);
  return r.view({-1, group_size});
}

}  // namespace

at::Tensor grpo_advantages(const at::Tensor& rewards, std::int64_t group_size, double eps, bool scale_by_std) {
  check(std::isfinite(eps) && eps >= 0.0, "grpo_advantages: eps must be finite and >= 0, got {}", eps);
  at::NoGradGuard no_grad;
  auto r = grouped(rewards, group_size, "grpo_advantages");  // [groups, G]
  auto centered = r - r.mean(1, /*keepdim=*/true);
  if (scale_by_std) {
    // Sample std; a group of one has none (0 here), its advantage is 0 anyway.
    auto std = group_size > 1 ? (centered.square().sum(1, true) / double(group_size - 1)).sqrt()
                              : at::zeros_like(centered);
    // A zero-variance group would give 0 / eps = 0 already; make it exact even when eps = 0.
    centered = at::where(std > 0, centered / (std + eps), at::zeros_like(centered));
  }
  return centered.reshape({-1});
}

at::Tensor informative_groups(const at::Tensor& rewards, std::int64_t group_size) {
  at::NoGradGuard no_grad;
  auto r = grouped(rewards, group_size, "informative_groups");
  auto varied = std::get<0>(r.max(1, true)) != std::get<0>(r.min(1, true));  // [groups, 1]
  return varied.expand(r.sizes()).reshape({-1});
}

at::Tensor token_advantages(const at::Tensor& advantages, const at::Tensor& gamma, const at::Tensor& response_mask,
                            const std::string& sign_mode) {
  bool known = false;
  for (const char* m : kSignModes) known = known || sign_mode == m;
  if (!known) fail("token_advantages: unknown sign mode '{}' (known: {})", sign_mode, fmt::join(kSignModes, ", "));
  check(advantages.defined() && gamma.defined() && response_mask.defined(),
        "token_advantages: advantages, gamma and response_mask are all required");
  check(response_mask.dim() == 2, "token_advantages: response_mask must be [B, T], got {}", shape_of(response_mask.sizes()));
  check(gamma.sizes() == response_mask.sizes(), "token_advantages: gamma is {} but response_mask is {}",
        shape_of(gamma.sizes()), shape_of(response_mask.sizes()));
  check(advantages.dim() == 1 && advantages.size(0) == response_mask.size(0),
        "token_advantages: advantages is {} but response_mask is {} (want [B])", shape_of(advantages.sizes()),
        shape_of(response_mask.sizes()));

  at::NoGradGuard no_grad;
  auto valid = response_mask.detach() != 0;
  auto a = advantages.detach().to(valid.device(), at::kFloat).unsqueeze(1);  // [B, 1]
  auto g = gamma.detach().to(valid.device(), at::kFloat);                    // [B, T]
  at::Tensor applies;                                                        // [B, 1]
  if (sign_mode == "both") applies = at::ones_like(a, a.options().dtype(at::kBool));
  else if (sign_mode == "positive") applies = a >= 0;
  else applies = a < 0;
  auto weight = at::where(applies, g, at::ones_like(g));
  return at::where(valid, weight * a, at::zeros_like(g)).detach();
}

std::vector<std::string> advantage_sign_modes() { return {kSignModes.begin(), kSignModes.end()}; }

}  // namespace illume
