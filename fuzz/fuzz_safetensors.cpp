// The safetensors reader (io/safetensors.cpp) on arbitrary files: the 8-byte header length, the JSON
// header and the data offsets. Every view it accepts must lie inside the file and agree with its shape.
#include <cstring>

#include "fuzz_common.h"
#include "illume/io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const auto path = illume::fuzz::input_file(bytes, "model.safetensors");
  illume::fuzz::expect_clean(path.string(), [&] {
    illume::st::SafetensorsFile file(path);
    const std::uint8_t* begin = nullptr;
    std::size_t total = 0;
    for (const auto& name : file.names()) {
      const auto& view = file.get(name);
      if (static_cast<std::size_t>(view.numel()) * illume::st::dtype_size(view.dtype) != view.nbytes)
        illume::fuzz::finding("tensor '" + name + "': shape and byte count disagree");
      total += view.nbytes;
      if (view.nbytes > 0) {
        // Touch the first and last byte: a view outside the mapping faults here.
        volatile std::uint8_t first = view.data[0], last = view.data[view.nbytes - 1];
        (void)first;
        (void)last;
        if (begin == nullptr || view.data < begin) begin = view.data;
      }
    }
    if (total > size) illume::fuzz::finding("tensors hold more bytes than the file");
    for (const auto& [key, value] : file.metadata()) (void)key, (void)value;
  });
  return 0;
}
