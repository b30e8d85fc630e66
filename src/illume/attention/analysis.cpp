#include "illume/attention/analysis.h"

#include <torch/torch.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>

#include "illume/attention/metrics.h"
#include "illume/util/error.h"
#include "illume/util/progress.h"

namespace illume {

namespace {

// Records, per observed layer and batch row, every head's attention inside the report's map window:
// [H, n, n] with n <= map_size. Small (layers x H x n^2 floats) and independent of the sequence length.
class WindowMapRecorder : public AttentionObserver {
 public:
  WindowMapRecorder(const std::vector<int>& layers, std::vector<std::int64_t> window_slot,
                    std::vector<std::int64_t> window_size)
      : layers_(layers.begin(), layers.end()), slot_(std::move(window_slot)), size_(std::move(window_size)) {}
  bool wants_layer(int layer) const override { return layers_.count(layer) > 0; }
  void on_block(const AttentionBlock& block) override {
    const auto& probs = *block.probs;  // [B, H, rows, keys]
    const auto rows = probs.size(2);
    for (std::size_t b = 0; b < slot_.size(); ++b) {
      const auto s0 = slot_[b], n = size_[b];
      if (n <= 0) continue;
      auto begin = std::max(block.query_begin, s0), end = std::min(block.query_begin + rows, s0 + n);
      if (begin >= end) continue;
      auto& map = maps_[{block.layer, static_cast<int>(b)}];
      if (!map.defined()) map = torch::zeros({probs.size(1), n, n}, torch::kFloat);
      map.narrow(1, begin - s0, end - begin)
          .copy_(probs[b].narrow(1, begin - block.query_begin, end - begin).narrow(2, s0, n).to(torch::kCPU));
    }
  }
  // Mean over the given (layer, head) pairs of row b's window maps: [n, n].
  at::Tensor group_mean(std::size_t b, const std::vector<HeadId>& heads) const {
    at::Tensor sum;
    for (const auto& h : heads) {
      auto it = maps_.find({h.layer, static_cast<int>(b)});
      if (it == maps_.end()) continue;
      sum = sum.defined() ? sum + it->second[h.head] : it->second[h.head].clone();
    }
    return sum.defined() ? sum / static_cast<double>(heads.size()) : sum;
  }

 private:
  std::set<int> layers_;
  std::vector<std::int64_t> slot_, size_;
  std::map<std::pair<int, int>, at::Tensor> maps_;
};

// Average-pools a square map to at most `cells` x `cells`.
at::Tensor downsample(const at::Tensor& map, std::int64_t cells) {
  auto n = map.size(0);
  if (n <= cells) return map;
  auto pooled = torch::adaptive_avg_pool2d(map.unsqueeze(0).unsqueeze(0), {cells, cells});
  return pooled[0][0];
}

Json matrix_json(const at::Tensor& m) {
  auto c = m.to(torch::kDouble).contiguous();
  Json rows = Json::array();
  auto a = c.accessor<double, 2>();
  for (std::int64_t i = 0; i < c.size(0); ++i) {
    Json row = Json::array();
    for (std::int64_t j = 0; j < c.size(1); ++j) row.push_back(a[i][j]);
    rows.push_back(std::move(row));
  }
  return rows;
}

// find_peaks gives ascending int64 positions [k].
std::vector<std::int64_t> positions_of(const at::Tensor& peaks) {
  auto idx = peaks.to(torch::kCPU, torch::kLong).contiguous();
  return std::vector<std::int64_t>(idx.data_ptr<std::int64_t>(), idx.data_ptr<std::int64_t>() + idx.numel());
}

template <typename T>
Json tensor_list(const at::Tensor& t) {
  auto c = t.to(torch::kDouble).contiguous();
  return Json(std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel()));
}

Json head_list(const std::vector<HeadId>& heads) {
  Json out = Json::array();
  for (const auto& h : heads) out.push_back({h.layer, h.head});
  return out;
}

// --grouping batch ranks the heads once over every response, not over one forward's rows: a first
// pass of head spans alone over all of them (pass 1 of a two-pass accumulator keeps nothing else), then
// the analysis proper with those heads as fixed lists. One more forward per batch of rows.
AttentionStatsConfig with_batch_head_groups(const Model& model, const std::vector<ResponseInput>& inputs,
                                            const AnalysisSettings& settings) {
  auto spans_only = settings.stats;
  spans_only.passes = 2;
  spans_only.find_receivers = false;
  std::vector<SequenceLayout> all;
  for (const auto& in : inputs)
    all.push_back({0, static_cast<std::int64_t>(in.prompt_ids.size()), static_cast<std::int64_t>(in.response_ids.size())});
  AttentionStatsAccumulator spans(spans_only, all);
  for (std::size_t begin = 0; begin < inputs.size(); begin += settings.batch_rows) {
    const auto end = std::min(inputs.size(), begin + static_cast<std::size_t>(settings.batch_rows));
    const auto B = static_cast<std::int64_t>(end - begin);
    // Right-padded rows (padding 0, the layouts above): causal attention never sees the pad slots.
    std::int64_t T = 0;
    for (auto i = begin; i < end; ++i) T = std::max<std::int64_t>(T, all[i].prompt_length + all[i].response_length);
    auto ids = torch::zeros({B, T}, torch::kLong), mask = torch::zeros({B, T}, torch::kLong);
    auto ia = ids.accessor<std::int64_t, 2>();
    for (std::int64_t r = 0; r < B; ++r) {
      const auto& in = inputs[begin + r];
      std::int64_t t = 0;
      for (auto id : in.prompt_ids) ia[r][t++] = id;
      for (auto id : in.response_ids) ia[r][t++] = id;
      mask[r].narrow(0, 0, t).fill_(1);
    }
    spans.select_sequences(static_cast<std::int64_t>(begin), B);
    model.forward_hidden(ids.to(model.device()), mask.to(model.device()), &spans);
  }
  spans.end_pass();  // ranks the summed spans of every response
  auto fixed = settings.stats;
  fixed.grouping = HeadGroupingScope::fixed;
  fixed.fixed_local = spans.local_heads(0);
  fixed.fixed_global = spans.global_heads(0);
  return fixed;
}

}  // namespace

std::vector<AnalyzedResponse> analyze_responses(const Model& model, const std::vector<ResponseInput>& inputs,
                                                const AnalysisSettings& settings, bool show_progress) {
  torch::NoGradGuard no_grad;
  const auto vocab = model.config().vocab_size;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const auto& in = inputs[i];
    check(!in.prompt_ids.empty(), "response {}: the prompt is empty (the first response token needs a context)", i + 1);
    check(!in.response_ids.empty(), "response {}: the response is empty", i + 1);
    for (auto id : in.prompt_ids)
      check(id >= 0 && id < vocab, "response {}: prompt id {} is outside the vocabulary ({})", i + 1, id, vocab);
    for (auto id : in.response_ids)
      check(id >= 0 && id < vocab, "response {}: response id {} is outside the vocabulary ({})", i + 1, id, vocab);
    auto total = static_cast<std::int64_t>(in.prompt_ids.size() + in.response_ids.size());
    check(total <= model.config().max_position_embeddings,
          "response {}: {} tokens exceed the model's max_position_embeddings ({})", i + 1, total,
          model.config().max_position_embeddings);
  }
  check(settings.map_size >= 1, "analysis: map size must be >= 1");
  check(settings.map_begin >= 0, "analysis: map begin must be >= 0");
  auto stats_config = settings.stats;
  if (stats_config.grouping == HeadGroupingScope::per_batch && !stats_config.all_heads &&
      inputs.size() > static_cast<std::size_t>(settings.batch_rows))
    stats_config = with_batch_head_groups(model, inputs, settings);
  std::vector<AnalyzedResponse> out(inputs.size());
  Progress progress("analyze", static_cast<std::int64_t>(inputs.size()), "seq", show_progress);
  const auto device = model.device();
  for (std::size_t begin = 0; begin < inputs.size(); begin += settings.batch_rows) {
    const auto end = std::min(inputs.size(), begin + static_cast<std::size_t>(settings.batch_rows));
    const auto B = static_cast<std::int64_t>(end - begin);
    std::int64_t T = 0;
    for (auto i = begin; i < end; ++i)
      T = std::max<std::int64_t>(T, inputs[i].prompt_ids.size() + inputs[i].response_ids.size());
    auto ids = torch::zeros({B, T}, torch::kLong), mask = torch::zeros({B, T}, torch::kLong);
    std::vector<SequenceLayout> layouts;
    std::vector<std::int64_t> window_slot, window_size;
    for (std::int64_t r = 0; r < B; ++r) {
      const auto& in = inputs[begin + r];
      const auto P = static_cast<std::int64_t>(in.prompt_ids.size()), R = static_cast<std::int64_t>(in.response_ids.size());
      const auto pad = T - P - R;
      auto ia = ids.accessor<std::int64_t, 2>();
      for (std::int64_t t = 0; t < P; ++t) ia[r][pad + t] = in.prompt_ids[t];
      for (std::int64_t t = 0; t < R; ++t) ia[r][pad + P + t] = in.response_ids[t];
      mask[r].narrow(0, pad, P + R).fill_(1);
      layouts.push_back({pad, P, R});
      window_slot.push_back(pad + P + settings.map_begin);
      window_size.push_back(std::min(settings.map_size, R - settings.map_begin));
    }
    AttentionStatsAccumulator stats(stats_config, layouts);
    WindowMapRecorder recorder(stats.layers(), window_slot, window_size);
    ObserverFanOut both({&stats, &recorder});
    at::Tensor entropy_rows;  // per row [R]
    for (int pass = 0; pass < stats.passes(); ++pass) {
      if (pass == 0) {
        auto hidden = model.forward_hidden(ids, mask, &both);  // [B, T, D]
        for (std::int64_t r = 0; r < B; ++r) {
          const auto& L = layouts[r];
          // Token j is predicted at slot padding + prompt + j - 1.
          auto h = hidden[r].narrow(0, L.padding + L.prompt_length - 1, L.response_length);
          std::vector<at::Tensor> parts;
          for (std::int64_t c = 0; c < L.response_length; c += 256) {
            auto logp = torch::log_softmax(model.logits(h.narrow(0, c, std::min<std::int64_t>(256, L.response_length - c))), -1);
            parts.push_back(-(logp.exp() * logp).nan_to_num(0.0).sum(-1).to(torch::kCPU, torch::kDouble));
          }
          out[begin + r].entropy = torch::cat(parts);
        }
      } else {
        model.forward_hidden(ids, mask, &stats);
      }
      stats.end_pass();
    }
    auto per_row = stats.finalize();
    for (std::int64_t r = 0; r < B; ++r) {
      auto& a = out[begin + r];
      a.stats = std::move(per_row[r]);
      a.preplan = positions_of(find_peaks(a.stats.waad, settings.peak_radius, settings.peak_top_fraction));
      a.anchor = positions_of(find_peaks(a.stats.fai, settings.peak_radius, settings.peak_top_fraction));
      // A response too short to score receivers (metrics.h receiver_key_means) has no receiver FAI.
      if (!a.stats.receiver_heads.empty())
        a.receiver_peaks = positions_of(find_peaks(a.stats.receiver_fai, settings.peak_radius, settings.peak_top_fraction));
      if (window_size[r] > 0) {
        auto local = recorder.group_mean(r, a.stats.local_heads);
        auto global = recorder.group_mean(r, a.stats.global_heads);
        if (local.defined() && global.defined()) {
          a.maps = {{"window_begin", settings.map_begin},
                    {"window_size", window_size[r]},
                    {"size", std::min<std::int64_t>(window_size[r], 256)},
                    {"local", matrix_json(downsample(local, 256))},
                    {"global", matrix_json(downsample(global, 256))}};
        }
      }
      progress.advance(1);
    }
    (void)device;
  }
  progress.finish();
  return out;
}

Json coupling_statistics(const std::vector<AnalyzedResponse>& responses, const AnalysisSettings& settings) {
  auto entry = [](double observed, double random, std::int64_t count, const std::string& what) {
    // lift as the paper reads it ("+51%": 0.3608 vs 0.2386 is lift 0.51); ratio = observed / random.
    return Json{{"observed", observed}, {"random", random}, {"lift", random > 0 ? (observed - random) / random : 0.0},
                {"ratio", random > 0 ? observed / random : 0.0}, {"count", count}, {"description", what}};
  };
  // 1. Entropy at WAAD peaks (preplan tokens) vs all response tokens.
  double peak_entropy = 0, all_entropy = 0;
  std::int64_t peak_count = 0, token_count = 0;
  // 2. Receiver-head FAI peaks that are also global-head FAI peaks vs the global peak rate.
  std::int64_t receiver_peaks = 0, receiver_hits = 0, global_peaks = 0;
  // 3. FAI peaks at or one after a WAAD peak vs FAI peak positions shuffled (same count).
  std::int64_t anchors = 0, anchors_after = 0;
  double shuffled_hits = 0;
  std::mt19937_64 rng(settings.seed);
  for (const auto& r : responses) {
    const auto R = r.entropy.size(0);
    auto ent = r.entropy.accessor<double, 1>();
    for (std::int64_t t = 0; t < R; ++t) all_entropy += ent[t];
    token_count += R;
    for (auto t : r.preplan) peak_entropy += ent[t];
    peak_count += static_cast<std::int64_t>(r.preplan.size());
    std::vector<char> is_anchor(R, 0), is_preplan(R, 0);
    for (auto t : r.anchor) is_anchor[t] = 1;
    for (auto t : r.preplan) is_preplan[t] = 1;
    for (auto t : r.receiver_peaks) receiver_hits += is_anchor[t];
    receiver_peaks += static_cast<std::int64_t>(r.receiver_peaks.size());
    global_peaks += static_cast<std::int64_t>(r.anchor.size());
    auto near_preplan = [&](std::int64_t t) { return is_preplan[t] || (t > 0 && is_preplan[t - 1]); };
    for (auto t : r.anchor) anchors_after += near_preplan(t) ? 1 : 0;
    anchors += static_cast<std::int64_t>(r.anchor.size());
    if (!r.anchor.empty()) {
      std::vector<std::int64_t> positions(R);
      for (std::int64_t t = 0; t < R; ++t) positions[t] = t;
      std::int64_t hits = 0;
      for (std::int64_t s = 0; s < settings.shuffles; ++s) {
        std::shuffle(positions.begin(), positions.end(), rng);
        for (std::size_t k = 0; k < r.anchor.size(); ++k) hits += near_preplan(positions[k]) ? 1 : 0;
      }
      shuffled_hits += double(hits) / double(std::max<std::int64_t>(1, settings.shuffles));
    }
  }
  auto ratio = [](double a, double b) { return b > 0 ? a / b : 0.0; };
  Json out;
  out["entropy_at_preplan"] =
      entry(ratio(peak_entropy, double(peak_count)), ratio(all_entropy, double(token_count)), peak_count,
            "mean entropy at WAAD peaks (observed) vs at all response tokens (random); paper: 0.3608 vs 0.2386");
  out["receiver_global_cooccurrence"] =
      entry(ratio(double(receiver_hits), double(receiver_peaks)), ratio(double(global_peaks), double(token_count)),
            receiver_peaks,
            "share of receiver-head FAI peaks that are global-head FAI peaks (observed) vs the share of tokens that "
            "are global FAI peaks (random); paper: 60.84% vs 22.41%");
  out["fai_after_waad"] = entry(ratio(double(anchors_after), double(anchors)), ratio(shuffled_hits, double(anchors)),
                                anchors,
                                "share of FAI peaks at or one after a WAAD peak (observed) vs with FAI peak positions "
                                "shuffled (random); paper: 52.53% vs 36.87%");
  out["responses"] = responses.size();
  out["response_tokens"] = token_count;
  return out;
}

Json response_metrics_json(const ResponseInput& input, const AnalyzedResponse& a, const std::vector<int>& layers) {
  Json spans = Json::array();
  for (std::int64_t l = 0; l < a.stats.head_span.size(0); ++l) spans.push_back(tensor_list<double>(a.stats.head_span[l]));
  return {{"prompt_ids", input.prompt_ids},
          {"response_ids", input.response_ids},
          {"waad", tensor_list<double>(a.stats.waad)},
          {"fai", tensor_list<double>(a.stats.fai)},
          {"delta", tensor_list<double>(a.stats.delta)},
          {"entropy", tensor_list<double>(a.entropy)},
          {"receiver_fai", tensor_list<double>(a.stats.receiver_fai)},
          {"preplan", a.preplan},
          {"anchor", a.anchor},
          {"layers", layers},
          {"head_span", spans},
          {"local_heads", head_list(a.stats.local_heads)},
          {"global_heads", head_list(a.stats.global_heads)},
          {"receiver_heads", head_list(a.stats.receiver_heads)}};
}

}  // namespace illume
