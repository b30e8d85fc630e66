// Loading and saving Hugging Face folders (config.json + safetensors weights).
#include <torch/torch.h>

#include "illume/io/safetensors_torch.h"
#include "illume/model/model.h"
#include "illume/util/error.h"
#include "illume/util/file.h"

namespace illume {

Model Model::load(const std::filesystem::path& model_dir, const LoadOptions& options) {
  torch::NoGradGuard no_grad;
  auto config = ModelConfig::load(model_dir);
  auto source = TorchWeights::open_dir(model_dir);
  const auto D = config.hidden_size, V = config.vocab_size, I = config.intermediate_size;
  const auto q = config.num_heads * config.head_dim, kv = config.num_kv_heads * config.head_dim;
  // Converted once to the compute dtype and device; a no-op (zero copy) for f32 files on CPU.
  auto get = [&](const std::string& name, std::vector<std::int64_t> shape) {
    return source.get(name, shape).to(options.device, options.dtype).contiguous();
  };
  ModelWeights w;
  w.embed = get("model.embed_tokens.weight", {V, D});
  for (std::int64_t i = 0; i < config.num_layers; ++i) {
    std::string p = "model.layers." + std::to_string(i) + ".";
    LayerWeights L;
    L.input_norm = get(p + "input_layernorm.weight", {D});
    L.q_proj = get(p + "self_attn.q_proj.weight", {q, D});
    L.k_proj = get(p + "self_attn.k_proj.weight", {kv, D});
    L.v_proj = get(p + "self_attn.v_proj.weight", {kv, D});
    if (config.attention_bias) {
      L.q_bias = get(p + "self_attn.q_proj.bias", {q});
      L.k_bias = get(p + "self_attn.k_proj.bias", {kv});
      L.v_bias = get(p + "self_attn.v_proj.bias", {kv});
    }
    if (config.qk_norm) {
      L.q_norm = get(p + "self_attn.q_norm.weight", {config.head_dim});
      L.k_norm = get(p + "self_attn.k_norm.weight", {config.head_dim});
    }
    L.o_proj = get(p + "self_attn.o_proj.weight", {D, q});
    L.post_attention_norm = get(p + "post_attention_layernorm.weight", {D});
    L.gate_proj = get(p + "mlp.gate_proj.weight", {I, D});
    L.up_proj = get(p + "mlp.up_proj.weight", {I, D});
    L.down_proj = get(p + "mlp.down_proj.weight", {D, I});
    w.layers.push_back(std::move(L));
  }
  w.norm = get("model.norm.weight", {D});
  w.lm_head = config.tie_word_embeddings ? w.embed : get("lm_head.weight", {V, D});
  return Model(std::move(config), std::move(w), options);
}

void Model::save(const std::filesystem::path& model_dir, c10::ScalarType dtype) const {
  ensure_directory(model_dir);
  auto config = config_;
  config.torch_dtype = dtype == c10::kBFloat16 ? "bfloat16" : dtype == c10::kHalf ? "float16" : "float32";
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (auto& [name, t] : weights_.named_tensors(config_))
    tensors.emplace_back(name, t.detach().to(torch::kCPU, dtype).contiguous());
  save_safetensors(model_dir / "model.safetensors", tensors, {{"format", "pt"}});
  write_file_atomic(model_dir / "config.json", config.to_json().dump(2) + "\n");
}

}  // namespace illume
