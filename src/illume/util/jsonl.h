// The one JSONL reader: rows that remember their line numbers, for messages of the form
// "FILE:LINE: problem". One JSON value per non-empty line; blank lines are skipped but counted, so
// LINE is the line an editor shows. CRLF and trailing blanks are accepted. A malformed line fails
// with "PATH:LINE: malformed JSON (detail)". (read_jsonl_file in json.h returns the values only.)
#pragma once
#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "illume/util/json.h"

namespace illume {

struct JsonlRow {
  std::size_t line = 0;  // 1-based line number in the file, blank lines counted
  Json value;
};

std::vector<JsonlRow> read_jsonl_rows(const std::filesystem::path& path);

// "PATH:LINE", the prefix of every message about a row.
inline std::string row_source(const std::filesystem::path& path, const JsonlRow& row) {
  return path.string() + ":" + std::to_string(row.line);
}

}  // namespace illume
