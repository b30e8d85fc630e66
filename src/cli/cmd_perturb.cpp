// illume perturb: the perturbation test of METHOD.md §3 (paper Table 1).
#include <cstdio>

#include "cli/command.h"
#include "cli/common.h"
#include "illume/report/analysis_outputs.h"

namespace {

void setup(CLI::App& app) {
  struct Flags {
    illume::cli::ModelFlags model;
    illume::cli::PromptFlags prompt;
    illume::cli::AttentionFlags attention;
    std::string prompts, out;
    std::int64_t limit = 0;
    illume::PerturbSettings settings;
  };
  auto f = std::make_shared<Flags>();
  f->prompt.system = "Please reason step by step, and put your final answer within \\boxed{}.";
  auto* cmd = app.add_subcommand("perturb",
                                 "Perturbation test (paper Table 1): force alternative tokens at high- and low-FAI "
                                 "positions of greedy responses and compare the continuations; writes perturb.json "
                                 "and perturb.md");
  f->model.add_to(cmd);
  cmd->add_option("--prompts", f->prompts,
                  "JSONL of prompts ({\"prompt\"|\"question\"|\"problem\": TEXT[, \"system\": TEXT]})")
      ->required();
  cmd->add_option("--out", f->out, "output folder")->required();
  cmd->add_option("--limit", f->limit, "use only the first N prompts (0 = all)")->capture_default_str();
  f->prompt.add_to(cmd);
  cmd->add_option("--positions", f->settings.positions, "k: top-k and bottom-k FAI positions per response")
      ->capture_default_str();
  cmd->add_option("--alternatives", f->settings.alternatives, "forced alternative tokens per position")
      ->capture_default_str();
  cmd->add_option("--continuation-tokens", f->settings.continuation_tokens, "M: greedy tokens after the forced one")
      ->capture_default_str();
  cmd->add_option("--max-new-tokens", f->settings.max_new_tokens, "greedy response length")->capture_default_str();
  f->attention.add_to(cmd);
  cmd->callback([f] {
    auto tokenizer = f->model.load_tokenizer();
    auto model = f->model.load_model();
    auto& s = f->settings;
    s.analysis.stats = f->attention.config(static_cast<int>(model.config().num_layers));
    s.analysis.stats.find_receivers = false;  // the test needs FAI only
    s.analysis.map_size = 1;
    const auto defaults = illume::sampling_options(model.config(), tokenizer);
    s.stop_token_ids = defaults.stop_token_ids;
    s.valid_ids = defaults.valid_ids;
    auto prompts = illume::encode_prompt_file(tokenizer, f->prompts, f->prompt.format(), f->limit);
    auto result = illume::perturb_and_write(f->out, model, tokenizer, prompts.ids, s, /*show_progress=*/true);
    std::printf("%s", result.to_markdown().c_str());
  });
}
ILLUME_COMMAND(setup);

}  // namespace
