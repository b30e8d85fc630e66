// OUT/metrics.jsonl: one JSON object per trainer step that logs, each with "step".
//
// Rows are whole lines, flushed one by one, so a kill leaves at most a half last line. A run resumed
// from the checkpoint at step S first rewrites the file (atomically) without the rows of steps > S and
// without a half line: the steps it redoes are logged once, as in an uninterrupted run.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>

#include "illume/util/json.h"

namespace illume::train {

// Rewrites the log keeping the complete rows with step <= `step` (rows without "step" are kept).
// A missing file is left missing.
void trim_run_log(const std::filesystem::path& path, std::int64_t step);

class RunLog {
 public:
  // A fresh log (replacing any old one), or, with resumed_at_step, the trimmed old log continued.
  RunLog(const std::filesystem::path& path, std::optional<std::int64_t> resumed_at_step);
  ~RunLog();
  void append(const Json& row);

 private:
  std::unique_ptr<JsonlWriter> writer_;
};

}  // namespace illume::train
