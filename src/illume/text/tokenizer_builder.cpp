#include "illume/text/tokenizer_builder.h"

#include <algorithm>
#include <map>
#include <unordered_map>

#include "illume/text/byte_alphabet.h"
#include "illume/util/error.h"
#include "illume/util/file.h"
#include "illume/util/text.h"

namespace illume {

namespace {

const char* kQwenSplitRegex =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

bool is_letter(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80; }
bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

// An ASCII approximation of the Split regex above, for counting words while learning merges: an optional
// non-letter prefix + letters, single digits, an optional space + punctuation, whitespace runs. Merges
// learned on slightly different words are still valid merges; the tokenizer applies the real regex.
std::vector<std::string> rough_words(const std::string& text) {
  std::vector<std::string> words;
  std::size_t i = 0, n = text.size();
  while (i < n) {
    std::size_t j = i;
    unsigned char c = text[i];
    if (is_letter(c) || (!is_digit(c) && c != '\n' && c != '\r' && i + 1 < n && is_letter(text[i + 1]))) {
      j = is_letter(c) ? i : i + 1;
      while (j < n && is_letter(text[j])) ++j;
    } else if (is_digit(c)) {
      j = i + 1;
    } else if (is_space(c)) {
      while (j < n && is_space(text[j])) ++j;
    } else {
      j = i + 1;
      while (j < n && !is_space(text[j]) && !is_letter(text[j]) && !is_digit(text[j])) ++j;
    }
    words.push_back(text.substr(i, j - i));
    i = j;
  }
  return words;
}

}  // namespace

Json build_byte_level_tokenizer(const std::vector<std::string>& corpus, const TokenizerSpec& spec) {
  const ByteAlphabet alphabet;
  // Symbols: ids 0..255 are the bytes (in byte order); merges append.
  std::vector<std::string> symbols;
  for (int b = 0; b < 256; ++b) symbols.push_back(alphabet.encode(std::string(1, static_cast<char>(b))));
  std::map<std::string, std::int64_t> word_counts;
  for (const auto& text : corpus)
    for (auto& w : rough_words(text)) ++word_counts[w];
  std::vector<std::vector<std::int32_t>> words;
  std::vector<std::int64_t> counts;
  for (auto& [w, count] : word_counts) {
    std::vector<std::int32_t> ids;
    for (unsigned char b : w) ids.push_back(b);
    words.push_back(std::move(ids));
    counts.push_back(count);
  }
  std::vector<std::pair<std::int32_t, std::int32_t>> merges;
  for (std::int64_t m = 0; m < spec.num_merges; ++m) {
    std::map<std::pair<std::int32_t, std::int32_t>, std::int64_t> pairs;
    for (std::size_t w = 0; w < words.size(); ++w)
      for (std::size_t k = 0; k + 1 < words[w].size(); ++k) pairs[{words[w][k], words[w][k + 1]}] += counts[w];
    if (pairs.empty()) break;
    auto best = pairs.begin();
    for (auto it = pairs.begin(); it != pairs.end(); ++it)
      if (it->second > best->second) best = it;  // ties: the smallest pair (map order) wins
    if (best->second < 2) break;
    auto [a, b] = best->first;
    auto merged = static_cast<std::int32_t>(symbols.size());
    symbols.push_back(symbols[a] + symbols[b]);
    merges.push_back(best->first);
    for (auto& word : words) {
      std::vector<std::int32_t> out;
      for (std::size_t k = 0; k < word.size(); ++k) {
        if (k + 1 < word.size() && word[k] == a && word[k + 1] == b) {
          out.push_back(merged);
          ++k;
        } else {
          out.push_back(word[k]);
        }
      }
      word = std::move(out);
    }
  }
  Json vocab = Json::object();
  for (std::size_t i = 0; i < symbols.size(); ++i) vocab[symbols[i]] = i;
  if (vocab.size() != symbols.size()) fail("tokenizer builder: two merges produced the same token");
  Json merge_list = Json::array();
  for (auto [a, b] : merges) merge_list.push_back(Json::array({symbols[a], symbols[b]}));
  Json added = Json::array();
  auto next_id = static_cast<std::int64_t>(symbols.size());
  auto add = [&](const std::string& content, bool special) {
    added.push_back({{"id", next_id++}, {"content", content}, {"single_word", false}, {"lstrip", false},
                     {"rstrip", false}, {"normalized", false}, {"special", special}});
  };
  for (auto& t : spec.special_tokens) add(t, true);
  for (auto& t : spec.added_tokens) add(t, false);
  Json byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}};
  return {{"version", "1.0"},
          {"truncation", nullptr},
          {"padding", nullptr},
          {"added_tokens", added},
          {"normalizer", {{"type", "NFC"}}},
          {"pre_tokenizer",
           {{"type", "Sequence"},
            {"pretokenizers",
             Json::array({{{"type", "Split"}, {"pattern", {{"Regex", kQwenSplitRegex}}}, {"behavior", "Isolated"},
                           {"invert", false}},
                          byte_level})}}},
          {"post_processor", byte_level},
          {"decoder", byte_level},
          {"model",
           {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"continuing_subword_prefix", ""},
            {"end_of_word_suffix", ""}, {"fuse_unk", false}, {"byte_fallback", false}, {"ignore_merges", false},
            {"vocab", vocab}, {"merges", merge_list}}}};
}

Json build_tokenizer_config(const TokenizerSpec& spec) {
  return {{"tokenizer_class", "Qwen2Tokenizer"}, {"eos_token", spec.eos_token}, {"pad_token", spec.pad_token},
          {"bos_token", nullptr}, {"add_bos_token", false}, {"model_max_length", 4096},
          {"chat_template_kind", "chatml (illume formats it in code: text/chat.h)"}};
}

void write_tokenizer_files(const std::filesystem::path& dir, const std::vector<std::string>& corpus,
                           const TokenizerSpec& spec) {
  write_file_atomic(dir / "tokenizer.json", build_byte_level_tokenizer(corpus, spec).dump(1) + "\n");
  write_file_atomic(dir / "tokenizer_config.json", build_tokenizer_config(spec).dump(2) + "\n");
}

}  // namespace illume
