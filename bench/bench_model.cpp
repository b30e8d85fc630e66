// Decode and prefill throughput of a Qwen3-0.6B-shaped model with random weights, F32 and BF16.
//   build/bench/bench_model [--quick] [--layers N] [--dtypes f32,bf16] [--prefill 512] [--decode-steps 32]
//                           [--prefill-only] [--repeats 3]
// Prints a table; numbers are tokens per second after warm-up runs (these VMs are noisy: compare
// ratios measured in one run).
//   build/bench/bench_model --train [--layers 2] [--batch 2] [--seq 256] [--dtypes f32] [--repeats 3]
// Training instead (issue 12 item 7): one forward + backward of a micro-batch of --batch random rows of
// --seq tokens (2 layers unless --layers), with gradients for every weight, timed (best of --repeats
// after a warm-up) twice: the decoder layers alone (loss = a fixed projection of the final hidden
// states), and layers + LM head over every position + cross-entropy (an SFT step's forward and
// backward). Achieved GFLOP/s count the matrix products: 6 x (weights in products) x tokens, plus the
// attention scores and P V the query blocks compute (x 3 for the backward); the GEMM peak is square
// products (n = 1024 and 2048, best) in the same dtype measured in the same process, as bench_gemm.
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "bench_util.h"
#include "illume/model/device.h"
#include "illume/model/model.h"
#include "illume/util/blas_kernel.h"

using namespace illume;
using Clock = std::chrono::steady_clock;

static double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Best GFLOP/s of square products C = A B in `dtype` (n = 1024 and 2048), as bench_gemm measures them.
static double gemm_peak_gflops(c10::ScalarType dtype) {
  torch::NoGradGuard no_grad;
  double best = 0;
  for (std::int64_t n : {1024, 2048}) {
    auto options = torch::TensorOptions().dtype(dtype);
    auto a = torch::randn({n, n}, options), b = torch::randn({n, n}, options), c = torch::empty({n, n}, options);
    torch::mm_out(c, a, b);  // warm-up
    double fastest = 1e30, spent = 0;
    for (int rep = 0; rep < 3 || spent < 1.0; ++rep) {
      auto t0 = Clock::now();
      torch::mm_out(c, a, b);
      const double t = seconds_since(t0);
      fastest = std::min(fastest, t);
      spent += t;
    }
    best = std::max(best, 2.0 * n * n * n / fastest / 1e9);
  }
  return best;
}

// Forward + backward of one micro-batch (see the header), printed as table rows per part.
static void bench_training(const ModelConfig& config, c10::ScalarType dtype, const std::string& name,
                           std::int64_t batch, std::int64_t seq, std::int64_t repeats) {
  LoadOptions options;
  options.dtype = dtype;
  auto model = Model::random(config, 1, options);
  model.set_requires_grad(true);
  auto gen = at::detail::createCPUGenerator(7);
  auto ids = torch::randint(0, config.vocab_size, {batch, seq}, gen, torch::kLong);
  auto mask = torch::ones_like(ids);
  auto targets = torch::randint(0, config.vocab_size, {batch * seq}, gen, torch::kLong);
  auto probe = torch::randn({batch, seq, config.hidden_size}, gen).to(dtype);
  const double D = double(config.hidden_size), H = double(config.num_heads), Hkv = double(config.num_kv_heads);
  const double hd = double(config.head_dim), I = double(config.intermediate_size), V = double(config.vocab_size);
  const double tokens = double(batch * seq);
  // Weights in matrix products per layer: q, k, v, o and the MLP's gate, up, down.
  const double layer_weights = D * H * hd + 2 * D * Hkv * hd + H * hd * D + 3 * D * I;
  // Attention: query blocks of 256 rows compute scores against the keys up to their last row.
  double scores = 0;
  for (std::int64_t start = 0; start < seq; start += 256) scores += double(std::min<std::int64_t>(256, seq - start)) * double(std::min<std::int64_t>(seq, start + 256));
  const double attention_flops = 3.0 * 4.0 * double(batch) * H * hd * scores;  // Q K^T and P V, forward + backward
  const double layers_flops = double(config.num_layers) * (6.0 * layer_weights * tokens + attention_flops);
  const double head_flops = 6.0 * V * D * tokens;
  const double peak = gemm_peak_gflops(dtype);
  for (int part = 0; part < 2; ++part) {
    const bool with_head = part == 1;
    double best = 1e30;
    for (std::int64_t rep = 0; rep <= repeats; ++rep) {
      for (auto& p : model.parameters()) p.mutable_grad() = at::Tensor();  // fresh gradients, as zero_grad(set_to_none)
      auto t0 = Clock::now();
      auto hidden = model.forward_hidden(ids, mask);
      at::Tensor loss;
      if (with_head) loss = torch::cross_entropy_loss(model.logits(hidden).view({batch * seq, config.vocab_size}), targets);
      else loss = (hidden * probe).sum();
      loss.backward();
      if (rep > 0) best = std::min(best, seconds_since(t0));
    }
    const double flops = layers_flops + (with_head ? head_flops : 0.0);
    const double achieved = flops / best / 1e9;
    std::printf("| %s | %s | %lld x %lld | %.1f | %.3f | %.1f | %.1f | %.0f%% |\n", name.c_str(),
                with_head ? "layers + LM head + loss" : "layers", static_cast<long long>(batch),
                static_cast<long long>(seq), flops / 1e9, best, achieved, peak, 100.0 * achieved / peak);
    std::fflush(stdout);
  }
}

int main(int argc, char** argv) {
  select_blas_kernel_at_startup(argv);  // the same BLAS kernel fix as the CLI (util/blas_kernel.h)
  bool quick = false, prefill_only = false, train = false;
  std::int64_t train_batch = 2, train_seq = 256;
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
    else if (!std::strcmp(argv[i], "--train")) train = true;
    else if (!std::strcmp(argv[i], "--batch") && i + 1 < argc) train_batch = std::stoll(argv[++i]);
    else if (!std::strcmp(argv[i], "--seq") && i + 1 < argc) train_seq = std::stoll(argv[++i]);
  }
  if (train && layers == 0) layers = 2;  // a 28-layer backward takes minutes on a 2-core machine
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
  if (train) {
    std::printf("| dtype | forward + backward of | batch x tokens | GFLOP | seconds (best) | GFLOP/s | GEMM peak GFLOP/s | of peak |\n");
    std::printf("|---|---|---|---|---|---|---|---|\n");
    for (const auto& name : bench::split_list(dtypes))
      bench_training(config, parse_dtype(name), name, train_batch, train_seq, repeats);
    return 0;
  }
  std::printf("| dtype | prefill %lld tok (tok/s) | decode batch 1 (tok/s) | decode batch 8 (tok/s) |\n",
              static_cast<long long>(prefill_tokens));
  std::printf("|---|---|---|---|\n");
  for (const auto& name : bench::split_list(dtypes)) {
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
