// The training dashboard: one self-contained HTML file (inline CSS and JS, no network, canvas plots)
// that sets several training runs side by side: a run table, the evaluations before / after training,
// the training curves of all runs overlaid, and links to the runs' analysis reports. Torch-free:
// run folders (JSON / JSONL) in, HTML out. `illume report --runs DIR... --out FILE.html` is its CLI.
// The page's source is assets/dashboard.{html,js} with the shared assets/common.{css,js} (page_assets.h).
//
// A run folder (what `illume train` and `illume eval` write):
//   DIR/metrics.jsonl           REQUIRED: one JSON object per training step (any numeric keys, named as
//                               docs/metrics.md says; rows in the names of older runs are read in the
//                               new ones, train/metric_names.h). Plotted: reward/mean (band: +- its
//                               standard error, reward/std / sqrt(optim.batch_size)), accuracy,
//                               completions/mean_length and /max_length, entropy, gamma_mean,
//                               gamma_amplified_fraction, clip_ratio/low_mean, /high_mean, timing/...;
//                               every other numeric key gets a panel of its own under "More metrics";
//                               the in-training evaluation's eval/accuracy, eval/pass@k,
//                               eval/mean_length, eval/format_rate (rows of the evaluated steps only,
//                               step 0 = before training) are drawn in "Evaluation during training".
//                               A panel whose series are constant over every run is not drawn; the
//                               page lists it in one line, "constant: name=value". The resume records
//                               (resumed_from_step, train/run_log.h) are drawn as vertical lines.
//   DIR/samples.jsonl           (optional) the trainer's sample completions (grpo_trainer.h); the last
//                               few steps' are shown in a table, tokens shaded by their credit weight
//   DIR/config.json             (optional) the resolved training config; credit.strategy is the run's
//                               label, a few settings are shown
//   DIR/eval-LABEL/summary.json (optional, any number) an `illume eval` summary; LABEL is e.g. "before"
//                               or "after"
//   DIR/**/report.html          (optional, any depth) analysis reports, linked from the top of the page
//                               with the coupling statistics of the summary.json beside each
//
// The data object (collect_runs fills it; keys marked (optional) may be absent or null):
//
// {
//   "title": "Countdown: none vs coupled",                  (optional) page title
//   "runs": [ {
//     "name":  "run-coupled",                                REQUIRED: the folder name (legend, tables)
//     "dir":   "runs/run-coupled",                           (optional) the folder as given
//     "label": "coupled",                                    (optional) credit.strategy from config.json
//     "settings": {"model.dir": "models/x", "optim.lr": 1e-6,  (optional) flat key -> value, shown as
//                  "rollout.group_size": 8, ...},            given (keys: model.dir, optim.lr,
//                                                            rollout.group_size, optim.batch_size,
//                                                            run.steps, run.seed; those present)
//     "steps": 50,                                           (optional) rows of metrics.jsonl
//     "resumes": [20],                                       (optional) steps the run resumed from
//     "metrics": {                                           REQUIRED: columns, one entry per row of
//       "step": [1, 2, ...],                                 metrics.jsonl (null: the row lacks the key
//       "reward/mean": [0.1, 0.12, ...], ...                 or its value is not a number); "step" is
//     },                                                     always there (a row without one gets its
//                                                            1-based row number)
//     "eval_curve": {"last": {"step": 50, "value": 0.4},    (optional) from the eval/accuracy column
//                    "peak": {...}, "peak_ema": {...},       (eval/statistics.h summarize_curve, the
//                    "ema_alpha": 0.5, "points": 6},         numbers of the run's eval_summary.json)
//     "evals": {                                             (optional) eval label -> summary; keys
//       "before": {"task": "countdown", "problems": 200,     copied when present: task, problems, k,
//                  "k": 1, "temperature": 0, "pass@1": 0.31, temperature, pass@1, avg@k, pass@k
//                  "avg@k": 0.31, "pass@k": 0.31,            (from "pass@k" or "pass@K"),
//                  "response_length_mean": 212.5},           response_length_mean. The page orders
//       "after":  {...}                                      labels before, others (A-Z), after
//     },
//     "reports": [ {"label": "analysis",                     (optional) analysis reports: label = the
//                   "path": "runs/run-coupled/analysis/report.html",  report's folder inside DIR,
//                   "href": "run-coupled/analysis/report.html",       href = URL relative to the
//                   "coupling": {"entropy_at_preplan":        dashboard's folder (percent-encoded);
//                       {"observed": 0.36, "random": 0.24,    coupling (optional): Table 2's rows from
//                        "lift": 0.51, "lift_ci": [lo, hi],   the summary.json beside the report
//                        "verdict": "...", "count": 70},      (entropy_at_preplan,
//                       ..., "responses": 16}} ],              receiver_global_cooccurrence, fai_after_waad)
//     "samples": [ {"step": 24, "prompt": "...",             (optional) samples.jsonl rows of the last
//                   "response": "...", "reward": 1.0,        3 steps that logged any, latest step first;
//                   "advantage": 1.2, "tokens": ["a", ...],  tokens and gamma cut at 1500 (token_count
//                   "gamma": [1.5, ...], "anchors": [3],     then gives the full length)
//                   "preplans": [1], ...} ]
//   } ]
// }
//
// Metric values are embedded rounded to 5 significant digits. Malformed data (a metric column whose
// length differs from "step", a non-number in a column) fails with a one-line illume::Error.
//
// The page after drawing sets <body data-plots-drawn="K"> (curve canvases drawn: one per metric panel
// with data in some run that is not constant) and on each canvas data-ink = pixels painted by the data
// inside the plot area (axes, grid and labels excluded); <body data-overflow-x="N">: how many CSS
// pixels the page is wider than the window, or a table wider than its scroll box, at most (0 when
// nothing scrolls sideways). Script errors are counted in <body data-js-errors>. Long runs are
// downsampled to the plot's pixel columns. URL hash options: "#smooth=0.9" sets the EMA smoothing
// (0..0.99); "&selftest" drives the tooltips, the smoothing control and the legend toggles once
// (<body data-selftest="ok">).
#pragma once
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace illume {

// Reads the run folders (convention above) into the data object. out_html is where the page will be
// written: report links are made relative to its folder. Fails with one line naming the file and the
// problem: a missing folder or metrics.jsonl, "PATH:LINE: ..." for a malformed or non-object line, an
// empty metrics.jsonl, a malformed config.json or eval summary.
nlohmann::json collect_runs(const std::vector<std::filesystem::path>& run_dirs, const std::filesystem::path& out_html);

// The whole HTML page for `data` (schema above).
std::string render_dashboard(const nlohmann::json& data);

// render_dashboard, written atomically to out_html (parent folders are created).
void write_dashboard(const std::filesystem::path& out_html, const nlohmann::json& data);

}  // namespace illume
