#include "illume/io/safetensors_torch.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstring>

#include "illume/util/error.h"
#include "illume/util/text.h"

namespace illume {

at::ScalarType to_scalar_type(st::DType dtype) {
  switch (dtype) {
    case st::DType::F64: return at::kDouble;
    case st::DType::F32: return at::kFloat;
    case st::DType::F16: return at::kHalf;
    case st::DType::BF16: return at::kBFloat16;
    case st::DType::I64: return at::kLong;
    case st::DType::I32: return at::kInt;
    case st::DType::I16: return at::kShort;
    case st::DType::I8: return at::kChar;
    case st::DType::U8: return at::kByte;
    case st::DType::BOOL: return at::kBool;
  }
  fail("safetensors: invalid DType value {}", static_cast<int>(dtype));
}

st::DType from_scalar_type(at::ScalarType dtype) {
  switch (dtype) {
    case at::kDouble: return st::DType::F64;
    case at::kFloat: return st::DType::F32;
    case at::kHalf: return st::DType::F16;
    case at::kBFloat16: return st::DType::BF16;
    case at::kLong: return st::DType::I64;
    case at::kInt: return st::DType::I32;
    case at::kShort: return st::DType::I16;
    case at::kChar: return st::DType::I8;
    case at::kByte: return st::DType::U8;
    case at::kBool: return st::DType::BOOL;
    default: fail("dtype {} has no safetensors equivalent", c10::toString(dtype));
  }
}

at::Tensor to_tensor(const st::TensorView& view, std::shared_ptr<const void> keep_alive) {
  const auto dtype = to_scalar_type(view.dtype);
  const auto options = at::TensorOptions().dtype(dtype).device(at::kCPU);
  const std::int64_t numel = view.numel();  // validates the shape
  if (static_cast<std::size_t>(numel) * st::dtype_size(view.dtype) != view.nbytes)
    fail("tensor '{}': shape {} of {} does not match its {} bytes", view.name, shape_of(view.shape),
         st::dtype_name(view.dtype), view.nbytes);
  const auto address = reinterpret_cast<std::uintptr_t>(view.data);
  if (keep_alive != nullptr && numel > 0 && address % st::dtype_size(view.dtype) == 0) {
    // The deleter owns keep_alive: the map lives as long as the tensor's storage.
    // const_cast is sound because SafetensorsFile maps copy-on-write (see the header).
    return at::from_blob(
        const_cast<std::uint8_t*>(view.data), view.shape, [keep_alive](void*) mutable { keep_alive.reset(); }, options);
  }
  at::Tensor out = at::empty(view.shape, options);
  if (view.nbytes > 0) std::memcpy(out.data_ptr(), view.data, view.nbytes);
  return out;
}

at::Tensor to_tensor(const st::SafetensorsFile& file, const std::string& name) {
  return to_tensor(file.get(name), file.keep_alive());
}

// ---------------------------------------------------------------------------------------------------

TorchWeights TorchWeights::open_dir(const std::filesystem::path& dir) { return TorchWeights(st::WeightSet::open_dir(dir)); }

bool TorchWeights::contains(const std::string& name) const { return weights_.contains(name); }

std::vector<std::string> TorchWeights::names() const { return weights_.names(); }

std::string TorchWeights::source_of(const std::string& name) const { return weights_.source_of(name); }

at::Tensor TorchWeights::get_unchecked(const std::string& name) const {
  const st::SafetensorsFile& file = weights_.file_of(name);  // "DIR: missing tensor 'x'"
  return to_tensor(file, name);
}

at::Tensor TorchWeights::get(const std::string& name, const std::vector<std::int64_t>& expected_shape,
                             std::optional<at::ScalarType> expected_dtype) const {
  const st::SafetensorsFile& file = weights_.file_of(name);
  const st::TensorView& view = file.get(name);
  if (view.shape != expected_shape)
    fail("{}: tensor '{}' has shape {}, expected {}", file.path().string(), name, shape_of(view.shape),
         shape_of(expected_shape));
  if (expected_dtype.has_value() && to_scalar_type(view.dtype) != *expected_dtype) {
    std::string expected = c10::toString(*expected_dtype);
    try {
      expected = st::dtype_name(from_scalar_type(*expected_dtype));
    } catch (const Error&) {
    }
    fail("{}: tensor '{}' has dtype {}, expected {}", file.path().string(), name, st::dtype_name(view.dtype), expected);
  }
  return to_tensor(view, file.keep_alive());
}

std::map<std::string, at::Tensor> load_safetensors(const std::filesystem::path& path) {
  st::SafetensorsFile file(path);
  std::map<std::string, at::Tensor> out;
  for (const auto& name : file.names()) out.emplace(name, to_tensor(file, name));
  return out;
}

void save_safetensors(const std::filesystem::path& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  std::vector<at::Tensor> keep;  // the CPU contiguous tensors whose bytes we write
  std::vector<st::TensorToWrite> to_write;
  keep.reserve(tensors.size());
  to_write.reserve(tensors.size());
  for (const auto& [name, tensor] : tensors) {
    if (!tensor.defined()) fail("{}: tensor '{}' is undefined", path.string(), name);
    st::DType dtype;
    try {
      dtype = from_scalar_type(tensor.scalar_type());
    } catch (const Error& e) {
      fail("{}: tensor '{}': {}", path.string(), name, e.what());
    }
    at::Tensor cpu = tensor.detach().to(at::kCPU).contiguous();
    if (cpu.is_neg()) cpu = cpu.resolve_neg();  // lazy negation/conjugation bits are not in the bytes
    keep.push_back(cpu);
    to_write.push_back(st::TensorToWrite{name, dtype, cpu.sizes().vec(), cpu.data_ptr(),
                                         static_cast<std::size_t>(cpu.numel()) * cpu.element_size()});
  }
  auto with_format = metadata;
  with_format.emplace("format", "pt");  // no-op when present
  st::write_safetensors(path, to_write, with_format);
}

}  // namespace illume
