// Streaming attention statistics vs the materialising reference vs a plain forward (issue 3), on a
// Qwen3-0.6B-shaped model with random weights (28 layers, hidden 1024, 16 query / 8 KV heads, head_dim
// 128, MLP 3072; the vocabulary is cut to 4096 by default -- it only changes the embedding, which a
// forward_hidden does not multiply by the LM head, so attention cost is unaffected).
//   build/bench/bench_attention_stats [--lengths 512,2048,8192] [--quick] [--vocab 4096]
//                                     [--reference-max 2048] [--layers 28]
// For each total length L (one sequence: prompt L/4, response 3L/4) it times
//   (a) forward_hidden with no observer,
//   (b) the same forward with the streaming accumulator (RL config: 5 middle-third layers, W = 10,
//       H = [10, 100]), passes = 1 (one forward) and passes = 2 (two forwards),
//   (c) the reference: the forward recording the 5 layers' full maps, then reference_attention_stats.
// Memory: bytes held by the accumulator / the recorded maps, and the process peak-RSS increase over the
// run (VmHWM after /proc/self/clear_refs). Above --reference-max the reference is not run; its map
// memory is given analytically (5 x H x L^2 x 4 bytes, marked "analytic").
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "illume/attention/reference.h"
#include "illume/attention/streaming.h"
#include "illume/model/device.h"
#include "illume/model/model.h"
#include "illume/util/blas_kernel.h"
#include "illume/util/json.h"

using namespace illume;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Field of /proc/self/status in kB.
long long status_kb(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field, 0) == 0) return std::stoll(line.substr(std::strlen(field) + 1));
  return -1;
}

// Runs f; returns seconds and the peak RSS increase (bytes) over the RSS before.
std::pair<double, long long> measure(const std::function<void()>& f) {
  { std::ofstream("/proc/self/clear_refs") << "5"; }  // reset VmHWM to the current RSS
  auto before = status_kb("VmRSS:");
  auto t0 = Clock::now();
  f();
  double s = seconds_since(t0);
  return {s, (status_kb("VmHWM:") - before) * 1024};
}

std::string mib(double bytes) {
  char b[64];
  std::snprintf(b, sizeof b, "%.2f MiB", bytes / (1024.0 * 1024.0));
  return b;
}

std::vector<std::int64_t> parse_list(const std::string& s) {
  std::vector<std::int64_t> out;
  std::size_t start = 0;
  while (start < s.size()) {
    auto end = s.find(',', start);
    if (end == std::string::npos) end = s.size();
    out.push_back(std::stoll(s.substr(start, end - start)));
    start = end + 1;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  select_blas_kernel_at_startup(argv);  // the same BLAS kernel fix as the CLI (util/blas_kernel.h)
  std::string lengths_text = "512,2048,8192";
  std::int64_t vocab = 4096, reference_max = 2048, layers = 28;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--quick")) {
      lengths_text = "256";
      layers = 6;
    } else if (!std::strcmp(argv[i], "--lengths") && i + 1 < argc) lengths_text = argv[++i];
    else if (!std::strcmp(argv[i], "--vocab") && i + 1 < argc) vocab = std::stoll(argv[++i]);
    else if (!std::strcmp(argv[i], "--reference-max") && i + 1 < argc) reference_max = std::stoll(argv[++i]);
    else if (!std::strcmp(argv[i], "--layers") && i + 1 < argc) layers = std::stoll(argv[++i]);
    else {
      std::fprintf(stderr, "usage: %s [--lengths 512,2048,8192] [--quick] [--vocab N] [--reference-max L] [--layers N]\n",
                   argv[0]);
      return 2;
    }
  }
  init_torch_runtime();
  print_machine_header(stdout, torch::get_num_threads());
  Json j = {{"model_type", "qwen3"}, {"vocab_size", vocab}, {"hidden_size", 1024}, {"intermediate_size", 3072},
            {"num_hidden_layers", layers}, {"num_attention_heads", 16}, {"num_key_value_heads", 8},
            {"head_dim", 128}, {"rms_norm_eps", 1e-6}, {"rope_theta", 1000000.0}, {"tie_word_embeddings", true},
            {"max_position_embeddings", 40960}};
  auto config = ModelConfig::from_json(j, "bench");
  auto model = Model::random(config, 1);
  torch::NoGradGuard no_grad;
  auto stats_config = rl_attention_config(static_cast<int>(config.num_layers));
  std::printf("model: Qwen3-0.6B shape, %lld layers, vocab %lld, %d threads; observed layers:", static_cast<long long>(layers),
              static_cast<long long>(vocab), torch::get_num_threads());
  for (int l : stats_config.layers) std::printf(" %d", l);
  std::printf("; W = 10, H = [10, 100]; attention block rows 256\n\n");
  std::printf("| L | plain forward | streaming p=1 | streaming p=2 | reference | time p=1 / plain | time p=2 / plain "
              "| accumulator bytes p=1 | p=2 | reference maps | accumulator / maps (p=1) | peak RSS +: plain | p=1 | p=2 | reference |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  const auto H = config.num_heads;
  for (auto L : parse_list(lengths_text)) {
    const std::int64_t P = L / 4, R = L - P;
    auto gen = at::detail::createCPUGenerator(static_cast<std::uint64_t>(L));
    auto ids = torch::randint(0, vocab, {1, L}, gen, torch::kLong);
    auto mask = torch::ones({1, L}, torch::kLong);
    std::vector<SequenceLayout> layouts = {{0, P, R}};
    model.forward_hidden(ids.narrow(1, 0, std::min<std::int64_t>(L, 64)), mask.narrow(1, 0, std::min<std::int64_t>(L, 64)));  // warm-up
    auto plain = measure([&] { model.forward_hidden(ids, mask); });
    std::int64_t bytes1 = 0, bytes2 = 0;
    auto stream = [&](int passes, std::int64_t* bytes) {
      auto c = stats_config;
      c.passes = passes;
      AttentionStatsAccumulator acc(c, layouts);
      for (int p = 0; p < passes; ++p) {
        model.forward_hidden(ids, mask, &acc);
        acc.end_pass();
      }
      *bytes = acc.bytes();
      auto out = acc.finalize();
      if (out[0].waad.size(0) != R) std::abort();
    };
    auto s1 = measure([&] { stream(1, &bytes1); });
    auto s2 = measure([&] { stream(2, &bytes2); });
    const double maps_bytes = double(stats_config.layers.size()) * double(H) * double(L) * double(L) * 4.0;
    std::string ref_time = "not run", ref_rss = "not run", maps_text = mib(maps_bytes) + " (analytic)";
    if (L <= reference_max) {
      std::int64_t recorded = 0;
      auto ref = measure([&] {
        FullMapRecorder recorder(stats_config.layers);
        model.forward_hidden(ids, mask, &recorder);
        recorded = recorder.bytes();
        auto out = reference_attention_stats(recorder.maps(), layouts, stats_config);
        if (out[0].waad.size(0) != R) std::abort();
      });
      char b[64];
      std::snprintf(b, sizeof b, "%.2f s", ref.first);
      ref_time = b;
      ref_rss = mib(double(ref.second));
      maps_text = mib(double(recorded));
    }
    std::printf("| %lld | %.2f s | %.2f s | %.2f s | %s | %.3f | %.3f | %s | %s | %s | %.5f%% | %s | %s | %s | %s |\n",
                static_cast<long long>(L), plain.first, s1.first, s2.first, ref_time.c_str(), s1.first / plain.first,
                s2.first / plain.first, mib(double(bytes1)).c_str(), mib(double(bytes2)).c_str(), maps_text.c_str(),
                100.0 * double(bytes1) / maps_bytes, mib(double(plain.second)).c_str(), mib(double(s1.second)).c_str(),
                mib(double(s2.second)).c_str(), ref_rss.c_str());
    std::fflush(stdout);
  }
  return 0;
}
