// The YAML recipe reader (util/config.cpp): YAML to a JSON tree, overrides, and typed reads. A line
// "#= key=value" (a YAML comment, so the recipe itself is unchanged) is applied as a command-line
// override after loading.
#include "fuzz_common.h"
#include "illume/util/config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const auto path = illume::fuzz::input_file(bytes, "recipe.yaml");
  std::string override_text;
  if (auto at = bytes.rfind("#= "); at != std::string_view::npos && (at == 0 || bytes[at - 1] == '\n')) {
    auto end = bytes.find('\n', at);
    override_text = std::string(bytes.substr(at + 3, end == std::string_view::npos ? end : end - at - 3));
  }
  std::optional<illume::ConfigTree> tree;
  illume::fuzz::expect_clean(path.string(), [&] { tree = illume::load_config(path); });
  if (!tree) return 0;
  if (!override_text.empty()) {
    // Messages about an override name the override, not the file.
    illume::fuzz::expect_clean("override", [&] { illume::apply_override(*tree, override_text); });
  }
  (void)tree->root.dump();
  illume::fuzz::expect_clean("", [&] {
    illume::ConfigReader reader(*tree);
    for (auto it = tree->root.begin(); it != tree->root.end(); ++it) {
      if (it->is_object()) {
        auto section = reader.section(it.key());
        for (auto child = it->begin(); child != it->end(); ++child) {
          const std::string& key = child.key();
          if (child->is_boolean()) (void)section.get_bool(key, false);
          else if (child->is_number_integer()) (void)section.get_int(key, 0);
          else if (child->is_number()) (void)section.get_double(key, 0);
          else if (child->is_array()) (void)section.get_double_list(key, {});
          else if (child->is_string()) (void)section.get_path(key, "fallback");
          else (void)section.get_json(key);
        }
        section.finish();
      } else {
        (void)reader.get_string(it.key(), "");
      }
    }
    reader.finish();
  });
  return 0;
}
