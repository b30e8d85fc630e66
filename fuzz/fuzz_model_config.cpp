// config.json (io/model_config.cpp): parsing, validation, and the values derived from an accepted
// config (parameter count, the config written back and read again).
#include "fuzz_common.h"
#include "illume/io/model_config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const auto path = illume::fuzz::input_file(bytes, "config.json");
  illume::fuzz::expect_clean(path.string(), [&] {
    auto config = illume::ModelConfig::load(path.parent_path());
    (void)config.parameter_count();
    (void)config.kv_group_size();
    // What we write back must read back the same.
    auto again = illume::ModelConfig::from_json(config.to_json(), path.string());
    if (again.to_json() != config.to_json()) illume::fuzz::finding("config.json does not survive a write and read");
  });
  return 0;
}
