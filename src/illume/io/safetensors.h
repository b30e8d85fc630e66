// safetensors: reader and writer for the Hugging Face tensor file format, without torch.
//
// Layout of a file:
//   bytes [0, 8)        N, the header length, unsigned 64-bit little-endian
//   bytes [8, 8+N)      a JSON object: {"__metadata__": {str: str}, NAME: {"dtype": "F32",
//                       "shape": [d0, d1, ...], "data_offsets": [begin, end]}, ...}
//   bytes [8+N, size)   the data section; a tensor's bytes are [8+N+begin, 8+N+end), row-major, little-endian
//
// Reading maps the file copy-on-write (MapMode::CopyOnWrite), validates the whole header on open, and
// hands out TensorViews that point into the map. Every error is an illume::Error naming the file.
//
// What the reader accepts: any header length up to 100 MB (the data section need not be aligned; the
// torch bridge copies misaligned tensors), gaps between tensors and trailing bytes after the last one
// (Hugging Face's reader rejects both; we only read, so they are harmless), empty tensors anywhere.
// What it rejects: everything that would make a view read outside the file or disagree with its shape,
// and overlapping tensors (Hugging Face rejects them too; they mean a corrupt or hostile file).
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace illume::st {

// The safetensors dtypes illume handles (the file format has more, e.g. F8_E4M3, U16; those are rejected).
enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };

std::size_t dtype_size(DType dtype);   // bytes per element: F64 8, ..., BOOL 1
const char* dtype_name(DType dtype);   // the name in the file: "F32", "BF16", "BOOL", ...
// Parses a file's dtype name; "SOURCE: unknown dtype 'X' (...)" otherwise.
DType parse_dtype(const std::string& name, const std::string& source);

// One tensor inside a mapped file. `data` points at its `nbytes` bytes (not necessarily aligned);
// it stays valid while the SafetensorsFile (or WeightSet) it came from, or any copy of it, lives.
struct TensorView {
  std::string name;
  DType dtype;
  std::vector<std::int64_t> shape;
  const std::uint8_t* data;
  std::size_t nbytes;
  std::int64_t numel() const;  // product of shape; 1 for a scalar (shape [])
};

// One .safetensors file, mapped and validated. A cheap shared handle: copies share the map.
class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::filesystem::path& path);

  const std::filesystem::path& path() const;
  std::vector<std::string> names() const;  // in file order of data offsets
  bool contains(const std::string& name) const;
  const TensorView& get(const std::string& name) const;  // "PATH: no tensor 'x'"
  const std::map<std::string, std::string>& metadata() const;
  std::size_t size() const;  // number of tensors

  // Owner of the mapping, for zero-copy consumers (the torch bridge) that must keep it alive.
  // The map is MAP_PRIVATE and writable: writes through a view never reach the file.
  std::shared_ptr<const void> keep_alive() const;

 private:
  struct Impl;
  std::shared_ptr<const Impl> impl_;
};

// A model's weights: a folder with model.safetensors, or model.safetensors.index.json + shards
// (the index wins when both exist, as in Hugging Face). Cheap to copy.
class WeightSet {
 public:
  static WeightSet open_dir(const std::filesystem::path& model_dir);

  const std::filesystem::path& dir() const;
  std::vector<std::string> names() const;  // sorted
  bool contains(const std::string& name) const;
  const TensorView& get(const std::string& name) const;  // "DIR: missing tensor 'x'"
  std::string source_of(const std::string& name) const;  // path of the shard holding it (for messages)
  const SafetensorsFile& file_of(const std::string& name) const;  // the shard holding it

 private:
  WeightSet() = default;
  std::filesystem::path dir_;
  std::vector<SafetensorsFile> files_;
  std::map<std::string, std::size_t> where_;  // tensor name -> index into files_
};

// A tensor to write: `nbytes` bytes at `data`, row-major, little-endian; nbytes must be numel * dtype_size.
struct TensorToWrite {
  std::string name;
  DType dtype;
  std::vector<std::int64_t> shape;
  const void* data;
  std::size_t nbytes;
};

// Writes a safetensors file atomically (temp file + rename): 8-byte LE header length, JSON header with
// __metadata__ first (always present, possibly {}), then the tensors in the given order, each right
// after the previous one (the contiguous layout Hugging Face requires). The header is padded with
// spaces to a multiple of 8, so the data section starts 8-byte aligned.
// Fails naming PATH on duplicate or reserved names, bad shapes, or nbytes != numel * dtype_size.
void write_safetensors(const std::filesystem::path& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace illume::st
