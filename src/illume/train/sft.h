// Supervised fine-tuning (and tiny pre-training from random weights): `illume sft --config FILE.yaml`.
//
// Data: JSONL rows {"prompt": TEXT, "response": TEXT}, or Countdown rows {"nums", "target",
// "response"} (the prompt is then the task's Chat prompt, tasks.h), or puzzles generated on the fly
// by the Countdown generator. Each example is tokenised as
//   chat: format_chat([user: prompt], generation prompt, thinking on) + response + "<|im_end|>"
//   raw:  prompt + response + EOS
// and the loss is the mean next-token cross-entropy over the RESPONSE tokens (and the closing
// token) only; prompt and padding positions contribute nothing. Batches are right-padded.
//
// Optimiser: AdamW (decoupled weight decay on matrices only, not on norms), linear warm-up then cosine
// decay to min_lr_ratio * lr, global gradient-norm clipping. Every `eval_every` steps: the mean loss
// on a held-out split (and, if configured, greedy Countdown accuracy on a test file).
//
// Output folder OUT:
//   metrics.jsonl          one line per logged step: step, loss, lr, grad_norm, tokens, time_train
//                          (+ eval_loss, accuracy at evaluation steps)
//   checkpoint-STEP/       HF layout (config.json, model.safetensors, tokenizer.json,
//                          tokenizer_config.json) + optimizer.safetensors + trainer_state.json;
//                          written to a temporary folder, then renamed (a crash leaves no half folder)
//   final/                 the last weights in HF layout (save_dtype), the same files
// resume: true continues from the newest checkpoint-STEP (weights, optimiser moments, step); the data
// order is a function of (seed, step), so a resumed run sees the same batches as an uninterrupted one.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "illume/data/countdown_gen.h"
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

struct SftExample {
  std::vector<std::int32_t> ids;
  std::int64_t prompt_length = 0;  // ids[0, prompt_length) are prompt; the rest are targets
};

struct SftBatch {
  at::Tensor ids;        // [B, T] int64, right-padded with pad_id
  at::Tensor mask;       // [B, T] int64, 1 = token
  at::Tensor loss_mask;  // [B, T] float, 1 where ids[b, t] is a response token (predicted at t-1)
  std::int64_t target_tokens = 0;
};

SftBatch make_batch(const std::vector<const SftExample*>& examples, std::int32_t pad_id);

// Mean cross-entropy of logits [B, T, V] predicting ids[:, 1:] from positions [:, :-1], over the
// positions where loss_mask[:, 1:] is 1. Differentiable.
at::Tensor masked_lm_loss(const at::Tensor& logits, const at::Tensor& ids, const at::Tensor& loss_mask);

// The examples of a prompt/response pair in the given format.
SftExample encode_example(const Tokenizer& tokenizer, const std::string& prompt, const std::string& response,
                          const std::string& prompt_format);

// The learning rate at `step` (0-based): warm-up, then cosine decay.
double lr_at(const SftConfig& config, std::int64_t step);

// Greedy Countdown accuracy of `model` on the first n rows of `file` (chat prompt); also returns the
// mean response length in tokens.
struct AccuracyResult {
  double accuracy = 0, mean_response_tokens = 0;
  std::int64_t n = 0;
};
AccuracyResult countdown_accuracy(const Model& model, const Tokenizer& tokenizer, const std::filesystem::path& file,
                                  std::int64_t n, std::int64_t max_new_tokens, bool show_progress);

// Runs the whole job (see the top of this file). Returns the final folder.
std::filesystem::path run_sft(const SftConfig& config);

}  // namespace train
}  // namespace illume
