// The shape both recipe-driven commands share (`illume train`, `illume sft`):
//   illume CMD --config FILE.yaml [key.sub=value ...] [--resume | --overwrite] [--print-config]
// The recipe is read (and every key checked) before anything else happens; --print-config prints the
// resolved config with absolute paths and exits; otherwise run.out is checked (train/run_folder.h: a
// fresh run needs an empty or absent folder) and the run starts (or resumes).
// Several processes (torchrun's env:// variables, e.g. from `illume launch`): each joins the process
// group (dist/dist.h; --dist-backend, --dist-timeout), rank 0 alone checks and prepares run.out, and
// a CUDA model without a device index goes to cuda:LOCAL_RANK.
#pragma once
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cli/command.h"
#include "illume/dist/dist.h"
#include "illume/train/run_folder.h"
#include "illume/util/error.h"
#include "illume/util/json.h"

namespace illume::cli {

template <typename Config>
struct RecipeCommand {
  const char* name;
  const char* description;
  const char* config_help;
  std::function<Config(const std::string& yaml, const std::vector<std::string>& overrides)> load;
  std::function<Json(const Config&)> to_json;
  std::function<void(const Config&, bool resume)> run;
};

template <typename Config>
void add_recipe_command(CLI::App& app, RecipeCommand<Config> command) {
  struct Flags {
    std::string config;
    std::vector<std::string> overrides;
    bool resume = false;
    bool overwrite = false;
    bool print_config = false;
    std::string dist_backend = "auto";
    double dist_timeout = 600;
  };
  auto f = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand(command.name, command.description);
  cmd->add_option("--config", f->config, command.config_help)->required();
  cmd->add_option("overrides", f->overrides, "key.sub=value overrides of the recipe");
  cmd->add_flag("--resume", f->resume, "continue from the newest complete checkpoint in run.out");
  cmd->add_flag("--overwrite", f->overwrite,
                "start over in a run.out that holds an old run (removes only the run's own files)");
  cmd->add_flag("--print-config", f->print_config, "print the resolved config (absolute paths) as JSON and exit");
  cmd->add_option("--dist-backend", f->dist_backend,
                  "several processes: gloo | nccl | auto (NCCL for a CUDA model, Gloo for a CPU one)")
      ->capture_default_str();
  cmd->add_option("--dist-timeout", f->dist_timeout,
                  "several processes: seconds a collective waits for the other ranks before failing")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->callback([f, command] {
    auto config = command.load(f->config, f->overrides);
    if (f->print_config) {
      std::printf("%s\n", command.to_json(config).dump(2).c_str());
      return;
    }
    if (f->resume && f->overwrite) fail("--resume and --overwrite exclude each other");
    dist::Options distributed;
    distributed.backend = dist::parse_backend(f->dist_backend);
    distributed.timeout = std::chrono::seconds(static_cast<std::int64_t>(std::ceil(f->dist_timeout)));
    distributed.cuda = config.model.device.is_cuda();
    dist::init(distributed);
    if (dist::active() && distributed.cuda && !config.model.device.has_index())
      config.model.device = c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(dist::local_rank()));
    if (dist::is_main())
      train::prepare_run_folder(config.run.out, f->resume      ? train::RunStart::Resume
                                                : f->overwrite ? train::RunStart::Overwrite
                                                               : train::RunStart::Fresh);
    dist::barrier();  // the other ranks start once run.out is checked
    command.run(config, f->resume);
    dist::finish();
  });
}

}  // namespace illume::cli
