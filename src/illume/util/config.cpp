#include "illume/util/config.h"

#include <yaml-cpp/yaml.h>

#include <climits>
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

// Bounds on what a recipe may expand to. YAML aliases share nodes, so a 1 KB file of aliases of
// aliases ("a: &a [x, x, ...]", "b: &b [*a, *a, ...]", ...) stands for billions of values once
// copied into a tree; a real recipe has a few hundred.
constexpr std::size_t kMaxYamlValues = 100'000;
constexpr int kMaxYamlDepth = 64;
constexpr std::size_t kMaxYamlBytes = 4 << 20;

// The offset of the first byte that is not part of well-formed UTF-8 (overlongs, surrogates and
// code points above U+10FFFF are not), or npos. A JSON tree cannot hold anything else.
std::size_t invalid_utf8_at(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t length = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
    if (length == 0 || c > 0xF4 || i + length > text.size()) return i;
    const auto second = static_cast<unsigned char>(text[i + 1]);
    if ((c == 0xE0 && second < 0xA0) || (c == 0xED && second > 0x9F) || (c == 0xF0 && second < 0x90) ||
        (c == 0xF4 && second > 0x8F))
      return i;
    for (std::size_t k = 1; k < length; ++k)
      if ((static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) return i;
    i += length;
  }
  return std::string_view::npos;
}

// yaml-cpp's message, which may quote a control character of the input (a newline after a backslash), on
// one line: control characters become \xNN.
std::string yaml_error_text(const YAML::Exception& error) {
  std::string out;
  for (char c : std::string_view(error.what())) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) out += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
    else out += c;
  }
  return out;
}

void check_yaml_text(const std::string& text, const std::string& source) {
  if (text.size() > kMaxYamlBytes) fail("{}: {} bytes is too large for a recipe (limit {})", source, text.size(), kMaxYamlBytes);
  // yaml-cpp reads a NUL as the end of the text; a recipe never holds one.
  if (auto nul = text.find('\0'); nul != std::string::npos) fail("{}: NUL byte at byte {} (not a text file?)", source, nul);
  if (auto bad = invalid_utf8_at(text); bad != std::string_view::npos) fail("{}: invalid UTF-8 at byte {}", source, bad);
}

// `values`: how many values the tree holds so far (the whole tree's, across the recursion).
Json to_json(const YAML::Node& node, const std::string& source, int depth, std::size_t& values) {
  if (depth > kMaxYamlDepth) fail("{}: YAML nested too deeply (more than {} levels)", source, kMaxYamlDepth);
  if (++values > kMaxYamlValues)
    fail("{}: YAML expands to more than {} values (aliases repeated inside aliases?)", source, kMaxYamlValues);
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nullptr;
    case YAML::NodeType::Scalar:
      // The text was checked, but yaml-cpp decodes escapes and other encodings; a JSON tree must
      // hold UTF-8 (nlohmann's dump() throws on anything else).
      if (invalid_utf8_at(node.Scalar()) != std::string_view::npos) fail("{}: a YAML value is not valid UTF-8", source);
      return typed_scalar(node);
    case YAML::NodeType::Sequence: {
      Json out = Json::array();
      for (const auto& item : node) out.push_back(to_json(item, source, depth + 1, values));
      return out;
    }
    case YAML::NodeType::Map: {
      Json out = Json::object();
      for (const auto& item : node) {
        if (!item.first.IsScalar()) fail("{}: YAML mapping keys must be plain strings", source);
        std::string key = item.first.Scalar();
        if (invalid_utf8_at(key) != std::string_view::npos) fail("{}: a YAML key is not valid UTF-8", source);
        if (out.contains(key)) fail("{}: duplicate key '{}'", source, key);
        out[key] = to_json(item.second, source, depth + 1, values);
      }
      return out;
    }
  }
  return nullptr;
}

std::string short_dump(const Json& value) { return json_excerpt(value, 60); }

}  // namespace

Json parse_yaml(const std::string& text, const std::string& source) {
  check_yaml_text(text, source);
  YAML::Node node;
  try {
    node = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    fail("{}: malformed YAML ({})", source, yaml_error_text(e));
  }
  std::size_t values = 0;
  Json out = to_json(node, source, 0, values);
  if (out.is_null()) out = Json::object();
  if (!out.is_object()) fail("{}: expected a YAML mapping at the top", source);
  return out;
}

Json load_yaml_file(const std::filesystem::path& path) {
  return parse_yaml(read_file(path), path.string());
}

Json parse_yaml_value(const std::string& text, const std::string& source) {
  check_yaml_text(text, source);
  YAML::Node node;
  try {
    node = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    fail("{}: malformed value ({})", source, yaml_error_text(e));
  }
  std::size_t values = 0;
  return to_json(node, source, 0, values);
}

namespace {

// Sets the value of "a.b.c=value" in `root`; returns the dotted key.
std::string set_override(Json& root, const std::string& assignment) {
  const std::string source = fmt::format("override '{}'", assignment);
  auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) fail("override '{}' is not key=value", assignment);
  if (auto bad = invalid_utf8_at(assignment); bad != std::string_view::npos)
    fail("{}: invalid UTF-8 at byte {}", source, bad);
  std::string key = assignment.substr(0, eq);
  Json value = parse_yaml_value(assignment.substr(eq + 1), source);
  Json* node = &root;
  size_t start = 0;
  while (true) {
    size_t dot = key.find('.', start);
    std::string part = key.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (part.empty()) fail("{}: the key has an empty part", source);
    if (!node->is_object()) fail("{}: '{}' is not a section", source, key.substr(0, start ? start - 1 : 0));
    if (dot == std::string::npos) {
      (*node)[part] = value;
      return key;
    }
    Json& child = (*node)[part];
    if (child.is_null()) child = Json::object();
    node = &child;
    start = dot + 1;
  }
}

}  // namespace

void apply_override(Json& root, const std::string& assignment) { set_override(root, assignment); }

ConfigTree load_config(const std::filesystem::path& yaml) {
  ConfigTree tree;
  tree.root = load_yaml_file(yaml);
  tree.source = yaml.string();
  tree.folder = std::filesystem::absolute(yaml).lexically_normal().parent_path();
  return tree;
}

ConfigTree config_tree(Json root, std::string source) {
  ConfigTree tree;
  tree.root = std::move(root);
  tree.source = std::move(source);
  tree.folder = std::filesystem::current_path();
  return tree;
}

void apply_override(ConfigTree& tree, const std::string& assignment) {
  std::string key = set_override(tree.root, assignment);
  // The new value replaces whatever earlier overrides set below this key.
  for (auto it = tree.overrides.lower_bound(key + "."); it != tree.overrides.end() && it->first.rfind(key + ".", 0) == 0;)
    it = tree.overrides.erase(it);
  tree.overrides[key] = assignment;
}

ConfigReader::ConfigReader(ConfigTree tree) : object_(tree.root) {
  tree_ = std::make_shared<const ConfigTree>(std::move(tree));
  if (!object_.is_object()) fail("{}: expected a mapping at the top", tree_->source);
}

ConfigReader::ConfigReader(Json object, std::string source)
    : tree_(std::make_shared<const ConfigTree>(config_tree(Json(), std::move(source)))), object_(std::move(object)) {
  if (object_.is_null()) object_ = Json::object();
  if (!object_.is_object()) fail("{}: expected a mapping at the top", tree_->source);
}

ConfigReader::ConfigReader(std::shared_ptr<const ConfigTree> tree, Json object, std::string prefix)
    : tree_(std::move(tree)), object_(std::move(object)), prefix_(std::move(prefix)) {
  if (object_.is_null()) object_ = Json::object();
}

std::string ConfigReader::full(const std::string& key) const { return prefix_.empty() ? key : prefix_ + "." + key; }

const std::string* ConfigReader::override_of(const std::string& key) const {
  // The longest dotted prefix of the key that an override set (an override of `optim` sets optim.lr).
  for (std::string name = full(key);;) {
    auto it = tree_->overrides.find(name);
    if (it != tree_->overrides.end()) return &it->second;
    auto dot = name.rfind('.');
    if (dot == std::string::npos) return nullptr;
    name.resize(dot);
  }
}

std::string ConfigReader::origin(const std::string& key) const {
  const std::string* assignment = override_of(key);
  return assignment ? fmt::format("override '{}'", *assignment) : tree_->source;
}

void ConfigReader::invalid(const std::string& key, const std::string& problem) const {
  fail("{}: key '{}' {}", origin(key), full(key), problem);
}

bool ConfigReader::has(const std::string& key) const {
  auto it = object_.find(key);
  return it != object_.end() && !it->is_null();
}

void ConfigReader::require(const std::string& key) const {
  if (!has(key)) fail("{}: missing key '{}'", tree_->source, full(key));
}

const Json* ConfigReader::find(const std::string& key) {
  read_.insert(key);
  auto it = object_.find(key);
  if (it == object_.end() || it->is_null()) return nullptr;
  return &*it;
}

void ConfigReader::wrong_type(const std::string& key, const char* type, const Json& value) const {
  invalid(key, fmt::format("should be {}, got {}", type, short_dump(value)));
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
  if (v->is_number_unsigned() && v->get<unsigned long long>() > static_cast<unsigned long long>(LLONG_MAX))
    wrong_type(key, "an integer below 2^63", *v);
  return v->get<long long>();
}

double ConfigReader::get_double(const std::string& key, double fallback) {
  const Json* v = find(key);
  if (!v) return fallback;
  // YAML's nan and inf arrive as strings; a tree built in memory may still hold them as numbers.
  if (!v->is_number() || !std::isfinite(v->get<double>())) wrong_type(key, "a number", *v);
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
  invalid(key, fmt::format("must be one of {}, got '{}'", list, value));
}

std::vector<double> ConfigReader::get_double_list(const std::string& key, const std::vector<double>& fallback) {
  const Json* v = find(key);
  if (!v) return fallback;
  if (!v->is_array()) wrong_type(key, "a list of numbers", *v);
  std::vector<double> out;
  for (const auto& item : *v) {
    if (!item.is_number() || !std::isfinite(item.get<double>())) wrong_type(key, "a list of numbers", *v);
    out.push_back(item.get<double>());
  }
  return out;
}

std::filesystem::path ConfigReader::get_path(const std::string& key, const std::filesystem::path& fallback) {
  const Json* v = find(key);
  if (!v) return fallback;
  if (!v->is_string() || v->get<std::string>().empty()) wrong_type(key, "a path", *v);
  std::filesystem::path path = v->get<std::string>();
  if (path.is_relative()) {
    path = (override_of(key) ? std::filesystem::current_path() : tree_->folder) / path;
  }
  return path.lexically_normal();
}

Json ConfigReader::get_json(const std::string& key) {
  const Json* v = find(key);
  return v ? *v : Json();
}

ConfigReader ConfigReader::section(const std::string& key) {
  const Json* v = find(key);
  if (v && !v->is_object()) wrong_type(key, "a mapping", *v);
  return ConfigReader(tree_, v ? *v : Json::object(), full(key));
}

void ConfigReader::finish() const {
  for (auto it = object_.begin(); it != object_.end(); ++it) {
    if (read_.count(it.key())) continue;
    // A retired key says where it went; for a retired section, the first retired key inside it.
    std::string name = full(it.key());
    auto moved = tree_->moved.find(name);
    if (it->is_object())
      for (auto child = it->begin(); child != it->end(); ++child)
        if (auto m = tree_->moved.find(name + "." + child.key()); m != tree_->moved.end()) {
          name += "." + child.key();
          moved = m;
          break;
        }
    if (moved != tree_->moved.end()) fail("{}: unknown key '{}' (now {})", origin(it.key()), name, moved->second);
    fail("{}: unknown key '{}'", origin(it.key()), name);
  }
}

}  // namespace illume
