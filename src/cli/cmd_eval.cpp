// illume eval: pass@1 and avg@k of a model on a task's test set.
//   illume eval --model DIR --task countdown|gsm8k|math500|aime24|aime25|amc23 --data FILE.jsonl
//               [--k 16] [--temperature T] [--limit N] [--chat] [--max-new-tokens N] --out DIR
// Writes OUT/results.jsonl (one row per problem) and OUT/summary.json, and prints the summary.
// At temperature 0 (the default) one greedy answer per problem (k is 1); otherwise k samples.
#include <cstdio>
#include <memory>

#include "cli/command.h"
#include "cli/common.h"
#include "illume/eval/evaluate.h"
#include "illume/model/device.h"

namespace {

void setup(CLI::App& app) {
  struct Flags {
    illume::cli::ModelFlags model;
    std::string task, data, out;
    illume::eval::EvalOptions options;
  };
  auto f = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand("eval", "Evaluate a model on a task: pass@1, avg@k, per-problem results");
  f->model.add_to(cmd);
  cmd->add_option("--task", f->task, "countdown|gsm8k|math500|aime24|aime25|amc23")->required();
  cmd->add_option("--data", f->data, "the task's JSONL file")->required();
  cmd->add_option("--out", f->out, "output folder (results.jsonl, summary.json)")->required();
  cmd->add_option("--k", f->options.k, "samples per problem (avg@k; 1 when greedy)")->capture_default_str();
  cmd->add_option("--temperature", f->options.temperature, "0 = greedy")->capture_default_str();
  cmd->add_option("--top-p", f->options.top_p, "nucleus sampling")->capture_default_str();
  cmd->add_option("--max-new-tokens", f->options.max_new_tokens, "response length limit")->capture_default_str();
  cmd->add_option("--limit", f->options.limit, "first N problems (0 = all)")->capture_default_str();
  cmd->add_option("--seed", f->options.seed, "sampling seed")->capture_default_str();
  cmd->add_option("--prompts-per-batch", f->options.prompts_per_batch, "prompts generated together")->capture_default_str();
  cmd->add_flag("--chat", f->options.chat, "wrap the prompt in the chat template (else the plain base prompt)");
  cmd->callback([f] {
    illume::init_torch_runtime();
    auto task = illume::data::parse_task(f->task);
    if (f->options.k < 1) illume::fail("--k must be >= 1 (got {})", f->options.k);
    if (f->options.max_new_tokens < 1) illume::fail("--max-new-tokens must be >= 1");
    auto problems = illume::data::load_problems(task, f->data);
    auto model = f->model.load_model();
    auto tokenizer = f->model.load_tokenizer();
    f->options.stop_token_ids = illume::cli::default_stop_tokens(model.config(), tokenizer);
    auto result = illume::eval::evaluate(model, tokenizer, task, problems, f->options);
    illume::eval::write_eval(f->out, result);
    std::printf("%s\n", result.summary.dump().c_str());
  });
}
ILLUME_COMMAND(setup);

}  // namespace
