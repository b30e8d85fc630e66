// GRPO step time on 1 rank vs 2 ranks (data parallelism over Gloo on the loopback interface), one
// torch thread per rank, on the demo recipe (configs/demo-grpo.yaml: 64 responses a step, credit
// coupled) with the same global batch.
//   build/bench/bench_distributed [--steps 6] [--out DIR]
// Runs the built `illume` (`illume train`, then `illume launch --nproc 2 -- train`) and reads rank 0's
// metrics.jsonl: the mean of each phase over the steps after the first (warm-up), the speed-up, and the
// communication share (time inside collectives, sending and waiting for the slower rank, over the step).
#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "illume/util/build_paths.h"
#include "illume/util/json.h"

namespace fs = std::filesystem;
using illume::Json;

namespace {

std::string quote(const std::string& s) { return "'" + s + "'"; }

// Mean of `key` over the rows after the first (0 when absent).
double mean_after_first(const std::vector<Json>& rows, const std::string& key) {
  double sum = 0;
  int n = 0;
  for (std::size_t i = 1; i < rows.size(); ++i) {
    if (!rows[i].contains(key)) continue;
    sum += rows[i][key].get<double>();
    ++n;
  }
  return n ? sum / n : 0.0;
}

// User + system CPU seconds of the finished children so far (every rank, and launch).
double children_cpu_seconds() {
  rusage usage{};
  ::getrusage(RUSAGE_CHILDREN, &usage);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + 1e-6 * static_cast<double>(t.tv_usec); };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

}  // namespace

int main(int argc, char** argv) {
  int steps = 6;
  fs::path out = fs::temp_directory_path() / "illume-bench-distributed";
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--steps") && i + 1 < argc) steps = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--out") && i + 1 < argc) out = argv[++i];
  }
  const fs::path source = illume::build::source_dir();
  const std::string binary = (fs::path(illume::build::binary_dir()) / "illume").string();
  const std::string recipe = (source / "configs/demo-grpo.yaml").string();
  const std::string common = " --config " + quote(recipe) + " run.steps=" + std::to_string(steps) +
                             " run.progress=false run.tensorboard=false --overwrite";
  ::setenv("ILLUME_THREADS", "1", 1);
  struct Run {
    const char* name;
    std::string command;
    fs::path dir;
  };
  std::vector<Run> runs = {
      {"1 rank", quote(binary) + " train" + common, out / "one"},
      {"2 ranks", quote(binary) + " launch --nproc 2 -- train" + common, out / "two"},
  };
  std::printf("GRPO, configs/demo-grpo.yaml (64 responses a step, credit coupled), %d steps, 1 thread a rank; "
              "means over steps 2-%d\n",
              steps, steps);
  // Wall times need a core per rank; on a shared machine the CPU time of all ranks (the whole run,
  // start-up included, per step) shows the work the split adds: equal CPU means a 2x speed-up when
  // each rank has its own core.
  std::printf("| ranks | step (s) | generate (s) | old log-probs + attention (s) | updates (s) | communication (s) | "
              "communication share | speed-up | CPU s per step, all ranks |\n|---|---|---|---|---|---|---|---|---|\n");
  double one_step = 0;
  for (auto& run : runs) {
    const std::string command = run.command + " run.out=" + quote(run.dir.string()) + " >/dev/null 2>" +
                                quote((out / (std::string(run.name).substr(0, 1) + ".err")).string());
    fs::create_directories(out);
    const double cpu_before = children_cpu_seconds();
    if (std::system(command.c_str()) != 0) {
      std::fprintf(stderr, "bench_distributed: '%s' failed (see %s)\n", command.c_str(), out.c_str());
      return 1;
    }
    const double cpu = (children_cpu_seconds() - cpu_before) / steps;
    const auto rows = illume::read_jsonl_file(run.dir / "metrics.jsonl");
    const double step = mean_after_first(rows, "time_step_seconds");
    const double communication = mean_after_first(rows, "time_communication_seconds");
    if (one_step == 0) one_step = step;
    std::printf("| %s | %.2f | %.2f | %.2f | %.2f | %.2f | %.1f%% | %.2fx | %.2f |\n", run.name, step,
                mean_after_first(rows, "time_generate_seconds"),
                mean_after_first(rows, "time_old_logprobs_seconds") + mean_after_first(rows, "time_attention_seconds"),
                mean_after_first(rows, "time_train_seconds"), communication, 100 * communication / step,
                one_step / step, cpu);
  }
  return 0;
}
