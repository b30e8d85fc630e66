#include "illume/train/run_log.h"

#include "illume/util/file.h"

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

RunLog::RunLog(const fs::path& path, std::optional<std::int64_t> resumed_at_step) {
  // A live log: appended and flushed row by row (the dashboard reads it while the run goes on).
  if (resumed_at_step) {
    trim_run_log(path, *resumed_at_step);
  } else {
    std::error_code ec;
    fs::remove(path, ec);  // a fresh run (the run folder was checked first: run_folder.h)
  }
  writer_ = std::make_unique<JsonlWriter>(path, JsonlWriter::Mode::Append);
}

RunLog::~RunLog() = default;

void RunLog::append(const Json& row) { writer_->write(row); }

}  // namespace illume::train
