// Rollout throughput of generate() on the default model (issue 12, item 6: continuous batching):
//   demo: the GRPO demo recipe's rollout (configs/demo-grpo.yaml): 8 training prompts x 8 samples,
//         max_batch_rows 64, temperature 1, 128 new tokens at most
//   eval: an evaluation-like load: 128 test prompts, greedy, max_batch_rows 32, 128 new tokens at most
//   build/bench/bench_rollout [--model DIR] [--data-root DIR] [--loads demo,eval] [--repeats 3] [--warmup 1]
//                           [--eval-rows 32]
// Prints one table row per load and a `RESULT load=... tokens_per_second=...` line that
// bench/rollout_compare.sh reads to compare two builds run alternately. Tokens are generated tokens
// (stop tokens included); the time per token is the median of the repeats after the warm-up runs.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "illume/data/tasks.h"
#include "illume/infer/generate.h"
#include "illume/model/device.h"
#include "illume/model/model.h"
#include "illume/text/tokenizer.h"
#include "illume/util/blas_kernel.h"
#include "illume/util/build_paths.h"

using namespace illume;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

struct Load {
  std::string name;
  std::string data;  // relative to the data root
  std::size_t prompts;
  std::int64_t samples, rows;
  double temperature;
};

}  // namespace

int main(int argc, char** argv) {
  select_blas_kernel_at_startup(argv);  // the same BLAS kernel fix as the CLI (util/blas_kernel.h)
  fs::path model_dir = fs::path(build::source_dir()) / "models" / "illume-countdown-tiny";
  fs::path data_root = fs::path(build::shared_dir()) / "data";
  std::string loads = "demo,eval";
  int repeats = 3, warmup = 1;
  std::int64_t eval_rows = 32;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--model") && i + 1 < argc) model_dir = argv[++i];
    else if (!std::strcmp(argv[i], "--data-root") && i + 1 < argc) data_root = argv[++i];
    else if (!std::strcmp(argv[i], "--loads") && i + 1 < argc) loads = argv[++i];
    else if (!std::strcmp(argv[i], "--repeats") && i + 1 < argc) repeats = std::max(1, std::atoi(argv[++i]));
    else if (!std::strcmp(argv[i], "--warmup") && i + 1 < argc) warmup = std::max(0, std::atoi(argv[++i]));
    else if (!std::strcmp(argv[i], "--eval-rows") && i + 1 < argc) eval_rows = std::max(1, std::atoi(argv[++i]));
    else {
      std::fprintf(stderr, "bench_rollout: unknown argument %s\n", argv[i]);
      return 2;
    }
  }
  init_torch_runtime();
  print_machine_header(stdout, torch::get_num_threads());
  auto model = Model::load(model_dir);
  auto tokenizer = Tokenizer::from_dir(model_dir);
  std::printf("model: %s, %.2fM parameters, %d threads, libtorch %s\n", model_dir.string().c_str(),
              model.config().parameter_count() / 1e6, torch::get_num_threads(), TORCH_VERSION);
  std::printf("| load | prompts x samples | rows | tokens | seconds (median of %d) | tokens/s |\n|---|---|---|---|---|---|\n",
              repeats);
  const std::vector<Load> all = {{"demo", "countdown/train.jsonl", 8, 8, 64, 1.0},
                                 {"eval", "countdown/test.jsonl", 128, 1, eval_rows, 0.0}};
  for (const auto& load : all) {
    if (("," + loads + ",").find("," + load.name + ",") == std::string::npos) continue;
    const auto path = data_root / load.data;
    if (!fs::exists(path)) {
      std::fprintf(stderr, "bench_rollout: %s: no such file (the countdown data of ../shared)\n", path.string().c_str());
      return 1;
    }
    auto problems = data::load_problems(data::Task::Countdown, path);
    std::vector<std::vector<std::int32_t>> prompts;
    for (std::size_t i = 0; i < load.prompts && i < problems.size(); ++i)
      prompts.push_back(tokenizer.encode(data::prompt_text(data::Task::Countdown, problems[i], data::PromptStyle::Chat), true));
    auto o = sampling_options(model.config(), tokenizer);
    o.temperature = load.temperature;
    o.num_samples = load.samples;
    o.max_batch_rows = load.rows;
    o.max_new_tokens = 128;
    auto detokenize = [&](const std::vector<std::int32_t>& ids) { return tokenizer.decode(ids, true); };
    std::vector<double> seconds;
    std::int64_t tokens = 0;
    for (int rep = 1 - warmup; rep <= repeats; ++rep) {
      o.seed = static_cast<std::uint64_t>(rep);  // the demo's steps draw different samples
      const auto t0 = Clock::now();
      auto completions = generate(model, prompts, o, detokenize);
      const double s = std::chrono::duration<double>(Clock::now() - t0).count();
      if (rep <= 0) continue;  // warm-up
      std::int64_t n = 0;
      for (const auto& c : completions) n += static_cast<std::int64_t>(c.ids.size());
      tokens += n;
      seconds.push_back(s / static_cast<double>(n));  // seconds per token: the samples differ per seed
    }
    std::sort(seconds.begin(), seconds.end());
    const double per_token = seconds[seconds.size() / 2];
    const double mean_tokens = static_cast<double>(tokens) / repeats;
    std::printf("| %s | %zu x %lld | %lld | %.0f | %.3f | %.1f |\n", load.name.c_str(), prompts.size(),
                static_cast<long long>(load.samples), static_cast<long long>(load.rows), mean_tokens,
                per_token * mean_tokens, 1.0 / per_token);
    std::printf("RESULT load=%s tokens_per_second=%.2f\n", load.name.c_str(), 1.0 / per_token);
    std::fflush(stdout);
  }
  return 0;
}
