// `illume demo` (behind `make demo`): the paper's whole loop on the default model, in minutes on a
// laptop CPU. On models/illume-countdown-tiny:
//   1. evaluate the model on held-out Countdown puzzles (greedy)              -> OUT/eval-base/
//   2. analyse its responses (WAAD, FAI, preplan/anchor, coupling, report)    -> OUT/analysis-base/
//   3. for each credit strategy (default: none, then coupled; same seed, same prompts):
//        GRPO from the default model                                          -> OUT/grpo-S/ (metrics.jsonl,
//                                                                                config.json, checkpoints/)
//        evaluate the trained policy on the same puzzles                      -> OUT/grpo-S/eval-after/
//        (the base evaluation is copied to OUT/grpo-S/eval-before/)
//        analyse the trained policy's responses                               -> OUT/grpo-S/analysis/
//   4. the dashboard of both runs                                             -> OUT/index.html
// Data: ../shared/data/countdown/{train,test}.jsonl when present; otherwise puzzles from the Countdown
// generator with seeds the default model never saw (OUT/data/).
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "illume/util/json.h"

namespace illume::demo {

struct DemoOptions {
  std::filesystem::path model_dir = "models/illume-countdown-tiny";
  std::filesystem::path shared_dir;                       // holds data/countdown/; empty: generated data
  std::filesystem::path out_dir = "runs/demo";
  std::filesystem::path grpo_config = "configs/demo-grpo.yaml";
  std::vector<std::string> overrides;                     // key.sub=value for the GRPO recipe
  std::vector<std::string> strategies = {"none", "coupled"};
  std::int64_t eval_problems = 256;                       // held-out puzzles evaluated
  std::int64_t analysis_responses = 16;                   // responses analysed per model
  double analysis_temperature = 0.7;                      // METHOD.md §3
  std::uint64_t seed = 0;
};

// Runs the demo; returns {"base": eval summary, "runs": {strategy: {"before", "after", "share_attention",
// ...}}, "seconds": ..., "index": path}. Fails (illume::Error) naming what is missing.
Json run_demo(const DemoOptions& options);

}  // namespace illume::demo
