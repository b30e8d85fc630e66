// Encode then decode (text/tokenizer.cpp) on arbitrary text: decode(encode(text)) == text for every
// valid UTF-8 text that NFC leaves unchanged (both tokenizers normalise with NFC first), and a
// clear error for invalid UTF-8. Tokenizers: the default model's (models/illume-countdown-tiny, in
// the repository) and, when ../shared is present, Qwen3's (151,669 ids); the first byte chooses.
#include <utf8proc.h>

#include <cstdlib>
#include <memory>
#include <vector>

#include "fuzz_common.h"
#include "illume/text/tokenizer.h"
#include "illume/text/utf8.h"

namespace {

std::vector<illume::Tokenizer>& tokenizers() {
  static std::vector<illume::Tokenizer> loaded = [] {
    std::vector<illume::Tokenizer> out;
    out.push_back(illume::Tokenizer::from_dir(illume::fuzz::source_dir() / "models/illume-countdown-tiny"));
    auto qwen3 = illume::fuzz::shared_dir() / "tokenizer";
    if (std::filesystem::exists(qwen3 / "tokenizer.json")) out.push_back(illume::Tokenizer::from_dir(qwen3));
    return out;
  }();
  return loaded;
}

bool is_nfc(std::string_view text) {
  utf8proc_uint8_t* normalized = utf8proc_NFC(reinterpret_cast<const utf8proc_uint8_t*>(std::string(text).c_str()));
  if (normalized == nullptr) return false;
  bool same = text == reinterpret_cast<const char*>(normalized);
  std::free(normalized);
  return same;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  tokenizers();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const auto& all = tokenizers();
  const illume::Tokenizer& tokenizer = all[data[0] % all.size()];
  std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  const bool valid = !illume::utf8::find_invalid(text).has_value();
  for (bool parse_special : {true, false}) {
    std::vector<std::int32_t> ids;
    try {
      ids = tokenizer.encode(text, parse_special, "input");
    } catch (const illume::Error& e) {
      if (valid) illume::fuzz::finding(std::string("encode failed on valid UTF-8: ") + e.what());
      continue;
    } catch (const std::exception& e) {
      illume::fuzz::finding(std::string("encode: escaped exception: ") + e.what());
    }
    if (!valid) illume::fuzz::finding("encode accepted invalid UTF-8");
    std::string decoded;
    try {
      decoded = tokenizer.decode(ids);
    } catch (const std::exception& e) {
      illume::fuzz::finding(std::string("decode of encode's ids failed: ") + e.what());
    }
    // A NUL ends the text for utf8proc; such texts are only checked for not crashing.
    if (text.find('\0') == std::string_view::npos && is_nfc(text) && decoded != text)
      illume::fuzz::finding("decode(encode(text)) != text (" + std::to_string(text.size()) + " bytes in, " +
                            std::to_string(decoded.size()) + " out)");
  }
  return 0;
}
