#include "illume/io/model_config.h"

#include <limits>

#include "illume/util/error.h"

namespace illume {

const char* architecture_name(Architecture architecture) {
  switch (architecture) {
    case Architecture::Qwen3: return "qwen3";
    case Architecture::Qwen2: return "qwen2";
    case Architecture::Llama: return "llama";
  }
  return "?";
}

namespace {

// Keys every supported architecture needs.
void parse_common(ModelConfig& c, const Json& j, const std::string& src) {
  c.vocab_size = json_get<std::int64_t>(j, "vocab_size", src);
  c.hidden_size = json_get<std::int64_t>(j, "hidden_size", src);
  c.intermediate_size = json_get<std::int64_t>(j, "intermediate_size", src);
  c.num_layers = json_get<std::int64_t>(j, "num_hidden_layers", src);
  c.num_heads = json_get<std::int64_t>(j, "num_attention_heads", src);
  c.num_kv_heads = json_get_or<std::int64_t>(j, "num_key_value_heads", c.num_heads, src);
  c.rms_norm_eps = json_get<double>(j, "rms_norm_eps", src);
  c.rope_theta = json_get_or<double>(j, "rope_theta", 10000.0, src);
  c.max_position_embeddings = json_get_or<std::int64_t>(j, "max_position_embeddings", 4096, src);
  c.tie_word_embeddings = json_get_or<bool>(j, "tie_word_embeddings", false, src);
  c.torch_dtype = json_get_or<std::string>(j, "torch_dtype", "float32", src);
  if (c.num_heads <= 0) fail("{}: num_attention_heads must be positive", src);
  c.head_dim = json_get_or<std::int64_t>(j, "head_dim", c.hidden_size / c.num_heads, src);
  if (j.contains("bos_token_id") && j["bos_token_id"].is_number_integer())
    c.bos_token_id = j["bos_token_id"].get<std::int64_t>();
  if (j.contains("eos_token_id")) {
    const auto& e = j["eos_token_id"];
    if (e.is_number_integer()) c.eos_token_ids.push_back(e.get<std::int64_t>());
    else if (e.is_array())
      for (const auto& x : e) {
        if (!x.is_number_integer()) fail("{}: eos_token_id list holds a non-integer", src);
        c.eos_token_ids.push_back(x.get<std::int64_t>());
      }
    else if (!e.is_null()) fail("{}: key 'eos_token_id' has the wrong type ({})", src, e.type_name());
  }
  std::string act = json_get_or<std::string>(j, "hidden_act", "silu", src);
  if (act != "silu") fail("{}: hidden_act '{}' is not supported (silu only)", src, act);
  if (j.contains("rope_scaling") && !j["rope_scaling"].is_null() && c.architecture != Architecture::Llama)
    fail("{}: rope_scaling is only supported for llama (type llama3)", src);
}

// Per-architecture parsers: each says what the one decoder must switch on.
void parse_qwen3(ModelConfig& c, const Json& j, const std::string& src) {
  parse_common(c, j, src);
  c.qk_norm = true;
  c.attention_bias = json_get_or<bool>(j, "attention_bias", false, src);
}

void parse_qwen2(ModelConfig& c, const Json& j, const std::string& src) {
  parse_common(c, j, src);
  c.qk_norm = false;
  c.attention_bias = true;  // Qwen2/2.5 always have q/k/v biases
  if (json_get_or<bool>(j, "use_sliding_window", false, src))
    fail("{}: use_sliding_window=true is not supported", src);
}

void parse_llama(ModelConfig& c, const Json& j, const std::string& src) {
  parse_common(c, j, src);
  c.qk_norm = false;
  c.attention_bias = json_get_or<bool>(j, "attention_bias", false, src);
  if (json_get_or<bool>(j, "mlp_bias", false, src)) fail("{}: mlp_bias=true is not supported", src);
  if (j.contains("rope_scaling") && !j["rope_scaling"].is_null()) {
    const auto& rs = j["rope_scaling"];
    std::string scaling_source = src + " rope_scaling";
    std::string type = rs.contains("rope_type") ? json_get<std::string>(rs, "rope_type", scaling_source)
                                                : json_get<std::string>(rs, "type", scaling_source);
    if (type != "llama3") fail("{}: rope_scaling type '{}' is not supported (llama3 only)", src, type);
    c.rope_scaling.type = type;
    c.rope_scaling.factor = json_get<double>(rs, "factor", scaling_source);
    c.rope_scaling.low_freq_factor = json_get<double>(rs, "low_freq_factor", scaling_source);
    c.rope_scaling.high_freq_factor = json_get<double>(rs, "high_freq_factor", scaling_source);
    c.rope_scaling.original_max_position_embeddings =
        json_get<std::int64_t>(rs, "original_max_position_embeddings", scaling_source);
    if (c.rope_scaling.high_freq_factor <= c.rope_scaling.low_freq_factor)
      fail("{}: rope_scaling high_freq_factor must exceed low_freq_factor", src);
  }
}

// Upper bounds far above any real model (Qwen3-235B: hidden 4096, 94 layers, 64 heads, vocabulary
// 151,936, 40,960 positions), so that sizes derived from them (a weight's element count, the
// parameter count) cannot overflow 64 bits, and a corrupt file fails here rather than in an allocation.
constexpr std::int64_t kMaxWidth = std::int64_t{1} << 20;       // hidden, intermediate and head sizes
constexpr std::int64_t kMaxVocabulary = std::int64_t{1} << 31;  // token ids are int32
constexpr std::int64_t kMaxLayers = 4096;
constexpr std::int64_t kMaxHeads = 4096;
constexpr std::int64_t kMaxPositions = std::int64_t{1} << 31;

void validate(const ModelConfig& c, const std::string& src) {
  auto in_range = [&](std::int64_t v, const char* name, std::int64_t limit) {
    if (v <= 0) fail("{}: {} must be positive (got {})", src, name, v);
    if (v > limit) fail("{}: {} {} is too large (limit {})", src, name, v, limit);
  };
  in_range(c.vocab_size, "vocab_size", kMaxVocabulary - 1);
  in_range(c.hidden_size, "hidden_size", kMaxWidth);
  in_range(c.intermediate_size, "intermediate_size", kMaxWidth);
  in_range(c.num_layers, "num_hidden_layers", kMaxLayers);
  in_range(c.num_heads, "num_attention_heads", kMaxHeads);
  in_range(c.num_kv_heads, "num_key_value_heads", kMaxHeads);
  in_range(c.head_dim, "head_dim", kMaxWidth);
  in_range(c.max_position_embeddings, "max_position_embeddings", kMaxPositions);
  if (c.head_dim % 2 != 0) fail("{}: head_dim must be even for rotary embeddings (got {})", src, c.head_dim);
  if (c.num_heads % c.num_kv_heads != 0)
    fail("{}: num_attention_heads ({}) is not a multiple of num_key_value_heads ({})", src, c.num_heads,
         c.num_kv_heads);
  if (!(c.rms_norm_eps > 0)) fail("{}: rms_norm_eps must be positive", src);
  if (!(c.rope_theta > 0)) fail("{}: rope_theta must be positive", src);
}

}  // namespace

ModelConfig ModelConfig::from_json(const Json& j, const std::string& src) {
  if (!j.is_object()) fail("{}: expected a JSON object", src);
  ModelConfig c;
  c.model_type = json_get<std::string>(j, "model_type", src);
  if (c.model_type == "qwen3") {
    c.architecture = Architecture::Qwen3;
    parse_qwen3(c, j, src);
  } else if (c.model_type == "qwen2") {
    c.architecture = Architecture::Qwen2;
    parse_qwen2(c, j, src);
  } else if (c.model_type == "llama") {
    c.architecture = Architecture::Llama;
    parse_llama(c, j, src);
  } else {
    fail("{}: unknown model_type '{}' (supported: qwen3, qwen2, llama)", src, c.model_type);
  }
  validate(c, src);
  return c;
}

ModelConfig ModelConfig::load(const std::filesystem::path& model_dir) {
  auto path = model_dir / "config.json";
  if (!std::filesystem::exists(path)) fail("{}: no config.json in the model folder", model_dir.string());
  return from_json(read_json_file(path), path.string());
}

std::int64_t ModelConfig::parameter_count() const {
  // In 128 bits: validate()'s bounds keep every factor below 2^31, but not their products; an
  // absurd (still valid) shape reports INT64_MAX rather than overflowing.
  using Wide = __int128;
  Wide q = Wide{num_heads} * head_dim, kv = Wide{num_kv_heads} * head_dim;
  Wide attention = hidden_size * q + 2 * hidden_size * kv + q * hidden_size;
  if (attention_bias) attention += q + 2 * kv;
  if (qk_norm) attention += 2 * head_dim;
  Wide mlp = 3 * Wide{hidden_size} * intermediate_size;
  Wide per_layer = attention + mlp + 2 * hidden_size;
  Wide total = Wide{vocab_size} * hidden_size + num_layers * per_layer + hidden_size;
  if (!tie_word_embeddings) total += Wide{vocab_size} * hidden_size;
  return total > std::numeric_limits<std::int64_t>::max() ? std::numeric_limits<std::int64_t>::max()
                                                           : static_cast<std::int64_t>(total);
}

Json ModelConfig::to_json() const {
  Json j;
  const char* arch_class = architecture == Architecture::Qwen3   ? "Qwen3ForCausalLM"
                           : architecture == Architecture::Qwen2 ? "Qwen2ForCausalLM"
                                                                 : "LlamaForCausalLM";
  j["architectures"] = Json::array({arch_class});
  j["model_type"] = model_type;
  j["vocab_size"] = vocab_size;
  j["hidden_size"] = hidden_size;
  j["intermediate_size"] = intermediate_size;
  j["num_hidden_layers"] = num_layers;
  j["num_attention_heads"] = num_heads;
  j["num_key_value_heads"] = num_kv_heads;
  j["head_dim"] = head_dim;
  j["max_position_embeddings"] = max_position_embeddings;
  j["rope_theta"] = rope_theta;
  j["rms_norm_eps"] = rms_norm_eps;
  j["tie_word_embeddings"] = tie_word_embeddings;
  j["hidden_act"] = "silu";
  j["torch_dtype"] = torch_dtype;
  j["attention_dropout"] = 0.0;
  if (architecture != Architecture::Qwen2) j["attention_bias"] = attention_bias;
  if (architecture == Architecture::Qwen2) j["use_sliding_window"] = false;
  if (rope_scaling.type == "llama3") {
    j["rope_scaling"] = {{"rope_type", "llama3"},
                         {"factor", rope_scaling.factor},
                         {"low_freq_factor", rope_scaling.low_freq_factor},
                         {"high_freq_factor", rope_scaling.high_freq_factor},
                         {"original_max_position_embeddings", rope_scaling.original_max_position_embeddings}};
  } else {
    j["rope_scaling"] = nullptr;
  }
  if (bos_token_id) j["bos_token_id"] = *bos_token_id;
  if (eos_token_ids.size() == 1) j["eos_token_id"] = eos_token_ids[0];
  else if (!eos_token_ids.empty()) j["eos_token_id"] = eos_token_ids;
  return j;
}

}  // namespace illume
