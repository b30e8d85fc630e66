#include "illume/train/run_log.h"

#include "illume/train/metric_names.h"
#include "illume/util/file.h"
#include "illume/util/tensorboard.h"

namespace illume::train {
namespace fs = std::filesystem;

void trim_run_log(const fs::path& path, std::int64_t step) {
  if (!fs::exists(path)) return;
  const auto text = read_file(path);
  std::string kept;
  std::size_t start = 0, line_number = 0;
  while (start < text.size()) {
    const auto end = text.find('\n', start);
    if (end == std::string::npos) break;  // a half line from a kill: the step is redone
    const auto line = text.substr(start, end - start);
    start = end + 1;
    ++line_number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const auto row = parse_json(line, path.string() + ":" + std::to_string(line_number));
    if (!row.is_object()) fail("{}:{}: expected a JSON object", path.string(), line_number);
    if (json_get_or<std::int64_t>(row, "step", 0, path.string() + ":" + std::to_string(line_number)) <= step)
      kept += line + "\n";
  }
  write_file_atomic(path, kept);
}

namespace {
// Trims (resumed) or removes (fresh) a per-step JSONL file.
void prepare_step_file(const fs::path& path, std::optional<std::int64_t> resumed_at_step) {
  if (resumed_at_step) {
    trim_run_log(path, *resumed_at_step);
  } else {
    std::error_code ec;
    fs::remove(path, ec);  // a fresh run (the run folder was checked first: run_folder.h)
  }
}
}  // namespace

StepLog::StepLog(const fs::path& path, std::optional<std::int64_t> resumed_at_step, bool open) {
  prepare_step_file(path, resumed_at_step);
  if (open) writer_ = std::make_unique<JsonlWriter>(path, JsonlWriter::Mode::Append);
}

StepLog::~StepLog() = default;

void StepLog::append(const Json& row) {
  if (writer_) writer_->write(row);
}

RunLog::RunLog(const fs::path& path, std::optional<std::int64_t> resumed_at_step, bool write_tensorboard)
    : resumed_from_(resumed_at_step) {
  // A live log: appended and flushed row by row (the dashboard reads it while the run goes on).
  const auto folder = path.has_parent_path() ? path.parent_path() : fs::path(".");
  prepare_step_file(path, resumed_at_step);
  if (resumed_at_step) tensorboard::trim_event_files(folder, *resumed_at_step);
  else tensorboard::remove_event_files(folder);
  writer_ = std::make_unique<JsonlWriter>(path, JsonlWriter::Mode::Append);
  if (write_tensorboard) events_ = std::make_unique<tensorboard::EventWriter>(folder);
}

RunLog::~RunLog() = default;

void RunLog::append(const Json& row) {
  if (resumed_from_ && row.is_object()) {
    Json marked = row;
    marked[kResumedFromStep] = *resumed_from_;
    writer_->write(marked);
    resumed_from_.reset();
  } else {
    writer_->write(row);
  }
  if (events_ && row.is_object() && row.contains("step") && row["step"].is_number_integer())
    events_->write_scalars(row["step"].get<std::int64_t>(), tensorboard::scalars_of(row));
}

}  // namespace illume::train
