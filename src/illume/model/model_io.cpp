// Loading and saving Hugging Face folders (config.json + safetensors weights).
#include <torch/torch.h>

#include "illume/io/safetensors_torch.h"
#include "illume/model/model.h"
#include "illume/model/weight_table.h"
#include "illume/util/error.h"
#include "illume/util/file.h"

namespace illume {

Model Model::load(const std::filesystem::path& model_dir, const LoadOptions& options) {
  torch::NoGradGuard no_grad;
  auto config = ModelConfig::load(model_dir);
  auto source = TorchWeights::open_dir(model_dir);
  ModelWeights w;
  w.layers.resize(static_cast<std::size_t>(config.num_layers));
  // Converted once to the compute dtype and device; a no-op (zero copy) for f32 files on CPU.
  for (const auto& slot : weight_slots(config))
    slot.in(w) = source.get(slot.name, slot.shape).to(options.device, options.dtype).contiguous();
  if (config.tie_word_embeddings) w.lm_head = w.embed;
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
