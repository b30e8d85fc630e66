#include <torch/torch.h>

#include <cstdlib>

#include "cli/command.h"
#include "illume/model/device.h"
#include "illume/util/blas_kernel.h"

namespace {
void setup(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "Print build and machine information: libtorch, CUDA, CPU and ISA, AMX, BLAS kernel core, threads");
  cmd->callback([] {
    // The thread count the other commands run with: init_torch_runtime applies ILLUME_THREADS (or
    // the core count) as every model load does; before it, torch reports its own start-up value.
    illume::init_torch_runtime();
    const char* env = std::getenv("ILLUME_THREADS");
    std::printf("illume 0.1.0\nlibtorch %s\ncuda available: %s\n", TORCH_VERSION, torch::cuda::is_available() ? "yes" : "no");
    for (const auto& line : illume::machine_description()) std::printf("%s\n", line.c_str());
    std::printf("threads: %d (%s)\n", at::get_num_threads(),
                env != nullptr ? (std::string("ILLUME_THREADS=") + env).c_str() : "all cores; ILLUME_THREADS sets it");
  });
}
ILLUME_COMMAND(setup);
}  // namespace
