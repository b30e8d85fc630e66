// illume's side of the side-by-side benchmark with llama.cpp (bench/compare.sh, `make bench-compare`).
// Same protocol and the same token ids as bench/llama/llama_harness.cpp's `bench` mode:
//   prefill        one prompt of --prefill tokens, last-token logits
//   decode batch 1 --decode-steps greedy tokens after that prompt
//   decode batch B B unrelated prompts of --batch-prompt tokens, then --decode-steps steps of B tokens
// each after a warm-up, median of --reps.
//
//   bench_compare --write-random DIR --tokenizer DIR [--layers 28] [--seed 1]
//       a random Qwen3-0.6B-shaped Hugging Face folder (F32 safetensors, the given tokenizer files)
//   bench_compare --model DIR [--dtype f32|bf16] [--threads 2] [--reps 3] [--prefill 512]
//                 [--decode-steps 128] [--batch 8] [--batch-prompt 16]
//       prints one JSON line of tokens/s
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "illume/model/device.h"
#include "illume/model/model.h"
#include "illume/util/blas_kernel.h"
#include "illume/util/error.h"

using namespace illume;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

namespace {

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

// The harness's token stream (same constants, same seed): both engines see the same prompts.
struct TokenStream {
  std::uint64_t state;
  std::int64_t next(std::int64_t limit) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<std::int64_t>((state >> 33) % static_cast<std::uint64_t>(limit));
  }
};

void write_random(const fs::path& dir, const fs::path& tokenizer_dir, std::int64_t layers, std::uint64_t seed) {
  // Qwen3-0.6B: 28 layers, hidden 1024, 16 query heads, 8 KV heads, head_dim 128, MLP 3072, vocab 151936, tied.
  Json j = {{"architectures", {"Qwen3ForCausalLM"}}, {"model_type", "qwen3"}, {"vocab_size", 151936},
            {"hidden_size", 1024}, {"intermediate_size", 3072}, {"num_hidden_layers", layers},
            {"num_attention_heads", 16}, {"num_key_value_heads", 8}, {"head_dim", 128}, {"rms_norm_eps", 1e-6},
            {"rope_theta", 1000000.0}, {"tie_word_embeddings", true}, {"max_position_embeddings", 40960},
            {"bos_token_id", 151643}, {"eos_token_id", 151645}};
  auto config = ModelConfig::from_json(j, "bench_compare");
  Model::random(config, seed).save(dir, torch::kFloat);
  for (const char* name : {"tokenizer.json", "tokenizer_config.json"})
    fs::copy_file(tokenizer_dir / name, dir / name, fs::copy_options::overwrite_existing);
  std::printf("wrote %s: Qwen3-0.6B shape, %lld layers, %.0fM parameters\n", dir.c_str(),
              static_cast<long long>(layers), config.parameter_count() / 1e6);
}

struct Settings {
  std::string model, dtype = "f32";
  int threads = 2, reps = 3, prefill = 512, decode_steps = 128, batch = 8, batch_prompt = 16;
};

void run(const Settings& s) {
  torch::set_num_threads(s.threads);
  print_machine_header(stderr, torch::get_num_threads());
  LoadOptions options;
  options.dtype = parse_dtype(s.dtype);
  auto model = Model::load(s.model, options);
  torch::NoGradGuard no_grad;
  const std::int64_t plain_vocab = std::min<std::int64_t>(model.config().vocab_size, 151643);
  TokenStream stream{7};
  std::vector<std::int64_t> prompt_ids(static_cast<std::size_t>(s.prefill));
  for (auto& t : prompt_ids) t = stream.next(plain_vocab);
  auto prompt = torch::tensor(prompt_ids, torch::kLong).unsqueeze(0);

  std::vector<double> prefill_times, decode1_times, decode_batch_times;
  for (int rep = 0; rep <= s.reps; ++rep) {  // rep 0 warms up
    auto cache = model.new_cache(1, s.prefill + s.decode_steps + 1);
    auto start = Clock::now();
    auto next = model.prefill(cache, prompt, torch::ones_like(prompt)).argmax(-1);
    const double prefill_seconds = seconds_since(start);
    start = Clock::now();
    for (int step = 0; step < s.decode_steps; ++step) next = model.decode(cache, next).argmax(-1);
    const double decode_seconds = seconds_since(start);
    if (rep > 0) {
      prefill_times.push_back(prefill_seconds);
      decode1_times.push_back(decode_seconds);
    }
  }
  std::vector<std::int64_t> batch_ids(static_cast<std::size_t>(s.batch * s.batch_prompt));
  for (auto& t : batch_ids) t = stream.next(plain_vocab);
  auto prompts = torch::tensor(batch_ids, torch::kLong).view({s.batch, s.batch_prompt});
  for (int rep = 0; rep <= s.reps; ++rep) {
    auto cache = model.new_cache(s.batch, s.batch_prompt + s.decode_steps + 1);
    auto next = model.prefill(cache, prompts, torch::ones_like(prompts)).argmax(-1);
    auto start = Clock::now();
    for (int step = 0; step < s.decode_steps; ++step) next = model.decode(cache, next).argmax(-1);
    if (rep > 0) decode_batch_times.push_back(seconds_since(start));
  }
  // "compute": what the model computes in (bf16 runs in f32 on a CPU without AVX-512, device.h).
  std::printf("{\"dtype\": \"%s\", \"compute\": \"%s\", \"threads\": %d, \"prefill\": %.2f, \"decode1\": %.2f, "
              "\"decode_batch\": %.2f}\n",
              s.dtype.c_str(), dtype_name(model.dtype()).c_str(), torch::get_num_threads(), s.prefill / median(prefill_times),
              s.decode_steps / median(decode1_times), double(s.batch) * s.decode_steps / median(decode_batch_times));
}

}  // namespace

int main(int argc, char** argv) {
  select_blas_kernel_at_startup(argv);  // the same BLAS kernel fix as the CLI (util/blas_kernel.h)
  try {
    Settings s;
    std::string write_dir, tokenizer_dir;
    std::int64_t layers = 28;
    std::uint64_t seed = 1;
    for (int i = 1; i < argc; ++i) {
      std::string flag = argv[i];
      if (i + 1 >= argc) fail("bench_compare: {} needs a value", flag);
      std::string value = argv[++i];
      if (flag == "--write-random") write_dir = value;
      else if (flag == "--tokenizer") tokenizer_dir = value;
      else if (flag == "--layers") layers = std::stoll(value);
      else if (flag == "--seed") seed = std::stoull(value);
      else if (flag == "--model") s.model = value;
      else if (flag == "--dtype") s.dtype = value;
      else if (flag == "--threads") s.threads = std::stoi(value);
      else if (flag == "--reps") s.reps = std::stoi(value);
      else if (flag == "--prefill") s.prefill = std::stoi(value);
      else if (flag == "--decode-steps") s.decode_steps = std::stoi(value);
      else if (flag == "--batch") s.batch = std::stoi(value);
      else if (flag == "--batch-prompt") s.batch_prompt = std::stoi(value);
      else fail("bench_compare: unknown flag {}", flag);
    }
    init_torch_runtime();
    if (!write_dir.empty()) {
      if (tokenizer_dir.empty()) fail("bench_compare: --write-random needs --tokenizer DIR");
      write_random(write_dir, tokenizer_dir, layers, seed);
    } else if (!s.model.empty()) {
      run(s);
    } else {
      fail("bench_compare: give --write-random DIR or --model DIR");
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_compare: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
