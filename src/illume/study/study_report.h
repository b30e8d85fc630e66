// The study's report: OUT/study.json and OUT/index.html (both written atomically, after every run, so
// an interrupted study shows what it has). Torch-free: the runs' own files in, JSON and HTML out.
//
// From each finished run's OUT/runs/NAME/metrics.jsonl (the trainer's rows, docs/metrics.md):
//   final accuracy   eval/accuracy at the run's last evaluation (the last step: the trainer always
//                    evaluates there), peak = the highest evaluation, peak_ema = the EMA's peak,
//                    all through eval/statistics.h's summarize_curve over the eval/accuracy rows
//                    (step 0, the starting policy, is one of them: the trainer's eval_summary.json)
//   timing           means over the training rows of timing/step, timing/attention, share_attention
//                    (the attention pass's share of the step) and of timing/eval over the evaluations
//   curves           reward/mean, accuracy (the training batch's), completions/mean_length, entropy
//                    per step, and eval/accuracy per evaluation
// Per strategy over its seeds (study/statistics/seed_statistics.h): final and peak accuracy as mean
// and 95% t interval (n = 1: no interval); the paired difference to `none` of the same seed (the same
// prompts and puzzles), with its t interval, paired t-test p and sign counts; each curve's mean over
// seeds with its standard error (the band). A strategy "beats none beyond the noise" when the 95%
// interval of its paired final-accuracy difference lies above 0. The paper's Countdown numbers
// (METHOD.md) stand beside them.
//
// study.json (the page's data; keys marked (n>1) are null for one seed):
// {
//   "title", "state": "running" | "done", "elapsed_seconds", "config": study_config_to_json,
//   "settings": {"model", "steps", "group_size", "batch_size", "lr", "eval_problems", "eval_every", ...},
//   "runs": [{"name", "strategy", "seed", "status": "pending" | "running" | "done", "href", "seconds",
//             "final": {"step", "value"}, "peak": {...}, "peak_ema": {...}, "evaluations",
//             "step_seconds", "attention_seconds", "share_attention", "eval_seconds"}],
//   "strategies": [{"name", "seeds", "final": {"n", "mean", "sd", "lo", "hi"}, "peak": {...},
//                   "vs_none": {"final": {"seeds", "differences", "mean", "lo", "hi", "t", "p",
//                                         "positive", "negative", "ties", "sign_p", "verdict"},
//                               "peak": {...}} (absent for none, or without a none run),
//                   "share_attention", "step_seconds", "attention_seconds", "paper"}],
//   "curves": {"reward/mean": {"none": {"step": [...], "mean": [...], "se": [...], "n": [...]}, ...}, ...},
//   "analysis": [{"label", "policy", "strategy", "href", "coupling": Table 2's rows}],
//   "paper": {"none": 52.6, ...}, "verdict": {"text", "beats_none": [...], "below_none": [...]}
// }
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "illume/study/study_config.h"
#include "illume/util/json.h"

namespace illume::study {

// The paper's Countdown accuracies (METHOD.md section 5; GRPO = credit none), in percent.
const Json& paper_countdown_accuracy();

// One run's state as the runner knows it.
struct RunState {
  std::string status = "pending";  // pending | running | done
  double seconds = 0;              // training time of this run (this invocation's and earlier ones')
};

// One analysed policy (the starting model, or a run's final policy).
struct AnalysisRecord {
  std::string label, policy, strategy;  // policy: "start" or the run's name
  std::filesystem::path report;         // its report.html
  Json coupling;                        // analyze_and_write's summary
};

// The report data (schema above). states: one per config.runs, in order.
Json summarize_study(const StudyConfig& config, const std::vector<RunState>& states,
                     const std::vector<AnalysisRecord>& analyses, double elapsed_seconds);

// The page for `data` (assets/study.{html,js} with the shared common.{css,js}).
std::string render_study_page(const Json& data);

// study.json and index.html in config.out, each atomically.
void write_study_report(const StudyConfig& config, const Json& data);

}  // namespace illume::study
