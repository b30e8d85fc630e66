#include "illume/io/gguf.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstring>
#include <random>
#include <set>

#include "illume/util/error.h"
#include "illume/util/file.h"

namespace illume::gguf {

// Values are copied to the file as they lie in memory.
static_assert(std::endian::native == std::endian::little, "the GGUF writer assumes a little-endian host");

std::size_t tensor_type_size(TensorType type) {
  switch (type) {
    case TensorType::F32: return 4;
    case TensorType::F16: return 2;
    case TensorType::BF16: return 2;
  }
  fail("gguf: unknown tensor type {}", static_cast<std::uint32_t>(type));
}

const char* tensor_type_name(TensorType type) {
  switch (type) {
    case TensorType::F32: return "F32";
    case TensorType::F16: return "F16";
    case TensorType::BF16: return "BF16";
  }
  return "?";
}

namespace {

template <typename T>
void append_raw(std::string& out, T value) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  out.append(bytes, sizeof(T));
}

void append_string(std::string& out, const std::string& text) {
  append_raw<std::uint64_t>(out, text.size());
  out += text;
}

std::size_t round_up(std::size_t value, std::size_t alignment) { return (value + alignment - 1) / alignment * alignment; }

}  // namespace

void Metadata::start(const std::string& key, ValueType type) {
  check(!key.empty(), "gguf metadata: empty key");
  check(!contains(key), "gguf metadata: duplicate key '{}'", key);
  keys_.push_back(key);
  append_string(bytes_, key);
  append_raw<std::uint32_t>(bytes_, static_cast<std::uint32_t>(type));
}

void Metadata::add_uint32(const std::string& key, std::uint32_t value) {
  start(key, ValueType::UInt32);
  append_raw(bytes_, value);
}
void Metadata::add_int32(const std::string& key, std::int32_t value) {
  start(key, ValueType::Int32);
  append_raw(bytes_, value);
}
void Metadata::add_uint64(const std::string& key, std::uint64_t value) {
  start(key, ValueType::UInt64);
  append_raw(bytes_, value);
}
void Metadata::add_float32(const std::string& key, float value) {
  start(key, ValueType::Float32);
  append_raw(bytes_, value);
}
void Metadata::add_bool(const std::string& key, bool value) {
  start(key, ValueType::Bool);
  append_raw<std::uint8_t>(bytes_, value ? 1 : 0);
}
void Metadata::add_string(const std::string& key, const std::string& value) {
  start(key, ValueType::String);
  append_string(bytes_, value);
}
void Metadata::add_string_array(const std::string& key, const std::vector<std::string>& values) {
  start(key, ValueType::Array);
  append_raw<std::uint32_t>(bytes_, static_cast<std::uint32_t>(ValueType::String));
  append_raw<std::uint64_t>(bytes_, values.size());
  for (const auto& v : values) append_string(bytes_, v);
}
void Metadata::add_int32_array(const std::string& key, const std::vector<std::int32_t>& values) {
  start(key, ValueType::Array);
  append_raw<std::uint32_t>(bytes_, static_cast<std::uint32_t>(ValueType::Int32));
  append_raw<std::uint64_t>(bytes_, values.size());
  for (auto v : values) append_raw(bytes_, v);
}

bool Metadata::contains(const std::string& key) const {
  for (const auto& k : keys_)
    if (k == key) return true;
  return false;
}

std::size_t TensorToWrite::nbytes() const {
  std::size_t count = 1;
  for (auto d : shape) count *= static_cast<std::size_t>(d);
  return count * tensor_type_size(type);
}

void write_gguf(const std::filesystem::path& path, const Metadata& metadata, const std::vector<TensorToWrite>& tensors,
                std::size_t alignment) {
  const std::string where = path.string();
  check(alignment > 0 && (alignment & (alignment - 1)) == 0, "{}: alignment {} is not a power of two", where, alignment);
  Metadata alignment_record;
  const bool add_alignment = !metadata.contains("general.alignment");
  if (add_alignment) alignment_record.add_uint32("general.alignment", static_cast<std::uint32_t>(alignment));

  // Header, metadata and tensor infos; the data offsets are known before any data is produced.
  std::string header;
  header += "GGUF";
  append_raw<std::uint32_t>(header, kVersion);
  append_raw<std::int64_t>(header, static_cast<std::int64_t>(tensors.size()));
  append_raw<std::int64_t>(header, static_cast<std::int64_t>(metadata.size() + (add_alignment ? 1 : 0)));
  header += metadata.encoded();
  if (add_alignment) header += alignment_record.encoded();
  std::set<std::string> names;
  std::vector<std::size_t> offsets;
  std::size_t data_size = 0;
  for (const auto& t : tensors) {
    check(!t.name.empty(), "{}: a tensor has an empty name", where);
    check(names.insert(t.name).second, "{}: duplicate tensor name '{}'", where, t.name);
    check(!t.shape.empty(), "{}: tensor '{}' has no dimensions", where, t.name);
    for (auto d : t.shape) check(d > 0, "{}: tensor '{}' has a dimension {}", where, t.name, d);
    check(static_cast<bool>(t.fill), "{}: tensor '{}' has no data", where, t.name);
    append_string(header, t.name);
    append_raw<std::uint32_t>(header, static_cast<std::uint32_t>(t.shape.size()));
    for (auto it = t.shape.rbegin(); it != t.shape.rend(); ++it) append_raw<std::int64_t>(header, *it);
    append_raw<std::uint32_t>(header, static_cast<std::uint32_t>(t.type));
    append_raw<std::uint64_t>(header, data_size);
    offsets.push_back(data_size);
    data_size += round_up(t.nbytes(), alignment);
  }
  const std::size_t data_start = round_up(header.size(), alignment);
  const std::size_t total = data_start + data_size;

  ensure_directory(path.parent_path().empty() ? std::filesystem::path(".") : path.parent_path());
  auto temp = path;
  temp += fmt::format(".tmp.{}.{:x}", ::getpid(), std::random_device{}());
  int fd = ::open(temp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail("{}: cannot write ({})", where, std::strerror(errno));
  void* map = MAP_FAILED;
  auto abandon = [&](const std::string& message) {
    if (map != MAP_FAILED) ::munmap(map, total);
    ::close(fd);
    ::unlink(temp.c_str());
    throw Error(message);
  };
  // ftruncate makes a sparse file of zeros: the padding needs no writes.
  if (::ftruncate(fd, static_cast<off_t>(total)) != 0)
    abandon(fmt::format("{}: cannot write {} bytes ({})", where, total, std::strerror(errno)));
  map = ::mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) abandon(fmt::format("{}: cannot map for writing ({})", where, std::strerror(errno)));
  auto* bytes = static_cast<std::uint8_t*>(map);
  std::memcpy(bytes, header.data(), header.size());
  try {
    for (std::size_t i = 0; i < tensors.size(); ++i) tensors[i].fill(bytes + data_start + offsets[i]);
  } catch (const std::exception& e) {
    abandon(e.what());
  }
  if (::msync(map, total, MS_SYNC) != 0) abandon(fmt::format("{}: write failed ({})", where, std::strerror(errno)));
  ::munmap(map, total);
  map = MAP_FAILED;
  if (::fsync(fd) != 0) abandon(fmt::format("{}: write failed ({})", where, std::strerror(errno)));
  if (::close(fd) != 0) {
    ::unlink(temp.c_str());
    fail("{}: write failed ({})", where, std::strerror(errno));
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(temp.c_str());
    fail("{}: cannot replace ({})", where, std::strerror(e));
  }
}

std::uint16_t float_to_bf16(float value) {
  auto bits = std::bit_cast<std::uint32_t>(value);
  // NaN: keep the sign and top mantissa bits, force a quiet NaN (rounding could carry it to inf).
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((bits >> 16) | 0x40u);
  return static_cast<std::uint16_t>((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}

std::uint16_t float_to_f16(float value) {
  auto bits = std::bit_cast<std::uint32_t>(value);
  const std::uint16_t sign = static_cast<std::uint16_t>((bits >> 16) & 0x8000u);
  const std::uint32_t exponent = (bits >> 23) & 0xffu;
  const std::uint32_t mantissa = bits & 0x7fffffu;
  if (exponent == 0xff) return static_cast<std::uint16_t>(sign | (mantissa ? 0x7e00u : 0x7c00u));
  const int e = static_cast<int>(exponent) - 127;
  if (e > 15) return static_cast<std::uint16_t>(sign | 0x7c00u);  // beyond the largest half: infinity
  if (e >= -14) {
    // Normal half: 10 mantissa bits, round to nearest even on the 13 dropped bits; a carry out of the
    // mantissa bumps the exponent (up to infinity), which is the correct result.
    std::uint32_t half = (static_cast<std::uint32_t>(e + 15) << 10) | (mantissa >> 13);
    const std::uint32_t dropped = mantissa & 0x1fffu;
    if (dropped > 0x1000u || (dropped == 0x1000u && (half & 1u))) ++half;
    return static_cast<std::uint16_t>(sign | half);
  }
  if (e < -25) return sign;  // below half the smallest subnormal (2^-24): zero
  // Subnormal half: the value in units of 2^-24, rounded to nearest even.
  const std::uint32_t full = mantissa | 0x800000u;
  const int shift = -e - 1;  // 14..24
  std::uint32_t half = full >> shift;
  const std::uint32_t dropped = full & ((1u << shift) - 1u);
  const std::uint32_t halfway = 1u << (shift - 1);
  if (dropped > halfway || (dropped == halfway && (half & 1u))) ++half;
  return static_cast<std::uint16_t>(sign | half);
}

float bf16_to_float(std::uint16_t bits) { return std::bit_cast<float>(static_cast<std::uint32_t>(bits) << 16); }

float f16_to_float(std::uint16_t bits) {
  const std::uint32_t sign = static_cast<std::uint32_t>(bits & 0x8000u) << 16;
  const std::uint32_t exponent = (bits >> 10) & 0x1fu;
  std::uint32_t mantissa = bits & 0x3ffu;
  if (exponent == 0x1f) return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));
  if (exponent != 0) return std::bit_cast<float>(sign | ((exponent + 112u) << 23) | (mantissa << 13));
  if (mantissa == 0) return std::bit_cast<float>(sign);
  // Subnormal half: normalise into a float.
  int e = -14;
  while (!(mantissa & 0x400u)) {
    mantissa <<= 1;
    --e;
  }
  mantissa &= 0x3ffu;
  return std::bit_cast<float>(sign | (static_cast<std::uint32_t>(e + 127) << 23) | (mantissa << 13));
}

}  // namespace illume::gguf
