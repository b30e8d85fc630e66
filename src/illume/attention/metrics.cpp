#include "illume/attention/metrics.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>

#include "illume/util/error.h"

namespace illume {

namespace {

// How many heads a fraction of K selects: max(1, round(fraction * K)), at most K.
std::int64_t fraction_count(double fraction, std::int64_t K) {
  auto n = static_cast<std::int64_t>(std::nearbyint(fraction * static_cast<double>(K)));
  return std::clamp<std::int64_t>(n, 1, K);
}

std::vector<double> to_vector(const at::Tensor& x) {
  auto c = x.detach().to(torch::kCPU, torch::kDouble).contiguous().view({-1});
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

void check_square_map(const at::Tensor& m, std::int64_t response_begin, const char* what) {
  check(m.defined() && m.dim() == 2 && m.size(0) == m.size(1), "{}: expected a square [N, N] map", what);
  check(response_begin >= 0 && response_begin <= m.size(0), "{}: response begin {} outside [0, {}]", what,
        response_begin, m.size(0));
}

}  // namespace

std::string head_name(const HeadId& head) { return std::to_string(head.layer) + ":" + std::to_string(head.head); }

std::vector<HeadId> parse_head_list(const std::string& text) {
  std::vector<HeadId> out;
  auto number = [](const std::string& item, const std::string& digits) {
    check(!digits.empty() && digits.size() <= 6 && digits.find_first_not_of("0123456789") == std::string::npos,
          "'{}' is not layer:head (two non-negative integers, e.g. 12:3)", item);
    return std::stoi(digits);
  };
  for (std::size_t start = 0; start <= text.size();) {
    auto comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    auto item = text.substr(start, comma - start);
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    const auto colon = item.find(':');
    check(colon != std::string::npos, "'{}' is not layer:head (two non-negative integers, e.g. 12:3)", item);
    out.push_back({number(item, item.substr(0, colon)), number(item, item.substr(colon + 1))});
    start = comma + 1;
  }
  return out;
}

std::vector<int> middle_third_layers(int num_layers, int count) {
  check(num_layers >= 1, "middle-third layers: the model has {} layers", num_layers);
  check(count >= 1, "middle-third layers: count must be >= 1 (got {})", count);
  const double lo = num_layers / 3, hi = (2 * num_layers) / 3;  // integer floor, as METHOD.md §1
  std::vector<int> out;
  for (int i = 0; i < count; ++i) {
    double x = count == 1 ? lo : lo + (hi - lo) * i / (count - 1);
    int layer = static_cast<int>(std::nearbyint(x));  // round half to even, as numpy's round
    if (out.empty() || out.back() != layer) out.push_back(layer);
  }
  return out;
}

at::Tensor head_span(const at::Tensor& attn, std::int64_t response_begin) {
  check(attn.defined() && attn.dim() == 3 && attn.size(1) == attn.size(2), "head span: expected maps [H, N, N]");
  const auto N = attn.size(1);
  check(response_begin >= 0 && response_begin < N, "head span: response begin {} outside [0, {})", response_begin, N);
  auto pos = torch::arange(N, torch::kDouble);
  auto dist = (pos.view({N, 1}) - pos.view({1, N})).clamp_min(0);  // [N, N]: t - s below the diagonal
  auto rows = (attn.detach().to(torch::kCPU, torch::kDouble) * dist).sum(-1);  // [H, N]
  return rows.narrow(1, response_begin, N - response_begin).mean(-1);
}

HeadGroups group_heads(const at::Tensor& spans, double fraction) {
  check(fraction > 0 && fraction <= 0.5, "head grouping: fraction {} outside (0, 0.5]", fraction);
  auto v = to_vector(spans);
  const auto K = static_cast<std::int64_t>(v.size());
  check(K >= 1, "head grouping: no heads");
  // Local and global never share a head when there are at least two heads.
  auto count = K >= 2 ? std::min(fraction_count(fraction, K), K / 2) : std::int64_t{1};
  std::vector<std::int64_t> order(K);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](auto a, auto b) { return v[a] < v[b]; });
  HeadGroups g;
  g.local.assign(order.begin(), order.begin() + count);
  // One ranking: global = the last `count` of the same ascending order (so equal spans never land in both).
  g.global.assign(order.end() - count, order.end());
  std::sort(g.local.begin(), g.local.end());
  std::sort(g.global.begin(), g.global.end());
  return g;
}

at::Tensor waad(const at::Tensor& aloc, std::int64_t response_begin, std::int64_t window) {
  check_square_map(aloc, response_begin, "WAAD");
  check(window >= 1, "WAAD: window must be >= 1 (got {})", window);
  const auto N = aloc.size(0);
  auto pos = torch::arange(N, torch::kDouble);
  auto dist = (pos.view({N, 1}) - pos.view({1, N})).clamp(0, static_cast<double>(window));
  auto rows = (aloc.detach().to(torch::kCPU, torch::kDouble) * dist).sum(-1);  // [N]
  return rows.narrow(0, response_begin, N - response_begin).clone();
}

at::Tensor fai(const at::Tensor& aglob, std::int64_t response_begin, std::int64_t fai_horizon_lo,
               std::int64_t fai_horizon_hi) {
  check_square_map(aglob, response_begin, "FAI");
  check(fai_horizon_lo >= 0 && fai_horizon_hi >= fai_horizon_lo, "FAI: horizon [{}, {}] must satisfy 0 <= lo <= hi",
        fai_horizon_lo, fai_horizon_hi);
  const auto N = aglob.size(0), R = N - response_begin;
  auto a = aglob.detach().to(torch::kCPU, torch::kDouble).contiguous();
  auto acc = a.accessor<double, 2>();
  auto out = torch::zeros({R}, torch::kDouble);
  auto o = out.accessor<double, 1>();
  for (std::int64_t s = response_begin; s < N; ++s) {
    const auto first = s + fai_horizon_lo;
    const auto last = std::min(N - 1, fai_horizon_hi >= N ? N - 1 : s + fai_horizon_hi);
    if (first > last) continue;  // empty T(s): FAI = 0 (METHOD.md §2 [ours])
    double sum = 0;
    for (auto t = first; t <= last; ++t) sum += acc[t][s];
    o[s - response_begin] = sum / static_cast<double>(last - first + 1);
  }
  return out;
}

at::Tensor waad_delta(const at::Tensor& w) {
  auto x = w.detach().to(torch::kCPU, torch::kDouble).contiguous().view({-1});
  auto out = torch::zeros_like(x);
  const auto R = x.numel();
  if (R >= 2) out.narrow(0, 0, R - 1).copy_((x.narrow(0, 0, R - 1) - x.narrow(0, 1, R - 1)).abs());
  return out;
}

at::Tensor find_peaks(const at::Tensor& x, std::int64_t radius, double top_fraction) {
  check(radius >= 0, "peaks: radius must be >= 0 (got {})", radius);
  check(top_fraction > 0 && top_fraction <= 1, "peaks: top fraction {} outside (0, 1]", top_fraction);
  auto v = to_vector(x);
  const auto R = static_cast<std::int64_t>(v.size());
  std::vector<std::int64_t> peaks;
  if (R > 0) {
    auto rank = std::clamp<std::int64_t>(static_cast<std::int64_t>(std::ceil(top_fraction * R - 1e-9)), 1, R);
    auto sorted = v;
    std::sort(sorted.begin(), sorted.end(), std::greater<double>());
    const double threshold = sorted[rank - 1];
    for (std::int64_t t = 0; t < R; ++t) {
      if (v[t] < threshold) continue;
      bool peak = true;
      // Strictly above the left neighbours (so a plateau counts once, at its first position), at least
      // the right ones.
      for (auto u = std::max<std::int64_t>(0, t - radius); u < t && peak; ++u) peak = v[t] > v[u];
      for (auto u = t + 1; u <= std::min(R - 1, t + radius) && peak; ++u) peak = v[t] >= v[u];
      if (peak) peaks.push_back(t);
    }
  }
  return torch::tensor(peaks, torch::kLong);
}

at::Tensor kurtosis(const at::Tensor& x) {
  check(x.defined() && x.dim() == 2, "kurtosis: expected [K, M]");
  auto d = x.detach().to(torch::kCPU, torch::kDouble);
  auto centred = d - d.mean(-1, true);
  auto m2 = centred.pow(2).mean(-1), m4 = centred.pow(4).mean(-1);
  auto scale = d.abs().amax(-1);
  // Constant rows (up to rounding) have no shape: 0.
  auto flat = m2 <= (scale * scale * 1e-24);
  return torch::where(flat, torch::zeros_like(m2), m4 / (m2 * m2).clamp_min(1e-300) - 3.0);
}

at::Tensor received_beyond_horizon(const at::Tensor& block, std::int64_t horizon_lo) {
  check(block.defined() && block.dim() == 3 && block.size(1) == block.size(2),
        "receiver heads: expected a [K, R, R] block");
  check(horizon_lo >= 0, "receiver heads: horizon start {} is negative", horizon_lo);
  // tril(-h) keeps block[k, t, j] with t - j >= h.
  return torch::tril(block.detach().to(torch::kCPU, torch::kDouble), -horizon_lo).sum(1);
}

at::Tensor receiver_key_means(const at::Tensor& sums, std::int64_t horizon_lo, std::int64_t min_rows) {
  check(sums.defined() && sums.dim() == 2, "receiver heads: expected [K, R] sums");
  check(horizon_lo >= 0 && min_rows >= 1, "receiver heads: horizon start {} / minimum rows {} out of range",
        horizon_lo, min_rows);
  const auto R = sums.size(1);
  const auto kept = std::max<std::int64_t>(0, R - horizon_lo - min_rows + 1);
  auto rows = static_cast<double>(R - horizon_lo) - torch::arange(kept, torch::kDouble);  // R - j - horizon_lo
  return sums.narrow(1, 0, kept).to(torch::kCPU, torch::kDouble) / rows;
}

std::vector<std::int64_t> receiver_heads(const at::Tensor& received, double fraction) {
  check(fraction > 0 && fraction <= 1, "receiver heads: fraction {} outside (0, 1]", fraction);
  check(received.defined() && received.dim() == 2, "receiver heads: expected [K, M]");
  if (received.size(1) < 2) return {};
  auto k = to_vector(kurtosis(received));
  const auto K = static_cast<std::int64_t>(k.size());
  check(K >= 1, "receiver heads: no heads");
  std::vector<std::int64_t> order(K);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](auto a, auto b) { return k[a] > k[b]; });
  std::vector<std::int64_t> out(order.begin(), order.begin() + fraction_count(fraction, K));
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace illume
