// The GRPO recipe (METHOD.md section 4) as one plain struct, read from a YAML recipe through
// ConfigReader (unknown keys and wrong types fail naming the file, or the override that set them).
// model, data, optim and run are the sections both trainers share (recipe.h); the rest are GRPO's:
//   model:     dir, device, dtype                                            (recipe.h)
//   data:      path, prompt_style (plain|chat), limit                        (recipe.h)
//              + task (countdown|gsm8k|math500|aime24|aime25|amc23; required), shuffle
//   rollout:   group_size (G), temperature, top_p, max_response_tokens, max_batch_rows,
//              logprobs_from_sampler (default true: at temperature 1 in f32, without a reference model
//              and with a credit strategy that reads no attention, the PPO ratio's old log-probs and
//              the token entropies are the sampler's, recorded while generating, and the step runs no
//              old-policy forward; they equal the forward's up to float32 rounding (mean 1e-6, at most
//              4e-5 on the default model: the KV-cache path multiplies in other shapes); false:
//              always the forward's)
//   optim:     lr, weight_decay, betas, adam_eps, grad_clip                  (recipe.h)
//              + batch_size (responses per rollout batch), micro_batch_size (responses per
//              optimiser step; batch/micro optimiser steps per batch), group_by_length (default
//              false: micro-batches of rows of similar length, in a seeded order; less padding)
//   advantage: eps, scale_by_std, dynamic_sampling
//   loss:      clip_low, clip_high, aggregation, kl_coef, norm_length
//   credit:    strategy, select, q, gamma_amp, k, alpha, tau_waad, tau_delta, sign
//   attention: window (W), horizon ([H_lo, H_hi]; H_lo = 0 puts t = s in T(s)), layers (empty = the
//              middle third, as rl_attention_config), and the paper's head ablations:
//              head_quantile (fraction of heads in each group, (0, 0.5], default 0.3),
//              grouping (sequence|batch|fixed: rank heads per response, once over the whole rollout
//              batch, or take the lists), local_heads / global_heads (grouping fixed only, both
//              required: "layer:head" strings, e.g. ["12:3", "15:0"], layers among `layers`),
//              all_heads (WAAD and FAI from the mean of every head of the layers; not with fixed)
//   reward:    countdown_rule (tinyzero|lenient), countdown_format_reward (default: the rule's own,
//              TinyZero 0.1, lenient 0), countdown_use_all_numbers (lenient only)
//   run:       out, steps, seed, save_every, keep_checkpoints, progress,     (recipe.h)
//              tensorboard + log_samples (sample completions per step in OUT/samples.jsonl; 0 = none)
//   eval:      every, task, data, k, temperature, limit, max_new_tokens      (EvalSection below)
// credit.strategy, loss.aggregation and credit.sign are names in the rl/ registries (checked against
// them when read), so that a new strategy is one row there.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "illume/attention/streaming.h"
#include "illume/rl/credit.h"
#include "illume/rl/policy_loss.h"
#include "illume/rl/reward/countdown.h"
#include "illume/train/recipe.h"
#include "illume/util/config.h"

namespace illume::train {

// The shared sections (recipe.h) with GRPO's own keys.
struct GrpoDataSection : DataSection {
  data::Task task = data::Task::Countdown;
  bool shuffle = true;
};

struct GrpoOptimSection : OptimSection {
  std::int64_t batch_size = 512;       // responses per rollout batch (a multiple of group_size)
  std::int64_t micro_batch_size = 32;  // responses per optimiser step
  // Micro-batches of rows of similar length (prompt + response), taken in a seeded order: less
  // padding in the updates' forwards and backwards, but other rows share an optimiser step than
  // with the default (rows in a seeded order), so results change. Off by default.
  bool group_by_length = false;
};

struct GrpoRunSection : RunSection {
  std::int64_t log_samples = 4;  // responses per step written to OUT/samples.jsonl with their credit; 0 = none
};

// In-training evaluation of the policy on held-out problems (grpo_trainer.h: at step 0, every `every`
// steps and at the last step; eval/... metrics, OUT/checkpoints/best, OUT/eval_summary.json), through
// the library's evaluation (eval/evaluate.h) with `illume eval`'s rules.
struct EvalSection {
  std::int64_t every = 0;        // steps between evaluations; 0 = off (the default: held-out data is the recipe's to name)
  data::Task task = data::Task::Countdown;  // default: data.task
  std::filesystem::path data;    // JSONL of held-out problems; required when every > 0
  std::int64_t k = 1;            // samples per problem; k > 1 needs temperature > 0
  double temperature = 0.0;      // 0 = greedy
  std::int64_t limit = 0;        // first N problems; 0 = all
  std::int64_t max_new_tokens = 0;  // default: rollout.max_response_tokens
  bool enabled() const { return every > 0; }
};

struct TrainConfig {
  ModelSection model;
  GrpoDataSection data;
  // rollout
  std::int64_t group_size = 8;
  double temperature = 1.0;
  double top_p = 1.0;
  std::int64_t max_response_tokens = 1024;
  std::int64_t max_batch_rows = 64;
  bool logprobs_from_sampler = true;
  GrpoOptimSection optim;
  // advantages
  double adv_eps = 1e-6;
  bool scale_by_std = true;
  bool dynamic_sampling = false;
  std::string sign = "both";
  // loss
  PolicyLossOptions loss;
  // credit
  CreditOptions credit;
  // attention statistics for local/global/coupled
  std::int64_t window = 10;
  std::int64_t fai_horizon_lo = 10, fai_horizon_hi = 100;
  std::vector<int> attention_layers;  // empty: rl_attention_config's middle third
  double head_quantile = 0.3;
  HeadGroupingScope attention_grouping = HeadGroupingScope::per_sequence;
  std::vector<HeadId> local_heads, global_heads;  // attention_grouping fixed only
  bool all_heads = false;
  // rewards
  reward::CountdownRewardOptions countdown;  // rule (TinyZero by default), format reward, use_all_numbers
  GrpoRunSection run;
  EvalSection eval;

  std::int64_t prompts_per_step() const { return optim.batch_size / group_size; }
};

// Reads every section; fails on unknown keys, wrong types, and inconsistent values
// ("SOURCE: key 'optim.batch_size' (100) must be a multiple of rollout.group_size (8)").
TrainConfig read_train_config(const ConfigTree& tree);
// FILE.yaml plus "key.sub=value" overrides.
TrainConfig load_train_config(const std::filesystem::path& yaml, const std::vector<std::string>& overrides);
// A tree built in memory (tests, the demo); relative paths resolve against the working directory.
TrainConfig train_config_from_json(const Json& root, const std::string& source);
// The full resolved config with absolute paths (--print-config; written beside checkpoints and at
// the start of a run). Reads back to the same config.
Json train_config_to_json(const TrainConfig& config);

}  // namespace illume::train
