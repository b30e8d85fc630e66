#include "illume/attention/reference.h"

#include <torch/torch.h>

#include <algorithm>

#include "illume/attention/metrics.h"
#include "illume/util/error.h"

namespace illume {

FullMapRecorder::FullMapRecorder(std::vector<int> layers) : layers_(std::move(layers)) {}

bool FullMapRecorder::wants_layer(int layer) const {
  return std::find(layers_.begin(), layers_.end(), layer) != layers_.end();
}

void FullMapRecorder::on_block(const AttentionBlock& block) {
  const auto& p = *block.probs;  // [B, H, rows, keys]
  auto& map = maps_[block.layer];
  if (!map.defined()) map = torch::zeros({p.size(0), p.size(1), p.size(3), p.size(3)}, torch::kFloat);
  map.narrow(2, block.query_begin, p.size(2)).copy_(p.to(torch::kCPU, torch::kFloat));
}

std::vector<at::Tensor> FullMapRecorder::maps() const {
  std::vector<at::Tensor> out;
  for (int l : layers_) {
    auto it = maps_.find(l);
    out.push_back(it == maps_.end() ? at::Tensor() : it->second);
  }
  return out;
}

std::int64_t FullMapRecorder::bytes() const {
  std::int64_t n = 0;
  for (const auto& [l, m] : maps_) n += m.numel() * static_cast<std::int64_t>(m.element_size());
  return n;
}

std::vector<SequenceAttentionStats> reference_attention_stats(const std::vector<at::Tensor>& layer_maps,
                                                              const std::vector<SequenceLayout>& layouts,
                                                              const AttentionStatsConfig& config) {
  validate_attention_config(config);
  check(layer_maps.size() == config.layers.size(), "reference statistics: {} maps for {} layers", layer_maps.size(),
        config.layers.size());
  const auto Lo = static_cast<std::int64_t>(config.layers.size());
  const auto H = layer_maps[0].size(1);
  const auto B = static_cast<std::int64_t>(layouts.size());
  // maps[b]: [layers * H, N, N] over the sequence's own positions (padding cut off), float64.
  std::vector<at::Tensor> maps(B);
  std::vector<at::Tensor> spans(B);  // [layers, H]
  for (std::int64_t b = 0; b < B; ++b) {
    const auto& L = layouts[b];
    const auto N = L.prompt_length + L.response_length;
    std::vector<at::Tensor> per_layer;
    for (const auto& m : layer_maps) per_layer.push_back(m[b].narrow(1, L.padding, N).narrow(2, L.padding, N));
    maps[b] = torch::cat(per_layer, 0).to(torch::kDouble);  // [layers*H, N, N]
    spans[b] = head_span(maps[b], L.prompt_length).view({Lo, H});
  }
  auto ids = [&](const std::vector<std::int64_t>& flat) {
    std::vector<HeadId> out;
    for (auto f : flat) out.push_back({config.layers[f / H], static_cast<int>(f % H)});
    return out;
  };
  auto flat = [&](const std::vector<HeadId>& list) {
    std::vector<std::int64_t> out;
    for (const auto& h : list)
      out.push_back((std::find(config.layers.begin(), config.layers.end(), h.layer) - config.layers.begin()) * H + h.head);
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  };
  auto group_map = [&](const at::Tensor& m, const std::vector<std::int64_t>& list) {
    auto idx = torch::tensor(list, torch::kLong);
    return m.index_select(0, idx).mean(0);  // [N, N]
  };
  HeadGroups batch_groups;
  if (config.all_heads) {
    for (std::int64_t f = 0; f < Lo * H; ++f) batch_groups.local.push_back(f);
    batch_groups.global = batch_groups.local;
  } else if (config.grouping == HeadGroupingScope::per_batch) {
    auto total = torch::zeros({Lo, H}, torch::kDouble);
    for (auto& s : spans) total += s;
    batch_groups = group_heads(total.view({-1}), config.group_fraction);
  } else if (config.grouping == HeadGroupingScope::fixed) {
    batch_groups = {flat(config.fixed_local), flat(config.fixed_global)};
  }
  std::vector<SequenceAttentionStats> out(B);
  for (std::int64_t b = 0; b < B; ++b) {
    const auto& L = layouts[b];
    const auto P = L.prompt_length, R = L.response_length, N = P + R;
    auto groups = config.grouping == HeadGroupingScope::per_sequence && !config.all_heads
                      ? group_heads(spans[b].view({-1}), config.group_fraction)
                      : batch_groups;
    auto& o = out[b];
    o.head_span = spans[b];
    o.local_heads = ids(groups.local);
    o.global_heads = ids(groups.global);
    o.waad = waad(group_map(maps[b], groups.local), P, config.window);
    o.fai = fai(group_map(maps[b], groups.global), P, config.fai_horizon_lo, config.fai_horizon_hi);
    o.delta = waad_delta(o.waad);
    o.receiver_fai = torch::zeros({R}, torch::kDouble);
    if (config.find_receivers) {
      // Per-key mean received attention from the rows at least receiver_horizon_lo after the key: [K, M].
      auto block = maps[b].narrow(1, P, R).narrow(2, P, R);  // response rows x response keys
      auto received = receiver_key_means(received_beyond_horizon(block, config.receiver_horizon_lo),
                                         config.receiver_horizon_lo, config.receiver_min_rows);
      auto receivers = receiver_heads(received, config.receiver_fraction);
      o.receiver_heads = ids(receivers);
      if (!receivers.empty())
        o.receiver_fai = fai(group_map(maps[b], receivers), P, config.fai_horizon_lo, config.fai_horizon_hi);
    }
    (void)N;
  }
  return out;
}

}  // namespace illume
