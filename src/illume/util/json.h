// JSON helpers over nlohmann::json whose errors name the source file and the key.
#pragma once
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <cstdio>
#include <string>
#include <vector>

#include "illume/util/error.h"

namespace illume {

using Json = nlohmann::json;

// Parses a JSON file: "PATH: malformed JSON (detail)" on failure.
Json read_json_file(const std::filesystem::path& path);
// Parses text that came from `source` (a path or a name used in messages).
Json parse_json(const std::string& text, const std::string& source);

// Typed access with errors of the form "SOURCE: key 'k' missing" / "... has wrong type".
template <typename T>
T json_get(const Json& object, const char* key, const std::string& source) {
  if (!object.is_object()) fail("{}: expected a JSON object", source);
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) fail("{}: missing key '{}'", source, key);
  try {
    return it->get<T>();
  } catch (const nlohmann::json::exception&) {
    fail("{}: key '{}' has the wrong type ({})", source, key, it->type_name());
  }
}

template <typename T>
T json_get_or(const Json& object, const char* key, T fallback, const std::string& source) {
  if (!object.is_object()) fail("{}: expected a JSON object", source);
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return fallback;
  try {
    return it->get<T>();
  } catch (const nlohmann::json::exception&) {
    fail("{}: key '{}' has the wrong type ({})", source, key, it->type_name());
  }
}

// One-line JSON text; invalid UTF-8 inside strings (model output cut mid-character) becomes U+FFFD
// instead of an exception.
std::string dump_line(const Json& value);

// JSONL: the values of util/jsonl.h's read_jsonl_rows (one per non-empty line), without line numbers.
// Errors: "PATH:LINE: malformed JSON (detail)".
std::vector<Json> read_jsonl_file(const std::filesystem::path& path);

// Appends-only JSONL writer that writes whole lines and flushes each (no half lines survive a kill
// except possibly the last, which readers of our own files tolerate).
class JsonlWriter {
 public:
  explicit JsonlWriter(const std::filesystem::path& path, bool append = false);
  ~JsonlWriter();
  JsonlWriter(const JsonlWriter&) = delete;
  JsonlWriter& operator=(const JsonlWriter&) = delete;
  void write(const Json& value);

 private:
  std::filesystem::path path_;
  std::FILE* file_ = nullptr;
};

}  // namespace illume
