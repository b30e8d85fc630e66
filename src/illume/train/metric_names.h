// The names of OUT/metrics.jsonl's keys (docs/metrics.md lists every one with its meaning and unit).
// They follow TRL's GRPOTrainer and SFTTrainer where a convention exists (reward/mean, kl, entropy,
// clip_ratio/low_mean, completions/mean_length, frac_reward_zero_std, learning_rate, grad_norm,
// num_tokens) and verl's timing_s/... as timing/... (seconds); illume's own statistics keep their names.
// Keys are flat strings with '/' (as TRL logs them); TensorBoard shows the part before the first '/'
// as a group.
//
// Runs written before these names (illume's first metric names) are read through
// upgrade_metrics_row, so the dashboard shows old and new runs side by side.
#pragma once
#include <string>
#include <vector>

#include "illume/util/json.h"

namespace illume::train {

// One renamed key. `trainer` is "grpo" or "sft" (the two used some old names differently);
// `complement`: the new value is 1 - old (informative_group_fraction -> frac_reward_zero_std).
struct MetricRename {
  const char* old_name;
  const char* new_name;
  const char* trainer;
  bool complement = false;
};
const std::vector<MetricRename>& metric_renames();

// The resume record RunLog adds to the first row after a resume: the checkpoint step the run
// continued from (rows after it were dropped and redone). Not a TensorBoard scalar.
inline constexpr const char* kResumedFromStep = "resumed_from_step";

// Renames, in place, the old keys of one metrics.jsonl row (a row already in the current names is
// left as it is). An old SFT row is told by its "tokens" key (now num_tokens); an old GRPO row by
// any of its old keys. A key whose new name the row already holds is left alone. Returns whether
// anything changed.
bool upgrade_metrics_row(Json& row);

}  // namespace illume::train
