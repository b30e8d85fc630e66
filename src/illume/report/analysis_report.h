// The analysis report: one self-contained HTML file (inline CSS and JS, no network) that shows, per
// response, the text shaded by WAAD / FAI, the preplan and anchor tokens, the WAAD and FAI curves,
// the averaged local and global attention maps, and the head spans; plus the run's summary table.
// Torch-free: JSON in, HTML out. The page's source is assets/analysis_report.{html,js} with the shared
// assets/common.{css,js} (page_assets.h).
//
// The data object (the analysis engine fills it). Keys marked (optional) may be absent or null;
// whatever is absent is simply not drawn.
//
// {
//   "title":    "GSM8K, Qwen3-4B-Base",                      (optional) page title
//   "model":    "models/qwen3-4b-base",                      (optional) model path or name
//   "settings": {                                            (optional) shown as given, e.g.
//     "layers": [12,15,18,21,24], "window": 10,              W of WAAD (the legend uses it)
//     "fai_horizon_lo": 1, "fai_horizon_hi": "end",          FAI horizon (a number or "end")
//     "head_quantile": 0.3                                   share of heads called local / global
//   },
//   "summary": {                                             (optional) run-level statistics; each
//     "entropy_at_waad_peaks": {"observed": 0.36, "random": 0.24, "lift": 0.51,     value is either an
//        "lift_ci": [0.3, 0.7], "bootstrap": 1000,           object with any of observed/random/lift
//        "verdict": "above chance"},                         (+ ratio, lift_ci, bootstrap, verdict:
//     "fai_peak_after_waad_peak": {...},                     only "above chance" is shown green; a
//     "responses": 70                                        lift without lift_ci is not judged), a
//   },                                                       number or string, or a nested object
//   "responses": [ {
//     "prompt":  "...",                                      (optional)
//     "tokens":  ["tok text", ...],                          REQUIRED: the decoded text of each
//                                                            response token, exact UTF-8 (invalid
//                                                            bytes are shown as U+FFFD)
//     "waad":    [..], "fai": [..], "delta": [..],           (optional) one number per token
//     "entropy": [..],                                       (null = not available)
//     "preplan": [i, ...], "anchor": [i, ...],               (optional) token indices (WAAD / FAI peaks)
//     "head_span": [[d(l,h) per head] per layer],            (optional) one row per entry of "layers"
//     "layers":  [12, 15, ...],                              (optional) model layer index of each row
//     "local_heads":  [[layer, head], ...],                  (optional) layer = model layer index
//     "global_heads": [[layer, head], ...],                  (as in "layers"), head = query head
//     "maps": {                                              (optional) averaged attention of a window
//       "window_begin": s0,                                  first response position of the window
//       "window_size": w,                                    (optional, default = size) response
//                                                            positions the window covers; each cell
//                                                            pools w/size positions per axis
//       "size": n,                                           cells per side (<= 256 expected,
//                                                            up to 1024 accepted)
//       "local":  [[n numbers] x n],                         rows = query t, columns = key s; causal
//       "global": [[n numbers] x n],                         (zeros above the diagonal are not drawn)
//       "receiver": [[n numbers] x n],                       (optional) receiver-head mean
//       "heads": {"size": m, "ids": [[layer, head], ...],    (optional) one m x m map per head, same
//                 "maps": [[[m numbers] x m], ...]}          window: the panels' head selectors
//     }
//   } ]
// }
//
// Numbers inside "responses" are embedded rounded to 5 significant digits (maps: 4) to keep the file
// small; NaN/inf become null. Malformed data (a per-token array whose length differs from "tokens",
// an index out of range, a map that is not size x size) fails with a one-line illume::Error.
//
// The page after drawing sets <body data-plots-drawn="K"> (canvases drawn for the shown response)
// and on each canvas data-ink = pixels painted by the data inside the plot area (axes and labels
// excluded); on each map canvas data-preplan-marks / data-anchor-marks (tokens marked in its
// window); on <body> data-rhythm = "shown" | "not-shown" (the maps' note: a coupling lift not
// detected, or local heads whose mean span is at least half the response), data-rhythm-rows (rows
// not detected) and data-head-options (choices of a map panel). Script errors are counted in
// <body data-js-errors>. URL hash options: "#r=1" shows response 1; "&zoom=C" opens the maps zoomed
// 4x at cell C of the diagonal (clicking a map toggles the zoom); "&selftest" drives every tooltip,
// toggle and head choice once (<body data-selftest="ok">; each curve canvas keeps its hover's text
// in data-tip and position in data-tip-index; <body data-head-inks> lists "choice=ink" for every
// head choice of the left panel).
#pragma once
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

namespace illume {

// The whole HTML page for `data` (schema above).
std::string render_analysis_report(const nlohmann::json& data);

// render_analysis_report, written atomically to out_html (parent folders are created).
void write_analysis_report(const std::filesystem::path& out_html, const nlohmann::json& data);

}  // namespace illume
