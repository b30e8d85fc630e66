// The torch side of safetensors: TensorViews as at::Tensors, and saving at::Tensors.
// The reading and validation live in safetensors.h (no torch there).
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "illume/io/safetensors.h"

namespace illume {

at::ScalarType to_scalar_type(st::DType dtype);
// Fails ("dtype ComplexFloat has no safetensors equivalent") for dtypes the format lacks.
st::DType from_scalar_type(at::ScalarType dtype);

// The tensor as a CPU at::Tensor (contiguous, row-major).
// Zero-copy when `keep_alive` is given and the data is aligned to the element size: the tensor points
// into the map and holds `keep_alive` until its storage dies. Copies otherwise.
// Writing to the result is safe only because SafetensorsFile maps copy-on-write (MAP_PRIVATE, writable):
// the writes land in private pages, never in the file. Pass keep_alive = nullptr for views over
// memory that is read-only or does not outlive the call; the result is then always a copy.
// Zero-copy tensors of the same SafetensorsFile (or TorchWeights) share its map: two calls for one
// name return aliases, and an in-place write to one shows in the other. Clone before editing weights
// in place if another reader of the same file object must see the originals.
at::Tensor to_tensor(const st::TensorView& view, std::shared_ptr<const void> keep_alive);

// The tensor of a SafetensorsFile, zero-copy where possible (keeps the file mapped).
at::Tensor to_tensor(const st::SafetensorsFile& file, const std::string& name);

// A model folder's weights as tensors, with shape and dtype checks. Cheap to copy.
class TorchWeights {
 public:
  static TorchWeights open_dir(const std::filesystem::path& dir);

  bool contains(const std::string& name) const;
  std::vector<std::string> names() const;  // sorted
  std::string source_of(const std::string& name) const;

  // The tensor, checked: "DIR: missing tensor 'model.norm.weight'",
  // "SHARD: tensor 'x' has shape [a, b], expected [c, d]", "SHARD: tensor 'x' has dtype BF16, expected F32".
  at::Tensor get(const std::string& name, const std::vector<std::int64_t>& expected_shape,
                 std::optional<at::ScalarType> expected_dtype = std::nullopt) const;
  // The tensor in whatever shape and dtype the file has (missing is still an error).
  at::Tensor get_unchecked(const std::string& name) const;

  const st::WeightSet& weight_set() const { return weights_; }

 private:
  explicit TorchWeights(st::WeightSet weights) : weights_(std::move(weights)) {}
  st::WeightSet weights_;
};

// Every tensor of a file, zero-copy where aligned (the tensors keep the file mapped).
std::map<std::string, at::Tensor> load_safetensors(const std::filesystem::path& path);

// Writes tensors atomically in the given order. Makes CPU contiguous copies where needed.
// Adds "format": "pt" to the metadata unless it has a "format" (transformers checks for it).
void save_safetensors(const std::filesystem::path& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

}  // namespace illume
