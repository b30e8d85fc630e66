#include "illume/util/jsonl.h"

#include <string_view>

#include "illume/util/file.h"

namespace illume {

std::vector<JsonlRow> read_jsonl_rows(const std::filesystem::path& path) {
  std::string text = read_file(path);
  std::vector<JsonlRow> rows;
  std::size_t line_number = 0, start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    ++line_number;
    std::string_view line(text.data() + start, end - start);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
    if (!line.empty()) {
      rows.push_back({line_number, parse_json(line, path.string() + ":" + std::to_string(line_number))});
    }
    if (end == text.size()) break;
    start = end + 1;
  }
  return rows;
}

std::vector<Json> read_jsonl_file(const std::filesystem::path& path) {
  std::vector<Json> values;
  for (auto& row : read_jsonl_rows(path)) values.push_back(std::move(row.value));
  return values;
}

}  // namespace illume
