// The analysis of METHOD.md §1-3 over a set of responses: one forward of prompt + response per batch
// with the streaming statistics attached (no L x L maps), per-token entropy, preplan and anchor
// tokens, the coupling statistics of the paper's Table 2, and the data of report.html.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
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
  std::uint64_t seed = 0;                // shuffled baselines
  std::int64_t shuffles = 200;           // shuffles for the FAI-after-WAAD baseline
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
  Json maps;                             // {"window_begin", "window_size", "size", "local", "global"} or null
};

// Fails with a clear message on empty responses, ids outside the vocabulary, or sequences longer
// than the model's max_position_embeddings.
std::vector<AnalyzedResponse> analyze_responses(const Model& model, const std::vector<ResponseInput>& inputs,
                                                const AnalysisSettings& settings, bool show_progress = false);

// Table 2 over all responses (pooled): each entry {"observed", "random", "lift", "ratio", "count"} plus a
// description; lift = (observed - random) / random (the paper's "+51%" is lift 0.51), ratio = observed /
// random (both 0 when random is 0).
Json coupling_statistics(const std::vector<AnalyzedResponse>& responses, const AnalysisSettings& settings);

// The tokens_metrics.jsonl row of one response.
Json response_metrics_json(const ResponseInput& input, const AnalyzedResponse& analyzed,
                           const std::vector<int>& layers);

}  // namespace illume
