// Old metric names -> TRL/verl names (metric_names.h, docs/metrics.md).
#include "illume/train/metric_names.h"

namespace illume::train {

const std::vector<MetricRename>& metric_renames() {
  static const std::vector<MetricRename> renames = {
      {"reward_mean", "reward/mean", "grpo"},
      {"reward_std", "reward/std", "grpo"},
      {"response_length_mean", "completions/mean_length", "grpo"},
      {"response_length_max", "completions/max_length", "grpo"},
      {"truncated_fraction", "completions/clipped_ratio", "grpo"},
      {"informative_group_fraction", "frac_reward_zero_std", "grpo", true},
      {"clip_fraction", "clip_ratio/region_mean", "grpo"},
      {"kl_ref", "kl", "grpo"},
      {"grad_norm_mean", "grad_norm", "grpo"},
      {"lr", "learning_rate", "grpo"},
      {"time_generate_seconds", "timing/generate", "grpo"},
      {"time_score_seconds", "timing/score", "grpo"},
      {"time_old_logprobs_seconds", "timing/old_logprobs", "grpo"},
      {"time_attention_seconds", "timing/attention", "grpo"},
      {"time_train_seconds", "timing/update", "grpo"},
      {"time_step_seconds", "timing/step", "grpo"},
      {"time_eval_seconds", "timing/eval", "grpo"},
      {"time_communication_seconds", "timing/communication", "grpo"},
      {"lr", "learning_rate", "sft"},
      {"tokens", "num_tokens", "sft"},
      {"accuracy", "eval/accuracy", "sft"},
      {"response_length", "eval/mean_length", "sft"},
  };
  return renames;
}

bool upgrade_metrics_row(Json& row) {
  if (!row.is_object()) return false;
  const bool sft = row.contains("tokens");
  const char* trainer = sft ? "sft" : "grpo";
  bool changed = false;
  for (const auto& r : metric_renames()) {
    if (std::string(r.trainer) != trainer) continue;
    auto it = row.find(r.old_name);
    if (it == row.end() || row.contains(r.new_name)) continue;
    Json value = *it;
    if (r.complement && value.is_number()) value = 1.0 - value.get<double>();
    row.erase(it);
    row[r.new_name] = std::move(value);
    changed = true;
  }
  return changed;
}

}  // namespace illume::train
