#include "illume/attention/streaming.h"

#include <torch/torch.h>

#include <algorithm>
#include <map>
#include <memory>
#include <fmt/ranges.h>

#include "illume/util/error.h"

namespace illume {

AttentionStatsConfig rl_attention_config(int num_layers) {
  AttentionStatsConfig c;
  c.layers = middle_third_layers(num_layers, 5);
  c.window = 10;
  c.fai_horizon_lo = 10;
  c.fai_horizon_hi = 100;
  return c;
}

AttentionStatsConfig analysis_attention_config(int num_layers) {
  AttentionStatsConfig c = rl_attention_config(num_layers);
  c.fai_horizon_lo = 1;
  c.fai_horizon_hi = kHorizonToEnd;
  c.find_receivers = true;
  return c;
}

const char* grouping_name(HeadGroupingScope scope) {
  switch (scope) {
    case HeadGroupingScope::per_batch: return "batch";
    case HeadGroupingScope::fixed: return "fixed";
    default: return "sequence";
  }
}

HeadGroupingScope parse_grouping(const std::string& name) {
  for (auto scope : {HeadGroupingScope::per_sequence, HeadGroupingScope::per_batch, HeadGroupingScope::fixed})
    if (name == grouping_name(scope)) return scope;
  fail("head grouping '{}' is unknown (sequence, batch, fixed)", name);
}

void validate_attention_config(const AttentionStatsConfig& c) {
  check(!c.layers.empty(), "attention statistics: no layers selected");
  for (std::size_t i = 0; i < c.layers.size(); ++i) {
    check(c.layers[i] >= 0, "attention statistics: layer {} is negative", c.layers[i]);
    for (std::size_t j = 0; j < i; ++j)
      check(c.layers[i] != c.layers[j], "attention statistics: layer {} is listed twice", c.layers[i]);
  }
  check(c.window >= 1, "attention statistics: the WAAD window must be >= 1 (got {})", c.window);
  check(c.fai_horizon_lo >= 0, "attention statistics: the FAI horizon start must be >= 0 (got {})", c.fai_horizon_lo);
  check(c.fai_horizon_hi >= c.fai_horizon_lo, "attention statistics: the FAI horizon end {} is below its start {}",
        c.fai_horizon_hi, c.fai_horizon_lo);
  check(c.group_fraction > 0 && c.group_fraction <= 0.5,
        "attention statistics: the head group fraction {} is outside (0, 0.5]", c.group_fraction);
  check(c.passes == 1 || c.passes == 2, "attention statistics: passes must be 1 or 2 (got {})", c.passes);
  check(c.receiver_fraction > 0 && c.receiver_fraction <= 1,
        "attention statistics: the receiver head fraction {} is outside (0, 1]", c.receiver_fraction);
  // 0 scores a key from every later row and the diagonal (the definition before issue 11).
  check(c.receiver_horizon_lo >= 0, "attention statistics: the receiver horizon start must be >= 0 (got {})",
        c.receiver_horizon_lo);
  check(c.receiver_min_rows >= 1, "attention statistics: the receiver minimum rows must be >= 1 (got {})",
        c.receiver_min_rows);
  if (c.grouping == HeadGroupingScope::fixed) {
    check(!c.all_heads, "attention statistics: all heads and fixed head lists exclude each other");
    check(!c.fixed_local.empty() && !c.fixed_global.empty(),
          "attention statistics: fixed head grouping needs local and global head lists");
    for (const auto* list : {&c.fixed_local, &c.fixed_global})
      for (const auto& h : *list)
        check(std::find(c.layers.begin(), c.layers.end(), h.layer) != c.layers.end() && h.head >= 0,
              "attention statistics: fixed head {}:{} is not in an observed layer", h.layer, h.head);
  }
}

std::int64_t waad_window(std::int64_t window, std::int64_t keys) {
  check(window >= 1 && keys >= 1, "WAAD: window {} over {} keys", window, keys);
  return std::min(window, keys);
}

void validate_layers(const AttentionStatsConfig& c, int num_layers) {
  for (int l : c.layers) check(l >= 0 && l < num_layers, "layer {} is beyond the model ({} layers)", l, num_layers);
}

namespace {

// Per-head sums of a block's response rows. A: [h, m, keys] (keys from slot `key0`), rows at slots
// t0 .. t0+m-1, all response rows of one sequence whose response starts at slot rs (length R).
// Each helper returns float64 results on the CPU.

// sum_s A[t,s] * (t - s) summed over the rows: [h].
at::Tensor span_sum(const at::Tensor& A, std::int64_t t0, std::int64_t key0) {
  const auto m = A.size(1), K = A.size(2);
  auto opts = A.options();
  auto t = torch::arange(t0, t0 + m, opts).view({m, 1});
  auto s = torch::arange(key0, key0 + K, opts).view({1, K});
  auto dist = (t - s).clamp_min(0);
  return (A * dist).sum(-1).to(torch::kCPU, torch::kDouble).sum(-1);
}

// WAAD of every row and head: sum_s A[t,s] * min(t - s, W) = W * rowsum - sum_{d<W} (W - d) A[t, t-d]
// (METHOD.md §2); only the W diagonals nearest the main one are read. [h, m].
at::Tensor waad_rows(const at::Tensor& A, std::int64_t t0, std::int64_t key0, std::int64_t window) {
  const auto h = A.size(0), m = A.size(1), K = A.size(2);
  const auto W = waad_window(window, K);  // the same sums, a gather no wider than the keys
  auto rowsum = A.sum(-1).to(torch::kCPU, torch::kDouble);  // [h, m]
  auto lopts = torch::TensorOptions().dtype(torch::kLong).device(A.device());
  auto idx = torch::arange(t0 - key0, t0 - key0 + m, lopts).view({m, 1}) - torch::arange(W, lopts).view({1, W});
  auto valid = (idx >= 0).logical_and(idx < K);                         // [m, W]
  auto gathered = A.gather(2, idx.clamp(0, K - 1).unsqueeze(0).expand({h, m, W}))
                      .masked_fill(valid.logical_not().unsqueeze(0), 0.0)
                      .to(torch::kCPU, torch::kDouble);                 // [h, m, W]
  auto weights = static_cast<double>(W) - torch::arange(W, torch::kDouble);  // W - d
  return static_cast<double>(W) * rowsum - (gathered * weights).sum(-1);
}

// FAI band sums: for response columns s (slots rs .. rs+R-1), sum over the block's rows t with
// fai_horizon_lo <= t - s <= fai_horizon_hi of A[t, s]. Returns the first column index (response
// coordinates) and [h, n].
std::pair<std::int64_t, at::Tensor> fai_band(const at::Tensor& A, std::int64_t t0, std::int64_t key0, std::int64_t rs,
                                             std::int64_t R, std::int64_t fai_horizon_lo, std::int64_t fai_horizon_hi) {
  const auto m = A.size(1);
  const auto t1 = t0 + m;  // exclusive
  const auto lo = std::max(rs, fai_horizon_hi >= t0 ? rs : t0 - fai_horizon_hi);
  const auto hi = std::min(rs + R - 1, t1 - 1 - fai_horizon_lo);  // inclusive
  if (lo > hi) return {0, at::Tensor()};
  const auto n = hi - lo + 1;
  auto band = A.narrow(2, lo - key0, n);  // [h, m, n]
  auto lopts = torch::TensorOptions().dtype(torch::kLong).device(A.device());
  auto d = torch::arange(t0, t1, lopts).view({m, 1}) - torch::arange(lo, hi + 1, lopts).view({1, n});
  auto inside = (d >= fai_horizon_lo).logical_and(d <= fai_horizon_hi);  // [m, n]
  auto sums = band.masked_fill(inside.logical_not().unsqueeze(0), 0.0).sum(1);
  return {lo - rs, sums.to(torch::kCPU, torch::kDouble)};
}

}  // namespace

struct AttentionStatsAccumulator::Impl {
  AttentionStatsConfig config;
  std::vector<SequenceLayout> layouts;
  std::map<int, std::int64_t> layer_index;
  std::int64_t heads = 0;  // query heads (known at the first block)
  int pass = 0;            // passes completed
  bool finalized = false;
  // The sequences the current forward shows (select_sequences); by default all of them.
  std::int64_t first = 0, count = 0;
  bool selecting = false;          // select_sequences was called in this pass
  std::vector<int> shown_in_pass;  // per sequence: the last pass select_sequences showed it in (-1: none)

  struct Sequence {
    at::Tensor span_sum;                   // [layers, H]
    std::vector<at::Tensor> waad_head;     // passes == 1: per layer [H, R] per-head WAAD
    std::vector<at::Tensor> fai_head;      // passes == 1: per layer [H, R] per-head FAI band sums
    std::vector<at::Tensor> received;      // find_receivers: per layer [H, R] sums from rows >= j + receiver_horizon_lo
    // Groups (flat head index layer_index * H + head) and, with passes == 2, their sums.
    std::vector<std::int64_t> local, global, receivers;
    at::Tensor waad_group, fai_group, fai_receiver;  // [R]
  };
  std::vector<Sequence> sequences;

  bool per_head() const { return config.passes == 1; }

  void allocate(std::int64_t H) {
    heads = H;
    const auto Lo = static_cast<std::int64_t>(config.layers.size());
    for (std::size_t b = 0; b < layouts.size(); ++b) {
      auto& s = sequences[b];
      const auto R = layouts[b].response_length;
      s.span_sum = torch::zeros({Lo, H}, torch::kDouble);
      for (std::int64_t l = 0; l < Lo; ++l) {
        if (per_head()) {
          s.waad_head.push_back(torch::zeros({H, R}, torch::kDouble));
          s.fai_head.push_back(torch::zeros({H, R}, torch::kDouble));
        }
        if (config.find_receivers) s.received.push_back(torch::zeros({H, R}, torch::kDouble));
      }
    }
    if (config.grouping == HeadGroupingScope::fixed)
      for (const auto* list : {&config.fixed_local, &config.fixed_global})
        for (const auto& h : *list)
          check(h.head < H, "attention statistics: fixed head {}:{} is beyond the model ({} heads)", h.layer, h.head, H);
  }

  // Mean span per head [layers, H] of sequence b.
  at::Tensor spans(std::size_t b) const {
    return sequences[b].span_sum / static_cast<double>(layouts[b].response_length);
  }

  std::vector<std::int64_t> flat(const std::vector<HeadId>& list) const {
    std::vector<std::int64_t> out;
    for (const auto& h : list) out.push_back(layer_index.at(h.layer) * heads + h.head);
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }

  // Received attention per key, averaged over the rows at least receiver_horizon_lo after it, keys
  // with too few such rows dropped (metrics.h receiver_key_means): [layers*H, M].
  at::Tensor received_means(std::size_t b) const {
    const auto R = layouts[b].response_length;
    return receiver_key_means(torch::stack(sequences[b].received).view({-1, R}), config.receiver_horizon_lo,
                              config.receiver_min_rows);
  }

  void group() {
    std::vector<HeadGroups> groups(layouts.size());
    if (config.all_heads) {
      HeadGroups all;
      for (std::int64_t f = 0; f < static_cast<std::int64_t>(config.layers.size()) * heads; ++f) all.local.push_back(f);
      all.global = all.local;
      for (auto& g : groups) g = all;
    } else if (config.grouping == HeadGroupingScope::fixed) {
      for (auto& g : groups) g = {flat(config.fixed_local), flat(config.fixed_global)};
    } else if (config.grouping == HeadGroupingScope::per_batch) {
      auto mean = torch::zeros({static_cast<std::int64_t>(config.layers.size()), heads}, torch::kDouble);
      for (std::size_t b = 0; b < layouts.size(); ++b) mean += spans(b);
      auto g = group_heads(mean.view({-1}), config.group_fraction);
      for (auto& x : groups) x = g;
    } else {
      for (std::size_t b = 0; b < layouts.size(); ++b) groups[b] = group_heads(spans(b).view({-1}), config.group_fraction);
    }
    for (std::size_t b = 0; b < layouts.size(); ++b) {
      auto& s = sequences[b];
      s.local = groups[b].local;
      s.global = groups[b].global;
      if (config.find_receivers) s.receivers = receiver_heads(received_means(b), config.receiver_fraction);
    }
  }

  void observe(const AttentionBlock& block) {
    const auto& probs = *block.probs;  // [B, H, rows, keys]
    check(probs.dim() == 4 && probs.size(0) == count,
          "attention statistics: a block of {} rows does not match the {} sequences of this forward", probs.size(0),
          count);
    if (heads == 0) allocate(probs.size(1));
    const auto li = layer_index.at(block.layer);
    const auto rows = probs.size(2), keys = probs.size(3);
    const auto qb = block.query_begin;
    for (std::int64_t row = 0; row < count; ++row) {
      const auto b = static_cast<std::size_t>(first + row);
      const auto& L = layouts[b];
      const auto rs = L.padding + L.prompt_length, R = L.response_length;
      check(rs + R <= keys, "attention statistics: sequence {} ({} slots) is longer than the forward ({} keys)", b + 1,
            rs + R, keys);
      const auto t0 = std::max(qb, rs), t1 = std::min(qb + rows, rs + R);
      if (t0 >= t1) continue;
      const auto m = t1 - t0;
      // Keys before the padding end hold no attention, keys after the last row are above the diagonal.
      const auto key0 = L.padding;
      auto A = probs[row].narrow(1, t0 - qb, m).narrow(2, key0, t1 - key0);  // [H, m, keys']
      auto& s = sequences[b];
      const auto j0 = t0 - rs;
      if (pass == 0) {
        s.span_sum[li] += span_sum(A, t0, key0);
        if (config.find_receivers) {
          // The FAI band with an open end is exactly "rows t >= j + receiver_horizon_lo".
          auto [c0, sums] = fai_band(A, t0, key0, rs, R, config.receiver_horizon_lo, kHorizonToEnd);
          if (sums.defined()) s.received[li].narrow(1, c0, sums.size(1)) += sums;
        }
      }
      if (per_head()) {
        s.waad_head[li].narrow(1, j0, m).copy_(waad_rows(A, t0, key0, config.window));
        auto [c0, sums] = fai_band(A, t0, key0, rs, R, config.fai_horizon_lo, config.fai_horizon_hi);
        if (sums.defined()) s.fai_head[li].narrow(1, c0, sums.size(1)) += sums;
      } else if (pass == 1) {
        // Pass 2: only the heads of the groups, summed over the group.
        auto heads_of = [&](const std::vector<std::int64_t>& list) {
          std::vector<std::int64_t> out;
          for (auto f : list)
            if (f / heads == li) out.push_back(f % heads);
          return out;
        };
        auto select = [&](const std::vector<std::int64_t>& hs) {
          return A.index_select(0, torch::tensor(hs, torch::TensorOptions().dtype(torch::kLong).device(A.device())));
        };
        auto local = heads_of(s.local);
        if (!local.empty())
          s.waad_group.narrow(0, j0, m) += waad_rows(select(local), t0, key0, config.window).sum(0);
        for (int which = 0; which < 2; ++which) {
          if (which == 1 && !config.find_receivers) break;
          auto hs = heads_of(which == 0 ? s.global : s.receivers);
          if (hs.empty()) continue;
          auto [c0, sums] = fai_band(select(hs), t0, key0, rs, R, config.fai_horizon_lo, config.fai_horizon_hi);
          if (sums.defined()) (which == 0 ? s.fai_group : s.fai_receiver).narrow(0, c0, sums.size(1)) += sums.sum(0);
        }
      }
    }
  }

  // |T(s)| of METHOD.md §2 for every response column: [R].
  at::Tensor horizon_counts(std::int64_t R) const {
    auto j = torch::arange(R, torch::kDouble);
    const double lo = static_cast<double>(config.fai_horizon_lo);
    const double hi = static_cast<double>(std::min<std::int64_t>(config.fai_horizon_hi, R));
    auto last = torch::minimum(j + hi, torch::full({R}, static_cast<double>(R - 1), torch::kDouble));
    return (last - (j + lo) + 1).clamp_min(0);
  }

  std::vector<HeadId> head_ids(const std::vector<std::int64_t>& list) const {
    std::vector<HeadId> out;
    for (auto f : list) out.push_back({config.layers[f / heads], static_cast<int>(f % heads)});
    return out;
  }

  std::int64_t bytes() const {
    std::int64_t n = 0;
    auto add = [&](const at::Tensor& t) {
      if (t.defined()) n += t.numel() * static_cast<std::int64_t>(t.element_size());
    };
    for (const auto& s : sequences) {
      add(s.span_sum);
      for (const auto& v : {&s.waad_head, &s.fai_head, &s.received})
        for (const auto& t : *v) add(t);
      add(s.waad_group);
      add(s.fai_group);
      add(s.fai_receiver);
      n += static_cast<std::int64_t>((s.local.size() + s.global.size() + s.receivers.size()) * sizeof(std::int64_t));
    }
    return n;
  }
};

AttentionStatsAccumulator::AttentionStatsAccumulator(AttentionStatsConfig config, std::vector<SequenceLayout> layouts)
    : impl_(std::make_unique<Impl>()) {
  validate_attention_config(config);
  check(!layouts.empty(), "attention statistics: no sequences");
  for (std::size_t b = 0; b < layouts.size(); ++b) {
    const auto& L = layouts[b];
    check(L.padding >= 0 && L.prompt_length >= 0 && L.response_length >= 0,
          "attention statistics: sequence {} has a negative layout value", b + 1);
    check(L.response_length >= 1, "attention statistics: sequence {} has an empty response", b + 1);
  }
  impl_->config = std::move(config);
  impl_->layouts = std::move(layouts);
  for (std::size_t i = 0; i < impl_->config.layers.size(); ++i)
    impl_->layer_index[impl_->config.layers[i]] = static_cast<std::int64_t>(i);
  impl_->sequences.resize(impl_->layouts.size());
  impl_->count = static_cast<std::int64_t>(impl_->layouts.size());
  impl_->shown_in_pass.assign(impl_->layouts.size(), -1);
}

void AttentionStatsAccumulator::select_sequences(std::int64_t first, std::int64_t count) {
  auto& I = *impl_;
  const auto n = static_cast<std::int64_t>(I.layouts.size());
  check(first >= 0 && count >= 1 && first + count <= n, "attention statistics: sequences {}..{} outside the {} held",
        first + 1, first + count, n);
  for (auto b = first; b < first + count; ++b) {
    check(I.shown_in_pass[b] != I.pass, "attention statistics: sequence {} shown twice in pass {}", b + 1, I.pass + 1);
    I.shown_in_pass[b] = I.pass;
  }
  I.first = first;
  I.count = count;
  I.selecting = true;
}

AttentionStatsAccumulator::~AttentionStatsAccumulator() = default;
AttentionStatsAccumulator::AttentionStatsAccumulator(AttentionStatsAccumulator&&) noexcept = default;
AttentionStatsAccumulator& AttentionStatsAccumulator::operator=(AttentionStatsAccumulator&&) noexcept = default;

bool AttentionStatsAccumulator::wants_layer(int layer) const {
  return impl_->pass < impl_->config.passes && impl_->layer_index.count(layer) > 0;
}

void AttentionStatsAccumulator::on_block(const AttentionBlock& block) {
  if (!wants_layer(block.layer)) return;
  torch::NoGradGuard no_grad;
  impl_->observe(block);
}

const std::vector<int>& AttentionStatsAccumulator::layers() const { return impl_->config.layers; }
int AttentionStatsAccumulator::passes() const { return impl_->config.passes; }
std::int64_t AttentionStatsAccumulator::bytes() const { return impl_->bytes(); }

void AttentionStatsAccumulator::end_pass() {
  auto& I = *impl_;
  check(I.pass < I.config.passes, "attention statistics: end_pass called after the last pass");
  check(I.heads > 0, "attention statistics: the forward showed none of the layers {}", fmt::join(I.config.layers, ","));
  if (I.selecting) {
    for (std::size_t b = 0; b < I.layouts.size(); ++b)
      check(I.shown_in_pass[b] == I.pass, "attention statistics: sequence {} was not shown in pass {}", b + 1, I.pass + 1);
    I.selecting = false;
    I.first = 0;
    I.count = static_cast<std::int64_t>(I.layouts.size());
  }
  if (I.pass == 0 && I.config.passes == 2) {
    I.group();
    for (std::size_t b = 0; b < I.layouts.size(); ++b) {
      const auto R = I.layouts[b].response_length;
      auto& s = I.sequences[b];
      s.waad_group = torch::zeros({R}, torch::kDouble);
      s.fai_group = torch::zeros({R}, torch::kDouble);
      if (I.config.find_receivers) s.fai_receiver = torch::zeros({R}, torch::kDouble);
    }
  }
  ++I.pass;
}

std::vector<HeadId> AttentionStatsAccumulator::local_heads(std::size_t sequence) const {
  check(sequence < impl_->sequences.size(), "attention statistics: no sequence {}", sequence + 1);
  return impl_->head_ids(impl_->sequences[sequence].local);
}

std::vector<HeadId> AttentionStatsAccumulator::global_heads(std::size_t sequence) const {
  check(sequence < impl_->sequences.size(), "attention statistics: no sequence {}", sequence + 1);
  return impl_->head_ids(impl_->sequences[sequence].global);
}

std::vector<SequenceAttentionStats> AttentionStatsAccumulator::finalize() {
  auto& I = *impl_;
  check(I.pass == I.config.passes, "attention statistics: finalize after {} of {} passes", I.pass, I.config.passes);
  check(!I.finalized, "attention statistics: finalize called twice");
  I.finalized = true;
  if (I.config.passes == 1) I.group();
  std::vector<SequenceAttentionStats> out(I.layouts.size());
  for (std::size_t b = 0; b < I.layouts.size(); ++b) {
    auto& s = I.sequences[b];
    auto& o = out[b];
    const auto R = I.layouts[b].response_length;
    auto counts = I.horizon_counts(R);
    auto safe = counts.clamp_min(1);
    o.head_span = I.spans(b);
    o.local_heads = I.head_ids(s.local);
    o.global_heads = I.head_ids(s.global);
    o.receiver_heads = I.head_ids(s.receivers);
    auto group_mean = [&](const std::vector<at::Tensor>& per_layer, const std::vector<std::int64_t>& list) {
      auto sum = torch::zeros({R}, torch::kDouble);
      for (auto f : list) sum += per_layer[f / I.heads][f % I.heads];
      return sum / static_cast<double>(list.size());
    };
    if (I.config.passes == 1) {
      o.waad = group_mean(s.waad_head, s.local);
      o.fai = group_mean(s.fai_head, s.global) / safe;
      o.receiver_fai = s.receivers.empty() ? torch::zeros({R}, torch::kDouble) : group_mean(s.fai_head, s.receivers) / safe;
    } else {
      o.waad = s.waad_group / static_cast<double>(s.local.size());
      o.fai = s.fai_group / static_cast<double>(s.global.size()) / safe;
      o.receiver_fai = s.receivers.empty() ? torch::zeros({R}, torch::kDouble)
                                           : s.fai_receiver / static_cast<double>(s.receivers.size()) / safe;
    }
    o.fai = torch::where(counts > 0, o.fai, torch::zeros_like(o.fai));
    o.receiver_fai = torch::where(counts > 0, o.receiver_fai, torch::zeros_like(o.receiver_fai));
    o.delta = waad_delta(o.waad);
  }
  return out;
}

}  // namespace illume
