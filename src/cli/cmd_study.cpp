// illume study: a grid of GRPO runs (credit strategies x seeds) from one starting model, each with
// in-training evaluation on held-out puzzles, then one report (src/illume/study/study.h, docs/study.md).
//   illume study [--config configs/study-countdown.yaml] [key.sub=value ...] [--quick] [--resume | --overwrite]
// Overrides use the config's dotted keys, the study's (study.seeds=[0,1]) and the recipe's
// (run.steps=10); --quick applies the config's study.quick overrides first (a CI-sized grid).
#include <cstdio>
#include <memory>

#include "cli/command.h"
#include "illume/study/study.h"
#include "illume/study/study_config.h"
#include "illume/util/build_paths.h"
#include "illume/util/error.h"

namespace {

void setup(CLI::App& app) {
  struct Flags {
    std::string config = (std::filesystem::path(::illume::build::source_dir()) / "configs/study-countdown.yaml").string();
    std::vector<std::string> overrides;
    bool quick = false, resume = false, overwrite = false, print_config = false;
  };
  auto f = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand("study",
                                 "Run a grid of GRPO runs (credit strategies x seeds) with held-out evaluation and write "
                                 "one report (OUT/index.html, OUT/study.json)");
  cmd->add_option("--config", f->config, "the study config: a study: section plus a GRPO recipe")->capture_default_str();
  cmd->add_option("overrides", f->overrides, "key.sub=value overrides (study.seeds=[0,1], run.steps=10, ...)");
  cmd->add_flag("--quick", f->quick, "apply the config's study.quick overrides first (a CI-sized grid)");
  cmd->add_flag("--resume", f->resume, "continue the study in study.out: finished runs are kept, unfinished ones resume");
  cmd->add_flag("--overwrite", f->overwrite, "start over in a study.out that holds an old study (removes only its files)");
  cmd->add_flag("--print-config", f->print_config, "print the resolved study (grid, recipe, runs) as JSON and exit");
  cmd->callback([f] {
    auto config = illume::study::load_study_config(f->config, f->overrides, f->quick);
    if (f->print_config) {
      std::printf("%s\n", illume::study::study_config_to_json(config).dump(2).c_str());
      return;
    }
    if (f->resume && f->overwrite) illume::fail("--resume and --overwrite exclude each other");
    illume::study::run_study(config, f->resume      ? illume::study::StudyStart::Resume
                                     : f->overwrite ? illume::study::StudyStart::Overwrite
                                                    : illume::study::StudyStart::Fresh);
  });
}
ILLUME_COMMAND(setup);

}  // namespace
