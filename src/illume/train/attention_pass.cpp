#include "illume/train/attention_pass.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <utility>

#include <fmt/ranges.h>

#include "illume/attention/streaming.h"
#include "illume/util/error.h"

namespace illume::train {

namespace {

using Clock = std::chrono::steady_clock;

// Times the calls into the statistics observer (the cost the attention pass adds to a forward).
class TimedObserver : public AttentionObserver {
 public:
  explicit TimedObserver(AttentionObserver& inner) : inner_(inner) {}
  bool wants_layer(int layer) const override { return inner_.wants_layer(layer); }
  void on_block(const AttentionBlock& block) override {
    auto t0 = Clock::now();
    inner_.on_block(block);
    seconds += std::chrono::duration<double>(Clock::now() - t0).count();
  }
  double seconds = 0;

 private:
  AttentionObserver& inner_;
};

}  // namespace

AttentionPassOptions attention_pass_options(const TrainConfig& c) {
  AttentionPassOptions o;
  o.layers = c.attention_layers;
  o.window = c.window;
  o.fai_horizon_lo = c.fai_horizon_lo;
  o.fai_horizon_hi = c.fai_horizon_hi;
  o.head_quantile = c.head_quantile;
  o.grouping = c.attention_grouping;
  o.local_heads = c.local_heads;
  o.global_heads = c.global_heads;
  o.all_heads = c.all_heads;
  return o;
}

AttentionStatsConfig attention_stats_config(const ModelConfig& model, const AttentionPassOptions& options) {
  const auto num_layers = static_cast<int>(model.num_layers);
  auto config = rl_attention_config(num_layers);
  if (!options.layers.empty()) config.layers = options.layers;
  for (int l : config.layers)
    check(l >= 0 && l < num_layers, "attention.layers: layer {} is beyond the model ({} layers)", l, num_layers);
  config.window = options.window;
  config.fai_horizon_lo = options.fai_horizon_lo;
  config.fai_horizon_hi = options.fai_horizon_hi;
  config.group_fraction = options.head_quantile;
  config.grouping = options.grouping;
  config.fixed_local = options.local_heads;
  config.fixed_global = options.global_heads;
  config.all_heads = options.all_heads;
  for (const auto& [key, list] : {std::pair{"local_heads", &options.local_heads}, std::pair{"global_heads", &options.global_heads}})
    for (const auto& h : *list) {
      check(std::find(config.layers.begin(), config.layers.end(), h.layer) != config.layers.end(),
            "attention.{}: head {} is not in an observed layer (attention.layers: {})", key, head_name(h),
            fmt::join(config.layers, ","));
      check(h.head < model.num_heads, "attention.{}: head {} is beyond the model ({} heads per layer)", key,
            head_name(h), model.num_heads);
    }
  validate_attention_config(config);
  return config;
}

struct BatchAttentionPass::Impl {
  AttentionStatsConfig config;
  std::vector<SequenceLayout> layouts;       // all rows; padding 0 (right-padded forwards)
  std::optional<AttentionStatsAccumulator> batch;  // per_batch: one accumulator over every forward
  std::vector<bool> done;                    // rows run so far
  ResponseAttentionStats out;
  double seconds = 0;

  void store(std::int64_t first, const std::vector<SequenceAttentionStats>& stats) {
    for (std::size_t i = 0; i < stats.size(); ++i) {
      const auto b = first + static_cast<std::int64_t>(i);
      const auto n = layouts[b].response_length;
      out.waad[b].narrow(0, 0, n).copy_(stats[i].waad.to(torch::kCPU, torch::kFloat));
      out.fai[b].narrow(0, 0, n).copy_(stats[i].fai.to(torch::kCPU, torch::kFloat));
      out.delta[b].narrow(0, 0, n).copy_(stats[i].delta.to(torch::kCPU, torch::kFloat));
    }
  }
};

BatchAttentionPass::BatchAttentionPass(const Model& model, std::vector<std::int64_t> prompt_lengths,
                                       std::vector<std::int64_t> response_lengths,
                                       const AttentionPassOptions& options)
    : impl_(std::make_unique<Impl>()) {
  auto& I = *impl_;
  check(prompt_lengths.size() == response_lengths.size(), "attention pass: {} prompt lengths for {} responses",
        prompt_lengths.size(), response_lengths.size());
  I.config = attention_stats_config(model.config(), options);
  std::int64_t R = 0;
  for (std::size_t i = 0; i < prompt_lengths.size(); ++i) {
    I.layouts.push_back({0, prompt_lengths[i], response_lengths[i]});
    R = std::max(R, response_lengths[i]);
  }
  const auto B = static_cast<std::int64_t>(I.layouts.size());
  I.out = {torch::zeros({B, R}), torch::zeros({B, R}), torch::zeros({B, R})};
  I.done.assign(I.layouts.size(), false);
  if (I.config.grouping == HeadGroupingScope::per_batch && !I.config.all_heads) I.batch.emplace(I.config, I.layouts);
}

BatchAttentionPass::~BatchAttentionPass() = default;

void BatchAttentionPass::run(std::int64_t first, std::int64_t count,
                             const std::function<void(AttentionObserver*)>& forward) {
  torch::NoGradGuard no_grad;
  auto& I = *impl_;
  const auto B = static_cast<std::int64_t>(I.layouts.size());
  check(first >= 0 && count >= 1 && first + count <= B, "attention pass: rows {}..{} outside the batch of {}",
        first + 1, first + count, B);
  for (auto b = first; b < first + count; ++b) {
    check(!I.done[b], "attention pass: row {} run twice", b + 1);
    I.done[b] = true;
  }
  if (I.batch) {
    I.batch->select_sequences(first, count);
    TimedObserver timed(*I.batch);
    forward(&timed);
    I.seconds += timed.seconds;
    return;
  }
  AttentionStatsAccumulator acc(I.config, std::vector<SequenceLayout>(I.layouts.begin() + first,
                                                                     I.layouts.begin() + first + count));
  TimedObserver timed(acc);
  for (int pass = 0; pass < acc.passes(); ++pass) {
    forward(&timed);
    auto t0 = Clock::now();
    acc.end_pass();
    timed.seconds += std::chrono::duration<double>(Clock::now() - t0).count();
  }
  auto t0 = Clock::now();
  I.store(first, acc.finalize());
  I.seconds += timed.seconds + std::chrono::duration<double>(Clock::now() - t0).count();
}

ResponseAttentionStats BatchAttentionPass::finish() {
  torch::NoGradGuard no_grad;
  auto& I = *impl_;
  for (std::size_t b = 0; b < I.done.size(); ++b) check(I.done[b], "attention pass: row {} was never run", b + 1);
  if (I.batch) {
    auto t0 = Clock::now();
    I.batch->end_pass();
    I.store(0, I.batch->finalize());
    I.batch.reset();
    I.seconds += std::chrono::duration<double>(Clock::now() - t0).count();
  }
  auto out = std::move(I.out);
  out.statistics_seconds = I.seconds;
  return out;
}

ResponseAttentionStats attention_pass(const Model& model, const std::vector<std::int64_t>& prompt_lengths,
                                      const std::vector<std::int64_t>& response_lengths,
                                      const AttentionPassOptions& options,
                                      const std::function<void(AttentionObserver*)>& forward) {
  BatchAttentionPass pass(model, prompt_lengths, response_lengths, options);
  pass.run(0, static_cast<std::int64_t>(prompt_lengths.size()), forward);
  return pass.finish();
}

ResponseAttentionStats attention_pass(const Model& model, const at::Tensor& ids, const at::Tensor& mask,
                                      const std::vector<std::int64_t>& prompt_lengths,
                                      const std::vector<std::int64_t>& response_lengths,
                                      const AttentionPassOptions& options) {
  return attention_pass(model, prompt_lengths, response_lengths, options,
                        [&](AttentionObserver* observer) { model.forward_hidden(ids, mask, observer); });
}

}  // namespace illume::train
