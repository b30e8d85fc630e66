// illume sft: supervised fine-tuning / tiny pre-training from a YAML recipe (train/sft.h).
//   illume sft --config FILE.yaml [key.sub=value ...] [--resume] [--print-config]
// The recipe shares its model, data, optim and run sections with `illume train` (train/recipe.h).
// (Greedy Countdown accuracy of a model: illume eval --task countdown --chat --data test.jsonl --limit 512.)
#include "cli/recipe_command.h"
#include "illume/train/sft.h"

namespace {

void setup_sft(CLI::App& app) {
  illume::cli::add_recipe_command<illume::train::SftConfig>(
      app, {"sft", "Supervised fine-tuning (or tiny pre-training from random weights) from a YAML recipe",
            "YAML recipe (see configs/default-model.yaml)", illume::train::load_sft_config,
            illume::train::sft_config_to_json, [](const illume::train::SftConfig& config, bool resume) {
              std::printf("%s\n", illume::train::run_sft(config, resume).string().c_str());
            }});
}
ILLUME_COMMAND(setup_sft);

}  // namespace
