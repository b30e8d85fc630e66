// text/prompt.h: prompt rows from JSONL (schema probing, true line numbers) and encode_prompt.
#include <cstring>

#include "common.h"
#include "illume/io/safetensors.h"
#include "illume/text/prompt.h"
#include "illume/util/file.h"
#include "illume/util/json.h"

using namespace illume;

namespace {

const char* kSystem = "Please reason step by step, and put your final answer within \\boxed{}.";

std::vector<std::int64_t> reference_input_ids() {
  st::SafetensorsFile file(test::shared_path("fixtures/tiny-qwen3/reference.safetensors"));
  const auto& view = file.get("input_ids");
  std::vector<std::int64_t> ids(static_cast<std::size_t>(view.numel()));
  std::memcpy(ids.data(), view.data, ids.size() * sizeof(std::int64_t));
  return ids;
}

}  // namespace

// The first GSM8K question ("question" key) in the chat format with the system line and thinking off
// is exactly the 97-token prompt of shared/fixtures/tiny-qwen3 (rendered by Hugging Face).
TEST(Prompt, ChatPromptOfAGsm8kRowMatchesTheFixture) {
  ILLUME_REQUIRE_SHARED_PATH("fixtures/tiny-qwen3/reference.safetensors");
  ILLUME_REQUIRE_SHARED_PATH("data/gsm8k/test.jsonl");
  const auto tokenizer = Tokenizer::from_dir(test::shared_path("fixtures/tiny-qwen3"));
  PromptFormat chat{/*chat=*/true, kSystem, /*enable_thinking=*/false};
  auto prompts = encode_prompt_file(tokenizer, test::shared_path("data/gsm8k/test.jsonl"), chat, /*limit=*/1);
  ASSERT_EQ(prompts.ids.size(), 1u);
  EXPECT_EQ(prompts.texts[0].rfind("Janet", 0), 0u);
  const auto want = reference_input_ids();
  EXPECT_EQ(std::vector<std::int64_t>(prompts.ids[0].begin(), prompts.ids[0].end()), want);
}

// Plain without a system line is the text's own tokens (shared/tokenizer/qwen3_vectors.jsonl).
TEST(Prompt, PlainPromptIsTheTextsTokens) {
  ILLUME_REQUIRE_SHARED_PATH("tokenizer/qwen3_vectors.jsonl");
  const auto tokenizer = Tokenizer::from_dir(test::shared_path("tokenizer"));
  const auto row = read_jsonl_file(test::shared_path("tokenizer/qwen3_vectors.jsonl")).at(0);
  auto ids = encode_prompt(tokenizer, row["text"].get<std::string>(), PromptFormat{}, "vectors:1");
  EXPECT_EQ(ids, row["ids"].get<std::vector<std::int32_t>>());
  // A system line is a first paragraph: its tokens, then the blank line, then the text's.
  auto with_system = encode_prompt(tokenizer, "Hi", PromptFormat{false, "Be brief.", true}, "x");
  EXPECT_EQ(tokenizer.decode(with_system), "Be brief.\n\nHi");
}

TEST(Prompt, RowsProbeTheSchemaAndNameTrueLines) {
  auto dir = test::scratch_dir();
  auto path = dir / "p.jsonl";
  write_file_atomic(path,
                    "\n"
                    "{\"prompt\": \"a\"}\n"
                    "{\"question\": \"b\", \"system\": \"S\"}\n"
                    "\n"
                    "{\"problem\": \"c\", \"prompt\": 7}\n");
  auto rows = read_prompt_rows(path);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].text, "a");
  EXPECT_EQ(rows[0].source, path.string() + ":2");
  EXPECT_FALSE(rows[0].system.has_value());
  EXPECT_EQ(rows[1].text, "b");
  EXPECT_EQ(rows[1].system.value_or("<none>"), "S");
  EXPECT_EQ(rows[2].text, "c");  // "prompt" is not a string: the next key is used
  EXPECT_EQ(rows[2].source, path.string() + ":5");
  EXPECT_EQ(read_prompt_rows(path, /*limit=*/2).size(), 2u);

  write_file_atomic(path, "{\"prompt\": \"a\"}\n\n\n{\"text\": \"b\"}\n");
  EXPECT_ERROR_CONTAINS(read_prompt_rows(path), path.string() + ":4: no 'prompt' (or 'question'/'problem') string");
  write_file_atomic(path, "{\"prompt\": \"a\"}\n\n[1]\n");
  EXPECT_ERROR_CONTAINS(read_prompt_rows(path), path.string() + ":3: expected a JSON object");
  write_file_atomic(path, "{\"prompt\": \"a\", \"system\": 3}\n");
  EXPECT_ERROR_CONTAINS(read_prompt_rows(path), path.string() + ":1: 'system' must be a string");
  write_file_atomic(path, "\n\n");
  EXPECT_ERROR_CONTAINS(read_prompt_rows(path), path.string() + ": no prompts");
}

TEST(Prompt, EncodeErrorsNameTheSource) {
  ILLUME_REQUIRE_SHARED_PATH("fixtures/tiny-qwen3/tokenizer.json");
  const auto tokenizer = Tokenizer::from_dir(test::shared_path("fixtures/tiny-qwen3"));
  EXPECT_ERROR_CONTAINS(encode_prompt(tokenizer, "", PromptFormat{}, "p.jsonl:3"), "p.jsonl:3: the prompt is empty");
  EXPECT_ERROR_CONTAINS(encode_prompt(tokenizer, "ab\xff", PromptFormat{}, "p.jsonl:3"),
                        "p.jsonl:3: invalid UTF-8 in the prompt at byte 2");
  EXPECT_ERROR_CONTAINS(encode_prompt(tokenizer, "ab", PromptFormat{true, "\xc3", true}, "--prompt"),
                        "--prompt: invalid UTF-8 in the system line at byte 0");
  // A row's own system line replaces the format's (an empty one removes it).
  auto dir = test::scratch_dir();
  write_file_atomic(dir / "p.jsonl", "{\"prompt\": \"Hi\", \"system\": \"\"}\n{\"prompt\": \"Hi\"}\n");
  auto prompts = encode_prompt_file(tokenizer, dir / "p.jsonl", PromptFormat{false, "Sys", true});
  EXPECT_EQ(tokenizer.decode(prompts.ids[0]), "Hi");
  EXPECT_EQ(tokenizer.decode(prompts.ids[1]), "Sys\n\nHi");
  EXPECT_ERROR_CONTAINS(check_ids_in_vocabulary({1, 5}, 5, "--ids"), "--ids: id 5 is outside the vocabulary (size 5)");
}
