// The run folder (run.out) of `illume train` and `illume sft`, checked before any work starts.
//
// A fresh run refuses a folder that already holds anything: re-running into an old run's folder
// used to overwrite its metrics and prune its checkpoints in favour of stale ones. `--resume`
// continues the run there; `--overwrite` starts over, removing only what a run writes (metrics.jsonl, samples.jsonl,
// config.json, eval_summary.json, TensorBoard event files, checkpoints/ and final/ when they hold
// nothing but illume's files) and never a file illume does not write.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "illume/util/json.h"

namespace illume::train {

enum class RunStart { Fresh, Resume, Overwrite };

// Fails with one line naming the folder and what to do; with Overwrite, removes the run's own files.
void prepare_run_folder(const std::filesystem::path& out, RunStart start);
// The first path in run folder `out` that --overwrite would not remove (a file illume did not write:
// kept at the top, refused inside checkpoints/ or final/), or empty: a caller that removes the whole
// folder afterwards (illume study --overwrite) checks this first, so that it never deletes such a file.
std::filesystem::path entry_overwrite_keeps(const std::filesystem::path& out);

// A resumed run against the resolved config its checkpoint saved (trainer_state.json "details.config").
// Keys in `must_match` (dotted: "run.seed", "optim.batch_size") decide which data the remaining steps see
// and how: a difference is an error naming the key, both values and `source`. Other differences are
// returned as "key: old -> new" lines, for the log (a resumed run may lower the lr or add steps).
// Keys under run.out and model.dir are not compared (a run folder may move).
std::vector<std::string> compare_resumed_config(const Json& saved, const Json& current,
                                                const std::vector<std::string>& must_match, const std::string& source);

}  // namespace illume::train
