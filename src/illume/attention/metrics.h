// Pure metric functions of METHOD.md §1-3 (tensors in, tensors out; no model, no state). The
// streaming accumulator (streaming.h) computes the same quantities without materialising maps; the
// plain reference (reference.h) composes these functions on full maps and is what tests compare to.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace illume {

// A query head of a decoder layer.
struct HeadId {
  int layer = 0;
  int head = 0;
  friend bool operator==(const HeadId& a, const HeadId& b) { return a.layer == b.layer && a.head == b.head; }
  friend bool operator<(const HeadId& a, const HeadId& b) {
    return a.layer != b.layer ? a.layer < b.layer : a.head < b.head;
  }
};

// "L:H" (the CLI's --local-heads 12:3,15:0 and a recipe's attention.local_heads: ["12:3", "15:0"]).
std::string head_name(const HeadId& head);
// "12:3,15:0" or one "12:3" -> heads, in the order given. Fails (illume::Error) naming the item that is
// not "layer:head" with two non-negative integers; callers prefix the flag or key.
std::vector<HeadId> parse_head_list(const std::string& text);

// FAI horizon "to the end of the response".
inline constexpr std::int64_t kHorizonToEnd = std::numeric_limits<std::int64_t>::max() / 4;

// METHOD.md §1 [ours]: 0-based round(linspace(floor(L/3), floor(2L/3), count)), deduplicated.
// L = 36 -> {12, 15, 18, 21, 24}. Fails on num_layers < 1 or count < 1.
std::vector<int> middle_third_layers(int num_layers, int count = 5);

// Head span of every head from full maps. attn: [H, N, N] row-stochastic causal maps of one sequence
// (rows/cols 0..N-1 are positions); the response is positions [response_begin, N).
// d(h) = mean over response rows t of sum_s A[t,s] * (t - s). Returns [H] float64.
at::Tensor head_span(const at::Tensor& attn, std::int64_t response_begin);

// Quantile grouping: indices of the `fraction` lowest-span heads (local) and highest-span (global).
// Count = max(1, round(fraction * K)) each (at most K/2 when K >= 2, so the groups never overlap); one
// stable ascending ranking (ties by index): local = its first heads, global = its last. Indices ascending.
// spans: [K].
struct HeadGroups {
  std::vector<std::int64_t> local, global;
};
HeadGroups group_heads(const at::Tensor& spans, double fraction = 0.3);

// WAAD over response rows from a group map aloc [N, N]: WAAD[j] = sum_s aloc[t,s] * min(t-s, W),
// t = response_begin + j. Returns [R] float64.
at::Tensor waad(const at::Tensor& aloc, std::int64_t response_begin, std::int64_t window);

// FAI over response columns from a group map aglob [N, N] (METHOD.md §2): for s in the response,
// T(s) = {t in response: s + fai_horizon_lo <= t <= min(N-1, s + fai_horizon_hi)}, FAI = mean of
// aglob[t,s] over T(s), 0 when T(s) is empty. fai_horizon_lo = 0 puts t = s itself in T(s) (the
// paper's H_lo ablation); fai_horizon_hi may be kHorizonToEnd. Returns [R] float64.
// FAI := 0 on an empty T(s) (the last fai_horizon_lo tokens) is a placeholder, not a measurement: nothing
// after them can attend to them. FAI-based selection (rl/credit.h: global, coupled) therefore ranks only
// the tokens with a non-empty T(s), and counts its fraction q of those.
at::Tensor fai(const at::Tensor& aglob, std::int64_t response_begin, std::int64_t fai_horizon_lo,
               std::int64_t fai_horizon_hi);

// Delta[t] = |WAAD[t] - WAAD[t+1]|, 0 at the last token. [R] -> [R].
at::Tensor waad_delta(const at::Tensor& waad);

// Peaks (METHOD.md §3 [ours]): positions t with x[t] >= x[u] for all |u - t| <= radius (inside the
// sequence) and x[t] among the top `top_fraction` of values (x[t] >= the value at rank
// ceil(top_fraction * R)). Plateaus give their first position only. Returns ascending int64 [k].
at::Tensor find_peaks(const at::Tensor& x, std::int64_t radius = 2, double top_fraction = 0.2);

// Excess kurtosis of each row of x [K, M] (population moments); 0 for constant rows. [K] float64.
at::Tensor kurtosis(const at::Tensor& x);

// Receiver heads (METHOD.md §3 [ours]): heads whose received attention is concentrated on a few keys.
// A key is scored only from rows at least `horizon_lo` after it: averaged over every later row
// (diagonal included), a previous-token head would score key j ~1/(R-j) -- a spike at the last keys,
// hence a high kurtosis -- although it concentrates nothing (issue 11).
//
// received_beyond_horizon: block [K, R, R] (head, response row t, response key j) -> [K, R] float64,
// sum over rows t >= j + horizon_lo of block[k, t, j].
at::Tensor received_beyond_horizon(const at::Tensor& block, std::int64_t horizon_lo);
// The per-key mean of those sums: key j over its R - j - horizon_lo rows. Keys scored from fewer than
// min_rows rows (the last ones: a mean over one or two rows is noise) are dropped: [K, R] -> [K, M],
// M = max(0, R - horizon_lo - min_rows + 1), keys 0 .. M-1.
at::Tensor receiver_key_means(const at::Tensor& sums, std::int64_t horizon_lo, std::int64_t min_rows);
// The `fraction` (>= 1 head) of heads with the highest kurtosis of their per-key mean received
// attention. received: [K, M] (head k, key). No heads when M < 2 (no distribution to measure).
// Returns head indices, ascending.
std::vector<std::int64_t> receiver_heads(const at::Tensor& received, double fraction = 0.1);

}  // namespace illume
