#include "cli/common.h"

#include <algorithm>
#include <charconv>

#include "illume/model/device.h"
#include "illume/util/error.h"

namespace illume::cli {

void ModelFlags::add_to(CLI::App* cmd, bool with_compute_flags) {
  cmd->add_option("--model", model_dir, "Hugging Face model folder (config.json, *.safetensors, tokenizer.json)")
      ->required();
  if (with_compute_flags) {
    cmd->add_option("--device", device, "cpu | cuda | cuda:N")->capture_default_str();
    cmd->add_option("--dtype", dtype, "compute dtype: f32 | bf16 | f16")->capture_default_str();
  }
}

Model ModelFlags::load_model() const {
  LoadOptions options;
  options.device = parse_device(device);
  options.dtype = parse_dtype(dtype);
  return Model::load(model_dir, options);
}

Tokenizer ModelFlags::load_tokenizer() const { return Tokenizer::from_dir(model_dir); }

std::vector<std::int32_t> parse_id_list(const std::string& text, const std::string& source) {
  std::vector<std::int32_t> ids;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ',' || std::isspace(static_cast<unsigned char>(text[i])) || text[i] == '[' ||
                               text[i] == ']'))
      ++i;
    if (i >= text.size()) break;
    std::size_t j = i;
    while (j < text.size() && text[j] != ',' && !std::isspace(static_cast<unsigned char>(text[j])) && text[j] != ']') ++j;
    std::int64_t value = 0;
    auto [ptr, ec] = std::from_chars(text.data() + i, text.data() + j, value);
    if (ec != std::errc() || ptr != text.data() + j || value < 0 || value > INT32_MAX)
      fail("{}: '{}' is not a token id", source, text.substr(i, j - i));
    ids.push_back(static_cast<std::int32_t>(value));
    i = j;
  }
  if (ids.empty()) fail("{}: no token ids given", source);
  return ids;
}

void check_ids_in_vocabulary(const std::vector<std::int32_t>& ids, std::int64_t vocab, const std::string& source) {
  for (auto id : ids)
    if (id < 0 || id >= vocab) fail("{}: id {} is outside the vocabulary (size {})", source, id, vocab);
}


}  // namespace illume::cli
