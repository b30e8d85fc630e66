// illume eval: pass@1, avg@k and pass@k of a model on a task's test set, or on a benchmark suite.
//   illume eval --model DIR (--task TASK [--data FILE.jsonl] | --suite paper-math|small-math)
//               [--data-root ../shared/data] [-n 16 --temperature T --top-p P --top-k K --seed S]
//               [--limit N] [--max-new-tokens N] [--max-batch-rows R] [--countdown-rule tinyzero|lenient]
//               [--chat | --plain] --out DIR
// --task writes OUT/results.jsonl (one row per problem) and OUT/summary.json; --suite writes them per
// benchmark under OUT/TASK/, plus OUT/summary.json and OUT/summary.md (one table). Data files default
// to DATA_ROOT/TASK/test.jsonl. At temperature 0 (the default) one greedy answer per problem; -n > 1
// needs a temperature (the paper's AIME avg@16: -n 16 --temperature 0.6).
#include <algorithm>
#include <cstdio>
#include <memory>

#include "cli/command.h"
#include "cli/common.h"
#include "illume/eval/evaluate.h"
#include "illume/model/device.h"
#include "illume/util/file.h"

namespace {

void setup(CLI::App& app) {
  struct Flags {
    illume::cli::ModelFlags model;
    illume::cli::SamplingFlags sampling;
    illume::cli::PromptFlags prompt;  // --chat | --plain
    std::string task, suite, data, data_root = "../shared/data", out, countdown_rule = "tinyzero";
    std::int64_t prompts_per_batch = 0;  // the deprecated --prompts-per-batch (0: from --max-batch-rows)
    illume::eval::EvalOptions options;
  };
  auto f = std::make_shared<Flags>();
  f->sampling.temperature = 0.0;  // pass@1 of one greedy answer unless told otherwise
  auto* cmd = app.add_subcommand("eval", "Evaluate a model on a task or a benchmark suite: pass@1, avg@k, pass@k");
  f->model.add_to(cmd);
  auto* task = cmd->add_option("--task", f->task, illume::data::task_names());
  auto* suite = cmd->add_option("--suite", f->suite, "a benchmark suite: " + illume::data::suite_names());
  task->excludes(suite);
  cmd->add_option("--data", f->data, "the task's JSONL file (default: DATA_ROOT/TASK/test.jsonl)");
  cmd->add_option("--data-root", f->data_root, "folder laid out as ../shared/data (TASK/test.jsonl)")->capture_default_str();
  cmd->add_option("--out", f->out, "output folder (results.jsonl, summary.json; suites: summary.md too)")->required();
  illume::cli::SamplingFlags::Help help;
  help.num_samples = "samples per problem (n of pass@k; pass@1 is their mean; > 1 needs a temperature)";
  help.max_batch_rows = "sequences (problems x samples) decoded together at most: max(1, rows / n) problems per "
                        "batch, as a recipe's evaluation";
  f->sampling.add_to(cmd, help);
  cmd->add_option("--limit", f->options.limit, "first N problems of each task (0 = all)")
      ->check(illume::cli::non_negative_integer())
      ->capture_default_str();
  cmd->add_option("--countdown-rule", f->countdown_rule, "countdown reward: tinyzero (TinyZero's, the default) or lenient")
      ->capture_default_str();
  f->prompt.add_to(cmd, /*with_system=*/false);
  illume::cli::add_deprecated_alias(cmd, "--k", f->sampling.num_samples, cmd->get_option("--num-samples"),
                                    illume::cli::integer_range(1, illume::kMaxSamplesPerPrompt));
  illume::cli::add_deprecated_alias(cmd, "--prompts-per-batch", f->prompts_per_batch,
                                    cmd->get_option("--max-batch-rows"), illume::cli::integer_range(1, std::int64_t{1} << 20))
      ->description("deprecated: use --max-batch-rows (this one counted problems: rows = problems x n)");
  cmd->callback([f] {
    f->prompt.resolve(f->model.model_dir);
    auto& o = f->options;
    o.chat = f->prompt.chat;
    o.k = f->sampling.num_samples;
    o.temperature = f->sampling.effective_temperature();
    o.top_p = f->sampling.top_p;
    o.top_k = f->sampling.top_k;
    o.seed = f->sampling.seed;
    o.max_new_tokens = f->sampling.max_new_tokens;
    o.prompts_per_batch = f->prompts_per_batch > 0 ? f->prompts_per_batch
                                                   : std::max<std::int64_t>(1, f->sampling.max_batch_rows / o.k);
    if (f->task.empty() == f->suite.empty()) illume::fail("eval: give --task TASK or --suite SUITE");
    if (!f->suite.empty() && !f->data.empty()) illume::fail("eval: --data goes with --task; a suite reads --data-root");
    f->options.score.countdown.rule = illume::reward::parse_countdown_rule(f->countdown_rule);
    illume::eval::check_options(f->options);
    illume::ensure_directory(f->out);  // before the work: "--out FILE" used to fail after the whole evaluation
    illume::init_torch_runtime();
    if (!f->suite.empty()) {
      illume::data::suite_tasks(f->suite);  // an unknown suite fails before the model loads
      auto model = f->model.load_model();
      auto tokenizer = f->model.load_tokenizer();
      f->options.stop_token_ids = illume::cli::default_stop_tokens(model.config(), tokenizer);
      auto result = illume::eval::evaluate_suite(model, tokenizer, f->suite, f->data_root, f->options);
      illume::eval::write_suite(f->out, result);
      std::printf("%s", illume::eval::suite_markdown(result.summary).c_str());
      return;
    }
    auto task = illume::data::parse_task(f->task);
    auto data = f->data.empty() ? illume::data::task_data_path(f->data_root, task) : std::filesystem::path(f->data);
    auto problems = illume::data::load_problems(task, data);
    auto model = f->model.load_model();
    auto tokenizer = f->model.load_tokenizer();
    f->options.stop_token_ids = illume::cli::default_stop_tokens(model.config(), tokenizer);
    auto result = illume::eval::evaluate(model, tokenizer, task, problems, f->options);
    result.summary["data"] = data.string();
    illume::eval::write_eval(f->out, result);
    std::printf("%s\n", result.summary.dump().c_str());
  });
}
ILLUME_COMMAND(setup);

}  // namespace
