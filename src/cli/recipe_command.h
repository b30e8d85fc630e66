// The shape both recipe-driven commands share (`illume train`, `illume sft`):
//   illume CMD --config FILE.yaml [key.sub=value ...] [--resume | --overwrite] [--print-config]
// The recipe is read (and every key checked) before anything else happens; --print-config prints the
// resolved config with absolute paths and exits; otherwise run.out is checked (train/run_folder.h: a
// fresh run needs an empty or absent folder) and the run starts (or resumes).
#pragma once
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cli/command.h"
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
  };
  auto f = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand(command.name, command.description);
  cmd->add_option("--config", f->config, command.config_help)->required();
  cmd->add_option("overrides", f->overrides, "key.sub=value overrides of the recipe");
  cmd->add_flag("--resume", f->resume, "continue from the newest complete checkpoint in run.out");
  cmd->add_flag("--overwrite", f->overwrite,
                "start over in a run.out that holds an old run (removes only the run's own files)");
  cmd->add_flag("--print-config", f->print_config, "print the resolved config (absolute paths) as JSON and exit");
  cmd->callback([f, command] {
    auto config = command.load(f->config, f->overrides);
    if (f->print_config) {
      std::printf("%s\n", command.to_json(config).dump(2).c_str());
      return;
    }
    if (f->resume && f->overwrite) fail("--resume and --overwrite exclude each other");
    train::prepare_run_folder(config.run.out, f->resume      ? train::RunStart::Resume
                                              : f->overwrite ? train::RunStart::Overwrite
                                                             : train::RunStart::Fresh);
    command.run(config, f->resume);
  });
}

}  // namespace illume::cli
