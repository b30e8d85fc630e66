#include "illume/io/safetensors.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <string_view>
#include <unordered_map>

#include "illume/util/error.h"
#include "illume/util/file.h"
#include "illume/util/json.h"
#include "illume/util/text.h"

namespace illume::st {

// The format is little-endian and views hand out raw bytes; a big-endian host would need byte swaps.
static_assert(std::endian::native == std::endian::little, "safetensors I/O assumes a little-endian host");

namespace {

// Hugging Face's reader refuses headers over 100 MB; so do we (a corrupt length would otherwise
// make us parse the whole file as JSON).
constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;

constexpr DType kAllDTypes[] = {DType::F64, DType::F32, DType::F16, DType::BF16, DType::I64,
                                DType::I32, DType::I16, DType::I8,  DType::U8,   DType::BOOL};

// A JSON value for an error message, cut short so a hostile header cannot flood the terminal.
std::string brief(const Json& value) { return json_excerpt(value, 80); }


// A JSON integer >= 0 that fits in uint64. Floats (1.0, 1e3), negatives, booleans and strings are not.
bool as_count(const Json& value, std::uint64_t& out) {
  if (value.is_number_unsigned()) {
    out = value.get<std::uint64_t>();
    return true;
  }
  if (value.is_number_integer()) {
    auto v = value.get<std::int64_t>();
    if (v < 0) return false;
    out = static_cast<std::uint64_t>(v);
    return true;
  }
  return false;
}

// Element count and byte count of a shape, or false on overflow. The product of the nonzero dims
// must fit in int64 even when a zero dim makes the tensor empty: torch computes strides from them.
bool checked_sizes(const std::vector<std::int64_t>& shape, DType dtype, std::uint64_t& numel, std::uint64_t& nbytes) {
  std::int64_t product = 1;
  bool empty = false;
  for (std::int64_t d : shape) {
    if (d < 0) return false;
    if (d == 0) {
      empty = true;
      continue;
    }
    if (__builtin_mul_overflow(product, d, &product)) return false;
  }
  std::uint64_t bytes = 0;
  if (__builtin_mul_overflow(static_cast<std::uint64_t>(product), static_cast<std::uint64_t>(dtype_size(dtype)), &bytes))
    return false;
  numel = empty ? 0 : static_cast<std::uint64_t>(product);
  nbytes = empty ? 0 : bytes;
  return true;
}

}  // namespace

std::size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::F64: return 8;
    case DType::F32: return 4;
    case DType::F16: return 2;
    case DType::BF16: return 2;
    case DType::I64: return 8;
    case DType::I32: return 4;
    case DType::I16: return 2;
    case DType::I8: return 1;
    case DType::U8: return 1;
    case DType::BOOL: return 1;
  }
  fail("safetensors: invalid DType value {}", static_cast<int>(dtype));
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::F64: return "F64";
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::I64: return "I64";
    case DType::I32: return "I32";
    case DType::I16: return "I16";
    case DType::I8: return "I8";
    case DType::U8: return "U8";
    case DType::BOOL: return "BOOL";
  }
  fail("safetensors: invalid DType value {}", static_cast<int>(dtype));
}

DType parse_dtype(const std::string& name, const std::string& source) {
  for (DType d : kAllDTypes)
    if (name == dtype_name(d)) return d;
  fail("{}: unknown dtype '{}' (supported: F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL)", source, name);
}

std::int64_t TensorView::numel() const {
  std::uint64_t count = 0, bytes = 0;
  if (!checked_sizes(shape, dtype, count, bytes)) fail("tensor '{}': shape {} is invalid or too large", name, shape_of(shape));
  return static_cast<std::int64_t>(count);
}

// ---------------------------------------------------------------------------------------------------
// SafetensorsFile

struct SafetensorsFile::Impl {
  std::filesystem::path path;
  MappedFile map;
  std::vector<TensorView> tensors;  // sorted by data offset
  std::unordered_map<std::string, std::size_t> index;
  std::map<std::string, std::string> metadata;
};

SafetensorsFile::SafetensorsFile(const std::filesystem::path& path) {
  auto impl = std::make_shared<Impl>();
  impl->path = path;
  impl->map = MappedFile(path, MapMode::CopyOnWrite);
  const std::string p = path.string();
  const std::uint8_t* bytes = impl->map.data();
  const std::size_t size = impl->map.size();

  if (size < 8) fail("{}: truncated safetensors file ({} bytes; the 8-byte header length alone needs 8)", p, size);
  std::uint64_t header_length = 0;
  for (int i = 0; i < 8; ++i) header_length |= static_cast<std::uint64_t>(bytes[i]) << (8 * i);
  if (header_length > kMaxHeaderBytes)
    fail("{}: header length {} is absurd (limit {} bytes); not a safetensors file?", p, header_length, kMaxHeaderBytes);
  if (header_length > size - 8)
    fail("{}: header length {} runs past the end of the file ({} bytes); truncated?", p, header_length, size);

  const char* header_begin = reinterpret_cast<const char*>(bytes + 8);
  // Also refuses a NUL byte (Hugging Face does; nlohmann would stop there) and deep nesting.
  Json header = parse_json(std::string_view(header_begin, header_length), p, "header is not valid JSON");
  if (!header.is_object()) fail("{}: header is a JSON {}, expected an object", p, header.type_name());

  const std::uint8_t* data_section = bytes + 8 + header_length;
  const std::uint64_t data_size = size - 8 - header_length;

  struct Range {
    std::uint64_t begin, end;
  };
  std::vector<Range> ranges;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) fail("{}: __metadata__ is a JSON {}, expected an object of strings", p, entry.type_name());
      for (const auto& [key, value] : entry.items()) {
        if (!value.is_string())
          fail("{}: __metadata__ must map strings to strings, but '{}' holds a {}", p, key, value.type_name());
        impl->metadata[key] = value.get<std::string>();
      }
      continue;
    }
    const std::string where = fmt::format("{}: tensor '{}'", p, name);
    if (!entry.is_object())
      fail("{}: entry is a JSON {}, expected an object with dtype, shape, data_offsets", where, entry.type_name());

    auto dtype_it = entry.find("dtype");
    if (dtype_it == entry.end() || !dtype_it->is_string()) fail("{}: missing or non-string 'dtype'", where);
    DType dtype = parse_dtype(dtype_it->get<std::string>(), where);

    auto shape_it = entry.find("shape");
    if (shape_it == entry.end()) fail("{}: missing 'shape'", where);
    std::vector<std::int64_t> shape;
    bool shape_ok = shape_it->is_array();
    if (shape_ok) {
      for (const Json& d : *shape_it) {
        std::uint64_t v = 0;
        if (!as_count(d, v) || v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
          shape_ok = false;
          break;
        }
        shape.push_back(static_cast<std::int64_t>(v));
      }
    }
    if (!shape_ok) fail("{}: shape must be a list of non-negative integers, got {}", where, brief(*shape_it));

    auto offsets_it = entry.find("data_offsets");
    if (offsets_it == entry.end()) fail("{}: missing 'data_offsets'", where);
    std::uint64_t begin = 0, end = 0;
    const Json& offsets = *offsets_it;
    if (!offsets.is_array() || offsets.size() != 2 || !as_count(offsets[0], begin) || !as_count(offsets[1], end) ||
        begin > end)
      fail("{}: data_offsets must be [begin, end] with integers 0 <= begin <= end, got {}", where, brief(offsets));
    if (end > data_size)
      fail("{}: data_offsets [{}, {}] run past the end of the data section ({} bytes); truncated file?", where, begin,
           end, data_size);

    std::uint64_t numel = 0, nbytes = 0;
    if (!checked_sizes(shape, dtype, numel, nbytes))
      fail("{}: shape {} is too large (its size overflows)", where, shape_of(shape));
    if (nbytes != end - begin)
      fail("{}: shape {} of {} needs {} bytes, but data_offsets [{}, {}] hold {}", where, shape_of(shape),
           dtype_name(dtype), nbytes, begin, end, end - begin);

    impl->tensors.push_back(TensorView{name, dtype, std::move(shape), data_section + begin, static_cast<std::size_t>(nbytes)});
    ranges.push_back(Range{begin, end});
  }

  // File order; empty tensors sort before a non-empty one at the same offset. Then reject overlaps:
  // among non-empty ranges sorted by begin, disjointness of neighbours implies disjointness of all.
  std::vector<std::size_t> order(impl->tensors.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    if (ranges[a].begin != ranges[b].begin) return ranges[a].begin < ranges[b].begin;
    if (ranges[a].end != ranges[b].end) return ranges[a].end < ranges[b].end;
    return impl->tensors[a].name < impl->tensors[b].name;
  });
  const std::size_t none = order.size();
  std::size_t previous = none;
  for (std::size_t i : order) {
    if (ranges[i].begin == ranges[i].end) continue;
    if (previous != none && ranges[i].begin < ranges[previous].end)
      fail("{}: tensors '{}' (data_offsets [{}, {}]) and '{}' (data_offsets [{}, {}]) overlap", p,
           impl->tensors[previous].name, ranges[previous].begin, ranges[previous].end, impl->tensors[i].name,
           ranges[i].begin, ranges[i].end);
    previous = i;
  }
  std::vector<TensorView> sorted;
  sorted.reserve(order.size());
  for (std::size_t i : order) sorted.push_back(std::move(impl->tensors[i]));
  impl->tensors = std::move(sorted);
  for (std::size_t i = 0; i < impl->tensors.size(); ++i) impl->index.emplace(impl->tensors[i].name, i);
  impl_ = std::move(impl);
}

const std::filesystem::path& SafetensorsFile::path() const { return impl_->path; }

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  out.reserve(impl_->tensors.size());
  for (const auto& t : impl_->tensors) out.push_back(t.name);
  return out;
}

bool SafetensorsFile::contains(const std::string& name) const { return impl_->index.count(name) != 0; }

const TensorView& SafetensorsFile::get(const std::string& name) const {
  auto it = impl_->index.find(name);
  if (it == impl_->index.end()) fail("{}: no tensor '{}'", impl_->path.string(), name);
  return impl_->tensors[it->second];
}

const std::map<std::string, std::string>& SafetensorsFile::metadata() const { return impl_->metadata; }

std::size_t SafetensorsFile::size() const { return impl_->tensors.size(); }

std::shared_ptr<const void> SafetensorsFile::keep_alive() const { return impl_; }

// ---------------------------------------------------------------------------------------------------
// WeightSet

WeightSet WeightSet::open_dir(const std::filesystem::path& model_dir) {
  WeightSet set;
  set.dir_ = model_dir;
  const std::string d = model_dir.string();
  std::error_code ec;
  if (!std::filesystem::is_directory(model_dir, ec)) fail("{}: not a folder (expected a model folder with model.safetensors)", d);
  const auto index_path = model_dir / "model.safetensors.index.json";
  const auto single_path = model_dir / "model.safetensors";

  if (std::filesystem::exists(index_path, ec)) {
    const std::string ip = index_path.string();
    Json index = read_json_file(index_path);  // "PATH: malformed JSON (...)"
    if (!index.is_object()) fail("{}: expected a JSON object with 'weight_map'", ip);
    auto map_it = index.find("weight_map");
    if (map_it == index.end() || map_it->is_null()) fail("{}: missing 'weight_map'", ip);
    if (!map_it->is_object()) fail("{}: 'weight_map' is a JSON {}, expected an object", ip, map_it->type_name());

    std::map<std::string, std::size_t> shard_index;  // shard file name -> index into files_
    for (const auto& [name, value] : map_it->items()) {
      if (!value.is_string())
        fail("{}: weight_map['{}'] is a JSON {}, expected a shard file name", ip, name, value.type_name());
      const std::string shard = value.get<std::string>();
      const std::filesystem::path relative(shard);
      bool inside = !shard.empty() && relative.is_relative();
      for (const auto& part : relative)
        if (part == "..") inside = false;
      if (!inside) fail("{}: weight_map['{}'] names '{}', which is not a file inside the folder", ip, name, shard);

      auto [it, inserted] = shard_index.emplace(shard, set.files_.size());
      if (inserted) {
        const auto shard_path = model_dir / relative;
        if (!std::filesystem::exists(shard_path, ec))
          fail("{}: shard '{}' (holding '{}') does not exist", ip, shard, name);
        set.files_.emplace_back(shard_path);
      }
      const SafetensorsFile& file = set.files_[it->second];
      if (!file.contains(name))
        fail("{}: tensor '{}' is listed in model.safetensors.index.json but absent from this shard",
             file.path().string(), name);
      set.where_.emplace(name, it->second);
    }
    return set;
  }
  if (std::filesystem::exists(single_path, ec)) {
    set.files_.emplace_back(single_path);
    for (const auto& name : set.files_[0].names()) set.where_.emplace(name, 0);
    return set;
  }
  fail("{}: no model.safetensors or model.safetensors.index.json in this folder", d);
}

const std::filesystem::path& WeightSet::dir() const { return dir_; }

std::vector<std::string> WeightSet::names() const {
  std::vector<std::string> out;
  out.reserve(where_.size());
  for (const auto& [name, file] : where_) out.push_back(name);
  return out;
}

bool WeightSet::contains(const std::string& name) const { return where_.count(name) != 0; }

const SafetensorsFile& WeightSet::file_of(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) fail("{}: missing tensor '{}'", dir_.string(), name);
  return files_[it->second];
}

const TensorView& WeightSet::get(const std::string& name) const { return file_of(name).get(name); }

std::string WeightSet::source_of(const std::string& name) const { return file_of(name).path().string(); }

// ---------------------------------------------------------------------------------------------------
// Writing

void write_safetensors(const std::filesystem::path& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  const std::string p = path.string();
  // ordered_json keeps __metadata__ first and the tensors in data order, as Hugging Face writes them.
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  nlohmann::ordered_json meta = nlohmann::ordered_json::object();
  for (const auto& [key, value] : metadata) meta[key] = value;
  header["__metadata__"] = std::move(meta);

  std::set<std::string> seen;
  std::uint64_t offset = 0;
  for (const auto& t : tensors) {
    if (t.name == "__metadata__") fail("{}: '__metadata__' is reserved and cannot name a tensor", p);
    if (!seen.insert(t.name).second) fail("{}: duplicate tensor name '{}'", p, t.name);
    std::uint64_t numel = 0, nbytes = 0;
    if (!checked_sizes(t.shape, t.dtype, numel, nbytes))
      fail("{}: tensor '{}': shape {} has a negative dimension or is too large", p, t.name, shape_of(t.shape));
    if (nbytes != t.nbytes)
      fail("{}: tensor '{}': shape {} of {} needs {} bytes, got {}", p, t.name, shape_of(t.shape),
           dtype_name(t.dtype), nbytes, t.nbytes);
    if (t.data == nullptr && t.nbytes > 0) fail("{}: tensor '{}': no data", p, t.name);
    header[t.name] = {{"dtype", dtype_name(t.dtype)},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + t.nbytes}}};
    offset += t.nbytes;
  }

  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception& e) {
    fail("{}: a tensor name or metadata string is not valid UTF-8 ({})", p, json_error_text(e));
  }
  text.append((8 - text.size() % 8) % 8, ' ');  // pad with spaces: the data section starts 8-byte aligned
  if (text.size() > kMaxHeaderBytes)
    fail("{}: header would be {} bytes, over the {} bytes readers accept", p, text.size(), kMaxHeaderBytes);

  char length[8];
  const std::uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) length[i] = static_cast<char>((n >> (8 * i)) & 0xff);

  std::vector<std::string_view> pieces;
  pieces.reserve(tensors.size() + 2);
  pieces.emplace_back(length, 8);
  pieces.emplace_back(text);
  for (const auto& t : tensors)
    if (t.nbytes > 0) pieces.emplace_back(static_cast<const char*>(t.data), t.nbytes);
  write_file_atomic(path, pieces);
}

}  // namespace illume::st
