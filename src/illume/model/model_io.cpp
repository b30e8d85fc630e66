// Loading and saving Hugging Face folders (config.json + safetensors weights).
#include <torch/torch.h>

#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "illume/io/safetensors_torch.h"
#include "illume/model/device.h"
#include "illume/model/model.h"
#include "illume/model/weight_table.h"
#include "illume/util/error.h"
#include "illume/util/file.h"

namespace illume {

LoadOptions resolve_compute_dtype(LoadOptions options) {
  std::string note;
  options.dtype = compute_dtype(options.dtype, options.device, options.keep_dtype, &note);
  static bool told = false;
  if (!note.empty() && !told) {
    told = true;
    std::fprintf(stderr, "illume: %s\n", note.c_str());
  }
  return options;
}

Model Model::load(const std::filesystem::path& model_dir, const LoadOptions& requested) {
  torch::NoGradGuard no_grad;
  const auto options = resolve_compute_dtype(requested);
  auto config = ModelConfig::load(model_dir);
  auto source = TorchWeights::open_dir(model_dir);
  ModelWeights w;
  w.layers.resize(static_cast<std::size_t>(config.num_layers));
  // Converted once to the compute dtype and device; a no-op (zero copy) for f32 files on CPU.
  std::set<std::string> used;
  for (const auto& slot : weight_slots(config)) {
    slot.in(w) = source.get(slot.name, slot.shape).to(options.device, options.dtype).contiguous();
    used.insert(slot.name);
  }
  if (config.tie_word_embeddings) w.lm_head = w.embed;
  // Tensors the model does not read mean config.json describes another model (num_hidden_layers 2 on a
  // 6-layer checkpoint runs 2 layers; model_type llama on Qwen3 weights drops the q/k norms): an error,
  // as in llama.cpp, unless asked for. RoPE buffers and a tied lm_head copy carry no information.
  if (!options.allow_unused_weights) {
    std::vector<std::string> unused;
    for (const auto& name : source.names()) {
      const bool ignorable = name.ends_with("rotary_emb.inv_freq") || (config.tie_word_embeddings && name == "lm_head.weight");
      if (!used.count(name) && !ignorable) unused.push_back(name);
    }
    if (!unused.empty())
      fail("{}: {} tensor{} of the checkpoint {} not used by a {} model of {} layers (first: '{}'); check config.json "
           "(num_hidden_layers, model_type) or pass --allow-unused-weights",
           model_dir.string(), unused.size(), unused.size() == 1 ? "" : "s", unused.size() == 1 ? "is" : "are",
           config.model_type, config.num_layers, unused.front());
  }
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
