// illume perturb: the perturbation test of METHOD.md §3 (paper Table 1).
#include <cstdio>

#include "cli/command.h"
#include "cli/common.h"
#include "cli/prompt_input.h"
#include "illume/attention/perturb.h"
#include "illume/report/analysis_outputs.h"
#include "illume/util/error.h"

namespace {

void setup(CLI::App& app) {
  struct Flags {
    illume::cli::ModelFlags model;
    illume::cli::PromptInputFlags input;
    illume::cli::AttentionFlags attention;
    std::string out;
    std::int64_t limit = 0, problems = 0;
    std::uint64_t seed = 0;
    illume::PerturbSettings settings;
  };
  auto f = std::make_shared<Flags>();
  f->settings.max_new_tokens = illume::cli::kDefaultMaxNewTokens;
  // The paper's analysis prompt (docs/conventions.md), for prompt files; task files use their own template.
  f->input.format.system = "Please reason step by step, and put your final answer within \\boxed{}.";
  auto* cmd = app.add_subcommand("perturb",
                                 "Perturbation test (paper Table 1): force alternative tokens at high- and low-FAI "
                                 "positions of greedy responses and compare the continuations; writes perturb.json "
                                 "and perturb.md");
  f->model.add_to(cmd);
  f->input.add_to(cmd);
  cmd->add_option("--out", f->out, "output folder")->required();
  cmd->add_option("--limit", f->limit, "use only the first N rows of the file (0 = all)")
      ->check(illume::cli::non_negative_integer())
      ->capture_default_str();
  cmd->add_option("--problems", f->problems,
                  "test N problems drawn at random (seeded by --seed) from the file's rows (0 = all)")
      ->check(illume::cli::non_negative_integer())
      ->capture_default_str();
  cmd->add_option("--seed", f->seed, "seed of the problems' random draw")
      ->check(illume::cli::non_negative_integer())
      ->capture_default_str();
  cmd->add_option("--positions", f->settings.positions, "k: top-k and bottom-k FAI positions per response")
      ->capture_default_str();
  cmd->add_option("--alternatives", f->settings.alternatives, "forced alternative tokens per position")
      ->capture_default_str();
  cmd->add_option("--continuation-tokens", f->settings.continuation_tokens, "M: greedy tokens after the forced one")
      ->capture_default_str();
  cmd->add_option("--max-new-tokens", f->settings.max_new_tokens,
                  "length limit of the greedy response in tokens (a response also stops at the model's last "
                  "position)")
      ->check(illume::cli::integer_range(2, std::int64_t{1} << 24))
      ->capture_default_str();
  f->attention.add_to(cmd);
  cmd->callback([f] {
    if (!f->input.given()) illume::fail("perturb: give --prompts F.jsonl or --task TASK --data F.jsonl");
    f->input.validate();
    f->input.resolve(f->model.model_dir);
    auto tokenizer = f->model.load_tokenizer();
    // Read and check the prompts before the model loads.
    auto all = f->input.load(tokenizer, f->limit);
    const auto rows = illume::sample_prompt_indices(all.ids.size(),
                                                    f->problems > 0 ? static_cast<std::size_t>(f->problems)
                                                                    : all.ids.size(),
                                                    f->seed);
    illume::EncodedPrompts prompts;
    illume::Json prompt_records = illume::Json::array();
    for (auto row : rows) {
      prompts.ids.push_back(all.ids[row]);
      prompts.texts.push_back(all.texts[row]);
      prompt_records.push_back({{"row", row}, {"prompt", all.texts[row]}});
    }
    auto model = f->model.load_model();
    auto& s = f->settings;
    s.analysis.stats = f->attention.config(static_cast<int>(model.config().num_layers), model.config().num_heads);
    s.analysis.stats.find_receivers = false;  // the test needs FAI only
    s.analysis.map_size = 1;
    const auto defaults = illume::sampling_options(model.config(), tokenizer);
    s.stop_token_ids = defaults.stop_token_ids;
    s.valid_ids = defaults.valid_ids;
    auto settings = f->input.settings_json();
    settings["model"] = f->model.model_dir;
    settings["rows_in_file"] = all.ids.size();
    settings["problems"] = prompts.ids.size();
    settings["seed"] = f->seed;
    auto result = illume::perturb_and_write(f->out, model, tokenizer, prompts.ids, s, settings, prompt_records,
                                            /*show_progress=*/true);
    std::printf("%s", result.to_markdown().c_str());
  });
}
ILLUME_COMMAND(setup);

}  // namespace
