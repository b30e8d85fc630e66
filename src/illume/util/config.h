// YAML recipes for long jobs (`illume train --config FILE.yaml key.sub=value ...`).
// A recipe is loaded into a plain JSON tree (YAML scalars typed as bool/int/float/null/string),
// command-line overrides are applied to it, and a ConfigReader hands out typed values with defaults.
// Every key a reader does not consume is an error ("FILE: unknown key 'x'"), so a typo never
// silently trains with a default.
#pragma once
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "illume/util/json.h"

namespace illume {

// Parses a YAML file (a mapping at the top) into JSON. "PATH: malformed YAML (detail)" on failure.
Json load_yaml_file(const std::filesystem::path& path);
// Parses YAML text; `source` names it in messages.
Json parse_yaml(const std::string& text, const std::string& source);
// A single YAML scalar ("3", "1e-6", "true", "[10, 100]", "abc") typed as in a file.
Json parse_yaml_value(const std::string& text, const std::string& source);

// Applies "a.b.c=value" to `root` (creates missing sections). The value is parsed as YAML.
// Fails with "SOURCE: override 'x' is not key=value" and similar.
void apply_override(Json& root, const std::string& assignment, const std::string& source = "override");

// Typed reads of one JSON object (a config section). Keys are looked up by name; every key read is
// remembered, and finish() fails on keys nobody read. Sections are read through section(), which
// returns a reader for the sub-object (missing -> empty) and marks the key as read.
class ConfigReader {
 public:
  ConfigReader(Json object, std::string source, std::string prefix = "");

  bool has(const std::string& key) const;
  // Typed value or `fallback` when the key is absent or null. Wrong type:
  // "SOURCE: key 'prefix.key' should be TYPE, got VALUE".
  bool get_bool(const std::string& key, bool fallback);
  long long get_int(const std::string& key, long long fallback);
  double get_double(const std::string& key, double fallback);  // integers accepted
  std::string get_string(const std::string& key, const std::string& fallback);
  // `allowed`: the value must be one of these ("SOURCE: key 'k' must be one of a|b|c, got 'x'").
  std::string get_choice(const std::string& key, const std::string& fallback,
                         const std::vector<std::string>& allowed);
  std::vector<double> get_double_list(const std::string& key, const std::vector<double>& fallback);
  // Required: "SOURCE: missing key 'k'".
  std::string require_string(const std::string& key);

  ConfigReader section(const std::string& key);
  // Fails on the first unread key: "SOURCE: unknown key 'prefix.key'". Sections must be finished
  // by the caller separately.
  void finish() const;

  const Json& json() const { return object_; }
  const std::string& source() const { return source_; }

 private:
  const Json* find(const std::string& key);
  std::string full(const std::string& key) const;
  [[noreturn]] void wrong_type(const std::string& key, const char* type, const Json& value) const;

  Json object_;
  std::string source_;
  std::string prefix_;
  std::set<std::string> read_;
};

}  // namespace illume
