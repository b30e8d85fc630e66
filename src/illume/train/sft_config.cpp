// SFT recipes: YAML -> JSON (yaml-cpp), "a.b=value" overrides, then a strict typed read where every
// key must be known.
//
//   seed: 0
//   out: runs/default-model
//   resume: false
//   threads: 2
//   model:                      # random init from config.json fields (vocab_size from the tokenizer) ...
//     config: {model_type: qwen3, hidden_size: 192, ...}
//     init_from: DIR            # ... or an HF folder to fine-tune (exactly one of the two)
//   tokenizer: models/illume-countdown-tiny
//   data:
//     train: FILE.jsonl         # prompt/response rows (or countdown rows with response) ...
//     generate: {n: 20000, seed: 1, difficulty: standard, numbers: [3, 4], max_number: 99,
//                false_starts: 1, mul_div: true}     # ... or puzzles made on the fly
//     prompt_format: chat       # chat | raw
//     eval_size: 256
//     max_length: 384
//   train: {steps, batch_size, lr, min_lr_ratio, warmup_steps, weight_decay, beta1, beta2, eps, grad_clip,
//           log_every, eval_every, save_every, keep_checkpoints}
//   accuracy: {file: test.jsonl, n: 128, max_new_tokens: 160}
//   save_dtype: bfloat16        # float32 | bfloat16 (final/ and export_dir)
//   export_dir: models/illume-countdown-tiny
#include <yaml-cpp/yaml.h>

#include <set>

#include "illume/train/sft.h"
#include "illume/util/error.h"
#include "illume/util/file.h"

namespace illume::train {

namespace {

Json scalar_to_json(const YAML::Node& node) {
  const std::string& s = node.Scalar();
  if (node.Tag() == "!") return s;  // quoted: a string
  if (s == "null" || s == "~" || s.empty()) return nullptr;
  if (s == "true" || s == "True") return true;
  if (s == "false" || s == "False") return false;
  try {
    std::size_t used = 0;
    long long i = std::stoll(s, &used);
    if (used == s.size()) return i;
  } catch (...) {
  }
  try {
    std::size_t used = 0;
    double d = std::stod(s, &used);
    if (used == s.size()) return d;
  } catch (...) {
  }
  return s;
}

Json yaml_to_json(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      Json out = Json::object();
      for (auto it = node.begin(); it != node.end(); ++it) out[it->first.as<std::string>()] = yaml_to_json(it->second);
      return out;
    }
    case YAML::NodeType::Sequence: {
      Json out = Json::array();
      for (auto it = node.begin(); it != node.end(); ++it) out.push_back(yaml_to_json(*it));
      return out;
    }
    case YAML::NodeType::Scalar:
      return scalar_to_json(node);
    default:
      return nullptr;
  }
}

// Typed reads of one object; remembers the keys read, and finish() fails on the others.
class Reader {
 public:
  Reader(const Json& object, std::string source, std::string prefix)
      : object_(object), source_(std::move(source)), prefix_(std::move(prefix)) {
    if (!object_.is_object() && !object_.is_null())
      fail("{}: '{}' must be a mapping", source_, prefix_.empty() ? "(top)" : prefix_);
  }
  const Json* find(const std::string& key) {
    read_.insert(key);
    if (!object_.is_object()) return nullptr;
    auto it = object_.find(key);
    return it == object_.end() || it->is_null() ? nullptr : &*it;
  }
  template <typename T>
  T get(const std::string& key, T fallback) {
    const Json* v = find(key);
    if (v == nullptr) return fallback;
    bool ok = std::is_same_v<T, bool> ? v->is_boolean()
              : std::is_integral_v<T> ? v->is_number_integer()
              : std::is_floating_point_v<T> ? v->is_number()
                                            : v->is_string();
    if (!ok) fail("{}: key '{}' has the wrong type ({})", source_, full(key), v->type_name());
    return v->get<T>();
  }
  Json raw(const std::string& key) {
    const Json* v = find(key);
    return v ? *v : Json();
  }
  Reader section(const std::string& key) {
    const Json* v = find(key);
    return Reader(v ? *v : Json(), source_, full(key));
  }
  void finish() const {
    if (!object_.is_object()) return;
    for (auto& [k, v] : object_.items())
      if (!read_.count(k)) fail("{}: unknown key '{}'", source_, full(k));
  }

 private:
  std::string full(const std::string& key) const { return prefix_.empty() ? key : prefix_ + "." + key; }
  Json object_;
  std::string source_, prefix_;
  std::set<std::string> read_;
};

}  // namespace

SftConfig sft_config_from_json(const Json& root, const std::string& source) {
  SftConfig c;
  Reader r(root, source, "");
  c.seed = r.get<std::uint64_t>("seed", c.seed);
  c.out = r.get<std::string>("out", c.out.string());
  c.resume = r.get<bool>("resume", c.resume);
  c.threads = r.get<int>("threads", c.threads);
  c.tokenizer = r.get<std::string>("tokenizer", "");
  c.save_dtype = r.get<std::string>("save_dtype", c.save_dtype);
  if (c.save_dtype != "float32" && c.save_dtype != "bfloat16")
    fail("{}: save_dtype must be float32 or bfloat16, got '{}'", source, c.save_dtype);
  c.export_dir = r.get<std::string>("export_dir", "");
  {
    auto m = r.section("model");
    c.init_from = m.get<std::string>("init_from", "");
    c.model_config = m.raw("config");
    if (c.init_from.empty() == c.model_config.is_null())
      fail("{}: give exactly one of model.init_from (a folder) and model.config (a config.json shape)", source);
    if (!c.model_config.is_null() && !c.model_config.is_object()) fail("{}: model.config must be a mapping", source);
    m.finish();
  }
  {
    auto d = r.section("data");
    c.train_file = d.get<std::string>("train", "");
    c.prompt_format = d.get<std::string>("prompt_format", c.prompt_format);
    if (c.prompt_format != "chat" && c.prompt_format != "raw")
      fail("{}: data.prompt_format must be chat or raw, got '{}'", source, c.prompt_format);
    c.eval_size = d.get<std::int64_t>("eval_size", c.eval_size);
    c.max_length = d.get<std::int64_t>("max_length", c.max_length);
    auto g = d.section("generate");
    c.generate_n = g.get<std::int64_t>("n", 0);
    c.generate_seed = g.get<std::uint64_t>("seed", c.generate_seed);
    c.generate_options = data::countdown_difficulty(g.get<std::string>("difficulty", "standard"));
    auto& o = c.generate_options;
    auto numbers = g.raw("numbers");
    if (!numbers.is_null()) {
      if (numbers.is_number_integer()) o.min_numbers = o.max_numbers = numbers.get<int>();
      else if (numbers.is_array() && numbers.size() == 2 && numbers[0].is_number_integer() && numbers[1].is_number_integer()) {
        o.min_numbers = numbers[0].get<int>();
        o.max_numbers = numbers[1].get<int>();
      } else fail("{}: data.generate.numbers must be K or [MIN, MAX]", source);
    }
    o.max_number = g.get<std::int64_t>("max_number", o.max_number);
    o.max_target = g.get<std::int64_t>("max_target", o.max_target);
    o.max_false_starts = g.get<int>("false_starts", o.max_false_starts);
    o.allow_mul_div = g.get<bool>("mul_div", o.allow_mul_div);
    g.finish();
    data::validate(o);
    if (c.train_file.empty() == (c.generate_n <= 0))
      fail("{}: give exactly one of data.train (a JSONL file) and data.generate.n", source);
    d.finish();
  }
  {
    auto t = r.section("train");
    c.steps = t.get<std::int64_t>("steps", c.steps);
    c.batch_size = t.get<std::int64_t>("batch_size", c.batch_size);
    c.lr = t.get<double>("lr", c.lr);
    c.min_lr_ratio = t.get<double>("min_lr_ratio", c.min_lr_ratio);
    c.warmup_steps = t.get<std::int64_t>("warmup_steps", c.warmup_steps);
    c.weight_decay = t.get<double>("weight_decay", c.weight_decay);
    c.beta1 = t.get<double>("beta1", c.beta1);
    c.beta2 = t.get<double>("beta2", c.beta2);
    c.eps = t.get<double>("eps", c.eps);
    c.grad_clip = t.get<double>("grad_clip", c.grad_clip);
    c.log_every = t.get<std::int64_t>("log_every", c.log_every);
    c.eval_every = t.get<std::int64_t>("eval_every", c.eval_every);
    c.save_every = t.get<std::int64_t>("save_every", c.save_every);
    c.keep_checkpoints = t.get<std::int64_t>("keep_checkpoints", c.keep_checkpoints);
    t.finish();
    if (c.steps < 1 || c.batch_size < 1) fail("{}: train.steps and train.batch_size must be positive", source);
    if (!(c.lr > 0) || c.min_lr_ratio < 0 || c.min_lr_ratio > 1) fail("{}: need lr > 0 and 0 <= min_lr_ratio <= 1", source);
  }
  {
    auto a = r.section("accuracy");
    c.accuracy_file = a.get<std::string>("file", "");
    c.accuracy_n = a.get<std::int64_t>("n", c.accuracy_n);
    c.accuracy_max_new_tokens = a.get<std::int64_t>("max_new_tokens", c.accuracy_max_new_tokens);
    a.finish();
  }
  r.finish();
  return c;
}

SftConfig load_sft_config(const std::filesystem::path& yaml, const std::vector<std::string>& overrides) {
  Json root;
  try {
    root = yaml_to_json(YAML::Load(read_file(yaml)));
  } catch (const YAML::Exception& e) {
    fail("{}: malformed YAML ({})", yaml.string(), e.what());
  }
  if (root.is_null()) root = Json::object();
  if (!root.is_object()) fail("{}: the top level must be a mapping", yaml.string());
  for (const auto& o : overrides) {
    auto eq = o.find('=');
    if (eq == std::string::npos || eq == 0) fail("override '{}' is not key=value", o);
    Json* node = &root;
    std::string path = o.substr(0, eq);
    std::size_t start = 0;
    for (;;) {
      auto dot = path.find('.', start);
      std::string key = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      if (key.empty()) fail("override '{}' has an empty key", o);
      if (!node->is_object()) fail("override '{}': '{}' is not a section", o, key);
      if (dot == std::string::npos) {
        YAML::Node value;
        try {
          value = YAML::Load(o.substr(eq + 1));
        } catch (const YAML::Exception& e) {
          fail("override '{}': malformed value ({})", o, e.what());
        }
        (*node)[key] = yaml_to_json(value);
        break;
      }
      if (!node->contains(key)) (*node)[key] = Json::object();
      node = &(*node)[key];
      start = dot + 1;
    }
  }
  return sft_config_from_json(root, yaml.string());
}

}  // namespace illume::train
