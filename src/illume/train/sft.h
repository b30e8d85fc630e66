// Supervised fine-tuning (and tiny pre-training from random weights): `illume sft --config FILE.yaml`.
//
// Data: JSONL rows {"prompt": TEXT, "response": TEXT}, or Countdown rows {"nums", "target",
// "response"} (the prompt is then the task's Chat prompt, tasks.h), or puzzles generated on the fly
// by the Countdown generator. Each example is tokenised as
//   chat: format_chat([user: prompt], generation prompt, thinking on) + response + "<|im_end|>"
//   raw:  prompt + response + EOS
// and the loss is the mean next-token cross-entropy over the RESPONSE tokens (and the closing
// token) only; prompt and padding positions contribute nothing. Batches are right-padded
// (train/batch.h); their order is a seeded per-epoch permutation (util/random.h), the same on every
// platform, and a function of (seed, step), so a resumed run sees the batches an uninterrupted one does.
//
// Optimiser (train/adamw.h): AdamW with decoupled weight decay on matrices only (not on norms or
// biases), linear warm-up then cosine decay to min_lr_ratio * lr, global gradient-norm clipping.
// Every `eval_every` steps: the mean loss on a held-out split (and, if configured, greedy Countdown
// accuracy on a test file).
//
// Output folder OUT:
//   metrics.jsonl          one line per logged step: step, loss, lr, grad_norm, tokens,
//                          time_train_seconds (+ eval_loss, accuracy at evaluation steps)
//   checkpoints/step-NNNNNN/  the layout every trainer shares (train/checkpoint.h): HF folder +
//                          optimizer.safetensors + trainer_state.json, written atomically
//   final/                 the last weights in HF layout (save_dtype) with the tokenizer files
// resume: true continues from the newest checkpoint (weights, optimiser moments, step), GRPO's
// included; metrics.jsonl loses the rows logged after that checkpoint (train/run_log.h).
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "illume/data/countdown_gen.h"
#include "illume/train/adamw.h"
#include "illume/train/batch.h"
#include "illume/util/json.h"

namespace illume {

class Model;
class Tokenizer;

namespace train {

struct SftConfig {
  std::uint64_t seed = 0;
  std::filesystem::path out = "runs/sft";
  bool resume = false;
  int threads = 0;  // 0: torch's default
  // model: exactly one of init_from (an HF folder) or model_config (config.json fields; random init,
  // vocab_size filled from the tokenizer when absent).
  std::filesystem::path init_from;
  Json model_config;
  std::filesystem::path tokenizer;  // folder with tokenizer.json (default: init_from)
  // data
  std::filesystem::path train_file;            // JSONL; or:
  std::int64_t generate_n = 0;                 // puzzles from the generator (when > 0)
  std::uint64_t generate_seed = 1;
  data::CountdownGenOptions generate_options;
  std::string prompt_format = "chat";          // chat | raw
  std::int64_t eval_size = 256;                // held out from the end of the data
  std::int64_t max_length = 384;               // longer examples are dropped (counted, reported)
  // optimisation
  std::int64_t steps = 1000;
  std::int64_t batch_size = 32;
  double lr = 1e-3, min_lr_ratio = 0.1, weight_decay = 0.1, beta1 = 0.9, beta2 = 0.95, eps = 1e-8, grad_clip = 1.0;
  std::int64_t warmup_steps = 50;
  std::int64_t log_every = 10, eval_every = 200, save_every = 500, keep_checkpoints = 2;
  // accuracy evaluation (Countdown, greedy, chat prompt), at eval steps and at the end
  std::filesystem::path accuracy_file;
  std::int64_t accuracy_n = 0;  // 0: off
  std::int64_t accuracy_max_new_tokens = 160;
  std::string save_dtype = "float32";  // float32 | bfloat16
  std::filesystem::path export_dir;    // also copy final/ here (atomically) when set
};

// Parses the YAML-derived JSON tree; every unknown key fails ("SOURCE: unknown key 'train.lr_x'").
SftConfig sft_config_from_json(const Json& root, const std::string& source);
// Loads FILE.yaml and applies "a.b=value" overrides.
SftConfig load_sft_config(const std::filesystem::path& yaml, const std::vector<std::string>& overrides);

// Mean cross-entropy of logits [B, T, V] predicting ids[:, 1:] from positions [:, :-1], over the
// positions where loss_mask[:, 1:] is 1. Differentiable.
at::Tensor masked_lm_loss(const at::Tensor& logits, const at::Tensor& ids, const at::Tensor& loss_mask);

// The example of a prompt/response pair in the given format.
TokenSequence encode_example(const Tokenizer& tokenizer, const std::string& prompt, const std::string& response,
                          const std::string& prompt_format);

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

// Runs the whole job (see the top of this file). Returns the final folder. With stop_after (tests),
// stops after that many steps as a killed run would: no final checkpoint, no final/; returns {}.
std::filesystem::path run_sft(const SftConfig& config, std::optional<std::int64_t> stop_after = std::nullopt);

}  // namespace train
}  // namespace illume
