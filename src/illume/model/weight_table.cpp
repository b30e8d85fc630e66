#include "illume/model/weight_table.h"

#include <cmath>

#include "illume/util/error.h"

namespace illume {

namespace {

std::int64_t size_of(WeightDim dim, const ModelConfig& c) {
  switch (dim) {
    case WeightDim::vocab: return c.vocab_size;
    case WeightDim::hidden: return c.hidden_size;
    case WeightDim::query: return c.num_heads * c.head_dim;
    case WeightDim::key_value: return c.num_kv_heads * c.head_dim;
    case WeightDim::intermediate: return c.intermediate_size;
    case WeightDim::head: return c.head_dim;
    case WeightDim::none: break;
  }
  fail("weight table: no size for this dimension");
}

bool present(WeightPresence presence, const ModelConfig& c) {
  switch (presence) {
    case WeightPresence::always: return true;
    case WeightPresence::attention_bias: return c.attention_bias;
    case WeightPresence::qk_norm: return c.qk_norm;
    case WeightPresence::untied_head: return !c.tie_word_embeddings;
  }
  return false;
}

std::vector<std::int64_t> shape_of_row(WeightDim rows, WeightDim columns, const ModelConfig& c) {
  std::vector<std::int64_t> shape = {size_of(rows, c)};
  if (columns != WeightDim::none) shape.push_back(size_of(columns, c));
  return shape;
}

}  // namespace

std::vector<WeightSlot> weight_slots(const ModelConfig& config) {
  std::vector<WeightSlot> slots;
  auto add_model_rows = [&](const auto& rows) {
    for (const auto& row : rows)
      if (present(row.presence, config))
        slots.push_back({row.name, shape_of_row(row.rows, row.columns, config), row.init, -1, row.tensor, nullptr});
  };
  add_model_rows(weight_table::kWeightsBeforeLayers);
  for (int layer = 0; layer < static_cast<int>(config.num_layers); ++layer)
    for (const auto& row : weight_table::kLayerWeights)
      if (present(row.presence, config))
        slots.push_back({"model.layers." + std::to_string(layer) + "." + row.name,
                         shape_of_row(row.rows, row.columns, config), row.init, layer, nullptr, row.tensor});
  add_model_rows(weight_table::kWeightsAfterLayers);
  return slots;
}

double init_std(WeightInit init, const std::vector<std::int64_t>& shape, const ModelConfig& config) {
  const double columns = static_cast<double>(shape.back());
  switch (init) {
    case WeightInit::ones: return 0.0;
    case WeightInit::small_normal: return 0.02;
    case WeightInit::fan_in: return 1.0 / std::sqrt(columns);
    case WeightInit::fan_in_residual: return 1.0 / std::sqrt(columns) / std::sqrt(2.0 * config.num_layers);
  }
  return 0.0;
}

}  // namespace illume
