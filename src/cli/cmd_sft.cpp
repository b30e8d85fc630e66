// illume sft: supervised fine-tuning / tiny pre-training from a YAML recipe (train/sft.h).
//   illume sft --config FILE.yaml [key.sub=value ...] [--resume] [--print-config]
// The recipe shares its model, data, optim and run sections with `illume train` (train/recipe.h).
// (Greedy Countdown accuracy of a model: illume eval --task countdown --chat --data test.jsonl --limit 512.)
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli/command.h"
#include "illume/train/sft.h"

namespace {

void setup_sft(CLI::App& app) {
  struct Flags {
    std::string config;
    std::vector<std::string> overrides;
    bool resume = false;
    bool print_config = false;
  };
  auto f = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand("sft", "Supervised fine-tuning (or tiny pre-training from random weights) from a YAML recipe");
  cmd->add_option("--config", f->config, "YAML recipe (see configs/default-model.yaml)")->required();
  cmd->add_option("overrides", f->overrides, "key.sub=value overrides of the recipe");
  cmd->add_flag("--resume", f->resume, "continue from the newest complete checkpoint in run.out");
  cmd->add_flag("--print-config", f->print_config, "print the resolved config (absolute paths) as JSON and exit");
  cmd->callback([f] {
    auto config = illume::train::load_sft_config(f->config, f->overrides);
    if (f->print_config) {
      std::printf("%s\n", illume::train::sft_config_to_json(config).dump(2).c_str());
      return;
    }
    auto final_dir = illume::train::run_sft(config, f->resume);
    std::printf("%s\n", final_dir.string().c_str());
  });
}
ILLUME_COMMAND(setup_sft);

}  // namespace
