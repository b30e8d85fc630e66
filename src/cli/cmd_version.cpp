#include <torch/torch.h>

#include "cli/command.h"

namespace {
void setup(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "Print build information: libtorch version, CUDA availability, threads");
  cmd->callback([] {
    std::printf("illume 0.1.0\nlibtorch %s\ncuda available: %s\nthreads: %d\n", TORCH_VERSION,
                torch::cuda::is_available() ? "yes" : "no", torch::get_num_threads());
  });
}
ILLUME_COMMAND(setup);
}  // namespace
