// Streaming attention statistics (METHOD.md §1-2): an AttentionObserver that, during an ordinary
// forward over prompt + response, keeps only running sums per sequence, so no L x L map is ever held.
// Per observed layer and query head: the span numerator sum_t sum_s A[t,s](t-s) over response rows;
// per head: the W diagonals nearest the main one (for WAAD) and the column sums over the FAI horizon
// band (for FAI), and the per-key received attention for receiver heads. Heads are grouped once the
// spans are known (at finalize, or between passes when passes == 2).
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "illume/attention/metrics.h"
#include "illume/model/attention_observer.h"

namespace illume {

// Which heads form the local and global groups (METHOD.md §1 [ours]: per sequence, also per batch and
// a fixed list):
//   per_sequence  rank every sequence's heads by its own spans (the default);
//   per_batch     rank once by the spans summed over every sequence the accumulator holds (all of them,
//                 across as many forwards as select_sequences splits them into: the whole rollout batch);
//   fixed         the lists fixed_local / fixed_global (e.g. from a calibration run), no ranking.
enum class HeadGroupingScope { per_sequence, per_batch, fixed };

// "sequence" | "batch" | "fixed", the names of recipes, flags and summary.json.
const char* grouping_name(HeadGroupingScope scope);
// Fails (illume::Error) on another name.
HeadGroupingScope parse_grouping(const std::string& name);

struct AttentionStatsConfig {
  std::vector<int> layers;                 // 0-based decoder layers to observe
  // W of WAAD, >= 1. Any W works (a W beyond the keys reads no more than W = keys, see
  // waad_window); recipes and flags bound it by kMaxAttentionWindow to catch typos.
  std::int64_t window = 10;
  // H_lo, >= 0. 0 (the paper's ablation) puts t = s itself in T(s): a token's FAI then counts the
  // attention it receives from its own row, which every head gives to some degree.
  std::int64_t fai_horizon_lo = 10;
  std::int64_t fai_horizon_hi = 100;       // H_hi or kHorizonToEnd
  double group_fraction = 0.3;             // local = bottom fraction by span, global = top fraction
  HeadGroupingScope grouping = HeadGroupingScope::per_sequence;
  std::vector<HeadId> fixed_local, fixed_global;  // for HeadGroupingScope::fixed (ignored otherwise)
  // The paper's all-heads ablation (METHOD.md §1: targeted groups 39.2 vs all-heads averaging 36.5):
  // WAAD and FAI from the mean of every head of the layers, local = global = all heads; spans and
  // receivers are still computed. Not with fixed grouping (the lists would be ignored).
  bool all_heads = false;
  int passes = 1;                          // 1: keep every head's sums; 2: pass 1 spans, pass 2 group sums
  bool find_receivers = false;             // also receiver heads + their FAI (analysis only)
  double receiver_fraction = 0.1;
  // Receiver scoring (metrics.h receiver_key_means): key j is scored from rows t >= j + this, its own
  // horizon, not fai_horizon_lo: the analysis uses H_lo = 1 for FAI, which would still let a
  // previous-token head score key j from row j + 1. 10 = the RL H_lo of METHOD.md §4.
  std::int64_t receiver_horizon_lo = 10;
  // Keys scored from fewer rows than this (the last ones) are left out of the kurtosis.
  std::int64_t receiver_min_rows = 10;
};

// The largest W a recipe or flag accepts (attention.window, --window): far beyond any response, and a
// 10^9 typo is refused in one line rather than silently meaning "the whole sequence".
inline constexpr std::int64_t kMaxAttentionWindow = std::int64_t{1} << 24;

// The window WAAD reads over a block of `keys` keys: min(window, keys). A distance t - s never
// exceeds keys - 1, so min(t - s, W) is the same for every W >= keys; the clamp keeps the [h, m, W]
// diagonal gather as small as the sequence (W = 10^9 on a 3-token response used to allocate
// gigabytes) with identical results.
std::int64_t waad_window(std::int64_t window, std::int64_t keys);

// RL defaults (METHOD.md §4): middle-third 5 layers, W = 10, H = [10, 100].
AttentionStatsConfig rl_attention_config(int num_layers);
// Analysis defaults (§2-3): same layers, W = 10, H = [1, end], receivers on.
AttentionStatsConfig analysis_attention_config(int num_layers);

// Fails (illume::Error) on an invalid config (the checks of the accumulator's constructor).
void validate_attention_config(const AttentionStatsConfig& config);
// Fails with "layer N is beyond the model (M layers)" when a layer is not in [0, num_layers).
void validate_layers(const AttentionStatsConfig& config, int num_layers);

// Where a sequence sits in the forward's [B, T] layout: `padding` left-pad slots, then the prompt,
// then the response (padding + prompt_length + response_length <= T).
struct SequenceLayout {
  std::int64_t padding = 0;
  std::int64_t prompt_length = 0;
  std::int64_t response_length = 0;
};

struct SequenceAttentionStats {
  at::Tensor head_span;        // [layers, H] float64 (d(l,h) over this sequence's response rows)
  std::vector<HeadId> local_heads, global_heads, receiver_heads;
  at::Tensor waad;             // [R] float64
  at::Tensor fai;              // [R] float64
  at::Tensor delta;            // [R] float64
  at::Tensor receiver_fai;     // [R] float64 (FAI of the receiver-head group; zeros when not computed)
};

class AttentionStatsAccumulator : public AttentionObserver {
 public:
  // Fails (illume::Error) on invalid config: window < 1, fai_horizon_lo < 0 or fai_horizon_hi < fai_horizon_lo,
  // group_fraction outside (0, 0.5], passes not 1 or 2, empty layers, negative layout values, empty responses.
  // `layouts`: every sequence the statistics cover; a forward shows all of them (rows in order) unless
  // select_sequences says which.
  AttentionStatsAccumulator(AttentionStatsConfig config, std::vector<SequenceLayout> layouts);
  ~AttentionStatsAccumulator() override;
  // Move-only: the running sums are owned once (a copy would share them and free them twice).
  AttentionStatsAccumulator(AttentionStatsAccumulator&&) noexcept;
  AttentionStatsAccumulator& operator=(AttentionStatsAccumulator&&) noexcept;
  AttentionStatsAccumulator(const AttentionStatsAccumulator&) = delete;
  AttentionStatsAccumulator& operator=(const AttentionStatsAccumulator&) = delete;

  bool wants_layer(int layer) const override;
  void on_block(const AttentionBlock& block) override;

  // The next forwards' batch rows 0 .. count-1 are sequences first .. first+count-1 (their layouts in
  // that forward's slots). Lets one accumulator span a batch too large for one forward (micro-batches),
  // so per_batch grouping ranks the heads over all of it. Each sequence must be shown once per pass.
  void select_sequences(std::int64_t first, std::int64_t count);

  const std::vector<int>& layers() const;
  int passes() const;
  // Call after each forward; with passes == 2 the first call groups the heads.
  void end_pass();
  // After all passes: one entry per layout, in order.
  std::vector<SequenceAttentionStats> finalize();
  // Sequence i's groups, once the heads are grouped (end_pass of pass 1 with passes == 2, or finalize).
  std::vector<HeadId> local_heads(std::size_t sequence) const;
  std::vector<HeadId> global_heads(std::size_t sequence) const;
  // Bytes held by the running sums (all sequences): linear in the response lengths.
  std::int64_t bytes() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace illume
