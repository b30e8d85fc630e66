// The study's config (`illume study --config configs/study-countdown.yaml`): a `study:` section that
// names the grid, and a whole GRPO recipe (train_config.h: model, data, rollout, optim, advantage,
// loss, credit, attention, reward, run, eval) that every run starts from.
//
//   study:
//     strategies: [none, random, entropy, local, global, coupled]   credit.strategy of each run (rl/credit.h)
//     seeds: [0, 1, 2]                                               run.seed of each run
//     out: ../runs/study                                             the study's folder (relative: to the file)
//     analysis:                                                      Table 2 of the starting and final policies
//       policies: first-seed      none | first-seed (the start + each strategy's run of the first seed) | all
//       responses: 16             responses analysed per policy (eval.data's first problems)
//       temperature: 0.7          their sampling temperature (METHOD.md section 3)
//     quick:                      "key.sub: value" overrides that --quick applies before the command
//       study.seeds: [0]          line's (a CI-sized grid: fewer strategies, seeds, steps, problems)
//
// Each run is the recipe with credit.strategy = S, run.seed = N and run.out = OUT/runs/S-sN, read
// through read_train_config (so every run's settings are checked before the first one starts). The
// trainer's prompt order depends on run.seed alone (a seeded permutation, grpo_trainer.h), so the
// runs of one seed see the same prompts whatever their strategy; the held-out puzzles are the same
// for every run. Unknown keys, an unknown strategy, a repeated or empty list fail naming the file (or
// the override) and the key; so does a recipe without in-training evaluation (eval.every = 0: the
// report compares held-out accuracy).
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "illume/train/train_config.h"
#include "illume/util/config.h"
#include "illume/util/json.h"

namespace illume::study {

enum class AnalysedPolicies { None, FirstSeed, All };

struct StudyRun {
  std::string name;  // "coupled-s1"
  std::string strategy;
  std::uint64_t seed = 0;
  train::TrainConfig config;  // run.out = OUT/runs/NAME
};

struct StudyConfig {
  std::string source;  // the file as named (messages)
  std::vector<std::string> strategies;
  std::vector<std::uint64_t> seeds;
  std::filesystem::path out;  // absolute
  AnalysedPolicies analysed = AnalysedPolicies::FirstSeed;
  std::int64_t analysis_responses = 16;
  double analysis_temperature = 0.7;
  bool quick = false;
  train::TrainConfig base;     // the recipe as written (before each run's three keys)
  std::vector<StudyRun> runs;  // strategies x seeds, by seed then strategy (the runs of one seed together)
};

// FILE.yaml; with `quick`, study.quick's overrides; then the "key.sub=value" overrides in order
// (study.* keys included: study.seeds=[0,1] study.strategies=[none,coupled]).
StudyConfig load_study_config(const std::filesystem::path& yaml, const std::vector<std::string>& overrides, bool quick);
// A tree (a file's, with any overrides applied).
StudyConfig read_study_config(const ConfigTree& tree);
// study.quick's entries applied to the tree as if the file's sections said so (what --quick does:
// relative paths resolve against the file's folder); fails naming the file when there is no
// study.quick mapping.
void apply_quick_overrides(ConfigTree& tree);

// The resolved config (absolute paths): {"study": {...}, "recipe": train_config_to_json(base), "runs": [names]}.
Json study_config_to_json(const StudyConfig& config);

const char* analysed_policies_name(AnalysedPolicies policies);

}  // namespace illume::study
