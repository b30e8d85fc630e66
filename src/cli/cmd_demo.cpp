// illume demo: the main job behind `make demo` (src/illume/demo/demo.h): the default model evaluated
// and analysed, GRPO with credit none and coupled, both evaluated and analysed, one dashboard.
//   illume demo [--model DIR] [--shared DIR] [--out DIR] [--config FILE.yaml] [key.sub=value ...]
#include <cstdio>
#include <memory>

#include "cli/command.h"
#include "cli/common.h"
#include "illume/demo/demo.h"
#include "illume/util/error.h"
#include "illume/util/build_paths.h"

namespace {

std::filesystem::path source_path(const char* relative) { return std::filesystem::path(::illume::build::source_dir()) / relative; }

void setup(CLI::App& app) {
  struct Flags {
    std::string model = source_path("models/illume-countdown-tiny").string();
    std::string shared = source_path("../shared").string();
    std::string out = "runs/demo";
    std::string config = source_path("configs/demo-grpo.yaml").string();
    std::vector<std::string> overrides, strategies = {"none", "coupled"};
    illume::demo::DemoOptions options;
  };
  auto f = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand("demo",
                                 "The main job: evaluate and analyse the default model, train it with GRPO (credit none "
                                 "and coupled), evaluate and analyse both, and write OUT/index.html");
  cmd->add_option("--model", f->model, "the model to start from")->capture_default_str();
  cmd->add_option("--shared", f->shared, "folder with data/countdown/{train,test}.jsonl (else generated puzzles)")
      ->capture_default_str();
  cmd->add_option("--out", f->out, "output folder")->capture_default_str();
  cmd->add_option("--config", f->config, "the GRPO recipe")->capture_default_str();
  cmd->add_option("--strategies", f->strategies, "credit strategies to compare")->delimiter(',')->capture_default_str();
  cmd->add_option("--eval-problems", f->options.eval_problems, "held-out puzzles evaluated")->capture_default_str();
  cmd->add_option("--analysis-responses", f->options.analysis_responses, "responses analysed per model")
      ->capture_default_str();
  cmd->add_option("--seed", f->options.seed, "analysis sampling seed")
      ->check(illume::cli::non_negative_integer())
      ->capture_default_str();
  cmd->add_option("overrides", f->overrides, "key.sub=value overrides of the GRPO recipe (e.g. run.steps=40)");
  cmd->callback([f] {
    auto& o = f->options;
    if (o.eval_problems < 1) illume::fail("--eval-problems must be >= 1 (got {})", o.eval_problems);
    if (o.analysis_responses < 1) illume::fail("--analysis-responses must be >= 1 (got {})", o.analysis_responses);
    o.model_dir = f->model;
    o.shared_dir = f->shared;
    o.out_dir = f->out;
    o.grpo_config = f->config;
    o.overrides = f->overrides;
    o.strategies = f->strategies;
    illume::demo::run_demo(o);
  });
}
ILLUME_COMMAND(setup);

}  // namespace
