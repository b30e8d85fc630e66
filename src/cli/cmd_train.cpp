// illume train: GRPO with attention-guided credit (METHOD.md section 4) from a YAML recipe.
//   illume train --config configs/countdown-tiny-cpu.yaml [key.sub=value ...] [--resume] [--print-config]
// Overrides use the recipe's dotted keys (e.g. credit.strategy=coupled run.steps=10); values are
// parsed as YAML. Unknown keys, wrong types and unknown names (a task, a dtype) fail naming the file
// or the override before any model loads.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli/command.h"
#include "illume/train/grpo_trainer.h"
#include "illume/train/train_config.h"

namespace {

void setup(CLI::App& app) {
  struct Flags {
    std::string config;
    std::vector<std::string> overrides;
    bool resume = false;
    bool print_config = false;
  };
  auto f = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand("train", "Train with GRPO (+ attention-guided credit) from a YAML recipe");
  cmd->add_option("--config", f->config, "the YAML recipe (see configs/)")->required();
  cmd->add_option("overrides", f->overrides, "key.sub=value overrides of the recipe");
  cmd->add_flag("--resume", f->resume, "continue from the newest complete checkpoint in run.out");
  cmd->add_flag("--print-config", f->print_config, "print the resolved config (absolute paths) as JSON and exit");
  cmd->callback([f] {
    auto config = illume::train::load_train_config(f->config, f->overrides);
    if (f->print_config) {
      std::printf("%s\n", illume::train::train_config_to_json(config).dump(2).c_str());
      return;
    }
    illume::train::run_training(config, f->resume);
  });
}
ILLUME_COMMAND(setup);

}  // namespace
