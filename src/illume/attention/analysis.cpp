#include "illume/attention/analysis.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>

#include "illume/attention/metrics.h"
#include "illume/util/error.h"
#include "illume/util/progress.h"
#include "illume/util/random.h"

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
  // Every recorded head of row b, layer by layer in the observer's order: ids and [n, n] maps.
  std::pair<std::vector<HeadId>, std::vector<at::Tensor>> heads_of_row(std::size_t b, const std::vector<int>& layers) const {
    std::vector<HeadId> ids;
    std::vector<at::Tensor> maps;
    for (int layer : layers) {
      auto it = maps_.find({layer, static_cast<int>(b)});
      if (it == maps_.end()) continue;
      for (std::int64_t h = 0; h < it->second.size(0); ++h) {
        ids.push_back({layer, static_cast<int>(h)});
        maps.push_back(it->second[h]);
      }
    }
    return {ids, maps};
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
  check(settings.head_map_responses >= 0 && settings.head_map_cells >= 0 && settings.head_map_values >= 0,
        "analysis: per-head map responses, cells and values must be >= 0");
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
          // Per-head maps for the report's head selector: only the first responses, and coarser (their
          // size grows with layers x heads: at most head_map_values numbers per response).
          if (static_cast<std::int64_t>(begin) + r < settings.head_map_responses) {
            auto [ids, maps] = recorder.heads_of_row(r, stats.layers());
            const auto fit = ids.empty() ? 0
                                         : static_cast<std::int64_t>(std::sqrt(
                                               double(settings.head_map_values) / double(ids.size())));
            const auto cells = std::min({settings.head_map_cells, fit, window_size[r]});
            if (cells >= 8) {
              Json id_list = Json::array(), map_list = Json::array();
              for (std::size_t k = 0; k < ids.size(); ++k) {
                id_list.push_back({ids[k].layer, ids[k].head});
                map_list.push_back(matrix_json(downsample(maps[k], cells)));
              }
              a.maps["heads"] = {{"size", cells}, {"ids", id_list}, {"maps", map_list}};
            }
          }
        }
      }
      progress.advance(1);
    }
    (void)device;
  }
  progress.finish();
  return out;
}

namespace {

// The sums of one response that the Table 2 rows pool (weighted by a bootstrap resample's counts).
struct CouplingCounts {
  // 1. Entropy at WAAD peaks vs at all response tokens.
  double peak_entropy = 0, all_entropy = 0, peak_count = 0, token_count = 0;
  // 2. Receiver-head FAI peaks that are also global-head FAI peaks vs the global peak rate.
  double receiver_peaks = 0, receiver_hits = 0, global_peaks = 0;
  // 3. FAI peaks at or one after a WAAD peak vs the same count of positions shuffled (expected hits).
  double anchors = 0, anchors_after = 0, shuffled_hits = 0;

  void add(const CouplingCounts& o, double weight) {
    peak_entropy += weight * o.peak_entropy, all_entropy += weight * o.all_entropy;
    peak_count += weight * o.peak_count, token_count += weight * o.token_count;
    receiver_peaks += weight * o.receiver_peaks, receiver_hits += weight * o.receiver_hits;
    global_peaks += weight * o.global_peaks;
    anchors += weight * o.anchors, anchors_after += weight * o.anchors_after;
    shuffled_hits += weight * o.shuffled_hits;
  }
};

// The analysis's random streams, each seeded from AnalysisSettings::seed (SplitMix64: portable).
enum class AnalysisStream : std::uint64_t { Shuffle = 1, Bootstrap = 2 };
std::uint64_t stream_seed(std::uint64_t seed, AnalysisStream stream) {
  SplitMix64 mix(seed ^ (static_cast<std::uint64_t>(stream) * 0xD1B54A32D192ED03ULL));
  return mix.next();
}

CouplingCounts response_counts(const AnalyzedResponse& r, std::int64_t shuffles, SplitMix64& rng) {
  CouplingCounts c;
  const auto R = r.entropy.size(0);
  auto ent = r.entropy.accessor<double, 1>();
  for (std::int64_t t = 0; t < R; ++t) c.all_entropy += ent[t];
  c.token_count = static_cast<double>(R);
  for (auto t : r.preplan) c.peak_entropy += ent[t];
  c.peak_count = static_cast<double>(r.preplan.size());
  std::vector<char> is_anchor(R, 0), is_preplan(R, 0);
  for (auto t : r.anchor) is_anchor[t] = 1;
  for (auto t : r.preplan) is_preplan[t] = 1;
  for (auto t : r.receiver_peaks) c.receiver_hits += is_anchor[t];
  c.receiver_peaks = static_cast<double>(r.receiver_peaks.size());
  c.global_peaks = static_cast<double>(r.anchor.size());
  auto near_preplan = [&](std::int64_t t) { return is_preplan[t] || (t > 0 && is_preplan[t - 1]); };
  for (auto t : r.anchor) c.anchors_after += near_preplan(t) ? 1 : 0;
  c.anchors = static_cast<double>(r.anchor.size());
  if (!r.anchor.empty() && shuffles > 0) {
    // Each shuffle draws |anchor| distinct positions uniformly (a partial Fisher-Yates).
    std::vector<std::int64_t> positions(R);
    for (std::int64_t t = 0; t < R; ++t) positions[t] = t;
    const auto k = std::min<std::int64_t>(R, static_cast<std::int64_t>(r.anchor.size()));
    std::int64_t hits = 0;
    for (std::int64_t s = 0; s < shuffles; ++s)
      for (std::int64_t i = 0; i < k; ++i) {
        std::swap(positions[i], positions[i + static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(R - i)))]);
        hits += near_preplan(positions[i]) ? 1 : 0;
      }
    c.shuffled_hits = double(hits) / double(shuffles);
  }
  return c;
}

// One Table 2 row of pooled counts: {observed, random}; NaN where a denominator is 0.
using RowOf = std::pair<double, double> (*)(const CouplingCounts&);
double quotient(double a, double b) { return b > 0 ? a / b : std::numeric_limits<double>::quiet_NaN(); }
std::pair<double, double> entropy_row(const CouplingCounts& c) {
  return {quotient(c.peak_entropy, c.peak_count), quotient(c.all_entropy, c.token_count)};
}
std::pair<double, double> receiver_row(const CouplingCounts& c) {
  return {quotient(c.receiver_hits, c.receiver_peaks), quotient(c.global_peaks, c.token_count)};
}
std::pair<double, double> after_row(const CouplingCounts& c) {
  return {quotient(c.anchors_after, c.anchors), quotient(c.shuffled_hits, c.anchors)};
}
double lift_of(double observed, double random) {
  return random > 0 && std::isfinite(observed) ? (observed - random) / random : std::numeric_limits<double>::quiet_NaN();
}
double ratio_of(double observed, double random) {
  return random > 0 && std::isfinite(observed) ? observed / random : std::numeric_limits<double>::quiet_NaN();
}
Json interval_json(const std::optional<Interval>& i) { return i ? Json::array({i->lo, i->hi}) : Json(nullptr); }

}  // namespace

Interval percentile_interval(std::vector<double> sample, double level) {
  check(!sample.empty(), "percentile interval: empty sample");
  check(level > 0 && level < 1, "percentile interval: level {} outside (0, 1)", level);
  std::sort(sample.begin(), sample.end());
  auto quantile = [&](double q) {
    const double at = q * static_cast<double>(sample.size() - 1);
    const auto below = static_cast<std::size_t>(std::floor(at));
    const auto above = std::min(sample.size() - 1, below + 1);
    return sample[below] + (at - static_cast<double>(below)) * (sample[above] - sample[below]);
  };
  return {quantile((1 - level) / 2), quantile((1 + level) / 2)};
}

std::optional<Interval> bootstrap_interval(std::size_t n,
                                           const std::function<double(const std::vector<std::uint32_t>&)>& statistic,
                                           std::int64_t resamples, std::uint64_t seed, double level) {
  if (n == 0 || resamples <= 0) return std::nullopt;
  SplitMix64 rng(seed);
  std::vector<std::uint32_t> weights(n);
  std::vector<double> values;
  values.reserve(static_cast<std::size_t>(resamples));
  for (std::int64_t b = 0; b < resamples; ++b) {
    std::fill(weights.begin(), weights.end(), 0u);
    for (std::size_t i = 0; i < n; ++i) ++weights[rng.below(n)];
    const double v = statistic(weights);
    if (std::isfinite(v)) values.push_back(v);
  }
  if (values.empty()) return std::nullopt;
  return percentile_interval(std::move(values), level);
}

Json coupling_statistics(const std::vector<AnalyzedResponse>& responses, const AnalysisSettings& settings) {
  check(settings.bootstrap >= 0, "analysis: bootstrap resamples must be >= 0 (got {})", settings.bootstrap);
  SplitMix64 shuffle_rng(stream_seed(settings.seed, AnalysisStream::Shuffle));
  std::vector<CouplingCounts> counts;
  CouplingCounts pooled;
  for (const auto& r : responses) {
    counts.push_back(response_counts(r, settings.shuffles, shuffle_rng));
    pooled.add(counts.back(), 1.0);
  }
  const auto bootstrap_seed = stream_seed(settings.seed, AnalysisStream::Bootstrap);
  auto entry = [&](RowOf row, double count, const std::string& what) {
    auto [observed, random] = row(pooled);
    // The point values keep the old convention: 0 where undefined (no peaks, or a random rate of 0).
    auto zero_if_nan = [](double v) { return std::isfinite(v) ? v : 0.0; };
    // lift as the paper reads it ("+51%": 0.3608 vs 0.2386 is lift 0.51); ratio = observed / random.
    Json e{{"observed", zero_if_nan(observed)}, {"random", zero_if_nan(random)},
           {"lift", zero_if_nan(lift_of(observed, random))}, {"ratio", zero_if_nan(ratio_of(observed, random))},
           {"count", static_cast<std::int64_t>(count)}, {"description", what}};
    if (settings.bootstrap > 0) {
      // Every quantity's interval comes from the same resamples (one seed), so they agree row by row.
      auto resampled = [&](auto quantity) {
        return bootstrap_interval(
            counts.size(),
            [&](const std::vector<std::uint32_t>& weights) {
              CouplingCounts c;
              for (std::size_t i = 0; i < counts.size(); ++i)
                if (weights[i]) c.add(counts[i], weights[i]);
              auto [o, r] = row(c);
              return quantity(o, r);
            },
            settings.bootstrap, bootstrap_seed);
      };
      auto lift_ci = resampled(lift_of);
      e["bootstrap"] = settings.bootstrap;
      e["lift_ci"] = interval_json(lift_ci);
      e["ratio_ci"] = interval_json(resampled(ratio_of));
      e["observed_ci"] = interval_json(resampled([](double o, double) { return o; }));
      e["verdict"] = lift_ci && lift_ci->lo > 0 ? "above chance" : lift_ci && lift_ci->hi < 0 ? "below chance" : "not detected";
    }
    return e;
  };
  Json out;
  out["entropy_at_preplan"] =
      entry(entropy_row, pooled.peak_count,
            "mean entropy at WAAD peaks (observed) vs at all response tokens (random); paper: 0.3608 vs 0.2386");
  out["receiver_global_cooccurrence"] =
      entry(receiver_row, pooled.receiver_peaks,
            "share of receiver-head FAI peaks that are global-head FAI peaks (observed) vs the share of tokens that "
            "are global FAI peaks (random); paper: 60.84% vs 22.41%");
  out["fai_after_waad"] = entry(after_row, pooled.anchors,
                                "share of FAI peaks at or one after a WAAD peak (observed) vs with FAI peak positions "
                                "shuffled (random); paper: 52.53% vs 36.87%");
  out["responses"] = responses.size();
  out["response_tokens"] = static_cast<std::int64_t>(pooled.token_count);
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
