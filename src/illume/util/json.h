// JSON helpers over nlohmann::json whose errors name the source file and the key.
#pragma once
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "illume/util/error.h"

namespace illume {

using Json = nlohmann::json;

// A short excerpt of a value for messages (at most ~60 characters; never the whole of a huge value).
std::string json_excerpt(const Json& value);

// Parses a JSON file: "PATH: malformed JSON (detail)" on failure.
Json read_json_file(const std::filesystem::path& path);
// Parses text that came from `source` (a path or a name used in messages).
Json parse_json(const std::string& text, const std::string& source);

// Strict conversion of a JSON value: an integer type takes only JSON integers inside its range (nlohmann's
// get<int> would turn 1.9 into 1 and 2^32+1 into 1), a floating type any number, bool only booleans;
// lists convert element by element. Returns false on a mismatch; other types convert as nlohmann does.
template <typename T>
struct IsVector : std::false_type {};
template <typename U>
struct IsVector<std::vector<U>> : std::true_type {};

template <typename T>
bool json_convert(const Json& value, T& out) {
  if constexpr (std::is_same_v<T, bool>) {
    if (!value.is_boolean()) return false;
    out = value.get<bool>();
    return true;
  } else if constexpr (std::is_integral_v<T>) {
    if (value.is_number_unsigned()) {
      const auto u = value.get<std::uint64_t>();
      if (!std::in_range<T>(u)) return false;
      out = static_cast<T>(u);
      return true;
    }
    if (!value.is_number_integer()) return false;
    const auto i = value.get<std::int64_t>();
    if (!std::in_range<T>(i)) return false;
    out = static_cast<T>(i);
    return true;
  } else if constexpr (std::is_floating_point_v<T>) {
    if (!value.is_number()) return false;
    out = value.get<T>();
    return true;
  } else if constexpr (IsVector<T>::value) {
    if (!value.is_array()) return false;
    T result;
    result.reserve(value.size());
    for (const auto& element : value) {
      typename T::value_type converted{};
      if (!json_convert(element, converted)) return false;
      result.push_back(std::move(converted));
    }
    out = std::move(result);
    return true;
  } else {
    try {
      out = value.get<T>();
      return true;
    } catch (const nlohmann::json::exception&) {
      return false;
    }
  }
}

// What json_convert<T> accepts, for messages: "an integer in [0, 2147483647]", "a list of ...".
template <typename T>
std::string json_expected(T* = nullptr) {
  if constexpr (std::is_same_v<T, bool>) return "a boolean";
  else if constexpr (std::is_integral_v<T>)
    return fmt::format("an integer in [{}, {}]", std::numeric_limits<T>::min(), std::numeric_limits<T>::max());
  else if constexpr (std::is_floating_point_v<T>) return "a number";
  else if constexpr (std::is_same_v<T, std::string>) return "a string";
  else if constexpr (IsVector<T>::value) return "a list of " + json_expected<typename T::value_type>();
  else return "a value of another type";
}

// Typed access with errors of the form "SOURCE: key 'k' missing" / "... should be an integer in [..], got 1.9".
template <typename T>
T json_get(const Json& object, const char* key, const std::string& source) {
  if (!object.is_object()) fail("{}: expected a JSON object", source);
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) fail("{}: missing key '{}'", source, key);
  T out{};
  if (!json_convert(*it, out)) fail("{}: key '{}' should be {}, got {}", source, key, json_expected<T>(), json_excerpt(*it));
  return out;
}

template <typename T>
T json_get_or(const Json& object, const char* key, T fallback, const std::string& source) {
  if (!object.is_object()) fail("{}: expected a JSON object", source);
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return fallback;
  T out{};
  if (!json_convert(*it, out)) fail("{}: key '{}' should be {}, got {}", source, key, json_expected<T>(), json_excerpt(*it));
  return out;
}

// One-line JSON text; invalid UTF-8 inside strings (model output cut mid-character) becomes U+FFFD
// instead of an exception.
std::string dump_line(const Json& value);

// JSONL: the values of util/jsonl.h's read_jsonl_rows (one per non-empty line), without line numbers.
// Errors: "PATH:LINE: malformed JSON (detail)".
std::vector<Json> read_jsonl_file(const std::filesystem::path& path);

// A JSONL writer that writes whole lines.
//   Replace: the lines go to a temporary file beside PATH, which commit() renames over PATH; until
//            then (and when the writer is destroyed without commit(), e.g. by an exception) PATH keeps
//            its old content, so a failed run never leaves a truncated file where a good one was.
//   Append:  lines are appended to PATH and flushed one by one (a live log, e.g. metrics.jsonl); a kill
//            leaves at most a half last line, which readers of our own files tolerate.
class JsonlWriter {
 public:
  enum class Mode { Replace, Append };
  explicit JsonlWriter(const std::filesystem::path& path, Mode mode = Mode::Replace);
  ~JsonlWriter();
  JsonlWriter(const JsonlWriter&) = delete;
  JsonlWriter& operator=(const JsonlWriter&) = delete;
  void write(const Json& value);
  // Replace mode: flush, fsync and rename over PATH. Append mode: flush. Further writes fail.
  void commit();

 private:
  std::filesystem::path path_, temp_;
  std::FILE* file_ = nullptr;
};

}  // namespace illume
