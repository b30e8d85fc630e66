// Hostile input to the torch-free parsers (issue 14, items 3, 4 and 6, and what the fuzz targets in
// fuzz/ found): each case ends in a one-line illume::Error naming the file, quickly and in bounded
// memory, never a crash, a hang or an exception of another type.
#include <chrono>

#include "common.h"
#include "illume/io/model_config.h"
#include "illume/io/safetensors.h"
#include "illume/text/tokenizer.h"
#include "illume/util/config.h"
#include "illume/util/file.h"
#include "illume/util/json.h"
#include "illume/util/jsonl.h"

namespace illume {
namespace {

namespace fs = std::filesystem;

// The message of the exception `f` throws, of any type, with its type when it is not illume::Error
// (today's code lets nlohmann's exceptions escape; those must fail the test, not abort it).
template <typename F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("<not an illume::Error> ") + e.what();
  }
  return "<no error>";
}

#define EXPECT_FILE_ERROR(statement, path, needle)                                                     \
  do {                                                                                                 \
    const std::string message_ = message_of([&] { statement; });                                      \
    EXPECT_EQ(message_.rfind((path).string() + ":", 0), 0u) << message_;                              \
    EXPECT_NE(message_.find(needle), std::string::npos) << "wanted '" << (needle) << "' in: " << message_; \
    EXPECT_EQ(message_.find('\n'), std::string::npos) << message_;                                    \
    EXPECT_LT(message_.size(), 400u) << message_.substr(0, 400);                                      \
  } while (0)

std::string nested_arrays(std::size_t depth, const std::string& inside = "") {
  return std::string(depth, '[') + inside + std::string(depth, ']');
}

// A safetensors file of one header and no data.
fs::path write_safetensors_header(const fs::path& path, const std::string& header) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  write_file_atomic(path, bytes + header);
  return path;
}

// ---- YAML recipes (util/config.cpp) ------------------------------------------------------------

// "Billion laughs": nine levels of nine aliases of the level below, about 1 KB, standing for 9^9
// (387 million) strings once expanded.
TEST(ParserBounds, YamlAliasBombIsRefusedQuickly) {
  std::string text = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
  const std::string names = "abcdefghi";
  for (std::size_t level = 1; level < names.size(); ++level) {
    const std::string below = std::string("*") + names[level - 1];
    text += std::string(1, names[level]) + ": &" + names[level] + " [";
    for (int k = 0; k < 9; ++k) text += (k ? ", " : "") + below;
    text += "]\n";
  }
  ASSERT_LT(text.size(), 1100u);
  const auto path = test::scratch_dir() / "bomb.yaml";
  write_file_atomic(path, text);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FILE_ERROR(load_config(path), path, "YAML expands to more than 100000 values");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

// Aliases that stay small are still expanded (a recipe may reuse a section).
TEST(ParserBounds, YamlSmallAliasesStillWork) {
  Json j = parse_yaml("base: &b {lr: 0.5, betas: [0.9, 0.99]}\ncopy: *b\n", "alias.yaml");
  EXPECT_EQ(j["copy"]["lr"], 0.5);
  EXPECT_EQ(j["copy"]["betas"][1], 0.99);
}

// A string value that is not UTF-8 could not be printed in a message (nlohmann's dump() throws) nor
// written back with --print-config.
TEST(ParserBounds, YamlInvalidUtf8NamesTheFileAndByte) {
  const auto path = test::scratch_dir() / "bytes.yaml";
  write_file_atomic(path, "optim:\n  lr: \"\xff\xfe\"\n");
  EXPECT_FILE_ERROR(load_config(path), path, "invalid UTF-8 at byte 14");
  EXPECT_ERROR_CONTAINS(parse_yaml_value("\xc0\xaf", "override 'a=\xc0\xaf'"), "invalid UTF-8 at byte 0");
  Json root = Json::object();
  EXPECT_ERROR_CONTAINS(apply_override(root, "optim.\xff=1"), "invalid UTF-8 at byte 6");
}

// yaml-cpp quotes the bad character of an unknown escape, a newline included; and it reads a NUL
// as the end of the file.
TEST(ParserBounds, YamlErrorsStayOnOneLine) {
  const auto path = test::scratch_dir() / "escape.yaml";
  write_file_atomic(path, "a: \"x\\\x01y\"\n");
  EXPECT_FILE_ERROR(load_config(path), path, "malformed YAML");
  write_file_atomic(path, std::string("a: 1\n\0b: 2\n", 11));
  EXPECT_FILE_ERROR(load_config(path), path, "NUL byte at byte 5");
}

// ---- JSON depth and nlohmann's other exceptions (util/json.cpp) --------------------------------

// A header nested 100k deep parses (nlohmann's parser is iterative) but then crashes in a
// recursive dump() when the error message quotes the shape.
TEST(ParserBounds, SafetensorsHeaderNested100kDeep) {
  const auto path = write_safetensors_header(
      test::scratch_dir() / "deep.safetensors",
      "{\"t\": {\"dtype\": \"F32\", \"shape\": " + nested_arrays(100'000) + ", \"data_offsets\": [0, 0]}}");
  EXPECT_FILE_ERROR(st::SafetensorsFile{path}, path, "nested more than 128 deep");
}

// A huge but flat value in an error message is cut short without being printed whole.
TEST(ParserBounds, SafetensorsErrorQuotesOnlyAnExcerpt) {
  std::string shape = "[";
  for (int i = 0; i < 200'000; ++i) shape += "-1,";
  shape += "-1]";
  const auto path = write_safetensors_header(test::scratch_dir() / "wide.safetensors",
                                             "{\"t\": {\"dtype\": \"F32\", \"shape\": " + shape + ", \"data_offsets\": [0, 0]}}");
  EXPECT_FILE_ERROR(st::SafetensorsFile{path}, path, "shape must be a list of non-negative integers, got [-1,-1,");
}

TEST(ParserBounds, JsonNumberOverflowNamesTheFile) {
  const auto dir = test::scratch_dir();
  write_file_atomic(dir / "config.json", "{\"model_type\": \"qwen3\", \"rope_theta\": 1e400}");
  EXPECT_FILE_ERROR(ModelConfig::load(dir), dir / "config.json", "number overflow");
  const auto rows = dir / "rows.jsonl";
  write_file_atomic(rows, "{\"prompt\": \"a\"}\n{\"prompt\": \"b\", \"x\": -1e400}\n");
  EXPECT_FILE_ERROR(read_jsonl_rows(rows), rows, ":2: malformed JSON (number overflow");
  const auto tokenizer = dir / "tokenizer.json";
  write_file_atomic(tokenizer, "{\"model\": {\"vocab\": {\"a\": 1e999}}}");
  EXPECT_FILE_ERROR(Tokenizer::from_file(tokenizer), tokenizer, "number overflow");
}

TEST(ParserBounds, JsonDeepNestingAndNulAreRefusedBeforeParsing) {
  EXPECT_ERROR_CONTAINS(parse_json(nested_arrays(129), "deep.json"), "deep.json: malformed JSON (arrays and objects nested more than 128 deep)");
  EXPECT_EQ(parse_json(nested_arrays(128), "ok.json").dump().size(), 256u);
  // Brackets inside strings, escaped quotes included, do not count.
  EXPECT_EQ(json_nesting_depth("{\"a\": \"[[[\\\"[[[\", \"b\": [[1]]}"), 3);
  EXPECT_ERROR_CONTAINS(parse_json(std::string("{}\0{", 3), "nul.json"), "nul.json: malformed JSON (it contains a NUL byte)");
}

// nlohmann's syntax errors quote the whole offending token: a megabyte-long string in a JSONL row
// made a megabyte-long message.
TEST(ParserBounds, JsonErrorsQuoteAShortExcerpt) {
  const auto rows = test::scratch_dir() / "long.jsonl";
  write_file_atomic(rows, "{\"prompt\": \"" + std::string(100'000, 'x') + "\xff\"}\n");
  EXPECT_FILE_ERROR(read_jsonl_rows(rows), rows, ":1: malformed JSON (");
}

// Integers in config.json: 1.9 was truncated to 1 and 2^64 - 1 wrapped to -1, silently.
TEST(ParserBounds, ConfigIntegersMustBeIntegersInRange) {
  const auto dir = test::scratch_dir();
  const std::string common =
      "\"model_type\": \"qwen3\", \"vocab_size\": 64, \"intermediate_size\": 32, \"num_hidden_layers\": 2, "
      "\"num_attention_heads\": 2, \"rms_norm_eps\": 1e-6";
  write_file_atomic(dir / "config.json", "{" + common + ", \"hidden_size\": 16.9}");
  EXPECT_FILE_ERROR(ModelConfig::load(dir), dir / "config.json", "key 'hidden_size' should be an integer in [-9223372036854775808, 9223372036854775807], got 16.9");
  write_file_atomic(dir / "config.json", "{" + common + ", \"hidden_size\": 18446744073709551615}");
  EXPECT_FILE_ERROR(ModelConfig::load(dir), dir / "config.json", "key 'hidden_size' should be an integer in [-9223372036854775808, 9223372036854775807], got 18446744073709551615");
  write_file_atomic(dir / "config.json", "{" + common + ", \"hidden_size\": 16}");
  EXPECT_EQ(ModelConfig::load(dir).hidden_size, 16);
}

// A shape no machine could hold passed validation, and parameter_count() overflowed int64.
TEST(ParserBounds, ConfigSizesAreBounded) {
  const auto dir = test::scratch_dir();
  write_file_atomic(dir / "config.json",
                    "{\"model_type\": \"qwen3\", \"vocab_size\": 64, \"hidden_size\": 1099511627776, "
                    "\"intermediate_size\": 32, \"num_hidden_layers\": 2, \"num_attention_heads\": 2, \"rms_norm_eps\": 1e-6}");
  EXPECT_FILE_ERROR(ModelConfig::load(dir), dir / "config.json", "hidden_size 1099511627776 is too large (limit 1048576)");
  write_file_atomic(dir / "config.json",
                    "{\"model_type\": \"qwen3\", \"vocab_size\": 64, \"hidden_size\": 16, \"intermediate_size\": 32, "
                    "\"num_hidden_layers\": 2, \"num_attention_heads\": 2, \"rms_norm_eps\": 1e-6, "
                    "\"max_position_embeddings\": 0}");
  EXPECT_FILE_ERROR(ModelConfig::load(dir), dir / "config.json", "max_position_embeddings must be positive");
}

// ---- tokenizer.json Sequences (text/tokenizer.cpp) ---------------------------------------------

std::string nested_sequence(const char* list_key, std::size_t depth, const std::string& inside) {
  std::string text;
  for (std::size_t i = 0; i < depth; ++i) text += std::string("{\"type\": \"Sequence\", \"") + list_key + "\": [";
  text += inside;
  for (std::size_t i = 0; i < depth; ++i) text += "]}";
  return text;
}

std::string tokenizer_with(const std::string& normalizer, const std::string& pre_tokenizer) {
  return "{\"normalizer\": " + normalizer + ", \"pre_tokenizer\": " + pre_tokenizer +
         ", \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}";
}

// 60k nested Sequences: each level made a longer "where" string, 14 GB in all.
TEST(ParserBounds, TokenizerSequence60kDeep) {
  const auto path = test::scratch_dir() / "tokenizer.json";
  write_file_atomic(path, tokenizer_with(nested_sequence("normalizers", 60'000, "{\"type\": \"NFC\"}"),
                                         "{\"type\": \"ByteLevel\"}"));
  EXPECT_FILE_ERROR(Tokenizer::from_file(path), path, "nested more than 128 deep");
}

// Within the JSON depth bound, Sequences of Sequences are bounded too.
TEST(ParserBounds, TokenizerSequencesNestedTooDeep) {
  const auto path = test::scratch_dir() / "tokenizer.json";
  write_file_atomic(path, tokenizer_with(nested_sequence("normalizers", 20, "{\"type\": \"NFC\"}"),
                                         "{\"type\": \"ByteLevel\"}"));
  EXPECT_FILE_ERROR(Tokenizer::from_file(path), path, "normalizer Sequences nested more than 16 deep");
  write_file_atomic(path, tokenizer_with("null", nested_sequence("pretokenizers", 20, "{\"type\": \"ByteLevel\"}")));
  EXPECT_FILE_ERROR(Tokenizer::from_file(path), path, "pre_tokenizer Sequences nested more than 16 deep");
  // Two levels, as some real files have, still load.
  write_file_atomic(path, tokenizer_with(nested_sequence("normalizers", 2, "{\"type\": \"NFC\"}"),
                                         nested_sequence("pretokenizers", 2, "{\"type\": \"ByteLevel\"}")));
  EXPECT_NO_THROW(Tokenizer::from_file(path));
}

}  // namespace
}  // namespace illume
