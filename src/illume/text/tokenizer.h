// illume::Tokenizer: a byte-level BPE tokenizer loaded from a Hugging Face `tokenizer.json`
// (Qwen2/Qwen3, Llama 3, GPT-2 style). Torch-free.
//
// Encoding follows the Hugging Face pipeline:
//   1. added tokens (special and not) are found in the raw text, leftmost-longest first;
//   2. each stretch of text between them is normalised (none, NFC, or a Sequence of those),
//   3. split into pre-tokens (Split regex / ByteLevel, in the file's order; PCRE2 with UCP + JIT),
//   4. each pre-token's bytes are mapped to the GPT-2 byte alphabet and merged by BPE rank.
// encode() never adds BOS/EOS or other template tokens: the post_processor is not applied.
//
// Supported tokenizer.json subset (anything else fails at load, naming the file and the type):
//   normalizer    null | NFC | Sequence of those
//   pre_tokenizer null | Split{Regex|String, behavior Isolated|Removed, invert false} | ByteLevel |
//                 Sequence of those, with at most one ByteLevel and nothing after it
//   model         BPE (merges as "a b" strings or ["a","b"] pairs; ignore_merges; unk_token/fuse_unk)
//   decoder       null | ByteLevel
// A byte-level alphabet is required: the pre_tokenizer must include ByteLevel.
//
// Thread safety: a Tokenizer is immutable after loading apart from an internal, mutex-guarded
// cache of merged words, so encode/decode may be called from several threads at once. Copies are
// cheap and share the loaded tables and the cache.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace illume {

class Tokenizer {
 public:
  // Loads tokenizer.json. If tokenizer_config_json is given, eos/pad/bos come from it.
  // Errors (illume::Error) name the file: unreadable, not JSON, missing model, wrong types,
  // merges naming unknown tokens, unsupported model/normalizer/pre_tokenizer/decoder types.
  static Tokenizer from_file(const std::filesystem::path& tokenizer_json,
                             const std::optional<std::filesystem::path>& tokenizer_config_json = std::nullopt);
  // Loads MODEL_DIR/tokenizer.json and, when present, MODEL_DIR/tokenizer_config.json.
  static Tokenizer from_dir(const std::filesystem::path& model_dir);

  // Token ids of `text` (UTF-8). parse_special=true: added tokens in the text become their ids.
  // parse_special=false: special added tokens (e.g. <|im_start|>) are tokenised as plain text;
  // non-special added tokens (Qwen3's <think>, </think>) are still matched, as Hugging Face does
  // with split_special_tokens=True and llama.cpp with parse_special=false.
  // Invalid UTF-8 fails with "<source>: invalid UTF-8 at byte N" (N is 0-based).
  std::vector<std::int32_t> encode(std::string_view text, bool parse_special = true,
                                   const std::string& source = "text") const;
  // encode(text, true, source), except that special added tokens are not recognised where they
  // would overlap a byte range [begin, end) of `literal`: a chat template's own special tokens are
  // parsed while the untrusted text placed in it stays text.
  using ByteRange = std::pair<std::size_t, std::size_t>;
  std::vector<std::int32_t> encode_with_literal_ranges(std::string_view text, const std::vector<ByteRange>& literal,
                                                       const std::string& source = "text") const;

  // The exact bytes the ids stand for. A prefix of an encoding may end inside a multi-byte
  // character; the bytes are returned as they are. skip_special drops special added tokens.
  // An id that is not in the vocabulary fails with "decode: unknown token id N ...".
  std::string decode(const std::vector<std::int32_t>& ids, bool skip_special = false) const;

  // The token as written in tokenizer.json (byte-level form, e.g. "Ġworld"; added tokens as is).
  // Fails for an unknown id.
  std::string id_to_token(std::int32_t id) const;
  // Looks up a token string (added tokens first, then the BPE vocabulary).
  std::optional<std::int32_t> token_to_id(const std::string& token) const;
  // True when decode() accepts the id (it is in the vocabulary; holes and ids past the end are not).
  bool has_id(std::int32_t id) const;
  // The tokenizer.json path it was loaded from (for messages).
  const std::string& source() const;
  // Largest id + 1, added tokens included (Qwen3: 151669; the model's embedding may be larger).
  std::int32_t vocab_size() const;
  // True for added tokens marked "special" (false for unknown ids).
  bool is_special(std::int32_t id) const;

  // From tokenizer_config.json (eos_token etc. as a string or {"content": ...}); nullopt when
  // there is no config or the entry is null.
  std::optional<std::int32_t> eos_token_id() const;
  std::optional<std::int32_t> pad_token_id() const;
  std::optional<std::int32_t> bos_token_id() const;

 private:
  struct Impl;
  explicit Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

}  // namespace illume
