// YAML recipes for long jobs (`illume train|sft --config FILE.yaml key.sub=value ...`).
// A recipe is loaded into a plain JSON tree (YAML scalars typed as bool/int/float/null/string; nan
// and inf are not numbers; a duplicate key fails), command-line overrides are applied to it, and a
// ConfigReader hands out typed values with defaults. Every key a reader does not consume is an error
// ("FILE: unknown key 'x'"), so a typo never silently trains with a default.
//
// Every value knows where it came from, and that decides two things:
//   messages      a value from the file names the file ("FILE: key 'optim.lr' should be a number,
//                 got \"abc\""); a value set by an override names the override ("override
//                 'optim.lr=abc': key 'optim.lr' should be a number, got \"abc\"").
//   relative paths  resolve against the file's folder (a recipe works from any working directory);
//                 an override's paths resolve against the working directory, like any other argument.
#pragma once
#include <filesystem>
#include <initializer_list>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "illume/util/json.h"

namespace illume {

// Parses YAML text (a mapping at the top) into JSON; `source` names it in messages:
// "SOURCE: malformed YAML (detail)", "SOURCE: duplicate key 'k'".
Json parse_yaml(const std::string& text, const std::string& source);
// Parses a YAML file. "PATH: malformed YAML (detail)" on failure.
Json load_yaml_file(const std::filesystem::path& path);
// A single YAML scalar ("3", "1e-6", "true", "[10, 100]", "abc") typed as in a file.
Json parse_yaml_value(const std::string& text, const std::string& source);

// Applies "a.b.c=value" to a plain tree (creates missing sections). The value is parsed as YAML.
// Fails with "override 'x' is not key=value" and similar.
void apply_override(Json& root, const std::string& assignment);

// A recipe and where its values came from.
struct ConfigTree {
  Json root = Json::object();
  std::string source;            // the file as named on the command line (or a name for a tree built in memory)
  std::filesystem::path folder;  // absolute: relative paths written in the file resolve here
  std::map<std::string, std::string> overrides;  // dotted key -> the "key=value" that set it
  std::map<std::string, std::string> moved;      // retired dotted key -> where it went, for messages
};

// FILE.yaml: folder = the file's folder.
ConfigTree load_config(const std::filesystem::path& yaml);
// A tree built in memory (tests, a resolved config.json): folder = the working directory.
ConfigTree config_tree(Json root, std::string source);
// "a.b=value" as above, remembered as the origin of a.b (and of everything under it).
void apply_override(ConfigTree& tree, const std::string& assignment);

// Typed reads of one JSON object (a config section). Keys are looked up by name; every key read is
// remembered, and finish() fails on keys nobody read. Sections are read through section(), which
// returns a reader for the sub-object (missing -> empty) and marks the key as read.
class ConfigReader {
 public:
  explicit ConfigReader(ConfigTree tree);
  ConfigReader(Json object, std::string source);  // config_tree(object, source)

  bool has(const std::string& key) const;
  // Typed value or `fallback` when the key is absent or null. Wrong type:
  // "ORIGIN: key 'prefix.key' should be TYPE, got VALUE" (ORIGIN: the file or the override).
  bool get_bool(const std::string& key, bool fallback);
  long long get_int(const std::string& key, long long fallback);
  double get_double(const std::string& key, double fallback);  // finite; integers accepted
  std::string get_string(const std::string& key, const std::string& fallback);
  // `allowed`: the value must be one of these ("ORIGIN: key 'k' must be one of a|b|c, got 'x'").
  std::string get_choice(const std::string& key, const std::string& fallback,
                         const std::vector<std::string>& allowed);
  // A choice read straight into an enumeration: {{"plain", Style::Plain}, {"chat", Style::Chat}}.
  template <typename E>
  E get_enum(const std::string& key, E fallback, std::initializer_list<std::pair<const char*, E>> names);
  std::vector<double> get_double_list(const std::string& key, const std::vector<double>& fallback);
  // A non-empty path, made absolute: relative to the file's folder, or to the working directory
  // when an override set it. `fallback` (absent key) is returned as given.
  std::filesystem::path get_path(const std::string& key, const std::filesystem::path& fallback);
  // The value as it stands (null when absent): for sub-trees handed on whole, e.g. a model shape.
  Json get_json(const std::string& key);
  // "SOURCE: missing key 'prefix.key'" unless the key is present.
  void require(const std::string& key) const;

  ConfigReader section(const std::string& key);
  // Fails on the first unread key: "ORIGIN: unknown key 'prefix.key'", plus " (now 'x')" for a
  // retired key. Sections must be finished by the caller separately.
  void finish() const;

  // Who set `key` (relative to this section): the file's name or "override 'k=v'"; for messages
  // about a value that is well-typed but wrong ("ORIGIN: key 'optim.lr' must be positive").
  std::string origin(const std::string& key) const;
  // Throws "ORIGIN: key 'prefix.key' PROBLEM".
  [[noreturn]] void invalid(const std::string& key, const std::string& problem) const;
  std::string full(const std::string& key) const;

  const Json& json() const { return object_; }
  const std::string& source() const { return tree_->source; }

 private:
  ConfigReader(std::shared_ptr<const ConfigTree> tree, Json object, std::string prefix);
  const Json* find(const std::string& key);
  const std::string* override_of(const std::string& key) const;  // the "k=v" that set key, if any
  [[noreturn]] void wrong_type(const std::string& key, const char* type, const Json& value) const;

  std::shared_ptr<const ConfigTree> tree_;
  Json object_;
  std::string prefix_;
  std::set<std::string> read_;
};

template <typename E>
E ConfigReader::get_enum(const std::string& key, E fallback, std::initializer_list<std::pair<const char*, E>> names) {
  std::vector<std::string> allowed;
  std::string fallback_name;
  for (const auto& [name, value] : names) {
    allowed.emplace_back(name);
    if (value == fallback && fallback_name.empty()) fallback_name = name;
  }
  auto chosen = get_choice(key, fallback_name, allowed);
  for (const auto& [name, value] : names)
    if (chosen == name) return value;
  return fallback;
}

}  // namespace illume
