#include "illume/util/config.h"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <cstdlib>

#include "illume/util/file.h"

namespace illume {
namespace {

// A plain (unquoted) YAML scalar typed the way YAML 1.2's core schema does: null, bool, int, float,
// otherwise string. Quoted scalars (tag "!") are always strings.
Json typed_scalar(const YAML::Node& node) {
  const std::string& text = node.Scalar();
  if (node.Tag() == "!") return text;
  if (text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL") return nullptr;
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;
  {
    char* end = nullptr;
    errno = 0;
    long long v = std::strtoll(text.c_str(), &end, 10);
    if (end && *end == '\0' && errno == 0 && end != text.c_str()) return v;
  }
  {
    char* end = nullptr;
    double v = std::strtod(text.c_str(), &end);
    bool numeric_start = !text.empty() && (std::isdigit(static_cast<unsigned char>(text[0])) ||
                                           text[0] == '-' || text[0] == '+' || text[0] == '.');
    if (end && *end == '\0' && end != text.c_str() && numeric_start && std::isfinite(v)) return v;
  }
  return text;
}

Json to_json(const YAML::Node& node, const std::string& source, int depth) {
  if (depth > 64) fail("{}: YAML nested too deeply", source);
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nullptr;
    case YAML::NodeType::Scalar:
      return typed_scalar(node);
    case YAML::NodeType::Sequence: {
      Json out = Json::array();
      for (const auto& item : node) out.push_back(to_json(item, source, depth + 1));
      return out;
    }
    case YAML::NodeType::Map: {
      Json out = Json::object();
      for (const auto& item : node) {
        if (!item.first.IsScalar()) fail("{}: YAML mapping keys must be plain strings", source);
        std::string key = item.first.Scalar();
        if (out.contains(key)) fail("{}: duplicate key '{}'", source, key);
        out[key] = to_json(item.second, source, depth + 1);
      }
      return out;
    }
  }
  return nullptr;
}

std::string short_dump(const Json& value) {
  std::string s = value.dump();
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

}  // namespace

Json parse_yaml(const std::string& text, const std::string& source) {
  YAML::Node node;
  try {
    node = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    fail("{}: malformed YAML ({})", source, e.what());
  }
  Json out = to_json(node, source, 0);
  if (out.is_null()) out = Json::object();
  if (!out.is_object()) fail("{}: expected a YAML mapping at the top", source);
  return out;
}

Json load_yaml_file(const std::filesystem::path& path) {
  return parse_yaml(read_file(path), path.string());
}

Json parse_yaml_value(const std::string& text, const std::string& source) {
  YAML::Node node;
  try {
    node = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    fail("{}: malformed value '{}' ({})", source, text, e.what());
  }
  return to_json(node, source, 0);
}

void apply_override(Json& root, const std::string& assignment, const std::string& source) {
  auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) fail("{}: override '{}' is not key=value", source, assignment);
  std::string key = assignment.substr(0, eq);
  Json value = parse_yaml_value(assignment.substr(eq + 1), source);
  Json* node = &root;
  size_t start = 0;
  while (true) {
    size_t dot = key.find('.', start);
    std::string part = key.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (part.empty()) fail("{}: override '{}' has an empty key part", source, assignment);
    if (!node->is_object()) fail("{}: override '{}': '{}' is not a section", source, assignment, key.substr(0, start ? start - 1 : 0));
    if (dot == std::string::npos) {
      (*node)[part] = value;
      return;
    }
    Json& child = (*node)[part];
    if (child.is_null()) child = Json::object();
    node = &child;
    start = dot + 1;
  }
}

ConfigReader::ConfigReader(Json object, std::string source, std::string prefix)
    : object_(std::move(object)), source_(std::move(source)), prefix_(std::move(prefix)) {
  if (object_.is_null()) object_ = Json::object();
  if (!object_.is_object()) fail("{}: '{}' should be a mapping", source_, prefix_.empty() ? "<top>" : prefix_);
}

std::string ConfigReader::full(const std::string& key) const { return prefix_.empty() ? key : prefix_ + "." + key; }

bool ConfigReader::has(const std::string& key) const {
  auto it = object_.find(key);
  return it != object_.end() && !it->is_null();
}

const Json* ConfigReader::find(const std::string& key) {
  read_.insert(key);
  auto it = object_.find(key);
  if (it == object_.end() || it->is_null()) return nullptr;
  return &*it;
}

void ConfigReader::wrong_type(const std::string& key, const char* type, const Json& value) const {
  fail("{}: key '{}' should be {}, got {}", source_, full(key), type, short_dump(value));
}

bool ConfigReader::get_bool(const std::string& key, bool fallback) {
  const Json* v = find(key);
  if (!v) return fallback;
  if (!v->is_boolean()) wrong_type(key, "a boolean", *v);
  return v->get<bool>();
}

long long ConfigReader::get_int(const std::string& key, long long fallback) {
  const Json* v = find(key);
  if (!v) return fallback;
  if (!v->is_number_integer()) wrong_type(key, "an integer", *v);
  return v->get<long long>();
}

double ConfigReader::get_double(const std::string& key, double fallback) {
  const Json* v = find(key);
  if (!v) return fallback;
  if (!v->is_number()) wrong_type(key, "a number", *v);
  return v->get<double>();
}

std::string ConfigReader::get_string(const std::string& key, const std::string& fallback) {
  const Json* v = find(key);
  if (!v) return fallback;
  if (!v->is_string()) wrong_type(key, "a string", *v);
  return v->get<std::string>();
}

std::string ConfigReader::get_choice(const std::string& key, const std::string& fallback,
                                     const std::vector<std::string>& allowed) {
  std::string value = get_string(key, fallback);
  for (const auto& a : allowed)
    if (a == value) return value;
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "" : "|") + a;
  fail("{}: key '{}' must be one of {}, got '{}'", source_, full(key), list, value);
}

std::vector<double> ConfigReader::get_double_list(const std::string& key, const std::vector<double>& fallback) {
  const Json* v = find(key);
  if (!v) return fallback;
  if (!v->is_array()) wrong_type(key, "a list of numbers", *v);
  std::vector<double> out;
  for (const auto& item : *v) {
    if (!item.is_number()) wrong_type(key, "a list of numbers", *v);
    out.push_back(item.get<double>());
  }
  return out;
}

std::string ConfigReader::require_string(const std::string& key) {
  if (!has(key)) fail("{}: missing key '{}'", source_, full(key));
  return get_string(key, "");
}

ConfigReader ConfigReader::section(const std::string& key) {
  const Json* v = find(key);
  if (v && !v->is_object()) wrong_type(key, "a mapping", *v);
  return ConfigReader(v ? *v : Json::object(), source_, full(key));
}

void ConfigReader::finish() const {
  for (auto it = object_.begin(); it != object_.end(); ++it)
    if (!read_.count(it.key())) fail("{}: unknown key '{}'", source_, full(it.key()));
}

}  // namespace illume
