// Every weight of the decoder, written once: its Hugging Face name, its shape, how random weights
// initialise it, and where it lives in ModelWeights. Loading, saving (named_tensors) and Model::random
// all walk this table, so a new weight is one row.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "illume/io/model_config.h"
#include "illume/model/model.h"

namespace illume {

// A dimension of the config, by name (none: the weight is a vector).
enum class WeightDim { none, vocab, hidden, query, key_value, intermediate, head };

// How Model::random fills a weight. The normals are drawn in table order (ones draw nothing), so
// reordering rows changes every random model.
enum class WeightInit {
  ones,             // norms
  small_normal,     // N(0, 0.02): embeddings, biases
  fan_in,           // N(0, 1/sqrt(columns))
  fan_in_residual,  // N(0, 1/sqrt(columns) / sqrt(2 * layers)): projections that write into the residual stream
};

// Which configs have the weight.
enum class WeightPresence { always, attention_bias, qk_norm, untied_head };

template <typename Owner>
struct WeightRow {
  const char* name;  // Hugging Face name; layer rows: after "model.layers.{i}."
  at::Tensor Owner::*tensor;
  WeightDim rows, columns;
  WeightInit init;
  WeightPresence presence;
};

namespace weight_table {
using D = WeightDim;
using I = WeightInit;
using P = WeightPresence;

// In Hugging Face file order: these, then each layer's rows, then kWeightsAfterLayers.
inline constexpr WeightRow<ModelWeights> kWeightsBeforeLayers[] = {
    {"model.embed_tokens.weight", &ModelWeights::embed, D::vocab, D::hidden, I::small_normal, P::always},
};

inline constexpr WeightRow<LayerWeights> kLayerWeights[] = {
    {"input_layernorm.weight", &LayerWeights::input_norm, D::hidden, D::none, I::ones, P::always},
    {"self_attn.q_proj.weight", &LayerWeights::q_proj, D::query, D::hidden, I::fan_in, P::always},
    {"self_attn.k_proj.weight", &LayerWeights::k_proj, D::key_value, D::hidden, I::fan_in, P::always},
    {"self_attn.v_proj.weight", &LayerWeights::v_proj, D::key_value, D::hidden, I::fan_in, P::always},
    {"self_attn.q_proj.bias", &LayerWeights::q_bias, D::query, D::none, I::small_normal, P::attention_bias},
    {"self_attn.k_proj.bias", &LayerWeights::k_bias, D::key_value, D::none, I::small_normal, P::attention_bias},
    {"self_attn.v_proj.bias", &LayerWeights::v_bias, D::key_value, D::none, I::small_normal, P::attention_bias},
    {"self_attn.o_proj.weight", &LayerWeights::o_proj, D::hidden, D::query, I::fan_in_residual, P::always},
    {"self_attn.q_norm.weight", &LayerWeights::q_norm, D::head, D::none, I::ones, P::qk_norm},
    {"self_attn.k_norm.weight", &LayerWeights::k_norm, D::head, D::none, I::ones, P::qk_norm},
    {"post_attention_layernorm.weight", &LayerWeights::post_attention_norm, D::hidden, D::none, I::ones, P::always},
    {"mlp.gate_proj.weight", &LayerWeights::gate_proj, D::intermediate, D::hidden, I::fan_in, P::always},
    {"mlp.up_proj.weight", &LayerWeights::up_proj, D::intermediate, D::hidden, I::fan_in, P::always},
    {"mlp.down_proj.weight", &LayerWeights::down_proj, D::hidden, D::intermediate, I::fan_in_residual, P::always},
};

inline constexpr WeightRow<ModelWeights> kWeightsAfterLayers[] = {
    {"model.norm.weight", &ModelWeights::norm, D::hidden, D::none, I::ones, P::always},
    // Tied: lm_head is the embedding tensor itself, neither stored nor drawn.
    {"lm_head.weight", &ModelWeights::lm_head, D::vocab, D::hidden, I::small_normal, P::untied_head},
};
}  // namespace weight_table

// One weight of one model: a table row resolved against a config.
struct WeightSlot {
  std::string name;                  // the full Hugging Face name
  std::vector<std::int64_t> shape;
  WeightInit init;
  int layer = -1;                    // -1: a model-level weight
  at::Tensor ModelWeights::*model_tensor = nullptr;
  at::Tensor LayerWeights::*layer_tensor = nullptr;

  // Where the weight lives in `weights` (whose layers must number the config's layers).
  at::Tensor& in(ModelWeights& weights) const {
    return layer < 0 ? weights.*model_tensor : weights.layers.at(static_cast<std::size_t>(layer)).*layer_tensor;
  }
  const at::Tensor& in(const ModelWeights& weights) const {
    return layer < 0 ? weights.*model_tensor : weights.layers.at(static_cast<std::size_t>(layer)).*layer_tensor;
  }
};

// Every weight `config` has, in file order. Tied models have no lm_head slot: lm_head = embed.
std::vector<WeightSlot> weight_slots(const ModelConfig& config);

// The standard deviation of a normal initialisation (0 for ones) of a weight of `shape`.
double init_std(WeightInit init, const std::vector<std::int64_t>& shape, const ModelConfig& config);

}  // namespace illume
