// The GRPO recipe (METHOD.md section 4) as one plain struct, read from a YAML recipe through
// ConfigReader (unknown keys and wrong types fail with the file's name). Sections mirror the stages:
//   model:     dir, device, dtype
//   data:      task, path, prompt_style (plain|chat), shuffle, limit
//   rollout:   group_size (G), temperature, top_p, max_response_tokens, max_batch_rows
//   optim:     batch_size (responses per rollout batch), micro_batch_size (responses per optimiser
//              step; batch/micro optimiser steps per batch), lr, weight_decay, betas, adam_eps, grad_clip
//   advantage: eps, scale_by_std, dynamic_sampling
//   loss:      clip_low, clip_high, aggregation, kl_coef, norm_length
//   credit:    strategy, select, q, gamma_amp, k, alpha, tau_waad, tau_delta, sign
//   attention: window (W), horizon ([H_lo, H_hi]), layers (empty = the middle third, as rl_attention_config)
//   reward:    countdown_format_reward, countdown_use_all_numbers
//   run:       out, steps, seed, save_every, keep_checkpoints, progress
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "illume/rl/credit.h"
#include "illume/rl/policy_loss.h"
#include "illume/util/config.h"

namespace illume::train {

struct TrainConfig {
  // model
  std::string model_dir;
  std::string device = "cpu";
  std::string dtype = "f32";
  // data
  std::string task = "countdown";
  std::string data_path;
  std::string prompt_style = "plain";
  bool shuffle = true;
  std::int64_t data_limit = 0;  // 0 = all rows
  // rollout
  std::int64_t group_size = 8;
  double temperature = 1.0;
  double top_p = 1.0;
  std::int64_t max_response_tokens = 1024;
  std::int64_t max_batch_rows = 64;
  // optimisation
  std::int64_t batch_size = 512;       // responses per rollout batch (a multiple of group_size)
  std::int64_t micro_batch_size = 32;  // responses per optimiser step
  double lr = 1e-6;
  double weight_decay = 0.0;
  double beta1 = 0.9, beta2 = 0.999;
  double adam_eps = 1e-8;
  double grad_clip = 1.0;  // <= 0: off
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
  std::int64_t horizon_lo = 10, horizon_hi = 100;
  std::vector<int> attention_layers;  // empty: rl_attention_config's middle third
  // rewards
  double countdown_format_reward = 0.0;
  bool countdown_use_all_numbers = false;
  // run
  std::string out_dir;
  std::int64_t steps = 500;
  std::uint64_t seed = 0;
  std::int64_t save_every = 50;  // 0 = only at the end
  std::int64_t keep_checkpoints = 2;
  bool progress = true;

  std::int64_t prompts_per_step() const { return batch_size / group_size; }
};

// Reads every section; fails on unknown keys, wrong types, and inconsistent values
// ("SOURCE: optim.batch_size (100) must be a multiple of rollout.group_size (8)").
TrainConfig train_config_from_json(const Json& root, const std::string& source);
// The full resolved config (written beside checkpoints and at the start of a run).
Json train_config_to_json(const TrainConfig& config);

}  // namespace illume::train
