#include <cstring>

#include "common.h"
#include "illume/text/chat.h"
#include "illume/text/tokenizer.h"
#include "illume/util/error.h"
#include "illume/util/file.h"
#include "illume/util/json.h"

using namespace illume;

namespace {

// Reads one I64 tensor from a safetensors file: 8-byte little-endian header length N, a JSON
// header of N bytes ({"name": {"dtype", "shape", "data_offsets": [a, b]}}), data from 8 + N.
// (A tiny local reader: the project's safetensors loader is written elsewhere.)
std::vector<std::int64_t> read_i64_tensor(const std::filesystem::path& path, const std::string& name) {
  const std::string bytes = read_file(path);
  if (bytes.size() < 8) throw std::runtime_error("file too short");
  std::uint64_t header_length = 0;
  for (int i = 7; i >= 0; --i) header_length = (header_length << 8) | static_cast<unsigned char>(bytes[i]);
  if (header_length > bytes.size() - 8) throw std::runtime_error("header too long");
  const Json header = parse_json(bytes.substr(8, header_length), path.string());
  const Json& entry = header.at(name);
  if (entry.at("dtype") != "I64") throw std::runtime_error("dtype is not I64");
  const auto offsets = entry.at("data_offsets").get<std::vector<std::uint64_t>>();
  const std::uint64_t begin = 8 + header_length + offsets.at(0), end = 8 + header_length + offsets.at(1);
  if (end > bytes.size() || begin > end || (end - begin) % 8 != 0) throw std::runtime_error("bad data offsets");
  std::vector<std::int64_t> values((end - begin) / 8);
  for (std::size_t i = 0; i < values.size(); ++i) {
    std::uint64_t v = 0;
    for (int b = 7; b >= 0; --b) v = (v << 8) | static_cast<unsigned char>(bytes[begin + i * 8 + b]);
    values[i] = static_cast<std::int64_t>(v);
  }
  EXPECT_EQ(entry.at("shape"), Json::array({values.size()}));
  return values;
}

const char* kSystem = "Please reason step by step, and put your final answer within \\boxed{}.";

}  // namespace

// The prompt of shared/fixtures/tiny-qwen3/README.md: Qwen3's template with
// add_generation_prompt=True, enable_thinking=False, 97 tokens.
TEST(Chat, TinyQwen3FixturePrompt) {
  ILLUME_REQUIRE_SHARED_PATH("fixtures/tiny-qwen3/tokenizer.json");
  ILLUME_REQUIRE_SHARED_PATH("fixtures/tiny-qwen3/reference.safetensors");
  ILLUME_REQUIRE_SHARED_PATH("data/gsm8k/test.jsonl");
  const auto rows = read_jsonl_file(test::shared_path("data/gsm8k/test.jsonl"));
  ASSERT_FALSE(rows.empty());
  const std::string question = rows[0]["question"].get<std::string>();

  const std::string prompt = format_chat({{"system", kSystem}, {"user", question}}, true, false);
  EXPECT_EQ(prompt,
            "<|im_start|>system\n"
            "Please reason step by step, and put your final answer within \\boxed{}.<|im_end|>\n"
            "<|im_start|>user\n"
            "Janet\xe2\x80\x99s ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins "
            "for her friends every day with four. She sells the remainder at the farmers' market daily for $2 per fresh "
            "duck egg. How much in dollars does she make every day at the farmers' market?<|im_end|>\n"
            "<|im_start|>assistant\n"
            "<think>\n\n</think>\n\n");

  const Tokenizer tokenizer = Tokenizer::from_dir(test::shared_path("fixtures/tiny-qwen3"));
  const auto ids = tokenizer.encode(prompt);
  ASSERT_EQ(ids.size(), 97u);
  EXPECT_EQ(ids.front(), 151644);  // <|im_start|>
  const auto think = tokenizer.encode("<think>\n\n</think>\n\n");
  EXPECT_EQ(think, (std::vector<std::int32_t>{151667, 271, 151668, 271}));
  EXPECT_TRUE(std::equal(think.begin(), think.end(), ids.end() - static_cast<std::ptrdiff_t>(think.size())));

  const auto reference = read_i64_tensor(test::shared_path("fixtures/tiny-qwen3/reference.safetensors"), "input_ids");
  ASSERT_EQ(reference.size(), 97u);
  for (std::size_t i = 0; i < reference.size(); ++i) EXPECT_EQ(ids[i], reference[i]) << "position " << i;
  EXPECT_EQ(tokenizer.decode(ids), prompt);
}

// Expected strings below were rendered with jinja2 from the chat_template in Qwen3's
// tokenizer_config.json.
TEST(Chat, GenerationPromptWithThinking) {
  EXPECT_EQ(format_chat({{"user", "Hi"}}, true, true), "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(format_chat({{"user", "Hi"}}, false, false), "<|im_start|>user\nHi<|im_end|>\n");
  EXPECT_EQ(format_chat({}, true, false), "<|im_start|>assistant\n<think>\n\n</think>\n\n");
}

TEST(Chat, EarlierAssistantTurnsLoseTheirReasoning) {
  EXPECT_EQ(format_chat({{"system", "S"},
                         {"user", "Q1"},
                         {"assistant", "<think>\nR1\n</think>\n\nA1"},
                         {"user", "Q2"}},
                        true, true),
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nQ1<|im_end|>\n<|im_start|>assistant\nA1<|im_end|>\n"
            "<|im_start|>user\nQ2<|im_end|>\n<|im_start|>assistant\n");
}

TEST(Chat, FinalAssistantTurnKeepsReasoning) {
  EXPECT_EQ(format_chat({{"user", "Q1"}, {"assistant", "<think>\nR1\n</think>\n\nA1"}}, false, true),
            "<|im_start|>user\nQ1<|im_end|>\n<|im_start|>assistant\n<think>\nR1\n</think>\n\nA1<|im_end|>\n");
  // The final assistant turn always gets a think block, empty when it had none.
  EXPECT_EQ(format_chat({{"user", "Q1"}, {"assistant", "A1"}}, false, true),
            "<|im_start|>user\nQ1<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nA1<|im_end|>\n");
}

TEST(Chat, ToolResponsesAndLateSystemMessages) {
  EXPECT_EQ(format_chat({{"user", "Q"},
                         {"assistant", "call"},
                         {"tool", "r1"},
                         {"tool", "r2"},
                         {"assistant", "<think>x</think>done"}},
                        true, false),
            "<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\ncall<|im_end|>\n<|im_start|>user\n<tool_response>\nr1\n"
            "</tool_response>\n<tool_response>\nr2\n</tool_response><|im_end|>\n<|im_start|>assistant\n<think>\nx\n"
            "</think>\n\ndone<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n");
  EXPECT_EQ(format_chat({{"user", "Hi"}, {"system", "S2"}}, false, true),
            "<|im_start|>user\nHi<|im_end|>\n<|im_start|>system\nS2<|im_end|>\n");
}

TEST(Chat, UnknownRoleFails) {
  try {
    format_chat({{"user", "Hi"}, {"narrator", "x"}}, true, true);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "format_chat: unknown role 'narrator' (expected system, user, assistant or tool)");
  }
}

TEST(Chat, PlainPromptForBaseModels) {
  EXPECT_EQ(format_plain("Solve it.", "1+1?"), "Solve it.\n\n1+1?");
  EXPECT_EQ(format_plain("", "1+1?"), "1+1?");
}
