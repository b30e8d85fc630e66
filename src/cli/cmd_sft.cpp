// illume sft: supervised fine-tuning / tiny pre-training from a YAML recipe (train/sft.h).
//   illume sft --config FILE.yaml [key.sub=value ...]
// illume countdown-eval: greedy Countdown accuracy of a model (chat prompt, first N problems).
//   illume countdown-eval --model DIR --data test.jsonl [--n 512] [--max-new-tokens 160] [--out FILE.json]
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

void setup_eval(CLI::App& app) {
  struct Flags {
    illume::cli::ModelFlags model;
    std::string data, out;
    std::int64_t n = 512, max_new_tokens = 160;
    int threads = 0;
  };
  auto f = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand("countdown-eval", "Greedy Countdown accuracy of a model (chat prompt)");
  f->model.add_to(cmd);
  cmd->add_option("--data", f->data, "Countdown JSONL ({nums, target} rows)")->required();
  cmd->add_option("--n", f->n, "first N problems (0 = all)")->capture_default_str();
  cmd->add_option("--max-new-tokens", f->max_new_tokens, "tokens per response at most")->capture_default_str();
  cmd->add_option("--threads", f->threads, "torch threads (0 = default)");
  cmd->add_option("--out", f->out, "also write the result as JSON here");
  cmd->callback([f] {
    if (f->threads > 0) torch::set_num_threads(f->threads);
    auto tokenizer = f->model.load_tokenizer();
    auto model = f->model.load_model();
    auto r = illume::train::countdown_accuracy(model, tokenizer, f->data, f->n, f->max_new_tokens, true);
    illume::Json j = {{"model", f->model.model_dir}, {"data", f->data}, {"n", r.n}, {"accuracy", r.accuracy},
                      {"mean_response_tokens", r.mean_response_tokens}};
    if (!f->out.empty()) illume::write_file_atomic(f->out, j.dump(2) + "\n");
    std::printf("%s\n", j.dump().c_str());
  });
}
ILLUME_COMMAND(setup_eval);

}  // namespace
