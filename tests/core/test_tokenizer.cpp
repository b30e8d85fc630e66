#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "common.h"
#include "illume/text/bpe.h"
#include "illume/text/tokenizer.h"
#include "illume/text/utf8.h"
#include "illume/util/error.h"
#include "illume/util/file.h"
#include "illume/util/json.h"

using namespace illume;

namespace {

// The real Qwen3 tokenizer, loaded once (11 MB of JSON; slow under the sanitizers).
const Tokenizer& qwen3() {
  static const Tokenizer tokenizer = Tokenizer::from_dir(test::shared_path("tokenizer"));
  return tokenizer;
}

std::string join_ids(const std::vector<std::int32_t>& ids) {
  std::string out;
  for (std::size_t i = 0; i < ids.size(); ++i) out += (i ? " " : "") + std::to_string(ids[i]);
  return out;
}

// GPT-2 bytes_to_unicode, written out independently of the library: the character for byte b.
std::string byte_char(int b) {
  int shifted = 256;
  for (int x = 0; x < 256; ++x) {
    const bool printable = (x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255);
    const int code_point = printable ? x : shifted++;
    if (x == b) {
      std::string s;
      utf8::append(s, static_cast<char32_t>(code_point));
      return s;
    }
  }
  return {};
}

// A tiny byte-level BPE tokenizer.json: ids 0..255 are the 256 byte characters in byte order,
// then `extra` tokens from 256 on.
Json tiny_tokenizer(const std::vector<std::string>& extra, const Json& merges) {
  Json vocab = Json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_char(b)] = b;
  int id = 256;
  for (const auto& token : extra) vocab[token] = id++;
  return Json{{"version", "1.0"},
              {"truncation", nullptr},
              {"padding", nullptr},
              {"added_tokens", Json::array()},
              {"normalizer", nullptr},
              {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}}},
              {"post_processor", nullptr},
              {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}}},
              {"model",
               {{"type", "BPE"},
                {"dropout", nullptr},
                {"unk_token", nullptr},
                {"continuing_subword_prefix", ""},
                {"end_of_word_suffix", ""},
                {"fuse_unk", false},
                {"byte_fallback", false},
                {"ignore_merges", false},
                {"vocab", vocab},
                {"merges", merges}}}};
}

std::filesystem::path write_tokenizer(const std::string& text, const std::string& name = "tokenizer.json") {
  auto path = test::scratch_dir() / name;
  write_file_atomic(path, text);
  return path;
}

Tokenizer load_tiny(const Json& json) { return Tokenizer::from_file(write_tokenizer(json.dump())); }

// Ids of the given tokens, looked up by their tokenizer.json spelling.
std::vector<std::int32_t> ids_of(const Tokenizer& tokenizer, const std::vector<std::string>& tokens) {
  std::vector<std::int32_t> ids;
  for (const auto& token : tokens) {
    auto id = tokenizer.token_to_id(token);
    EXPECT_TRUE(id.has_value()) << token;
    ids.push_back(id.value_or(-1));
  }
  return ids;
}

// Loading `text` as tokenizer.json must fail with a one-line message that starts with the
// file's path and contains `expected`.
void expect_load_error(const std::string& text, const std::string& expected) {
  auto path = write_tokenizer(text);
  try {
    Tokenizer::from_file(path);
    ADD_FAILURE() << "expected an error containing: " << expected;
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.rfind(path.string() + ": ", 0), 0u) << message;
    EXPECT_NE(message.find(expected), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
}

const Json kHelloMerges = Json::array({"h e", "he l", "hel l", "hell o", "Ġ hello"});
const std::vector<std::string> kHelloTokens = {"he", "hel", "hell", "hello", "Ġhello"};

}  // namespace

// ---------------------------------------------------------------------------------------------
// The real Qwen3 tokenizer

TEST(Qwen3Tokenizer, LoadsVocabularyAndConfig) {
  ILLUME_REQUIRE_SHARED_PATH("tokenizer/tokenizer.json");
  const Tokenizer& tok = qwen3();
  EXPECT_EQ(tok.vocab_size(), 151669);
  EXPECT_EQ(tok.eos_token_id(), 151645);  // <|im_end|>
  EXPECT_EQ(tok.pad_token_id(), 151643);  // <|endoftext|>
  EXPECT_EQ(tok.bos_token_id(), std::nullopt);
  EXPECT_EQ(tok.token_to_id("<|im_start|>"), 151644);
  EXPECT_EQ(tok.token_to_id("<think>"), 151667);
  EXPECT_EQ(tok.token_to_id("Hello"), 9707);
  EXPECT_EQ(tok.token_to_id("no such token"), std::nullopt);
  EXPECT_EQ(tok.id_to_token(21927), "ĠHello");
  EXPECT_EQ(tok.id_to_token(151645), "<|im_end|>");
  EXPECT_TRUE(tok.is_special(151644));
  EXPECT_FALSE(tok.is_special(151667));  // <think> is an added token but not special
  EXPECT_FALSE(tok.is_special(9707));
  EXPECT_FALSE(tok.is_special(-1));
  EXPECT_FALSE(tok.is_special(10'000'000));
}

// llama.cpp's test-tokenizer-0 vectors for Qwen2 (same vocabulary and pre-tokenizer as Qwen3).
// The .inp cases are separated by "\n__ggml_vocab_test__\n" (so a case keeps its own leading and
// inner newlines, and the file ends with the separator); .out has one line of ids per case.
// llama.cpp tokenises them with add_special = false and parse_special = false; no case contains
// an added token, so parse_special does not matter here, and we use false as llama.cpp does.
TEST(Qwen3Tokenizer, LlamaCppVectorsExact) {
  ILLUME_REQUIRE_SHARED_PATH("tokenizer/llama.cpp-vectors/ggml-vocab-qwen2.gguf.inp");
  const std::string inputs = read_file(test::shared_path("tokenizer/llama.cpp-vectors/ggml-vocab-qwen2.gguf.inp"));
  const std::string outputs = read_file(test::shared_path("tokenizer/llama.cpp-vectors/ggml-vocab-qwen2.gguf.out"));
  const std::string separator = "\n__ggml_vocab_test__\n";
  std::vector<std::string> cases;
  for (std::size_t pos = 0; pos < inputs.size();) {
    const std::size_t next = inputs.find(separator, pos);
    if (next == std::string::npos) {
      cases.push_back(inputs.substr(pos));
      break;
    }
    cases.push_back(inputs.substr(pos, next - pos));
    pos = next + separator.size();
  }
  std::vector<std::vector<std::int32_t>> expected;
  std::istringstream lines(outputs);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream fields(line);
    std::vector<std::int32_t> ids;
    for (std::int32_t id; fields >> id;) ids.push_back(id);
    expected.push_back(ids);
  }
  ASSERT_EQ(cases.size(), 46u);
  ASSERT_EQ(expected.size(), cases.size());
  EXPECT_EQ(cases[2], "");
  EXPECT_EQ(cases[7], "\n");
  EXPECT_EQ(cases[8], "\n\n");

  int exact = 0;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const auto ids = qwen3().encode(cases[i], /*parse_special=*/false);
    EXPECT_EQ(join_ids(ids), join_ids(expected[i])) << "case " << i << ": '" << cases[i] << "'";
    if (ids == expected[i]) ++exact;
    EXPECT_EQ(qwen3().decode(ids), cases[i]) << "case " << i;
    // No case holds an added token, so special-token parsing changes nothing.
    EXPECT_EQ(qwen3().encode(cases[i], /*parse_special=*/true), ids) << "case " << i;
  }
  EXPECT_EQ(exact, 46);
}

// Ids from the Hugging Face tokenizer (transformers.js port) without special-token insertion;
// rows with <|im_start|> need special-token parsing.
TEST(Qwen3Tokenizer, Qwen3VectorsExact) {
  ILLUME_REQUIRE_SHARED_PATH("tokenizer/qwen3_vectors.jsonl");
  const auto rows = read_jsonl_file(test::shared_path("tokenizer/qwen3_vectors.jsonl"));
  ASSERT_EQ(rows.size(), 430u);
  std::size_t exact = 0;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const std::string text = rows[i]["text"].get<std::string>();
    const auto expected = rows[i]["ids"].get<std::vector<std::int32_t>>();
    const auto ids = qwen3().encode(text, /*parse_special=*/true, "qwen3_vectors.jsonl row " + std::to_string(i));
    EXPECT_EQ(join_ids(ids), join_ids(expected)) << "row " << i << " (" << rows[i]["source"] << "): " << text;
    if (ids == expected) ++exact;
  }
  EXPECT_EQ(exact, rows.size());
}

TEST(Qwen3Tokenizer, DecodeRoundTripsVectorTexts) {
  ILLUME_REQUIRE_SHARED_PATH("tokenizer/qwen3_vectors.jsonl");
  for (const auto& row : read_jsonl_file(test::shared_path("tokenizer/qwen3_vectors.jsonl"))) {
    const std::string text = row["text"].get<std::string>();
    if (text.find("combining") != std::string::npos) continue;  // NFC changes this text on purpose
    EXPECT_EQ(qwen3().decode(row["ids"].get<std::vector<std::int32_t>>()), text);
  }
}

TEST(Qwen3Tokenizer, NfcNormalisesBeforeBpe) {
  ILLUME_REQUIRE_SHARED_PATH("tokenizer/tokenizer.json");
  // e + COMBINING ACUTE ACCENT and the precomposed é; ANGSTROM SIGN and Å.
  EXPECT_EQ(qwen3().encode("caf\x65\xcc\x81 au lait"), qwen3().encode("caf\xc3\xa9 au lait"));
  EXPECT_EQ(qwen3().encode("\xe2\x84\xab"), qwen3().encode("\xc3\x85"));
  EXPECT_EQ(qwen3().decode(qwen3().encode("\xe2\x84\xab")), "\xc3\x85");
}

TEST(Qwen3Tokenizer, SpecialTokensParsedOnlyWhenAsked) {
  ILLUME_REQUIRE_SHARED_PATH("tokenizer/tokenizer.json");
  const Tokenizer& tok = qwen3();
  const std::string text = "<|im_start|>user\nHi<|im_end|>";
  const auto parsed = tok.encode(text);
  EXPECT_EQ(join_ids(parsed), join_ids({151644, 872, 198, 13048, 151645}));
  const auto plain = tok.encode(text, /*parse_special=*/false);
  EXPECT_GT(plain.size(), parsed.size());
  for (auto id : plain) EXPECT_FALSE(tok.is_special(id)) << id;
  EXPECT_EQ(tok.decode(plain), text);
  EXPECT_EQ(tok.decode(parsed), text);
  EXPECT_EQ(tok.decode(parsed, /*skip_special=*/true), "user\nHi");
  // Non-special added tokens (<think>) are matched either way, as in HF and llama.cpp.
  EXPECT_EQ(tok.encode("<think>x</think>", false), tok.encode("<think>x</think>", true));
  EXPECT_EQ(tok.encode("<think>", false), std::vector<std::int32_t>{151667});
  // Adjacent added tokens and text right after them.
  EXPECT_EQ(join_ids(tok.encode("<|im_end|><|im_start|><think>\n")), join_ids({151645, 151644, 151667, 198}));
}

TEST(Qwen3Tokenizer, DecodePrefixMayEndInsideACharacter) {
  ILLUME_REQUIRE_SHARED_PATH("tokenizer/tokenizer.json");
  const std::string text = "日本語のテキスト 🦙🚀 done";
  const auto ids = qwen3().encode(text);
  std::string joined;
  for (std::size_t n = 0; n <= ids.size(); ++n) {
    const std::string prefix = qwen3().decode(std::vector<std::int32_t>(ids.begin(), ids.begin() + n));
    EXPECT_EQ(text.compare(0, prefix.size(), prefix), 0) << n;
    if (n == ids.size()) EXPECT_EQ(prefix, text);
  }
  // Token by token, the pieces concatenate to the text (some pieces are partial characters).
  for (auto id : ids) joined += qwen3().decode({id});
  EXPECT_EQ(joined, text);
}

TEST(Qwen3Tokenizer, InvalidUtf8NamesSourceAndByte) {
  ILLUME_REQUIRE_SHARED_PATH("tokenizer/tokenizer.json");
  const std::vector<std::pair<std::string, std::size_t>> cases = {
      {"abc\xff", 3},                 // never valid
      {"ok \xc3", 3},                 // truncated 2-byte sequence
      {"\xe6\x97", 0},                // truncated 3-byte sequence
      {"x\xc0\x80", 1},               // overlong NUL
      {"ab\xed\xa0\x80", 2},          // UTF-16 surrogate
      {"\xf4\x90\x80\x80", 0},        // above U+10FFFF
      {"fine é then \x80", 13},       // stray continuation byte
      {std::string(100, 'a') + "\xfe", 100},
  };
  for (const auto& [text, byte] : cases) {
    try {
      qwen3().encode(text, true, "prompts.jsonl:7");
      ADD_FAILURE() << "expected an error for byte " << byte;
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()), "prompts.jsonl:7: invalid UTF-8 at byte " + std::to_string(byte));
    }
  }
  try {
    qwen3().encode("\xff");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "text: invalid UTF-8 at byte 0");
  }
}

TEST(Qwen3Tokenizer, UnknownIdsFail) {
  ILLUME_REQUIRE_SHARED_PATH("tokenizer/tokenizer.json");
  for (std::int32_t id : {-1, 151669, 1'000'000}) {
    try {
      qwen3().decode({9707, id});
      ADD_FAILURE() << id;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("decode: unknown token id " + std::to_string(id)), std::string::npos)
          << e.what();
    }
    EXPECT_THROW(qwen3().id_to_token(id), Error);
  }
}

TEST(Qwen3Tokenizer, RoundTripsRandomText) {
  ILLUME_REQUIRE_SHARED_PATH("tokenizer/tokenizer.json");
  // Characters that NFC leaves alone, so decode(encode(x)) == x must hold exactly.
  const std::vector<std::pair<char32_t, char32_t>> ranges = {
      {0x20, 0x7E}, {0x09, 0x0A}, {0x0410, 0x044F}, {0x4E00, 0x9FFF}, {0x1F600, 0x1F64F}, {0x3000, 0x3000}, {0xA0, 0xA0}};
  std::mt19937 rng(1234);
  for (int round = 0; round < 200; ++round) {
    std::string text;
    const int length = std::uniform_int_distribution<int>(0, 60)(rng);
    for (int i = 0; i < length; ++i) {
      const auto& [lo, hi] = ranges[std::uniform_int_distribution<std::size_t>(0, ranges.size() - 1)(rng)];
      utf8::append(text, static_cast<char32_t>(std::uniform_int_distribution<std::uint32_t>(lo, hi)(rng)));
    }
    EXPECT_EQ(qwen3().decode(qwen3().encode(text, false)), text) << text;
  }
}

TEST(Qwen3Tokenizer, LongAndPathologicalInputs) {
  ILLUME_REQUIRE_SHARED_PATH("tokenizer/tokenizer.json");
  std::string letters;
  for (int i = 0; i < 60000; ++i) letters += "abcdefghij"[(i * 7) % 10];
  const std::vector<std::string> texts = {
      letters,                       // one 60 kB pre-token: the heap merge path
      std::string(200000, ' '),      // one long whitespace run (regex lookahead)
      std::string(100000, '\n') + "x",
      std::string(50000, '=') + "3",
      std::string(20000, '\t') + std::string(20000, ' ') + "end",
  };
  for (const auto& text : texts) {
    const auto ids = qwen3().encode(text);
    EXPECT_FALSE(ids.empty());
    EXPECT_EQ(qwen3().decode(ids), text);
  }
}

TEST(Qwen3Tokenizer, ConcurrentEncodesAgree) {
  ILLUME_REQUIRE_SHARED_PATH("tokenizer/qwen3_vectors.jsonl");
  const auto rows = read_jsonl_file(test::shared_path("tokenizer/qwen3_vectors.jsonl"));
  std::vector<std::string> texts;
  for (const auto& row : rows) texts.push_back(row["text"].get<std::string>());
  std::vector<std::vector<std::int32_t>> a(texts.size()), b(texts.size());
  const Tokenizer copy = qwen3();  // copies share the loaded tables
  std::thread first([&] {
    for (std::size_t i = 0; i < texts.size(); ++i) a[i] = qwen3().encode(texts[i]);
  });
  std::thread second([&] {
    for (std::size_t i = texts.size(); i-- > 0;) b[i] = copy.encode(texts[i]);
  });
  first.join();
  second.join();
  for (std::size_t i = 0; i < texts.size(); ++i) {
    EXPECT_EQ(a[i], b[i]) << i;
    EXPECT_EQ(a[i], rows[i]["ids"].get<std::vector<std::int32_t>>()) << i;
  }
}

// ---------------------------------------------------------------------------------------------
// Tiny tokenizers built in a scratch folder

TEST(TinyTokenizer, MergesAsStringsAndAsPairsAgree) {
  Json pairs = Json::array();
  for (const auto& merge : kHelloMerges) {
    const std::string text = merge.get<std::string>();
    const auto space = text.find(' ');
    pairs.push_back(Json::array({text.substr(0, space), text.substr(space + 1)}));
  }
  const Tokenizer strings = load_tiny(tiny_tokenizer(kHelloTokens, kHelloMerges));
  const Tokenizer arrays = load_tiny(tiny_tokenizer(kHelloTokens, pairs));
  for (const Tokenizer* tok : {&strings, &arrays}) {
    EXPECT_EQ(tok->vocab_size(), 256 + 5);
    EXPECT_EQ(tok->encode("hello"), ids_of(*tok, {"hello"}));
    EXPECT_EQ(tok->encode("hello hello"), ids_of(*tok, {"hello", "Ġhello"}));
    EXPECT_EQ(tok->encode("help"), ids_of(*tok, {"hel", "p"}));
    EXPECT_EQ(tok->encode("hhe"), ids_of(*tok, {"h", "he"}));
    EXPECT_EQ(tok->decode(tok->encode("hello, hello!\n")), "hello, hello!\n");
    EXPECT_EQ(tok->id_to_token(tok->encode(" hello")[0]), "Ġhello");
  }
}

TEST(TinyTokenizer, LowestRankMergesFirstLeftmostOnTies) {
  {
    const Tokenizer tok = load_tiny(tiny_tokenizer({"ab", "bc"}, Json::array({"a b", "b c"})));
    EXPECT_EQ(tok.encode("abc"), ids_of(tok, {"ab", "c"}));
  }
  {
    const Tokenizer tok = load_tiny(tiny_tokenizer({"ab", "bc"}, Json::array({"b c", "a b"})));
    EXPECT_EQ(tok.encode("abc"), ids_of(tok, {"a", "bc"}));
  }
  {
    const Tokenizer tok = load_tiny(tiny_tokenizer({"aa", "aaaa"}, Json::array({"a a", "aa aa"})));
    EXPECT_EQ(tok.encode("aaa"), ids_of(tok, {"aa", "a"}));
    EXPECT_EQ(tok.encode("aaaaa"), ids_of(tok, {"aaaa", "a"}));
    EXPECT_EQ(tok.encode("aaaaaa"), ids_of(tok, {"aaaa", "aa"}));
  }
}

TEST(TinyTokenizer, IgnoreMergesUsesWholeVocabularyWords) {
  // "abc" is in the vocabulary but no merge builds it.
  Json json = tiny_tokenizer({"ab", "abc"}, Json::array({"a b"}));
  {
    const Tokenizer tok = load_tiny(json);
    EXPECT_EQ(tok.encode("abc"), ids_of(tok, {"ab", "c"}));
  }
  json["model"]["ignore_merges"] = true;
  const Tokenizer tok = load_tiny(json);
  EXPECT_EQ(tok.encode("abc"), ids_of(tok, {"abc"}));
  EXPECT_EQ(tok.encode("abcd"), ids_of(tok, {"ab", "c", "d"}));  // not whole: merges as usual
  EXPECT_EQ(tok.encode("abc abc"), ids_of(tok, {"abc", "Ġ", "ab", "c"}));
}

// Llama 3's pre-tokenizer: Split with its regex (digits in groups of up to three, case-insensitive
// contractions), then ByteLevel without regex; ignore_merges makes whole-vocabulary pre-tokens
// visible, so the test sees where the regex split.
TEST(TinyTokenizer, Llama3StyleSplitWithIgnoreMerges) {
  Json json = tiny_tokenizer({"123", "45", "'M", "ĠWorld"}, Json::array());
  json["model"]["ignore_merges"] = true;
  json["pre_tokenizer"] = {
      {"type", "Sequence"},
      {"pretokenizers",
       Json::array({{{"type", "Split"},
                     {"pattern",
                      {{"Regex",
                        "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
                        "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}}},
                     {"behavior", "Isolated"},
                     {"invert", false}},
                    {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", false}}})}};
  const Tokenizer tok = load_tiny(json);
  EXPECT_EQ(tok.encode("12345"), ids_of(tok, {"123", "45"}));
  EXPECT_EQ(tok.encode("I'M World"), ids_of(tok, {"I", "'M", "ĠWorld"}));
  EXPECT_EQ(tok.decode(tok.encode("x 1234567 y\r\n\n z")), "x 1234567 y\r\n\n z");
}

TEST(TinyTokenizer, AddedTokensLongestMatchFirst) {
  Json json = tiny_tokenizer(kHelloTokens, kHelloMerges);
  json["added_tokens"] = Json::array({
      {{"id", 300}, {"content", "<s>"}, {"special", true}},
      {{"id", 301}, {"content", "<x>"}, {"special", false}},
      {{"id", 302}, {"content", "<x>y"}, {"special", false}},
      {{"id", 303}, {"content", "[M]"}, {"special", true}, {"lstrip", true}, {"rstrip", true}},
      {{"id", 304}, {"content", "hello world"}, {"special", false}},
  });
  const Tokenizer tok = load_tiny(json);
  EXPECT_EQ(tok.vocab_size(), 305);
  EXPECT_TRUE(tok.is_special(300));
  EXPECT_FALSE(tok.is_special(301));
  EXPECT_FALSE(tok.is_special(280));  // a hole in the id space
  EXPECT_EQ(tok.token_to_id("<x>y"), 302);

  auto hello = ids_of(tok, {"hello"});
  EXPECT_EQ(tok.encode("<s>hello"), (std::vector<std::int32_t>{300, hello[0]}));
  EXPECT_EQ(tok.encode("<x>y<x>"), (std::vector<std::int32_t>{302, 301}));
  EXPECT_EQ(tok.encode("hello world!"), (std::vector<std::int32_t>{304, '!'}));
  // lstrip/rstrip: the whitespace around [M] belongs to it.
  EXPECT_EQ(tok.encode("hello  [M]  hello"), (std::vector<std::int32_t>{hello[0], 303, hello[0]}));
  // parse_special = false: <s> and [M] become text; non-special <x> is still matched.
  const auto plain = tok.encode("<s><x>", false);
  EXPECT_EQ(plain, (std::vector<std::int32_t>{'<', 's', '>', 301}));
  EXPECT_EQ(tok.decode(plain), "<s><x>");
  EXPECT_EQ(tok.decode({300, 301, 304}), "<s><x>hello world");
  EXPECT_EQ(tok.decode({300, 301, 304}, true), "<x>hello world");
  try {
    tok.decode({280});
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("decode: unknown token id 280"), std::string::npos) << e.what();
  }
}

TEST(TinyTokenizer, SplitSequenceAndPrefixSpace) {
  Json json = tiny_tokenizer(kHelloTokens, kHelloMerges);
  // Split on digits (Isolated), then ByteLevel with a prefix space for each piece, no regex.
  json["pre_tokenizer"] = {{"type", "Sequence"},
                           {"pretokenizers",
                            Json::array({{{"type", "Split"},
                                          {"pattern", {{"Regex", "\\p{N}"}}},
                                          {"behavior", "Isolated"},
                                          {"invert", false}},
                                         {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"use_regex", false}}})}};
  const Tokenizer tok = load_tiny(json);
  auto g = ids_of(tok, {"Ġ"})[0];
  EXPECT_EQ(tok.encode("hello"), ids_of(tok, {"Ġhello"}));
  EXPECT_EQ(tok.encode("hello1hello"), (std::vector<std::int32_t>{ids_of(tok, {"Ġhello"})[0], g, '1', ids_of(tok, {"Ġhello"})[0]}));
  EXPECT_EQ(tok.encode(""), std::vector<std::int32_t>{});

  // Removed drops the matches; a String pattern is literal.
  json["pre_tokenizer"] = {{"type", "Sequence"},
                           {"pretokenizers",
                            Json::array({{{"type", "Split"}, {"pattern", {{"String", "."}}}, {"behavior", "Removed"}},
                                         {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}})}};
  const Tokenizer removed = load_tiny(json);
  EXPECT_EQ(removed.encode("hello.hello.x"), (std::vector<std::int32_t>{ids_of(removed, {"hello"})[0], ids_of(removed, {"hello"})[0], 'x'}));
}

TEST(TinyTokenizer, NfcNormalizerInSequence) {
  Json json = tiny_tokenizer({}, Json::array());
  json["normalizer"] = {{"type", "Sequence"}, {"normalizers", Json::array({{{"type", "NFC"}}})}};
  const Tokenizer tok = load_tiny(json);
  EXPECT_EQ(tok.decode(tok.encode("e\xcc\x81")), "\xc3\xa9");
  EXPECT_EQ(tok.decode(tok.encode("ab e\xcc\x81\xcc\xa3 x")), "ab \xe1\xba\xb9\xcc\x81 x");  // ccc reordering
  json["normalizer"] = nullptr;
  const Tokenizer raw = load_tiny(json);
  EXPECT_EQ(raw.decode(raw.encode("e\xcc\x81")), "e\xcc\x81");
}

TEST(TinyTokenizer, MissingByteUsesUnknownTokenOrIsDropped) {
  Json json = tiny_tokenizer({"<unk>"}, Json::array());
  json["model"]["vocab"].erase(byte_char(0x01));
  {
    const Tokenizer tok = load_tiny(json);
    EXPECT_EQ(tok.encode("a\x01\x01z"), (std::vector<std::int32_t>{'a', 'z'}));
  }
  json["model"]["unk_token"] = "<unk>";
  {
    const Tokenizer tok = load_tiny(json);
    EXPECT_EQ(tok.encode("a\x01\x01z"), (std::vector<std::int32_t>{'a', 256, 256, 'z'}));
  }
  json["model"]["fuse_unk"] = true;
  {
    const Tokenizer tok = load_tiny(json);
    EXPECT_EQ(tok.encode("a\x01\x01z"), (std::vector<std::int32_t>{'a', 256, 'z'}));
  }
}

TEST(TinyTokenizer, ConfigTokensAsStringsOrObjects) {
  Json json = tiny_tokenizer(kHelloTokens, kHelloMerges);
  json["added_tokens"] = Json::array({{{"id", 300}, {"content", "<eos>"}, {"special", true}},
                                      {{"id", 301}, {"content", "<pad>"}, {"special", true}}});
  auto dir = test::scratch_dir();
  write_file_atomic(dir / "tokenizer.json", json.dump());
  {
    const Tokenizer tok = Tokenizer::from_dir(dir);  // no tokenizer_config.json
    EXPECT_EQ(tok.eos_token_id(), std::nullopt);
  }
  write_file_atomic(dir / "tokenizer_config.json",
                    R"({"eos_token": {"content": "<eos>", "special": true}, "pad_token": "<pad>", "bos_token": null})");
  const Tokenizer tok = Tokenizer::from_dir(dir);
  EXPECT_EQ(tok.eos_token_id(), 300);
  EXPECT_EQ(tok.pad_token_id(), 301);
  EXPECT_EQ(tok.bos_token_id(), std::nullopt);

  write_file_atomic(dir / "tokenizer_config.json", R"({"eos_token": "<missing>"})");
  try {
    Tokenizer::from_dir(dir);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind((dir / "tokenizer_config.json").string() + ": eos_token '<missing>'", 0), 0u)
        << e.what();
  }
  write_file_atomic(dir / "tokenizer_config.json", R"({"eos_token": 5})");
  EXPECT_THROW(Tokenizer::from_dir(dir), Error);
  write_file_atomic(dir / "tokenizer_config.json", R"({"eos_token": )");
  EXPECT_THROW(Tokenizer::from_dir(dir), Error);
}

TEST(TinyTokenizer, MalformedFilesNameTheFile) {
  const Json good = tiny_tokenizer(kHelloTokens, kHelloMerges);
  auto with = [&](const char* pointer, const Json& value) {
    Json j = good;
    j[Json::json_pointer(pointer)] = value;
    return j.dump();
  };
  auto without = [&](const char* key) {
    Json j = good;
    j.erase(key);
    return j.dump();
  };
  expect_load_error("{ not json", "malformed JSON");
  expect_load_error("", "malformed JSON");
  expect_load_error("[1, 2]", "expected a JSON object");
  expect_load_error(without("model"), "missing key 'model'");
  expect_load_error(with("/model", 5), "'model' must be an object");
  expect_load_error(with("/model/type", "WordPiece"), "unsupported model type 'WordPiece'");
  expect_load_error(with("/model/type", "Unigram"), "unsupported model type 'Unigram'");
  expect_load_error(with("/model/type", 3), "model.type must be a string");
  expect_load_error(with("/model/vocab", Json::array()), "model.vocab must be an object");
  expect_load_error(with("/model/vocab/hello", "x"), "model.vocab['hello'] must be an integer id");
  expect_load_error(with("/model/vocab/hello", -4), "model.vocab['hello'] must be an integer id");
  expect_load_error(with("/model/vocab/hello", 1), "id 1 is used by both");
  expect_load_error(with("/model/merges", "h e"), "model.merges must be an array");
  expect_load_error(with("/model/merges/1", "he zzz"), "model.merges[1] refers to unknown token 'zzz'");
  expect_load_error(with("/model/merges/1", Json::array({"nope", "l"})), "model.merges[1] refers to unknown token 'nope'");
  expect_load_error(with("/model/merges/1", "h h"), "model.merges[1]: merged token 'hh' is not in model.vocab");
  expect_load_error(with("/model/merges/1", "hel"), "model.merges[1] must be two tokens separated by one space");
  expect_load_error(with("/model/merges/1", 42), "model.merges[1] must be a string");
  expect_load_error(with("/model/unk_token", "<nope>"), "model.unk_token '<nope>' is not in model.vocab");
  expect_load_error(with("/model/byte_fallback", true), "byte_fallback is not supported");
  expect_load_error(with("/model/dropout", 0.1), "dropout is not supported");
  expect_load_error(with("/model/continuing_subword_prefix", "##"), "continuing_subword_prefix is not supported");
  expect_load_error(with("/model/ignore_merges", "yes"), "model.ignore_merges must be true or false");
  expect_load_error(with("/normalizer", {{"type", "Lowercase"}}), "unsupported normalizer type 'Lowercase'");
  expect_load_error(with("/normalizer", {{"type", "Sequence"}, {"normalizers", Json::array({{{"type", "NFKC"}}})}}),
                    "unsupported normalizer type 'NFKC' in normalizer.normalizers[0]");
  expect_load_error(with("/normalizer", {{"kind", "NFC"}}), "normalizer has no string 'type'");
  expect_load_error(with("/pre_tokenizer", {{"type", "Metaspace"}}), "unsupported pre_tokenizer type 'Metaspace'");
  expect_load_error(with("/pre_tokenizer", nullptr), "pre_tokenizer has no ByteLevel step");
  expect_load_error(
      with("/pre_tokenizer", {{"type", "Sequence"},
                              {"pretokenizers", Json::array({{{"type", "ByteLevel"}},
                                                             {{"type", "Split"}, {"pattern", {{"Regex", "a"}}}, {"behavior", "Isolated"}}})}}),
      "Split after ByteLevel is not supported");
  auto split = [&](const Json& pattern, const char* behavior, bool invert) {
    return with("/pre_tokenizer", {{"type", "Sequence"},
                                   {"pretokenizers", Json::array({{{"type", "Split"}, {"pattern", pattern}, {"behavior", behavior}, {"invert", invert}},
                                                                  {{"type", "ByteLevel"}}})}});
  };
  expect_load_error(split({{"Regex", "(unclosed"}}, "Isolated", false), "pre_tokenizer.pretokenizers[0].pattern: regex does not compile");
  expect_load_error(split({{"Regex", "a"}}, "MergedWithNext", false), "unsupported Split behavior 'MergedWithNext'");
  expect_load_error(split({{"Regex", "a"}}, "Isolated", true), "Split with invert true is not supported");
  expect_load_error(split({{"Other", "a"}}, "Isolated", false), "pattern must hold a string 'Regex' or 'String'");
  expect_load_error(with("/decoder", {{"type", "WordPiece"}}), "unsupported decoder type 'WordPiece'");
  expect_load_error(with("/added_tokens", Json::object()), "added_tokens must be an array");
  expect_load_error(with("/added_tokens", Json::array({{{"id", "7"}, {"content", "<x>"}}})), "added_tokens[0].id must be an integer");
  expect_load_error(with("/added_tokens", Json::array({{{"id", 7}, {"content", ""}}})), "added_tokens[0].content must be a non-empty string");
  expect_load_error(with("/added_tokens", Json::array({{{"id", 7}, {"content", "<x>"}, {"special", "yes"}}})),
                    "added_tokens[0].special must be true or false");
  expect_load_error(with("/model/vocab/hello", 1LL << 40), "must be an integer id");

  // A missing file names the path too.
  try {
    Tokenizer::from_file("/nonexistent/illume/tokenizer.json");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/illume/tokenizer.json: cannot open"), std::string::npos) << e.what();
  }
}

// ---------------------------------------------------------------------------------------------
// The merge loop itself

TEST(BpeMerges, ScanAndHeapAgreeOnRandomWords) {
  std::mt19937 rng(42);
  // Alphabet 0..3; merges build ids from 4 on, with random ranks and some repeated pairs.
  BpeMerges merges;
  std::int32_t next_id = 4;
  std::vector<std::int32_t> all = {0, 1, 2, 3};
  for (int rank = 0; rank < 60; ++rank) {
    std::uniform_int_distribution<std::size_t> pick(0, all.size() - 1);
    merges.add(all[pick(rng)], all[pick(rng)], rank, next_id);
    all.push_back(next_id++);
  }
  for (int round = 0; round < 300; ++round) {
    std::vector<std::int32_t> word(std::uniform_int_distribution<std::size_t>(0, BpeMerges::kScanLimit)(rng));
    for (auto& id : word) id = std::uniform_int_distribution<std::int32_t>(0, 3)(rng);
    auto scanned = word, heaped = word;
    merges.merge_scan(scanned);
    merges.merge_heap(heaped);
    ASSERT_EQ(scanned, heaped) << "round " << round << ", length " << word.size();
  }
  EXPECT_EQ(merges.find(0, 0).rank == BpeMerges::kNoMerge, merges.find(0, 0).result == -1);
}

TEST(BpeMerges, LaterDuplicateReplacesEarlier) {
  BpeMerges merges;
  merges.add(1, 2, 0, 10);
  merges.add(1, 2, 5, 11);
  EXPECT_EQ(merges.size(), 1u);
  EXPECT_EQ(merges.find(1, 2).rank, 5);
  EXPECT_EQ(merges.find(1, 2).result, 11);
  EXPECT_EQ(merges.find(2, 1).rank, BpeMerges::kNoMerge);
  for (int i = 0; i < 5000; ++i) merges.add(i, i + 1, i, i + 2);  // grows the table
  EXPECT_EQ(merges.find(4999, 5000).result, 5001);
}

TEST(Utf8, FindInvalid) {
  EXPECT_EQ(utf8::find_invalid(""), std::nullopt);
  EXPECT_EQ(utf8::find_invalid("plain ascii text, longer than eight bytes"), std::nullopt);
  EXPECT_EQ(utf8::find_invalid("日本語 🦙 é \xef\xbf\xbf"), std::nullopt);
  EXPECT_EQ(utf8::find_invalid(std::string("a\0b", 3)), std::nullopt);
  EXPECT_EQ(utf8::find_invalid("abcdefgh\xc3\x28"), 8u);
  EXPECT_EQ(utf8::find_invalid("\xe0\x80\x80"), 0u);  // overlong 3-byte
  EXPECT_EQ(utf8::find_invalid("\xf0\x80\x80\x80"), 0u);
  EXPECT_EQ(utf8::find_invalid("\xf5\x80\x80\x80"), 0u);
  EXPECT_EQ(utf8::find_invalid("\xc1\xbf"), 0u);
}
