// JSONL rows that remember their line numbers, for messages of the form "FILE:LINE: problem".
// Same reading rules as illume::read_jsonl_file: blank lines skipped, CRLF accepted, a malformed line
// fails with "PATH:LINE: malformed JSON (detail)".
#pragma once
#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "illume/util/json.h"

namespace illume::data {

struct JsonlRow {
  std::size_t line = 0;  // 1-based line number in the file
  Json value;
};

std::vector<JsonlRow> read_jsonl_rows(const std::filesystem::path& path);

// "PATH:LINE", the prefix of every message about a row.
inline std::string row_source(const std::filesystem::path& path, const JsonlRow& row) {
  return path.string() + ":" + std::to_string(row.line);
}

}  // namespace illume::data
