// GGUF (version 3) writer: the single-file model format of llama.cpp, Ollama and LM Studio. Torch-free.
//
// Layout of a file (all integers little-endian):
//   "GGUF"  uint32 version (3)  int64 tensor_count  int64 metadata_count
//   metadata_count x { string key, uint32 value_type, value }
//       string = uint64 byte length + UTF-8 bytes (no terminator)
//       array  = uint32 element_type + uint64 count + count elements
//   tensor_count x { string name, uint32 n_dims, int64 dims[n_dims] (innermost first: ggml order,
//                    the reverse of the row-major shape), uint32 ggml_type, uint64 offset }
//   zero padding to `alignment`, then the data section; each tensor starts at data + offset, and
//   offsets are multiples of `alignment` (tensors are zero-padded to it).
// The value and tensor type numbers are gguf-py's (GGUFValueType, GGMLQuantizationType).
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace illume::gguf {

inline constexpr std::uint32_t kVersion = 3;
inline constexpr std::size_t kDefaultAlignment = 32;

enum class ValueType : std::uint32_t {
  UInt8 = 0, Int8 = 1, UInt16 = 2, Int16 = 3, UInt32 = 4, Int32 = 5, Float32 = 6, Bool = 7,
  String = 8, Array = 9, UInt64 = 10, Int64 = 11, Float64 = 12,
};

// The unquantised tensor types illume writes.
enum class TensorType : std::uint32_t { F32 = 0, F16 = 1, BF16 = 30 };
std::size_t tensor_type_size(TensorType type);  // bytes per element
const char* tensor_type_name(TensorType type);  // "F32", "F16", "BF16"

// Metadata key/value pairs, encoded as they are added, in order. A key may appear once.
class Metadata {
 public:
  void add_uint32(const std::string& key, std::uint32_t value);
  void add_int32(const std::string& key, std::int32_t value);
  void add_uint64(const std::string& key, std::uint64_t value);
  void add_float32(const std::string& key, float value);
  void add_bool(const std::string& key, bool value);
  void add_string(const std::string& key, const std::string& value);
  void add_string_array(const std::string& key, const std::vector<std::string>& values);
  void add_int32_array(const std::string& key, const std::vector<std::int32_t>& values);

  bool contains(const std::string& key) const;
  std::size_t size() const { return keys_.size(); }
  const std::vector<std::string>& keys() const { return keys_; }
  const std::string& encoded() const { return bytes_; }  // the key/value records, back to back

 private:
  void start(const std::string& key, ValueType type);
  std::vector<std::string> keys_;
  std::string bytes_;
};

// One tensor to write. `shape` is row-major, outermost first (as in safetensors and PyTorch: a linear
// weight is [out, in]); the file stores it reversed. `fill` writes exactly numel * tensor_type_size
// bytes to `destination` (converting or permuting on the way); it is called once, while writing.
struct TensorToWrite {
  std::string name;
  TensorType type = TensorType::F32;
  std::vector<std::int64_t> shape;
  std::function<void(std::uint8_t* destination)> fill;
  std::size_t nbytes() const;
};

// Writes PATH atomically (a temp file in the same folder, fsync, rename): header, metadata, tensor
// infos, then each tensor's bytes straight into a map of the file (no copy of the model in memory).
// Writes general.alignment unless the metadata has it. Fails naming PATH on duplicate tensor names,
// empty names, non-positive dimensions, a non-power-of-two alignment, or an I/O error.
void write_gguf(const std::filesystem::path& path, const Metadata& metadata, const std::vector<TensorToWrite>& tensors,
                std::size_t alignment = kDefaultAlignment);

// Number conversions with the rounding numpy and gguf-py use (round to nearest, ties to even;
// NaN stays NaN). Exposed for tests.
std::uint16_t float_to_bf16(float value);
std::uint16_t float_to_f16(float value);
float bf16_to_float(std::uint16_t bits);
float f16_to_float(std::uint16_t bits);

}  // namespace illume::gguf
