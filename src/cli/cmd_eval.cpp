// illume eval: pass@1, avg@k and pass@k of a model on a task's test set, or on a benchmark suite.
//   illume eval --model DIR (--task TASK [--data FILE.jsonl] | --suite paper-math|small-math)
//               [--data-root ../shared/data] [--k 16 --temperature T] [--limit N] [--chat]
//               [--max-new-tokens N] [--countdown-rule tinyzero|lenient] [--chat | --plain] --out DIR
// --task writes OUT/results.jsonl (one row per problem) and OUT/summary.json; --suite writes them per
// benchmark under OUT/TASK/, plus OUT/summary.json and OUT/summary.md (one table). Data files default
// to DATA_ROOT/TASK/test.jsonl. At temperature 0 (the default) one greedy answer per problem; --k > 1
// needs a temperature (the paper's AIME avg@16: --k 16 --temperature 0.6).
#include <cstdio>
#include <memory>

#include "cli/command.h"
#include "cli/common.h"
#include "illume/data/model_prompt_style.h"
#include "illume/eval/evaluate.h"
#include "illume/model/device.h"
#include "illume/util/file.h"

namespace {

void setup(CLI::App& app) {
  struct Flags {
    illume::cli::ModelFlags model;
    std::string task, suite, data, data_root = "../shared/data", out, countdown_rule = "tinyzero";
    bool chat = false, plain = false;
    illume::eval::EvalOptions options;
  };
  auto f = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand("eval", "Evaluate a model on a task or a benchmark suite: pass@1, avg@k, pass@k");
  f->model.add_to(cmd);
  auto* task = cmd->add_option("--task", f->task, illume::data::task_names());
  auto* suite = cmd->add_option("--suite", f->suite, "a benchmark suite: " + illume::data::suite_names());
  task->excludes(suite);
  cmd->add_option("--data", f->data, "the task's JSONL file (default: DATA_ROOT/TASK/test.jsonl)");
  cmd->add_option("--data-root", f->data_root, "folder laid out as ../shared/data (TASK/test.jsonl)")->capture_default_str();
  cmd->add_option("--out", f->out, "output folder (results.jsonl, summary.json; suites: summary.md too)")->required();
  cmd->add_option("--k", f->options.k, "samples per problem (pass@1 is their mean; > 1 needs --temperature)")->check(CLI::Range(std::int64_t{1}, std::int64_t{1} << 20))->capture_default_str();
  cmd->add_option("--temperature", f->options.temperature, "0 = greedy")->check(CLI::Range(0.0, 100.0))->capture_default_str();
  cmd->add_option("--top-p", f->options.top_p, "nucleus sampling")->check(CLI::Range(1e-9, 1.0))->capture_default_str();
  cmd->add_option("--max-new-tokens", f->options.max_new_tokens, "response length limit")->check(CLI::Range(std::int64_t{1}, std::int64_t{1} << 24))->capture_default_str();
  cmd->add_option("--limit", f->options.limit, "first N problems of each task (0 = all)")->check(CLI::NonNegativeNumber)->capture_default_str();
  cmd->add_option("--seed", f->options.seed, "sampling seed")->capture_default_str();
  cmd->add_option("--prompts-per-batch", f->options.prompts_per_batch, "prompts generated together")->check(CLI::Range(std::int64_t{1}, std::int64_t{1} << 20))->capture_default_str();
  cmd->add_option("--countdown-rule", f->countdown_rule, "countdown reward: tinyzero (TinyZero's, the default) or lenient")
      ->capture_default_str();
  cmd->add_flag("--chat", f->chat, "wrap the prompt in the chat template");
  cmd->add_flag("--plain", f->plain, "the plain base-model prompt (default: the style the model folder records, else plain)");
  cmd->callback([f] {
    f->options.chat =
        illume::data::resolve_prompt_style(f->model.model_dir, f->chat, f->plain) == illume::data::PromptStyle::Chat;
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
