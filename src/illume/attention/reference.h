// The plain reference of the attention statistics (METHOD.md §1-2): it materialises every observed
// map and composes the pure metric functions of metrics.h. Used only by tests (streaming == reference)
// and by the benchmark (its memory is what the streaming accumulator avoids).
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <vector>

#include "illume/attention/streaming.h"

namespace illume {

// Records the full maps of the chosen layers during a forward: per layer [B, H, T, T] float32 (query
// slot x key slot). Memory: layers x B x H x T^2 floats -- exactly what the streaming path never holds.
class FullMapRecorder : public AttentionObserver {
 public:
  explicit FullMapRecorder(std::vector<int> layers);
  bool wants_layer(int layer) const override;
  void on_block(const AttentionBlock& block) override;
  // The maps in the order of `layers` (undefined for a layer the forward did not show).
  std::vector<at::Tensor> maps() const;
  std::int64_t bytes() const;

 private:
  std::vector<int> layers_;
  std::map<int, at::Tensor> maps_;
};

// Reference statistics from full maps. layer_maps: one [B, H, T, T] tensor per config.layers entry, in
// that order, in the forward's slot layout; layouts as for the accumulator. Same config semantics
// (grouping scope, all heads, receivers); `passes` is irrelevant here. per_batch ranks over all the
// layouts given: one forward of the whole batch, the one-shot view of what the accumulator gathers
// over several forwards (select_sequences).
std::vector<SequenceAttentionStats> reference_attention_stats(const std::vector<at::Tensor>& layer_maps,
                                                              const std::vector<SequenceLayout>& layouts,
                                                              const AttentionStatsConfig& config);

}  // namespace illume
