// Matrix-product throughput (GFLOP/s) through libtorch's CPU GEMM, the number the BLAS kernel choice
// moves (issue 12 item 1; docs/performance.md "BLAS kernel selection").
//   build/bench/bench_gemm [--sizes 512,1024,2048] [--dtypes f32,bf16] [--seconds 1]
// Square products C = A B; each size runs warm-up then repeats for about --seconds, best repetition kept.
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "bench_util.h"
#include "illume/model/device.h"
#include "illume/util/blas_kernel.h"

using namespace illume;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

}  // namespace

int main(int argc, char** argv) {
  select_blas_kernel_at_startup(argv);  // the same BLAS kernel fix as the CLI (util/blas_kernel.h)
  std::string sizes = "512,1024,2048", dtypes = "f32,bf16";
  double budget_seconds = 1.0;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--sizes") && i + 1 < argc) sizes = argv[++i];
    else if (!std::strcmp(argv[i], "--dtypes") && i + 1 < argc) dtypes = argv[++i];
    else if (!std::strcmp(argv[i], "--seconds") && i + 1 < argc) budget_seconds = std::stod(argv[++i]);
    else {
      std::fprintf(stderr, "usage: %s [--sizes 512,1024,2048] [--dtypes f32,bf16] [--seconds 1]\n", argv[0]);
      return 2;
    }
  }
  init_torch_runtime();
  print_machine_header(stdout, torch::get_num_threads());
  std::printf("\n| dtype | n | GFLOP/s (best) |\n|---|---|---|\n");
  torch::NoGradGuard no_grad;
  for (const auto& dtype_text : bench::split_list(dtypes)) {
    const auto dtype = parse_dtype(dtype_text);
    for (const auto& size_text : bench::split_list(sizes)) {
      const std::int64_t n = std::stoll(size_text);
      auto options = torch::TensorOptions().dtype(dtype);
      auto a = torch::randn({n, n}, options), b = torch::randn({n, n}, options), c = torch::empty({n, n}, options);
      torch::mm_out(c, a, b);  // warm-up: thread pool, packing buffers
      double best = 1e30, spent = 0;
      for (int rep = 0; rep < 3 || spent < budget_seconds; ++rep) {
        auto t0 = Clock::now();
        torch::mm_out(c, a, b);
        const double t = seconds_since(t0);
        best = std::min(best, t);
        spent += t;
      }
      std::printf("| %s | %lld | %.1f |\n", dtype_text.c_str(), static_cast<long long>(n), 2.0 * n * n * n / best / 1e9);
      std::fflush(stdout);
    }
  }
  return 0;
}
