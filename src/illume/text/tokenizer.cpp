#include "illume/text/tokenizer.h"

#include "illume/text/byte_alphabet.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <utf8proc.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include "illume/text/bpe.h"
#include "illume/text/utf8.h"
#include "illume/util/error.h"
#include "illume/util/json.h"

namespace illume {
namespace {

// Ids above this are rejected at load: a hostile file must not make us allocate gigabytes.
constexpr std::int64_t kMaxTokenId = (std::int64_t{1} << 24) - 1;
// Real tokenizers nest no Sequence inside another; a hostile file nesting 60k of them would recurse
// 60k deep (the JSON depth bound, util/json.h, stops that earlier too).
constexpr int kMaxSequenceDepth = 16;
// The merge cache keeps words up to this many bytes, and at most this many words (then restarts).
// Looking a word up costs less than merging it again: most words of a text recur.
constexpr std::size_t kMaxCachedWordBytes = 64;
constexpr std::size_t kMaxCachedWords = 1 << 16;

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

// GPT-2's pre-tokenizer regex, used by ByteLevel when use_regex is true.
constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// Maps a string to an id whose string, in a table the caller owns, equals it. Open addressing
// over (hash, id) slots, so a lookup touches one slot array and one string: several times faster
// to build and query than std::unordered_map<std::string, int> for a 150k-token vocabulary.
class StringIndex {
 public:
  explicit StringIndex(const std::vector<std::string>& strings) : strings_(strings) {}

  void reserve(std::size_t count) {
    std::size_t capacity = 16;
    while (capacity < count * 2) capacity *= 2;
    if (capacity > slots_.size()) rehash(capacity);
  }
  // Maps strings[id] to id, replacing an entry for an equal string.
  void insert(std::int32_t id) {
    if ((count_ + 1) * 2 > slots_.size()) rehash(std::max<std::size_t>(16, slots_.size() * 2));
    const std::string& key = strings_[id];
    const std::uint64_t h = hash(key);
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = h & mask;; i = (i + 1) & mask) {
      Slot& slot = slots_[i];
      if (slot.id < 0) {
        slot = {static_cast<std::uint32_t>(h >> 32), id};
        ++count_;
        return;
      }
      if (slot.tag == static_cast<std::uint32_t>(h >> 32) && strings_[slot.id] == key) {
        slot.id = id;
        return;
      }
    }
  }
  std::optional<std::int32_t> find(std::string_view key) const {
    if (slots_.empty()) return std::nullopt;
    const std::uint64_t h = hash(key);
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = h & mask;; i = (i + 1) & mask) {
      const Slot& slot = slots_[i];
      if (slot.id < 0) return std::nullopt;
      if (slot.tag == static_cast<std::uint32_t>(h >> 32) && strings_[slot.id] == key) return slot.id;
    }
  }

 private:
  struct Slot {
    std::uint32_t tag;  // high half of the hash, to skip most string compares
    std::int32_t id;    // -1: empty
  };
  static std::uint64_t hash(std::string_view s) {
    std::uint64_t h = 0xcbf29ce484222325ULL ^ s.size();  // FNV-1a, then a final mix
    for (char c : s) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
    h ^= h >> 32;
    h *= 0xd6e8feb86659fd93ULL;
    h ^= h >> 32;
    return h;
  }
  void rehash(std::size_t capacity) {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(capacity, Slot{0, -1});
    const std::size_t mask = capacity - 1;
    for (const Slot& slot : old) {
      if (slot.id < 0) continue;
      std::size_t i = hash(strings_[slot.id]) & mask;
      while (slots_[i].id >= 0) i = (i + 1) & mask;
      slots_[i] = slot;
    }
  }

  const std::vector<std::string>& strings_;
  std::vector<Slot> slots_;
  std::size_t count_ = 0;
};

// For error messages: file content shown on one line, control characters escaped, long text cut.
std::string printable(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 80)) {
    const auto u = static_cast<unsigned char>(c);
    if (u == '\n') out += "\\n";
    else if (u == '\t') out += "\\t";
    else if (u < 0x20 || u == 0x7F) out += fmt::format("\\x{:02x}", u);
    else out.push_back(c);
  }
  if (text.size() > 80) out += "...";
  return out;
}

// ByteAlphabet (GPT-2 bytes_to_unicode) lives in byte_alphabet.h.

const ByteAlphabet& byte_alphabet() {
  static const ByteAlphabet alphabet;
  return alphabet;
}

// A compiled PCRE2 pattern (UTF + UCP, JIT when available).
class Regex {
 public:
  Regex(const std::string& pattern, bool literal, const std::string& where) {
    int error = 0;
    PCRE2_SIZE offset = 0;
    const std::uint32_t options = literal ? (PCRE2_UTF | PCRE2_LITERAL) : (PCRE2_UTF | PCRE2_UCP);
    code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), options, &error, &offset,
                          nullptr);
    if (code_ == nullptr) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(error, message, sizeof(message));
      fail("{}: regex does not compile at offset {} ({})", where, offset, reinterpret_cast<const char*>(message));
    }
    pcre2_jit_compile(code_, PCRE2_JIT_COMPLETE);  // on failure PCRE2 falls back to its interpreter
  }
  ~Regex() { pcre2_code_free(code_); }
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;
  const pcre2_code* code() const { return code_; }

 private:
  pcre2_code* code_ = nullptr;
};

// Per-call PCRE2 state (match data, a JIT stack large enough for long whitespace runs).
class MatchState {
 public:
  MatchState() = default;
  ~MatchState() {
    if (data_ != nullptr) pcre2_match_data_free(data_);
    if (context_ != nullptr) pcre2_match_context_free(context_);
    if (stack_ != nullptr) pcre2_jit_stack_free(stack_);
  }
  MatchState(const MatchState&) = delete;
  MatchState& operator=(const MatchState&) = delete;

  pcre2_match_data* data() {
    if (data_ == nullptr) {
      data_ = pcre2_match_data_create(1, nullptr);
      context_ = pcre2_match_context_create(nullptr);
      stack_ = pcre2_jit_stack_create(32 * 1024, 64 * 1024 * 1024, nullptr);
      if (data_ == nullptr || context_ == nullptr || stack_ == nullptr) throw std::bad_alloc();
      pcre2_jit_stack_assign(context_, nullptr, stack_);
    }
    return data_;
  }
  pcre2_match_context* context() { return context_; }

 private:
  pcre2_match_data* data_ = nullptr;
  pcre2_match_context* context_ = nullptr;
  pcre2_jit_stack* stack_ = nullptr;
};

struct Span {
  std::size_t begin, length;
};

// Splits base[span] at the regex's matches. Isolated keeps matches and the text between them as
// separate pieces; Removed keeps only the text between matches. Empty pieces are dropped.
void regex_split(const Regex& regex, std::string_view base, Span span, bool keep_matches, MatchState& state,
                 std::vector<Span>& out, const std::string& source) {
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(base.data() + span.begin);
  const std::size_t length = span.length;
  pcre2_match_data* data = state.data();
  std::size_t offset = 0, last = 0;
  while (offset < length) {
    const int rc = pcre2_match(regex.code(), subject, length, offset, PCRE2_NO_UTF_CHECK, data, state.context());
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(rc, message, sizeof(message));
      fail("{}: pre-tokenizer regex failed ({})", source, reinterpret_cast<const char*>(message));
    }
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(data);
    const std::size_t match_begin = ovector[0], match_end = ovector[1];
    if (match_end == match_begin) {  // empty match: step over one character, no piece
      if (match_begin >= length) break;
      std::size_t char_length = 0;
      utf8::decode_at(std::string_view(base.data() + span.begin, length), match_begin, char_length);
      offset = match_begin + char_length;
      continue;
    }
    if (match_begin > last) out.push_back({span.begin + last, match_begin - last});
    if (keep_matches) out.push_back({span.begin + match_begin, match_end - match_begin});
    last = offset = match_end;
  }
  if (last < length) out.push_back({span.begin + last, length - last});
}

struct PreTokenizerStep {
  enum class Kind { Split, ByteLevel };
  Kind kind = Kind::Split;
  std::unique_ptr<Regex> regex;  // Split: its pattern; ByteLevel: GPT-2's when use_regex, else null
  bool keep_matches = true;      // Split behavior Isolated (true) or Removed (false)
  bool add_prefix_space = false;  // ByteLevel
};

struct AddedToken {
  std::string content;
  std::int32_t id = 0;
  bool special = false, lstrip = false, rstrip = false, single_word = false;
};

bool is_word_character(char32_t c) {
  if (c == U'_') return true;
  const auto category = utf8proc_category(static_cast<utf8proc_int32_t>(c));
  return (category >= UTF8PROC_CATEGORY_LU && category <= UTF8PROC_CATEGORY_LO) ||
         (category >= UTF8PROC_CATEGORY_ND && category <= UTF8PROC_CATEGORY_NO);
}

// A member that is present and not null, else nullptr.
const Json* member(const Json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

}  // namespace

struct Tokenizer::Impl {
  std::string source;  // the tokenizer.json path, for messages

  // Normalizer and pre-tokenizer.
  bool nfc = false;
  std::vector<PreTokenizerStep> steps;
  bool has_byte_level = false;

  // Vocabulary: ids are dense in [0, tokens.size()), holes allowed.
  std::vector<std::string> tokens;       // id -> token as written in the file
  std::vector<std::string> token_bytes;  // id -> the bytes it decodes to
  std::vector<std::uint8_t> present, special;
  StringIndex token_ids{tokens};           // BPE vocabulary, then added tokens (which win)
  StringIndex byte_word_ids{token_bytes};  // ignore_merges: a pre-token's bytes -> its id
  std::array<std::int32_t, 256> byte_ids{};  // byte -> id of its one-character token, -1 if none

  // BPE model.
  BpeMerges merges;
  bool ignore_merges = false;
  std::optional<std::int32_t> unk_id;
  bool fuse_unk = false;

  // Added tokens, bucketed by first byte, longest first within a bucket.
  std::vector<AddedToken> added;
  std::array<std::vector<std::uint32_t>, 256> added_by_first_byte;

  std::optional<std::int32_t> eos, pad, bos;

  // Cache of merged words (raw bytes -> ids), shared by all threads; guarded by cache_mutex.
  mutable std::mutex cache_mutex;
  mutable std::unordered_map<std::string, std::vector<std::int32_t>, StringHash, std::equal_to<>> cache;

  // ---- loading ----
  void load(const Json& root);
  // `depth`: how many Sequences enclose this one (bounded by kMaxSequenceDepth).
  void parse_normalizer(const Json* normalizer, const std::string& where, int depth = 0);
  void parse_pre_tokenizer(const Json* pre_tokenizer, const std::string& where, int depth = 0);
  void parse_model(const Json& model);
  void parse_added_tokens(const Json* list);
  void parse_decoder(const Json* decoder);
  void resize_vocabulary(std::size_t size);
  void set_token(std::int32_t id, const std::string& token, std::string bytes);
  std::string type_of(const Json& object, const std::string& where) const;
  bool flag(const Json& object, const char* key, bool fallback, const std::string& where) const;
  void load_config(const Json& config, const std::string& config_source);
  std::optional<std::int32_t> config_token(const Json& config, const char* key, const std::string& config_source) const;

  // ---- encoding ----
  struct Work {
    std::string normalized, prefixed;
    std::vector<Span> spans, next;
    std::vector<std::int32_t> word;
    MatchState match;
  };
  std::optional<std::int32_t> lookup(std::string_view token) const { return token_ids.find(token); }
  void encode(std::string_view text, bool parse_special, const std::string& source_name,
              std::vector<std::int32_t>& out, const std::vector<Tokenizer::ByteRange>* literal = nullptr) const;
  void encode_segment(std::string_view segment, Work& work, std::vector<std::int32_t>& out,
                      const std::string& source_name) const;
  std::string_view normalize(std::string_view segment, std::string& buffer, const std::string& source_name) const;
  void encode_word(std::string_view bytes, Work& work, std::vector<std::int32_t>& out) const;
};

// ---------------------------------------------------------------------------------------------
// Loading

std::string Tokenizer::Impl::type_of(const Json& object, const std::string& where) const {
  if (!object.is_object()) fail("{}: {} must be an object", source, where);
  const Json* type = member(object, "type");
  if (type == nullptr || !type->is_string()) fail("{}: {} has no string 'type'", source, where);
  return type->get<std::string>();
}

bool Tokenizer::Impl::flag(const Json& object, const char* key, bool fallback, const std::string& where) const {
  const Json* value = member(object, key);
  if (value == nullptr) return fallback;
  if (!value->is_boolean()) fail("{}: {}.{} must be true or false", source, where, key);
  return value->get<bool>();
}

void Tokenizer::Impl::parse_normalizer(const Json* normalizer, const std::string& where, int depth) {
  if (normalizer == nullptr) return;
  if (depth > kMaxSequenceDepth)
    fail("{}: normalizer Sequences nested more than {} deep", source, kMaxSequenceDepth);
  const std::string type = type_of(*normalizer, where);
  if (type == "NFC") {
    nfc = true;
  } else if (type == "Sequence") {
    const Json* list = member(*normalizer, "normalizers");
    if (list == nullptr || !list->is_array()) fail("{}: {}.normalizers must be an array", source, where);
    for (std::size_t i = 0; i < list->size(); ++i) {
      parse_normalizer(&(*list)[i], fmt::format("{}.normalizers[{}]", where, i), depth + 1);
    }
  } else {
    fail("{}: unsupported normalizer type '{}' in {} (supported: NFC, Sequence)", source, printable(type), where);
  }
}

void Tokenizer::Impl::parse_pre_tokenizer(const Json* pre_tokenizer, const std::string& where, int depth) {
  if (pre_tokenizer == nullptr) return;
  if (depth > kMaxSequenceDepth)
    fail("{}: pre_tokenizer Sequences nested more than {} deep", source, kMaxSequenceDepth);
  const std::string type = type_of(*pre_tokenizer, where);
  if (type == "Sequence") {
    const Json* list = member(*pre_tokenizer, "pretokenizers");
    if (list == nullptr || !list->is_array()) fail("{}: {}.pretokenizers must be an array", source, where);
    for (std::size_t i = 0; i < list->size(); ++i) {
      parse_pre_tokenizer(&(*list)[i], fmt::format("{}.pretokenizers[{}]", where, i), depth + 1);
    }
    return;
  }
  PreTokenizerStep step;
  if (type == "Split") {
    // ByteLevel maps bytes to its alphabet, so a Split after it would see different text.
    if (has_byte_level) fail("{}: {}: Split after ByteLevel is not supported", source, where);
    const Json* pattern = member(*pre_tokenizer, "pattern");
    if (pattern == nullptr || !pattern->is_object()) fail("{}: {}.pattern must be an object", source, where);
    const Json* regex = member(*pattern, "Regex");
    const Json* literal = member(*pattern, "String");
    const Json* text = regex != nullptr ? regex : literal;
    if (text == nullptr || !text->is_string()) {
      fail("{}: {}.pattern must hold a string 'Regex' or 'String'", source, where);
    }
    const Json* behavior = member(*pre_tokenizer, "behavior");
    const std::string behavior_name = behavior != nullptr && behavior->is_string() ? behavior->get<std::string>() : "";
    if (behavior_name == "Isolated") {
      step.keep_matches = true;
    } else if (behavior_name == "Removed") {
      step.keep_matches = false;
    } else {
      fail("{}: {}: unsupported Split behavior '{}' (supported: Isolated, Removed)", source, where,
           printable(behavior_name));
    }
    if (flag(*pre_tokenizer, "invert", false, where)) fail("{}: {}: Split with invert true is not supported", source, where);
    step.kind = PreTokenizerStep::Kind::Split;
    step.regex = std::make_unique<Regex>(text->get<std::string>(), regex == nullptr,
                                         fmt::format("{}: {}.pattern", source, where));
  } else if (type == "ByteLevel") {
    if (has_byte_level) fail("{}: {}: more than one ByteLevel pre-tokenizer", source, where);
    has_byte_level = true;
    step.kind = PreTokenizerStep::Kind::ByteLevel;
    // Defaults as in Hugging Face tokenizers.
    step.add_prefix_space = flag(*pre_tokenizer, "add_prefix_space", true, where);
    if (flag(*pre_tokenizer, "use_regex", true, where)) {
      step.regex = std::make_unique<Regex>(kGpt2Pattern, false, fmt::format("{}: {}", source, where));
    }
  } else {
    fail("{}: unsupported pre_tokenizer type '{}' in {} (supported: Split, ByteLevel, Sequence)", source,
         printable(type), where);
  }
  steps.push_back(std::move(step));
}

void Tokenizer::Impl::resize_vocabulary(std::size_t size) {
  tokens.resize(size);
  token_bytes.resize(size);
  present.resize(size, 0);
  special.resize(size, 0);
}

void Tokenizer::Impl::set_token(std::int32_t id, const std::string& token, std::string bytes) {
  if (static_cast<std::size_t>(id) >= tokens.size()) resize_vocabulary(static_cast<std::size_t>(id) + 1);
  tokens[id] = token;
  token_bytes[id] = std::move(bytes);
  present[id] = 1;
}

void Tokenizer::Impl::parse_model(const Json& model) {
  if (!model.is_object()) fail("{}: 'model' must be an object", source);
  if (const Json* type = member(model, "type")) {
    if (!type->is_string()) fail("{}: model.type must be a string", source);
    if (type->get<std::string>() != "BPE") {
      fail("{}: unsupported model type '{}' (only BPE is supported)", source, printable(type->get<std::string>()));
    }
  } else if (member(model, "merges") == nullptr) {
    fail("{}: model has no 'type' and no 'merges' (only BPE is supported)", source);
  }

  if (const Json* dropout = member(model, "dropout")) {
    if (!dropout->is_number() || dropout->get<double>() != 0.0) fail("{}: model.dropout is not supported", source);
  }
  if (flag(model, "byte_fallback", false, "model")) fail("{}: model.byte_fallback is not supported", source);
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    const Json* value = member(model, key);
    if (value != nullptr && !(value->is_string() && value->get_ref<const std::string&>().empty())) {
      fail("{}: model.{} is not supported (must be empty or null)", source, key);
    }
  }
  ignore_merges = flag(model, "ignore_merges", false, "model");
  fuse_unk = flag(model, "fuse_unk", false, "model");

  // Vocabulary.
  const Json* vocab = member(model, "vocab");
  if (vocab == nullptr) fail("{}: missing key 'model.vocab'", source);
  if (!vocab->is_object()) fail("{}: model.vocab must be an object of token -> id", source);
  const ByteAlphabet& alphabet = byte_alphabet();
  std::int64_t max_id = -1;
  for (auto it = vocab->begin(); it != vocab->end(); ++it) {
    const Json& value = it.value();
    if (!value.is_number_integer() || value.get<std::int64_t>() < 0 || value.get<std::int64_t>() > kMaxTokenId) {
      fail("{}: model.vocab['{}'] must be an integer id in [0, {}]", source, printable(it.key()), kMaxTokenId);
    }
    max_id = std::max(max_id, value.get<std::int64_t>());
  }
  resize_vocabulary(static_cast<std::size_t>(max_id + 1));
  token_ids.reserve(vocab->size() + 1024);
  if (ignore_merges) byte_word_ids.reserve(vocab->size());
  for (auto it = vocab->begin(); it != vocab->end(); ++it) {
    const auto id = static_cast<std::int32_t>(it.value().get<std::int64_t>());
    if (static_cast<std::size_t>(id) < present.size() && present[id]) {
      fail("{}: model.vocab: id {} is used by both '{}' and '{}'", source, id, printable(tokens[id]),
           printable(it.key()));
    }
    std::optional<std::string> bytes = alphabet.decode(it.key());
    // A token outside the byte alphabet cannot come out of BPE here; it decodes to its own text,
    // as in Hugging Face's ByteLevel decoder.
    set_token(id, it.key(), bytes ? std::move(*bytes) : it.key());
    token_ids.insert(id);
    if (ignore_merges && bytes) byte_word_ids.insert(id);
  }
  for (int b = 0; b < 256; ++b) {
    std::string character;
    utf8::append(character, alphabet.byte_to_char[b]);
    byte_ids[b] = lookup(character).value_or(-1);
  }

  if (const Json* unk = member(model, "unk_token")) {
    if (!unk->is_string()) fail("{}: model.unk_token must be a string or null", source);
    unk_id = lookup(unk->get_ref<const std::string&>());
    if (!unk_id) fail("{}: model.unk_token '{}' is not in model.vocab", source, printable(unk->get<std::string>()));
  }

  // Merges: "a b" strings (older files) or ["a", "b"] pairs; rank = position in the list.
  const Json* merge_list = member(model, "merges");
  if (merge_list == nullptr) return;
  if (!merge_list->is_array()) fail("{}: model.merges must be an array", source);
  if (merge_list->size() > static_cast<std::size_t>(BpeMerges::kNoMerge - 1)) fail("{}: too many merges", source);
  std::string merged;
  for (std::size_t i = 0; i < merge_list->size(); ++i) {
    const Json& entry = (*merge_list)[i];
    std::string_view left, right;
    if (entry.is_string()) {
      const std::string& text = entry.get_ref<const std::string&>();
      const std::size_t space = text.find(' ');
      if (space == std::string::npos || text.find(' ', space + 1) != std::string::npos) {
        fail("{}: model.merges[{}] must be two tokens separated by one space, got '{}'", source, i, printable(text));
      }
      left = std::string_view(text).substr(0, space);
      right = std::string_view(text).substr(space + 1);
    } else if (entry.is_array() && entry.size() == 2 && entry[0].is_string() && entry[1].is_string()) {
      left = entry[0].get_ref<const std::string&>();
      right = entry[1].get_ref<const std::string&>();
    } else {
      fail("{}: model.merges[{}] must be a string \"a b\" or a pair [\"a\", \"b\"]", source, i);
    }
    const auto left_id = lookup(left), right_id = lookup(right);
    if (!left_id) fail("{}: model.merges[{}] refers to unknown token '{}'", source, i, printable(left));
    if (!right_id) fail("{}: model.merges[{}] refers to unknown token '{}'", source, i, printable(right));
    merged.assign(left);
    merged.append(right);
    const auto merged_id = lookup(merged);
    if (!merged_id) fail("{}: model.merges[{}]: merged token '{}' is not in model.vocab", source, i, printable(merged));
    merges.add(*left_id, *right_id, static_cast<std::int32_t>(i), *merged_id);
  }
}

void Tokenizer::Impl::parse_added_tokens(const Json* list) {
  if (list == nullptr) return;
  if (!list->is_array()) fail("{}: added_tokens must be an array", source);
  for (std::size_t i = 0; i < list->size(); ++i) {
    const Json& entry = (*list)[i];
    const std::string where = fmt::format("added_tokens[{}]", i);
    if (!entry.is_object()) fail("{}: {} must be an object", source, where);
    const Json* id = member(entry, "id");
    const Json* content = member(entry, "content");
    if (id == nullptr || !id->is_number_integer() || id->get<std::int64_t>() < 0 || id->get<std::int64_t>() > kMaxTokenId) {
      fail("{}: {}.id must be an integer id in [0, {}]", source, where, kMaxTokenId);
    }
    if (content == nullptr || !content->is_string() || content->get_ref<const std::string&>().empty()) {
      fail("{}: {}.content must be a non-empty string", source, where);
    }
    AddedToken token;
    token.id = static_cast<std::int32_t>(id->get<std::int64_t>());
    token.content = content->get<std::string>();
    token.special = flag(entry, "special", false, where);
    token.lstrip = flag(entry, "lstrip", false, where);
    token.rstrip = flag(entry, "rstrip", false, where);
    token.single_word = flag(entry, "single_word", false, where);
    // Added tokens decode to their own text (Qwen's and Llama's are plain ASCII either way).
    set_token(token.id, token.content, token.content);
    special[token.id] = token.special ? 1 : 0;
    token_ids.insert(token.id);
    added.push_back(std::move(token));
  }
  for (std::uint32_t i = 0; i < added.size(); ++i) {
    added_by_first_byte[static_cast<unsigned char>(added[i].content[0])].push_back(i);
  }
  for (auto& bucket : added_by_first_byte) {
    std::stable_sort(bucket.begin(), bucket.end(), [&](std::uint32_t a, std::uint32_t b) {
      return added[a].content.size() > added[b].content.size();
    });
  }
}

void Tokenizer::Impl::parse_decoder(const Json* decoder) {
  if (decoder == nullptr) return;
  const std::string type = type_of(*decoder, "decoder");
  if (type != "ByteLevel") fail("{}: unsupported decoder type '{}' (supported: ByteLevel)", source, printable(type));
}

void Tokenizer::Impl::load(const Json& root) {
  if (!root.is_object()) fail("{}: expected a JSON object at the top level", source);
  const Json* model = member(root, "model");
  if (model == nullptr) fail("{}: missing key 'model'", source);
  parse_normalizer(member(root, "normalizer"), "normalizer");
  parse_pre_tokenizer(member(root, "pre_tokenizer"), "pre_tokenizer");
  if (!has_byte_level) fail("{}: pre_tokenizer has no ByteLevel step (only byte-level BPE is supported)", source);
  parse_model(*model);
  parse_added_tokens(member(root, "added_tokens"));
  parse_decoder(member(root, "decoder"));
  if (tokens.empty()) fail("{}: the vocabulary is empty", source);
}

std::optional<std::int32_t> Tokenizer::Impl::config_token(const Json& config, const char* key,
                                                          const std::string& config_source) const {
  const Json* value = member(config, key);
  if (value == nullptr) return std::nullopt;
  std::string content;
  if (value->is_string()) {
    content = value->get<std::string>();
  } else if (value->is_object() && member(*value, "content") != nullptr && (*value)["content"].is_string()) {
    content = (*value)["content"].get<std::string>();
  } else {
    fail("{}: '{}' must be a string, an object with a string 'content', or null", config_source, key);
  }
  auto id = lookup(content);
  if (!id) fail("{}: {} '{}' is not a token of the tokenizer", config_source, key, printable(content));
  return id;
}

void Tokenizer::Impl::load_config(const Json& config, const std::string& config_source) {
  if (!config.is_object()) fail("{}: expected a JSON object at the top level", config_source);
  eos = config_token(config, "eos_token", config_source);
  pad = config_token(config, "pad_token", config_source);
  bos = config_token(config, "bos_token", config_source);
}

Tokenizer Tokenizer::from_file(const std::filesystem::path& tokenizer_json,
                               const std::optional<std::filesystem::path>& tokenizer_config_json) {
  auto impl = std::make_shared<Impl>();
  impl->source = tokenizer_json.string();
  impl->load(read_json_file(tokenizer_json));
  if (tokenizer_config_json) impl->load_config(read_json_file(*tokenizer_config_json), tokenizer_config_json->string());
  return Tokenizer(std::move(impl));
}

Tokenizer Tokenizer::from_dir(const std::filesystem::path& model_dir) {
  const auto config = model_dir / "tokenizer_config.json";
  std::optional<std::filesystem::path> config_path;
  if (std::filesystem::exists(config)) config_path = config;
  return from_file(model_dir / "tokenizer.json", config_path);
}

// ---------------------------------------------------------------------------------------------
// Encoding

std::vector<std::int32_t> Tokenizer::encode(std::string_view text, bool parse_special, const std::string& source) const {
  if (auto bad = utf8::find_invalid(text)) fail("{}: invalid UTF-8 at byte {}", source, *bad);
  std::vector<std::int32_t> ids;
  impl_->encode(text, parse_special, source, ids);
  return ids;
}

std::vector<std::int32_t> Tokenizer::encode_with_literal_ranges(std::string_view text, const std::vector<ByteRange>& literal,
                                                                const std::string& source) const {
  if (auto bad = utf8::find_invalid(text)) fail("{}: invalid UTF-8 at byte {}", source, *bad);
  std::vector<std::int32_t> ids;
  impl_->encode(text, true, source, ids, &literal);
  return ids;
}

void Tokenizer::Impl::encode(std::string_view text, bool parse_special, const std::string& source_name,
                             std::vector<std::int32_t>& out, const std::vector<Tokenizer::ByteRange>* literal) const {
  // Whether [begin, end) overlaps a literal range (few ranges: a linear scan).
  auto in_literal = [literal](std::size_t begin, std::size_t end) {
    if (literal == nullptr) return false;
    for (const auto& [lo, hi] : *literal)
      if (begin < hi && lo < end) return true;
    return false;
  };
  out.reserve(text.size() / 3 + 8);
  Work work;
  std::size_t segment_start = 0, pos = 0;
  const std::size_t n = text.size();
  while (!added.empty() && pos < n) {
    const auto& bucket = added_by_first_byte[static_cast<unsigned char>(text[pos])];
    if (bucket.empty()) {
      ++pos;
      continue;
    }
    const AddedToken* hit = nullptr;
    for (std::uint32_t index : bucket) {
      const AddedToken& token = added[index];
      if (token.special && !parse_special) continue;
      if (text.compare(pos, token.content.size(), token.content) != 0) continue;
      if (token.special && in_literal(pos, pos + token.content.size())) continue;
      if (token.single_word) {
        std::size_t length = 0;
        const std::size_t end = pos + token.content.size();
        if (pos > 0 && is_word_character(utf8::decode_before(text, pos, length))) continue;
        if (end < n && is_word_character(utf8::decode_at(text, end, length))) continue;
      }
      hit = &token;
      break;
    }
    if (hit == nullptr) {
      ++pos;
      continue;
    }
    std::size_t start = pos, end = pos + hit->content.size();
    std::size_t length = 0;
    if (hit->lstrip) {
      while (start > segment_start && utf8::is_whitespace(utf8::decode_before(text, start, length))) start -= length;
    }
    if (hit->rstrip) {
      while (end < n && utf8::is_whitespace(utf8::decode_at(text, end, length))) end += length;
    }
    encode_segment(text.substr(segment_start, start - segment_start), work, out, source_name);
    out.push_back(hit->id);
    segment_start = pos = end;
  }
  encode_segment(text.substr(segment_start), work, out, source_name);
}

// NFC of `segment`. A position just before an ASCII character is always an NFC boundary (ASCII
// characters are starters that never combine with what precedes them), so only the stretches of
// non-ASCII characters, each with the one ASCII character before it (e + U+0301 -> é), go
// through utf8proc; pure ASCII text is returned as is.
std::string_view Tokenizer::Impl::normalize(std::string_view segment, std::string& buffer,
                                            const std::string& source_name) const {
  const auto* bytes = reinterpret_cast<const unsigned char*>(segment.data());
  const std::size_t n = segment.size();
  std::size_t i = 0;
  while (i < n && bytes[i] < 0x80) ++i;
  if (i == n) return segment;
  buffer.clear();
  buffer.reserve(n + 16);
  std::size_t copied = 0;  // segment[0, copied) is in buffer
  while (i < n) {
    // bytes[i] starts a non-ASCII character; the stretch runs to the next ASCII byte.
    const std::size_t chunk_begin = i > copied ? i - 1 : i;
    std::size_t chunk_end = i;
    while (chunk_end < n && bytes[chunk_end] >= 0x80) ++chunk_end;
    buffer.append(segment.substr(copied, chunk_begin - copied));
    utf8proc_uint8_t* composed = nullptr;
    const utf8proc_ssize_t length = utf8proc_map(bytes + chunk_begin, static_cast<utf8proc_ssize_t>(chunk_end - chunk_begin),
                                                 &composed, static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
    if (length < 0) {
      std::free(composed);
      fail("{}: NFC normalisation failed ({})", source_name, utf8proc_errmsg(length));
    }
    buffer.append(reinterpret_cast<const char*>(composed), static_cast<std::size_t>(length));
    std::free(composed);
    copied = chunk_end;
    i = chunk_end;
    while (i < n && bytes[i] < 0x80) ++i;
  }
  buffer.append(segment.substr(copied));
  return buffer;
}

void Tokenizer::Impl::encode_segment(std::string_view segment, Work& work, std::vector<std::int32_t>& out,
                                     const std::string& source_name) const {
  if (segment.empty()) return;
  std::string_view base = nfc ? normalize(segment, work.normalized, source_name) : segment;
  auto& spans = work.spans;
  auto& next = work.next;
  spans.assign(1, Span{0, base.size()});
  for (const PreTokenizerStep& step : steps) {
    if (step.kind == PreTokenizerStep::Kind::ByteLevel && step.add_prefix_space) {
      // Each piece that does not start with a space gets one (Hugging Face applies this per split).
      work.prefixed.clear();
      next.clear();
      for (const Span& span : spans) {
        const std::size_t begin = work.prefixed.size();
        if (base[span.begin] != ' ') work.prefixed.push_back(' ');
        work.prefixed.append(base.substr(span.begin, span.length));
        next.push_back({begin, work.prefixed.size() - begin});
      }
      base = work.prefixed;
      spans.swap(next);
    }
    if (step.regex) {
      next.clear();
      for (const Span& span : spans) regex_split(*step.regex, base, span, step.keep_matches, work.match, next, source_name);
      spans.swap(next);
    }
  }
  for (const Span& span : spans) encode_word(base.substr(span.begin, span.length), work, out);
}

void Tokenizer::Impl::encode_word(std::string_view bytes, Work& work, std::vector<std::int32_t>& out) const {
  if (bytes.size() == 1 && byte_ids[static_cast<unsigned char>(bytes[0])] >= 0) {
    out.push_back(byte_ids[static_cast<unsigned char>(bytes[0])]);
    return;
  }
  if (ignore_merges) {  // Llama 3: a pre-token that is a whole vocabulary entry is used as is
    if (auto id = byte_word_ids.find(bytes)) {
      out.push_back(*id);
      return;
    }
  }
  const bool cacheable = bytes.size() <= kMaxCachedWordBytes;
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mutex);
    auto it = cache.find(bytes);
    if (it != cache.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  auto& word = work.word;
  word.clear();
  bool previous_unknown = false;
  for (char c : bytes) {
    std::int32_t id = byte_ids[static_cast<unsigned char>(c)];
    if (id < 0) {
      // A byte whose character is missing from the vocabulary: the unknown token, else dropped
      // (what Hugging Face does; real byte-level vocabularies have all 256).
      if (!unk_id || (fuse_unk && previous_unknown)) continue;
      id = *unk_id;
      previous_unknown = true;
    } else {
      previous_unknown = false;
    }
    word.push_back(id);
  }
  merges.merge(word);
  out.insert(out.end(), word.begin(), word.end());
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mutex);
    if (cache.size() >= kMaxCachedWords) cache.clear();
    cache.emplace(std::string(bytes), word);
  }
}

// ---------------------------------------------------------------------------------------------
// Decoding and lookups

std::string Tokenizer::decode(const std::vector<std::int32_t>& ids, bool skip_special) const {
  const Impl& impl = *impl_;
  std::string text;
  text.reserve(ids.size() * 4);
  for (std::int32_t id : ids) {
    if (id < 0 || static_cast<std::size_t>(id) >= impl.tokens.size() || !impl.present[id]) {
      fail("decode: unknown token id {} (vocabulary size {})", id, impl.tokens.size());
    }
    if (skip_special && impl.special[id]) continue;
    text += impl.token_bytes[id];
  }
  return text;
}

std::string Tokenizer::id_to_token(std::int32_t id) const {
  const Impl& impl = *impl_;
  if (id < 0 || static_cast<std::size_t>(id) >= impl.tokens.size() || !impl.present[id]) {
    fail("id_to_token: unknown token id {} (vocabulary size {})", id, impl.tokens.size());
  }
  return impl.tokens[id];
}

std::optional<std::int32_t> Tokenizer::token_to_id(const std::string& token) const { return impl_->lookup(token); }

bool Tokenizer::has_id(std::int32_t id) const {
  return id >= 0 && static_cast<std::size_t>(id) < impl_->present.size() && impl_->present[id] != 0;
}

const std::string& Tokenizer::source() const { return impl_->source; }

std::int32_t Tokenizer::vocab_size() const { return static_cast<std::int32_t>(impl_->tokens.size()); }

bool Tokenizer::is_special(std::int32_t id) const {
  return id >= 0 && static_cast<std::size_t>(id) < impl_->special.size() && impl_->special[id] != 0;
}

std::optional<std::int32_t> Tokenizer::eos_token_id() const { return impl_->eos; }
std::optional<std::int32_t> Tokenizer::pad_token_id() const { return impl_->pad; }
std::optional<std::int32_t> Tokenizer::bos_token_id() const { return impl_->bos; }

}  // namespace illume
