// config.json of a Hugging Face causal LM, for the architectures illume runs: qwen3, qwen2, llama.
// The decoder (model/) is one implementation; an architecture is a set of feature flags filled in by a
// small per-architecture parser below (see model_config.cpp: parse_qwen3 / parse_qwen2 / parse_llama).
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "illume/util/json.h"

namespace illume {

enum class Architecture { Qwen3, Qwen2, Llama };
const char* architecture_name(Architecture architecture);

struct RopeScaling {
  std::string type = "none";  // "none" or "llama3"
  double factor = 1.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  std::int64_t original_max_position_embeddings = 8192;
};

struct ModelConfig {
  Architecture architecture = Architecture::Qwen3;
  std::string model_type = "qwen3";
  std::int64_t vocab_size = 0;
  std::int64_t hidden_size = 0;
  std::int64_t intermediate_size = 0;
  std::int64_t num_layers = 0;
  std::int64_t num_heads = 0;
  std::int64_t num_kv_heads = 0;
  std::int64_t head_dim = 0;  // config's head_dim, or hidden_size / num_heads when absent
  std::int64_t max_position_embeddings = 4096;
  double rope_theta = 10000.0;
  double rms_norm_eps = 1e-6;
  bool tie_word_embeddings = false;
  bool attention_bias = false;  // biases on q/k/v projections (Qwen2: always)
  bool qk_norm = false;         // per-head RMSNorm of q and k before RoPE (Qwen3)
  RopeScaling rope_scaling;
  std::string torch_dtype = "float32";
  std::optional<std::int64_t> bos_token_id;
  std::vector<std::int64_t> eos_token_ids;  // config's eos_token_id (int or list)

  std::int64_t kv_group_size() const { return num_heads / num_kv_heads; }
  std::int64_t parameter_count() const;

  // Parses a config.json object; `source` names the file in errors.
  static ModelConfig from_json(const Json& json, const std::string& source);
  // Reads DIR/config.json.
  static ModelConfig load(const std::filesystem::path& model_dir);
  // A config.json that Hugging Face transformers reads back.
  Json to_json() const;
};

}  // namespace illume
