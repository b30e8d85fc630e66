// `illume study` (behind `make study`): a grid of GRPO runs, credit strategies x seeds, from one
// starting model, each with in-training evaluation on the same held-out puzzles, then one report
// (study_report.h; docs/study.md). The config: study_config.h.
//
//   OUT/runs/S-sN/        each run's folder as `illume train` writes it (metrics.jsonl, checkpoints/,
//                         eval_summary.json, samples.jsonl, config.json)
//   OUT/analysis/start/   the starting policy's analysis (report.html, summary.json: Table 2 with
//                         bootstrap intervals), and OUT/analysis/S-sN/ of the final policies analysed
//   OUT/study.json        the report's numbers and each run's state, rewritten after every run
//   OUT/index.html        the report page
//
// Runs go one after another, by seed then strategy. Each is checkpointed (run.save_every, and at its
// end); a run whose final checkpoint (step = run.steps) and complete metrics.jsonl are there is done
// and is not redone; an unfinished one continues from its newest checkpoint with the trainer's resume
// (or starts over when it has none). A run started with other settings than its checkpoint's in the
// keys that decide its data (run.seed, rollout.group_size, optim.batch_size, data) fails naming them.
// A fresh study refuses a folder that holds anything: --resume continues, --overwrite starts over.
// One line per run start and finish on stdout: run i/N, elapsed time and the ETA.
#pragma once
#include "illume/study/study_config.h"
#include "illume/util/json.h"

namespace illume::study {

enum class StudyStart { Fresh, Resume, Overwrite };

// Checks OUT for `start` (one line naming the folder and what to do); Overwrite removes only what a
// study writes (study.json, index.html, runs/, analysis/), after checking that it holds nothing else.
void prepare_study_folder(const StudyConfig& config, StudyStart start);

// Runs (or resumes) the study and writes the report; returns study.json's object.
Json run_study(const StudyConfig& config, StudyStart start);

}  // namespace illume::study
