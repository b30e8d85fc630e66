// illume train: GRPO with attention-guided credit (METHOD.md section 4) from a YAML recipe.
//   illume train --config configs/countdown-tiny-cpu.yaml [key.sub=value ...] [--resume] [--print-config]
// Overrides use the recipe's dotted keys (e.g. credit.strategy=coupled run.steps=10); values are
// parsed as YAML. Unknown keys, wrong types and unknown names (a task, a dtype) fail naming the file
// or the override before any model loads.
#include "cli/recipe_command.h"
#include "illume/train/grpo_trainer.h"
#include "illume/train/train_config.h"

namespace {

void setup(CLI::App& app) {
  illume::cli::add_recipe_command<illume::train::TrainConfig>(
      app, {"train", "Train with GRPO (+ attention-guided credit) from a YAML recipe", "the YAML recipe (see configs/)",
            illume::train::load_train_config, illume::train::train_config_to_json, illume::train::run_training});
}
ILLUME_COMMAND(setup);

}  // namespace
