// Supervised fine-tuning (and tiny pre-training from random weights):
// `illume sft --config FILE.yaml [key.sub=value ...] [--resume] [--print-config]`.
//
// Data: JSONL rows {"prompt": TEXT, "response": TEXT}, or Countdown rows {"nums", "target",
// "response"} (the prompt is then the task's Chat prompt, tasks.h), or puzzles generated on the fly
// by the Countdown generator. Each example is tokenised by data.prompt_style as
//   chat:  format_chat([user: prompt], generation prompt, thinking on) + response + "<|im_end|>"
//   plain: prompt + response + EOS
// and the loss is the mean next-token cross-entropy over the RESPONSE tokens (and the closing
// token) only; prompt and padding positions contribute nothing. Batches are right-padded
// (train/batch.h); their order is a seeded per-epoch permutation (util/random.h), the same on every
// platform, and a function of (seed, step), so a resumed run sees the batches an uninterrupted one does.
//
// Optimiser (train/adamw.h): AdamW with decoupled weight decay on matrices only (not on norms or
// biases), linear warm-up then cosine decay to min_lr_ratio * lr, global gradient-norm clipping.
// Every `run.eval_every` steps: the mean loss on a held-out split (and, if configured, greedy
// Countdown accuracy on a test file).
//
// Output folder run.out:
//   metrics.jsonl          one line per logged step (names as TRL's SFTTrainer; docs/metrics.md):
//                          step, loss, learning_rate, grad_norm, num_tokens (seen so far),
//                          timing/update (seconds per step, mean since the previous row)
//                          (+ eval_loss, and eval/accuracy, eval/mean_length with `accuracy`, at
//                          evaluation steps)
//   checkpoints/step-NNNNNN/  the layout every trainer shares (train/checkpoint.h): HF folder +
//                          optimizer.safetensors + trainer_state.json, written atomically
//   final/                 the last weights in HF layout (run.export_dtype) with the tokenizer files
// --resume continues from the newest checkpoint (weights, optimiser moments, step), GRPO's
// included; metrics.jsonl loses the rows logged after that checkpoint (train/run_log.h).
//
// The recipe: model, data, optim and run are the sections both trainers share (recipe.h); SFT adds
//   model:    config (config.json fields: random init, vocab_size from the tokenizer when absent),
//             exclusive with model.dir; tokenizer (a folder with tokenizer.json; default model.dir).
//             model.device must be cpu and model.dtype f32 (SFT trains on the CPU in f32).
//   data:     generate {n, seed, difficulty (easy|standard|hard), numbers (K or [MIN, MAX]),
//             max_number, max_target, false_starts, mul_div}, exclusive with data.path;
//             eval_size (held out from the end), max_length (longer examples are dropped);
//             prompt_style defaults to chat.
//   optim:    batch_size (examples per step), min_lr_ratio, warmup_steps
//   run:      threads (0: torch's default), log_every, eval_every, export_dtype (f32|bf16|f16, of
//             final/ and export_dir), export_dir (final/ is also saved here, atomically)
//   accuracy: path (Countdown JSONL), n (0: off), max_new_tokens
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "illume/data/countdown_gen.h"
#include "illume/data/tasks.h"
#include "illume/train/adamw.h"
#include "illume/train/batch.h"
#include "illume/train/recipe.h"
#include "illume/util/json.h"

namespace illume {

class Model;
class Tokenizer;

namespace train {

// The shared sections (recipe.h) with SFT's own keys.
struct SftModelSection : ModelSection {
  Json config;                      // config.json fields for a random init (null: load model.dir)
  std::filesystem::path tokenizer;  // folder with tokenizer.json
};

struct SftDataSection : DataSection {
  SftDataSection() { prompt_style = data::PromptStyle::Chat; }
  std::int64_t generate_n = 0;  // puzzles from the generator (when > 0), instead of path
  std::uint64_t generate_seed = 1;
  data::CountdownGenOptions generate_options;
  std::int64_t eval_size = 256;   // held out from the end of the data
  std::int64_t max_length = 384;  // longer examples are dropped (counted, reported)
};

struct SftOptimSection : OptimSection {
  SftOptimSection() {
    lr = 1e-3;
    weight_decay = 0.1;
    beta2 = 0.95;
  }
  std::int64_t batch_size = 32;  // examples per step
  double min_lr_ratio = 0.1;
  std::int64_t warmup_steps = 50;
};

struct SftRunSection : RunSection {
  SftRunSection() {
    steps = 1000;
    save_every = 500;
  }
  int threads = 0;  // 0: torch's default
  std::int64_t log_every = 10, eval_every = 200;
  c10::ScalarType export_dtype = c10::kFloat;  // of final/ and export_dir
  std::filesystem::path export_dir;            // also save final/ here (atomically) when set
};

// Greedy Countdown accuracy (chat prompt), at eval steps and at the end.
struct AccuracySection {
  std::filesystem::path path;
  std::int64_t n = 0;  // 0: off
  std::int64_t max_new_tokens = 160;
};

struct SftConfig {
  SftModelSection model;
  SftDataSection data;
  SftOptimSection optim;
  SftRunSection run;
  AccuracySection accuracy;
};

// Reads every section; fails on unknown keys ("SOURCE: unknown key 'accuracy.nn'"), retired keys
// ("SOURCE: unknown key 'train.eps' (now 'optim.adam_eps')"), wrong types and inconsistent values.
SftConfig read_sft_config(const ConfigTree& tree);
// FILE.yaml plus "key.sub=value" overrides.
SftConfig load_sft_config(const std::filesystem::path& yaml, const std::vector<std::string>& overrides);
// The full resolved config with absolute paths (--print-config). Reads back to the same config.
Json sft_config_to_json(const SftConfig& config);

// Mean cross-entropy of logits [B, T, V] predicting ids[:, 1:] from positions [:, :-1], over the
// positions where loss_mask[:, 1:] is 1. Differentiable.
at::Tensor masked_lm_loss(const at::Tensor& logits, const at::Tensor& ids, const at::Tensor& loss_mask);

// The example of a prompt/response pair in the given format.
TokenSequence encode_example(const Tokenizer& tokenizer, const std::string& prompt, const std::string& response,
                             data::PromptStyle prompt_style);

// The recipe's learning rate per step: warm-up, then cosine decay to min_lr_ratio * lr.
LrSchedule lr_schedule(const SftConfig& config);

// Greedy Countdown accuracy of `model` on the first n rows of `file` (chat prompt); also returns the
// mean response length in tokens.
struct AccuracyResult {
  double accuracy = 0, mean_response_tokens = 0;
  std::int64_t n = 0;
};
AccuracyResult countdown_accuracy(const Model& model, const Tokenizer& tokenizer, const std::filesystem::path& file,
                                  std::int64_t n, std::int64_t max_new_tokens, bool show_progress);

// Runs the whole job (see the top of this file); `resume`: from the newest checkpoint in run.out.
// Returns the final folder. With stop_after (tests), stops after that many steps as a killed run
// would: no final checkpoint, no final/; returns {}.
std::filesystem::path run_sft(const SftConfig& config, bool resume = false,
                              std::optional<std::int64_t> stop_after = std::nullopt);

}  // namespace train
}  // namespace illume
