#include "illume/train/attention_pass.h"

#include <torch/torch.h>

#include <chrono>

#include "illume/attention/streaming.h"

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

ResponseAttentionStats attention_pass(const Model& model, const std::vector<std::int64_t>& prompt_lengths,
                                      const std::vector<std::int64_t>& response_lengths,
                                      const AttentionPassOptions& options,
                                      const std::function<void(AttentionObserver*)>& forward) {
  torch::NoGradGuard no_grad;
  auto config = rl_attention_config(static_cast<int>(model.config().num_layers));
  if (!options.layers.empty()) config.layers = options.layers;
  config.window = options.window;
  config.fai_horizon_lo = options.fai_horizon_lo;
  config.fai_horizon_hi = options.fai_horizon_hi;
  std::vector<SequenceLayout> layouts;
  std::int64_t R = 0;
  for (std::size_t i = 0; i < prompt_lengths.size(); ++i) {
    layouts.push_back({0, prompt_lengths[i], response_lengths[i]});
    R = std::max(R, response_lengths[i]);
  }
  AttentionStatsAccumulator acc(config, layouts);
  TimedObserver timed(acc);
  for (int pass = 0; pass < acc.passes(); ++pass) {
    forward(&timed);
    auto t0 = Clock::now();
    acc.end_pass();
    timed.seconds += std::chrono::duration<double>(Clock::now() - t0).count();
  }
  auto t0 = Clock::now();
  auto stats = acc.finalize();
  const auto B = static_cast<std::int64_t>(layouts.size());
  ResponseAttentionStats out{torch::zeros({B, R}), torch::zeros({B, R}), torch::zeros({B, R})};
  for (std::int64_t b = 0; b < B; ++b) {
    const auto n = response_lengths[b];
    out.waad[b].narrow(0, 0, n).copy_(stats[b].waad.to(torch::kCPU, torch::kFloat));
    out.fai[b].narrow(0, 0, n).copy_(stats[b].fai.to(torch::kCPU, torch::kFloat));
    out.delta[b].narrow(0, 0, n).copy_(stats[b].delta.to(torch::kCPU, torch::kFloat));
  }
  out.statistics_seconds = timed.seconds + std::chrono::duration<double>(Clock::now() - t0).count();
  return out;
}

ResponseAttentionStats attention_pass(const Model& model, const at::Tensor& ids, const at::Tensor& mask,
                                      const std::vector<std::int64_t>& prompt_lengths,
                                      const std::vector<std::int64_t>& response_lengths,
                                      const AttentionPassOptions& options) {
  return attention_pass(model, prompt_lengths, response_lengths, options,
                        [&](AttentionObserver* observer) { model.forward_hidden(ids, mask, observer); });
}

}  // namespace illume::train
