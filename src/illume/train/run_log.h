// OUT/metrics.jsonl: one JSON object per trainer step that logs, each with "step".
//
// Rows are whole lines, flushed one by one, so a kill leaves at most a half last line. A run resumed
// from the checkpoint at step S first rewrites the file (atomically) without the rows of steps > S and
// without a half line: the steps it redoes are logged once, as in an uninterrupted run.
//
// With TensorBoard on (run.tensorboard, the default), every row's numeric values are also written as
// scalars at the row's step to a new OUT/events.out.tfevents.<unix time>.<hostname>
// (util/tensorboard.h: nested objects become "a/b" tags; strings, booleans and arrays are left out;
// NaN and inf are kept). A resumed run writes a new events file after trimming the old ones of the
// steps > S, the same rule as metrics.jsonl, so that TensorBoard shows each step once; a fresh run
// removes the old ones, as it replaces metrics.jsonl. Both happen whether or not TensorBoard is on now.
//
// Resumes are recorded in the log: the first row a resumed log appends carries
// "resumed_from_step": S (metric_names.h kResumedFromStep; the dashboard draws a line there). It is
// left out of the TensorBoard scalars.
//
// Other per-step files of the run (OUT/samples.jsonl) follow the same rules through StepLog.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>

#include "illume/util/json.h"

namespace illume::tensorboard {
class EventWriter;
}

namespace illume::train {

// Rewrites the log keeping the complete rows with step <= `step` (rows without "step" are kept).
// A missing file is left missing.
void trim_run_log(const std::filesystem::path& path, std::int64_t step);

// A JSONL file of rows with "step", kept like metrics.jsonl: a fresh log replaces the old file, a
// resumed one (resumed_at_step) trims it to the rows of steps <= S first; rows are appended whole
// and flushed one by one. With `open` false the file is only trimmed or removed (a run that writes
// no such rows now leaves no stale ones behind).
class StepLog {
 public:
  StepLog(const std::filesystem::path& path, std::optional<std::int64_t> resumed_at_step, bool open = true);
  ~StepLog();
  bool is_open() const { return writer_ != nullptr; }
  void append(const Json& row);

 private:
  std::unique_ptr<JsonlWriter> writer_;
};

class RunLog {
 public:
  // A fresh log (replacing any old one), or, with resumed_at_step, the trimmed old log continued.
  // write_tensorboard: also write events files in the log's folder.
  RunLog(const std::filesystem::path& path, std::optional<std::int64_t> resumed_at_step, bool write_tensorboard = false);
  ~RunLog();
  void append(const Json& row);

 private:
  std::unique_ptr<JsonlWriter> writer_;
  std::unique_ptr<tensorboard::EventWriter> events_;
  std::optional<std::int64_t> resumed_from_;  // recorded on the next row
};

}  // namespace illume::train
