// The shape both recipe-driven commands share (`illume train`, `illume sft`):
//   illume CMD --config FILE.yaml [key.sub=value ...] [--resume] [--print-config]
// The recipe is read (and every key checked) before anything else happens; --print-config prints the
// resolved config with absolute paths and exits; otherwise the run starts (or resumes).
#pragma once
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cli/command.h"
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
    bool print_config = false;
  };
  auto f = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand(command.name, command.description);
  cmd->add_option("--config", f->config, command.config_help)->required();
  cmd->add_option("overrides", f->overrides, "key.sub=value overrides of the recipe");
  cmd->add_flag("--resume", f->resume, "continue from the newest complete checkpoint in run.out");
  cmd->add_flag("--print-config", f->print_config, "print the resolved config (absolute paths) as JSON and exit");
  cmd->callback([f, command] {
    auto config = command.load(f->config, f->overrides);
    if (f->print_config) {
      std::printf("%s\n", command.to_json(config).dump(2).c_str());
      return;
    }
    command.run(config, f->resume);
  });
}

}  // namespace illume::cli
