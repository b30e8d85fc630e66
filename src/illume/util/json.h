// JSON helpers over nlohmann::json whose errors name the source file and the key.
#pragma once
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "illume/util/error.h"

namespace illume {

using Json = nlohmann::json;

// Arrays and objects nested deeper than this are refused before nlohmann parses them: its dump(),
// copies and comparisons recurse once per level, so a hostile file nested 100k deep would overflow
// the stack. 128 is serde_json's limit, which Hugging Face's tokenizers and safetensors use.
inline constexpr int kMaxJsonDepth = 128;

// Parses a JSON file: "PATH: malformed JSON (detail)" on failure.
Json read_json_file(const std::filesystem::path& path);
// Parses text that came from `source` (a path or a name used in messages). Every failure is
// "SOURCE: PROBLEM (detail)", PROBLEM "malformed JSON" unless given: syntax errors, nesting deeper
// than kMaxJsonDepth, numbers out of range (1e400).
Json parse_json(std::string_view text, const std::string& source, std::string_view problem = "malformed JSON");
// Nesting depth of arrays and objects in JSON text, found without parsing (strings skipped); counting
// stops at limit + 1.
int json_nesting_depth(std::string_view text, int limit = kMaxJsonDepth);
// nlohmann's message without its "[json.exception.parse_error.101] " prefix, and with a long "last
// read" excerpt cut short: one line of bounded length.
std::string json_error_text(const nlohmann::json::exception& error);
// A JSON value for an error message: at most about `max_chars` characters, ending "..." when cut;
// never fails (invalid UTF-8 is replaced) and never walks more of the value than it prints.
std::string json_excerpt(const Json& value, std::size_t max_chars = 80);

namespace detail {
enum class Conversion { Ok, WrongType, OutOfRange };
// json_get's conversion: integers must be JSON integers that fit T (nlohmann would truncate 1.9 to 1
// and wrap 2^64 - 1 to -1), floating point accepts any number, others as nlohmann converts them.
template <typename T>
Conversion json_convert(const Json& value, T& out) {
  if constexpr (std::is_same_v<T, bool>) {
    if (!value.is_boolean()) return Conversion::WrongType;
    out = value.get<bool>();
  } else if constexpr (std::is_integral_v<T>) {
    if (value.is_number_unsigned()) {
      auto v = value.get<std::uint64_t>();
      if (v > static_cast<std::uint64_t>(std::numeric_limits<T>::max())) return Conversion::OutOfRange;
      out = static_cast<T>(v);
      return Conversion::Ok;
    }
    if (!value.is_number_integer()) return Conversion::WrongType;
    auto v = value.get<std::int64_t>();
    if constexpr (std::is_signed_v<T>) {
      if (v < std::numeric_limits<T>::min() || v > std::numeric_limits<T>::max()) return Conversion::OutOfRange;
    } else {
      if (v < 0 || static_cast<std::uint64_t>(v) > static_cast<std::uint64_t>(std::numeric_limits<T>::max()))
        return Conversion::OutOfRange;
    }
    out = static_cast<T>(v);
  } else if constexpr (std::is_floating_point_v<T>) {
    if (!value.is_number()) return Conversion::WrongType;
    out = value.get<T>();
  } else {
    try {
      out = value.get<T>();
    } catch (const nlohmann::json::exception&) {
      return Conversion::WrongType;
    }
  }
  return Conversion::Ok;
}
template <typename T>
const char* json_type_wanted() {
  if constexpr (std::is_same_v<T, bool>) return "true or false";
  else if constexpr (std::is_integral_v<T>) return std::is_signed_v<T> ? "an integer" : "a non-negative integer";
  else if constexpr (std::is_floating_point_v<T>) return "a number";
  else if constexpr (std::is_same_v<T, std::string>) return "a string";
  else return "of another type";
}
// "SOURCE: key 'k' should be an integer, got 1.5" / "SOURCE: key 'k' is out of range, got 1e30".
template <typename T>
[[noreturn]] void json_conversion_failed(Conversion outcome, const Json& value, const char* key, const std::string& source) {
  if (outcome == Conversion::OutOfRange) fail("{}: key '{}' is out of range, got {}", source, key, json_excerpt(value));
  fail("{}: key '{}' should be {}, got {}", source, key, json_type_wanted<T>(), json_excerpt(value));
}
}  // namespace detail

// Typed access with errors of the form "SOURCE: missing key 'k'" / "SOURCE: key 'k' should be an
// integer in range, got 1.5".
template <typename T>
T json_get(const Json& object, const char* key, const std::string& source) {
  if (!object.is_object()) fail("{}: expected a JSON object", source);
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) fail("{}: missing key '{}'", source, key);
  T out{};
  auto outcome = detail::json_convert(*it, out);
  if (outcome != detail::Conversion::Ok) detail::json_conversion_failed<T>(outcome, *it, key, source);
  return out;
}

template <typename T>
T json_get_or(const Json& object, const char* key, T fallback, const std::string& source) {
  if (!object.is_object()) fail("{}: expected a JSON object", source);
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return fallback;
  T out{};
  auto outcome = detail::json_convert(*it, out);
  if (outcome != detail::Conversion::Ok) detail::json_conversion_failed<T>(outcome, *it, key, source);
  return out;
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
