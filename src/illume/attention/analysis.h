// The analysis of METHOD.md §1-3 over a set of responses: one forward of prompt + response per batch
// with the streaming statistics attached (no L x L maps), per-token entropy, preplan and anchor
// tokens, the coupling statistics of the paper's Table 2, and the data of report.html.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "illume/attention/streaming.h"
#include "illume/model/model.h"
#include "illume/util/json.h"

namespace illume {

struct AnalysisSettings {
  AttentionStatsConfig stats;            // layers, W, FAI horizon, head fraction, grouping, passes
  std::int64_t peak_radius = 2;          // §3 [ours]: local maximum within +-2
  double peak_top_fraction = 0.2;        // §3 [ours]: and in the top 20% of the response
  std::int64_t map_begin = 0;            // report: first response position of the averaged-map window
  std::int64_t map_size = 128;           // report: window length (positions); maps are at most 256 x 256
  std::int64_t batch_rows = 4;           // sequences per forward
  std::uint64_t seed = 0;                // shuffled baselines and the bootstrap
  std::int64_t shuffles = 200;           // shuffles for the FAI-after-WAAD baseline
  std::int64_t bootstrap = 1000;         // resamples of the responses for each statistic's 95% interval (0: none)
  // report: per-head maps (the report's head selector) for the first this many responses, pooled to
  // at most head_map_cells per side and head_map_values numbers per response in all (layers x H maps:
  // 18 heads of the default model keep 96 x 96, 160 heads of Qwen3-4B 39 x 39); none under 8 x 8.
  std::int64_t head_map_responses = 2;
  std::int64_t head_map_cells = 96;
  std::int64_t head_map_values = 250000;
};

struct ResponseInput {
  std::vector<std::int32_t> prompt_ids, response_ids;
};

struct AnalyzedResponse {
  SequenceAttentionStats stats;
  at::Tensor entropy;                    // [R] float64: entropy (nats) of the distribution that produced token j
  std::vector<std::int64_t> preplan;     // WAAD peaks (response positions)
  std::vector<std::int64_t> anchor;      // FAI peaks
  std::vector<std::int64_t> receiver_peaks;  // peaks of the receiver-head FAI
  Json maps;                             // {"window_begin", "window_size", "size", "local", "global",
                                         //  "heads": {"size", "ids", "maps"} (first responses)} or null
};

// Fails with a clear message on empty responses, ids outside the vocabulary, or sequences longer
// than the model's max_position_embeddings.
std::vector<AnalyzedResponse> analyze_responses(const Model& model, const std::vector<ResponseInput>& inputs,
                                                const AnalysisSettings& settings, bool show_progress = false);

// Table 2 over all responses (pooled): each entry {"observed", "random", "lift", "ratio", "count"} plus a
// description; lift = (observed - random) / random (the paper's "+51%" is lift 0.51), ratio = observed /
// random (both 0 when random is 0). With settings.bootstrap = B > 0 each entry also has "bootstrap": B,
// "lift_ci", "observed_ci" and "ratio_ci" ([lo, hi], the percentile 95% interval over B resamples of the
// responses; null when no resample defines the statistic) and "verdict": "above chance" when lift_ci
// lies above 0, "below chance" when below, "not detected" when it includes 0.
Json coupling_statistics(const std::vector<AnalyzedResponse>& responses, const AnalysisSettings& settings);

// ---- the percentile bootstrap (pure functions) ----
struct Interval {
  double lo = 0, hi = 0;
};

// The central `level` interval of a sample: its (1 - level)/2 and (1 + level)/2 quantiles, each by
// linear interpolation between order statistics (R's type 7: position q * (n - 1) of the sorted
// sample). Fails on an empty sample or a level outside (0, 1).
Interval percentile_interval(std::vector<double> sample, double level = 0.95);

// The percentile bootstrap over n units (Efron & Tibshirani 1993, ch. 13): `resamples` times, draw n
// units with replacement (SplitMix64(seed), util/random.h: the same draws on every platform), and
// evaluate statistic(weights), weights[i] = how often unit i was drawn (so a pooled statistic is a
// weighted sum). Non-finite values (a resample where the statistic is undefined) are dropped; the
// interval of the rest, or nullopt when none remain. n = 0 or resamples = 0 give nullopt.
std::optional<Interval> bootstrap_interval(std::size_t n,
                                           const std::function<double(const std::vector<std::uint32_t>&)>& statistic,
                                           std::int64_t resamples, std::uint64_t seed, double level = 0.95);

// The tokens_metrics.jsonl row of one response.
Json response_metrics_json(const ResponseInput& input, const AnalyzedResponse& analyzed,
                           const std::vector<int>& layers);

}  // namespace illume
