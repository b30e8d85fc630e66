// Credit strategies (METHOD.md section 4); the conventions are documented in credit.h.
#include "illume/rl/credit.h"

#include <fmt/ranges.h>
#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "illume/util/error.h"
#include "illume/util/random.h"
#include "illume/util/text.h"

namespace illume {
namespace {


// mask [B, T] (bool or numbers) -> bool, with the shape checked.
at::Tensor valid_tokens(const at::Tensor& mask) {
  check(mask.defined(), "credit: response_mask is required");
  check(mask.dim() == 2, "credit: response_mask must be [B, T], got {}", shape_of(mask.sizes()));
  return mask.detach() != 0;
}

// One input the strategy reads: present, [B, T] like the mask, no NaN on response tokens. -> double.
at::Tensor strategy_input(const at::Tensor& x, const char* name, const at::Tensor& valid, const std::string& strategy) {
  check(x.defined(), "credit: strategy '{}' needs {}, which was not given", strategy, name);
  check(x.sizes() == valid.sizes(), "credit: {} is {} but response_mask is {}", name, shape_of(x.sizes()), shape_of(valid.sizes()));
  auto v = x.detach().to(valid.device(), at::kDouble);
  check(!v.isnan().logical_and(valid).any().item<bool>(), "credit: {} has NaN on response tokens", name);
  return v;
}

// A permutation of each row [B, T] (long): response tokens first, ordered by value (descending or
// ascending), equal values in position order; padding after them. Two stable sorts: by value, then
// by validity.
at::Tensor order_valid_first(const at::Tensor& values, const at::Tensor& valid, bool descending) {
  auto by_value = std::get<1>(at::sort(values, true, 1, descending));
  auto valid_in_order = valid.gather(1, by_value).to(at::kInt);
  auto by_valid = std::get<1>(at::sort(valid_in_order, true, 1, /*descending=*/true));
  return by_value.gather(1, by_valid);
}

// The response tokens that have an FAI horizon (the selection pool of FAI-based credit, credit.h):
// position j within the response (response tokens counted in order) with j + horizon_lo <= n - 1.
at::Tensor tokens_with_fai_horizon(const at::Tensor& valid, std::int64_t horizon_lo) {
  auto position = valid.to(at::kLong).cumsum(1) - 1;
  auto n = valid.to(at::kLong).sum(1, /*keepdim=*/true);
  return valid.logical_and(position + horizon_lo <= n - 1);
}

// Response tokens per row, on the host.
std::vector<std::int64_t> row_lengths(const at::Tensor& valid) {
  auto n = valid.sum(1).to(at::kCPU, at::kLong).contiguous();
  return {n.data_ptr<std::int64_t>(), n.data_ptr<std::int64_t>() + n.numel()};
}

// Per-row lower median over the response tokens: the ((n-1)/2)-th smallest. [B, 1] double.
at::Tensor lower_median(const at::Tensor& values, const at::Tensor& valid) {
  auto order = order_valid_first(values, valid, /*descending=*/false);
  auto sorted = values.gather(1, order);
  std::vector<std::int64_t> middle;
  for (auto n : row_lengths(valid)) middle.push_back(n > 0 ? (n - 1) / 2 : 0);
  auto index = at::tensor(middle, at::TensorOptions().dtype(at::kLong)).to(values.device()).view({-1, 1});
  return sorted.gather(1, index);
}

// Uniform keys in [0, 1) [B, T] double, a pure function of (seed, row, position).
at::Tensor random_keys(std::int64_t rows, std::int64_t width, std::uint64_t seed, const at::Device& device) {
  auto keys = at::empty({rows, width}, at::TensorOptions().dtype(at::kDouble));
  auto* out = keys.data_ptr<double>();
  const std::uint64_t base = splitmix64(seed);
  for (std::int64_t r = 0; r < rows; ++r) {
    const std::uint64_t row = splitmix64(base ^ splitmix64(static_cast<std::uint64_t>(r)));
    for (std::int64_t t = 0; t < width; ++t)
      out[r * width + t] = static_cast<double>(splitmix64(row + static_cast<std::uint64_t>(t)) >> 11) * 0x1.0p-53;
  }
  return keys.to(device);
}

// Each strategy returns its bonus in units of (gamma_amp - 1), [B, T] double; gamma = 1 + (amp-1) * units.
using StrategyFn = at::Tensor (*)(const CreditInputs&, const at::Tensor& valid, const CreditOptions&);

bool select_top(const CreditOptions& o) { return o.select == "top"; }

at::Tensor units_none(const CreditInputs&, const at::Tensor& valid, const CreditOptions&) {
  return at::zeros(valid.sizes(), valid.options().dtype(at::kDouble));
}

at::Tensor units_random(const CreditInputs&, const at::Tensor& valid, const CreditOptions& o) {
  auto keys = random_keys(valid.size(0), valid.size(1), o.seed, valid.device());
  return select_fraction(keys, valid, o.q, select_top(o)).to(at::kDouble);
}

at::Tensor units_entropy(const CreditInputs& in, const at::Tensor& valid, const CreditOptions& o) {
  auto entropy = strategy_input(in.entropy, "entropy", valid, o.strategy);
  return select_fraction(entropy, valid, o.q, select_top(o)).to(at::kDouble);
}

// 4.1 local-chunk credit: TopQ(Delta).
at::Tensor units_local(const CreditInputs& in, const at::Tensor& valid, const CreditOptions& o) {
  auto delta = strategy_input(in.delta, "delta", valid, o.strategy);
  return select_fraction(delta, valid, o.q, select_top(o)).to(at::kDouble);
}

// 4.2 global-anchor credit: TopQ(FAI).
at::Tensor units_global(const CreditInputs& in, const at::Tensor& valid, const CreditOptions& o) {
  auto fai = strategy_input(in.fai, "fai", valid, o.strategy);
  return select_fraction(fai, tokens_with_fai_horizon(valid, o.fai_horizon_lo), o.q, select_top(o)).to(at::kDouble);
}

// 4.3 coupled rhythm credit's sets: anchors G, dominated anchors D, and how many dominated anchors
// name each token as their intro (I(D) with multiplicity), all [B, T].
struct CoupledSets {
  at::Tensor anchors, dominated, intro_count;
};

CoupledSets coupled_sets(const CreditInputs& in, const at::Tensor& valid, const CreditOptions& o) {
  auto fai = strategy_input(in.fai, "fai", valid, o.strategy);
  auto waad = strategy_input(in.waad, "waad", valid, o.strategy);
  auto delta = strategy_input(in.delta, "delta", valid, o.strategy);
  const auto B = valid.size(0), T = valid.size(1);
  auto dopts = waad.options();

  auto anchors = select_fraction(fai, tokens_with_fai_horizon(valid, o.fai_horizon_lo), o.q, select_top(o));  // G [B, T]
  auto tau_waad = o.tau_waad ? at::full({B, 1}, *o.tau_waad, dopts) : lower_median(waad, valid);
  auto tau_delta = o.tau_delta ? at::full({B, 1}, *o.tau_delta, dopts) : lower_median(delta, valid);

  // Over the window W(t) = response tokens in [t-k, t-1]: the max of Delta and where it is (the
  // nearest on ties: offsets are visited nearest first and only a strictly larger value replaces).
  auto positions = at::arange(T, dopts.dtype(at::kLong)).unsqueeze(0).expand({B, T});
  auto window_max = at::full({B, T}, -std::numeric_limits<double>::infinity(), dopts);
  auto intro = at::zeros({B, T}, dopts.dtype(at::kLong));
  auto has_window = at::zeros({B, T}, valid.options());
  for (std::int64_t j = 1; j <= o.k && j < T; ++j) {
    auto delta_back = at::full({B, T}, -std::numeric_limits<double>::infinity(), dopts);  // Delta[t-j]
    delta_back.narrow(1, j, T - j).copy_(delta.narrow(1, 0, T - j));
    auto valid_back = at::zeros({B, T}, valid.options());  // t-j is a response token
    valid_back.narrow(1, j, T - j).copy_(valid.narrow(1, 0, T - j));
    auto better = valid_back.logical_and(has_window.logical_not().logical_or(delta_back > window_max));
    window_max = at::where(better, delta_back, window_max);
    intro = at::where(better, positions - j, intro);
    has_window = has_window.logical_or(valid_back);
  }

  auto dominated = anchors.logical_and(valid)
                       .logical_and(has_window)
                       .logical_and(waad <= tau_waad)
                       .logical_and(window_max >= tau_delta);  // D
  // I(D): each dominated anchor adds one to its intro token (non-dominated rows add zero at index intro).
  auto intro_count = at::zeros({B, T}, dopts).scatter_add_(1, intro, dominated.to(at::kDouble));
  return {anchors, dominated, intro_count};
}

at::Tensor units_coupled(const CreditInputs& in, const at::Tensor& valid, const CreditOptions& o) {
  auto sets = coupled_sets(in, valid, o);
  auto undominated = sets.anchors.logical_and(sets.dominated.logical_not());  // G \ D
  auto intro_count = o.intro_bonus_per_anchor ? sets.intro_count : sets.intro_count.clamp_max(1.0);
  return undominated.to(at::kDouble) + (1.0 - o.alpha) * sets.dominated.to(at::kDouble) + o.alpha * intro_count;
}

// A new strategy is one row: its name, its function, and the inputs it reads.
struct Strategy {
  const char* name;
  StrategyFn units;
  CreditNeeds needs;
};

constexpr std::array<Strategy, 6> kStrategies{{
    {"none", units_none, {}},
    {"random", units_random, {}},
    {"entropy", units_entropy, {.entropy = true}},
    {"local", units_local, {.delta = true}},
    {"global", units_global, {.fai = true}},
    {"coupled", units_coupled, {.waad = true, .fai = true, .delta = true}},
}};

const Strategy& strategy_named(const std::string& name) {
  for (const auto& s : kStrategies)
    if (name == s.name) return s;
  fail("credit: unknown strategy '{}' (known: {})", name, fmt::join(credit_strategy_names(), ", "));
}

void check_fraction(double q) {
  check(std::isfinite(q) && q > 0.0 && q <= 1.0, "credit: q must be in (0, 1], got {}", q);
}

StrategyFn checked_strategy(const CreditOptions& o) {
  const Strategy* found = &strategy_named(o.strategy);
  check(o.select == "top" || o.select == "bottom", "credit: select must be top or bottom, got '{}'", o.select);
  check_fraction(o.q);
  check(std::isfinite(o.gamma_amp), "credit: gamma_amp must be finite, got {}", o.gamma_amp);
  check(o.fai_horizon_lo >= 0, "credit: fai_horizon_lo must be >= 0, got {}", o.fai_horizon_lo);
  if (o.strategy == "coupled") {
    check(o.k >= 1, "credit: k must be >= 1, got {}", o.k);
    check(std::isfinite(o.alpha) && o.alpha >= 0.0 && o.alpha <= 1.0, "credit: alpha must be in [0, 1], got {}",
          o.alpha);
    check(!o.tau_waad || !std::isnan(*o.tau_waad), "credit: tau_waad is NaN");
    check(!o.tau_delta || !std::isnan(*o.tau_delta), "credit: tau_delta is NaN");
  }
  return found->units;
}

}  // namespace

std::int64_t selection_count(std::int64_t n, double q) {
  check_fraction(q);
  if (n <= 0) return 0;
  auto count = static_cast<std::int64_t>(std::ceil(q * static_cast<double>(n) - 1e-9));
  return std::clamp<std::int64_t>(count, 1, n);
}

at::Tensor select_fraction(const at::Tensor& values, const at::Tensor& valid, double q, bool top) {
  check_fraction(q);
  check(values.defined() && valid.defined(), "credit: select_fraction needs values and a mask");
  check(values.dim() == 2 && values.sizes() == valid.sizes(), "credit: values {} and mask {} must both be [B, T]",
        shape_of(values.sizes()), shape_of(valid.sizes()));
  at::NoGradGuard no_grad;
  auto is_valid = valid.detach() != 0;
  auto v = values.detach().to(is_valid.device(), at::kDouble);
  const auto B = v.size(0), T = v.size(1);

  std::vector<std::int64_t> counts;
  for (auto n : row_lengths(is_valid)) counts.push_back(selection_count(n, q));
  auto count = at::tensor(counts, at::TensorOptions().dtype(at::kLong)).to(v.device()).view({B, 1});

  // rank[b, t] = place of token t in its row's order; the first `count` places are selected.
  auto order = order_valid_first(v, is_valid, /*descending=*/top);
  auto places = at::arange(T, order.options()).unsqueeze(0).expand({B, T}).contiguous();
  auto rank = at::empty_like(order).scatter_(1, order, places);
  return (rank < count).logical_and(is_valid);
}

std::vector<std::string> credit_strategy_names() {
  std::vector<std::string> names;
  for (const auto& s : kStrategies) names.emplace_back(s.name);
  return names;
}

CreditNeeds credit_strategy_needs(const std::string& strategy) { return strategy_named(strategy).needs; }

CreditRoles credit_roles(const CreditInputs& inputs, const CreditOptions& options) {
  checked_strategy(options);
  at::NoGradGuard no_grad;
  auto valid = valid_tokens(inputs.response_mask);
  CreditRoles roles{at::zeros(valid.sizes(), valid.options()), at::zeros(valid.sizes(), valid.options())};
  if (valid.numel() == 0) return roles;
  if (options.strategy == "global") {
    auto fai = strategy_input(inputs.fai, "fai", valid, options.strategy);
    roles.anchor = select_fraction(fai, tokens_with_fai_horizon(valid, options.fai_horizon_lo), options.q, select_top(options));
  } else if (options.strategy == "coupled") {
    auto sets = coupled_sets(inputs, valid, options);
    roles.anchor = sets.anchors.logical_and(valid);
    roles.preplan = sets.intro_count.gt(0).logical_and(valid);
  }
  return roles;
}

at::Tensor compute_gamma(const CreditInputs& inputs, const CreditOptions& options) {
  auto units_fn = checked_strategy(options);
  at::NoGradGuard no_grad;
  auto valid = valid_tokens(inputs.response_mask);
  if (valid.numel() == 0) return at::ones(valid.sizes(), valid.options().dtype(at::kFloat));
  auto units = units_fn(inputs, valid, options);
  auto gamma = 1.0 + (options.gamma_amp - 1.0) * units;
  return at::where(valid, gamma, at::ones_like(gamma)).to(at::kFloat).detach();
}

}  // namespace illume
