// Decode and prefill throughput of a Qwen3-0.6B-shaped model with random weights, F32 and BF16.
//   build/bench/bench_model [--quick] [--layers N] [--dtypes f32,bf16] [--prefill 512] [--decode-steps 32]
//                           [--prefill-only] [--repeats 3]
// Prints a table; numbers are tokens per second after warm-up runs (these VMs are noisy: compare
// ratios measured in one run).
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "illume/model/device.h"
#include "illume/model/model.h"
#include "illume/util/blas_kernel.h"

using namespace illume;
using Clock = std::chrono::steady_clock;

static double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

int main(int argc, char** argv) {
  select_blas_kernel_at_startup(argv);  // the same BLAS kernel fix as the CLI (util/blas_kernel.h)
  bool quick = false, prefill_only = false;
  std::int64_t layers = 0, repeats = 3;  // layers 0: the model's 28 (4 with --quick)
  std::string dtypes = "f32,bf16";
  std::int64_t prefill_tokens = 512, decode_steps = 32;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--quick")) quick = true;
    else if (!std::strcmp(argv[i], "--dtypes") && i + 1 < argc) dtypes = argv[++i];
    else if (!std::strcmp(argv[i], "--prefill") && i + 1 < argc) prefill_tokens = std::stoll(argv[++i]);
    else if (!std::strcmp(argv[i], "--decode-steps") && i + 1 < argc) decode_steps = std::stoll(argv[++i]);
    else if (!std::strcmp(argv[i], "--layers") && i + 1 < argc) layers = std::stoll(argv[++i]);
    else if (!std::strcmp(argv[i], "--repeats") && i + 1 < argc) repeats = std::stoll(argv[++i]);
    else if (!std::strcmp(argv[i], "--prefill-only")) prefill_only = true;
  }
  init_torch_runtime();
  print_machine_header(stdout, torch::get_num_threads());
  // Qwen3-0.6B: 28 layers, hidden 1024, 16 query heads, 8 KV heads, head_dim 128, MLP 3072, vocab 151936, tied.
  Json j = {{"model_type", "qwen3"}, {"vocab_size", 151936}, {"hidden_size", 1024}, {"intermediate_size", 3072},
            {"num_hidden_layers", layers > 0 ? layers : quick ? 4 : 28}, {"num_attention_heads", 16}, {"num_key_value_heads", 8},
            {"head_dim", 128}, {"rms_norm_eps", 1e-6}, {"rope_theta", 1000000.0}, {"tie_word_embeddings", true}};
  auto config = ModelConfig::from_json(j, "bench");
  std::printf("model: Qwen3-0.6B shape, %lld layers, %.0fM parameters, %d threads, libtorch %s\n",
              static_cast<long long>(config.num_layers), config.parameter_count() / 1e6, torch::get_num_threads(),
              TORCH_VERSION);
  std::printf("| dtype | prefill %lld tok (tok/s) | decode batch 1 (tok/s) | decode batch 8 (tok/s) |\n",
              static_cast<long long>(prefill_tokens));
  std::printf("|---|---|---|---|\n");
  std::size_t start = 0;
  while (start <= dtypes.size()) {
    auto end = dtypes.find(',', start);
    if (end == std::string::npos) end = dtypes.size();
    auto name = dtypes.substr(start, end - start);
    start = end + 1;
    if (name.empty()) continue;
    LoadOptions options;
    options.dtype = parse_dtype(name);
    auto model = Model::random(config, 1, options);
    torch::NoGradGuard no_grad;
    auto gen = at::detail::createCPUGenerator(7);
    auto prompt = torch::randint(0, config.vocab_size, {1, prefill_tokens}, gen, torch::kLong);
    // Prefill: warm-up, then the best of `repeats`.
    double prefill_best = 1e30;
    for (std::int64_t rep = 0; rep <= repeats; ++rep) {
      auto cache = model.new_cache(1, prefill_tokens);
      auto t0 = Clock::now();
      model.prefill(cache, prompt, torch::ones_like(prompt));
      if (rep > 0) prefill_best = std::min(prefill_best, seconds_since(t0));
    }
    double decode_rate[2] = {0, 0};
    std::int64_t batches[2] = {1, 8};
    for (int b = 0; b < (prefill_only ? 0 : 2); ++b) {
      auto B = batches[b];
      auto ctx = torch::randint(0, config.vocab_size, {B, 64}, gen, torch::kLong);
      double best = 1e30;
      for (int rep = 0; rep < 3; ++rep) {
        auto cache = model.new_cache(B, 64 + decode_steps + 1);
        auto logits = model.prefill(cache, ctx, torch::ones_like(ctx));
        auto next = logits.argmax(-1);
        auto t0 = Clock::now();
        for (std::int64_t s = 0; s < decode_steps; ++s) next = model.decode(cache, next).argmax(-1);
        if (rep > 0) best = std::min(best, seconds_since(t0));
      }
      decode_rate[b] = double(B * decode_steps) / best;
    }
    std::printf("| %s | %.1f (%.3f s) | %.1f | %.1f |\n", name.c_str(), prefill_tokens / prefill_best, prefill_best,
                decode_rate[0], decode_rate[1]);
    std::fflush(stdout);
  }
  return 0;
}
