#include "illume/data/model_prompt_style.h"

#include "illume/util/error.h"
#include "illume/util/file.h"
#include "illume/util/json.h"

namespace illume::data {

std::optional<PromptStyle> recorded_prompt_style(const std::filesystem::path& model_dir) {
  const auto path = model_dir / "tokenizer_config.json";
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::nullopt;
  const auto config = read_json_file(path);
  if (!config.is_object() || !config.contains(kPromptStyleKey)) return std::nullopt;
  const auto& value = config[kPromptStyleKey];
  if (value == "chat") return PromptStyle::Chat;
  if (value == "plain") return PromptStyle::Plain;
  fail("{}: key '{}' should be \"chat\" or \"plain\", got {}", path.string(), kPromptStyleKey, json_excerpt(value));
}

void record_prompt_style(const std::filesystem::path& model_dir, PromptStyle style) {
  const auto path = model_dir / "tokenizer_config.json";
  std::error_code ec;
  Json config = std::filesystem::exists(path, ec) ? read_json_file(path) : Json::object();
  if (!config.is_object()) fail("{}: not a JSON object", path.string());
  config[kPromptStyleKey] = style == PromptStyle::Chat ? "chat" : "plain";
  write_file_atomic(path, config.dump(2) + "\n");
}

PromptStyle resolve_prompt_style(const std::filesystem::path& model_dir, bool chat_flag, bool plain_flag) {
  if (chat_flag && plain_flag) fail("--chat and --plain exclude each other");
  if (chat_flag) return PromptStyle::Chat;
  if (plain_flag) return PromptStyle::Plain;
  return recorded_prompt_style(model_dir).value_or(PromptStyle::Plain);
}

}  // namespace illume::data
