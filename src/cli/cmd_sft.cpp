// illume sft: supervised fine-tuning / tiny pre-training from a YAML recipe (train/sft.h).
//   illume sft --config FILE.yaml [key.sub=value ...]
// (Greedy Countdown accuracy of a model: illume eval --task countdown --chat --data test.jsonl --limit 512.)
#include <torch/torch.h>

#include <cstdio>

#include "cli/command.h"
#include "cli/common.h"
#include "illume/train/sft.h"
#include "illume/util/error.h"
#include "illume/util/file.h"
#include "illume/util/json.h"

namespace {

void setup_sft(CLI::App& app) {
  struct Flags {
    std::string config;
    std::vector<std::string> overrides;
  };
  auto f = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand("sft", "Supervised fine-tuning (or tiny pre-training from random weights) from a YAML recipe");
  cmd->add_option("--config", f->config, "YAML recipe (see configs/default-model.yaml)")->required();
  cmd->add_option("overrides", f->overrides, "key.sub=value overrides of the recipe");
  cmd->callback([f] {
    auto config = illume::train::load_sft_config(f->config, f->overrides);
    auto final_dir = illume::train::run_sft(config);
    std::printf("%s\n", final_dir.string().c_str());
  });
}
ILLUME_COMMAND(setup_sft);


}  // namespace
