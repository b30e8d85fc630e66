// attention/inputs.h: given responses from JSONL (both schemas, true line numbers in errors) and
// sampled responses (empty completions dropped), on the tiny-qwen3 fixture.
#include <gtest/gtest.h>

#include "common.h"
#include "illume/attention/inputs.h"
#include "illume/util/file.h"

using namespace illume;

namespace {

std::filesystem::path fixture() { return test::shared_path("fixtures/tiny-qwen3"); }

}  // namespace

TEST(AttentionInputs, LoadsBothSchemasWithTrueLineNumbers) {
  ILLUME_REQUIRE_SHARED_PATH("fixtures/tiny-qwen3/tokenizer.json");
  const auto tokenizer = Tokenizer::from_dir(fixture());
  const std::int64_t vocab = 151936;
  auto dir = test::scratch_dir();
  auto path = dir / "r.jsonl";
  write_file_atomic(path,
                    "\n"
                    "{\"prompt_ids\": [9707, 1879], \"response_ids\": [11, 1077]}\n"
                    "{\"prompt\": \"Hello world\", \"response\": \", and\"}\n"
                    "{\"prompt\": \"Hello world\", \"prompt_ids\": [9707, 1879], \"response_ids\": [30]}\n");
  auto inputs = load_response_inputs(path, tokenizer, PromptFormat{}, vocab);
  ASSERT_EQ(inputs.responses.size(), 3u);
  ASSERT_EQ(inputs.prompt_texts.size(), 3u);
  // "Hello world" is [9707, 1879] (Qwen3 BPE; the same ids as test_cli's tokenize check).
  for (const auto& r : inputs.responses) EXPECT_EQ(r.prompt_ids, (std::vector<std::int32_t>{9707, 1879}));
  EXPECT_EQ(inputs.prompt_texts[0], "Hello world");  // decoded from the ids
  EXPECT_EQ(inputs.responses[0].response_ids, (std::vector<std::int32_t>{11, 1077}));
  EXPECT_EQ(tokenizer.decode(inputs.responses[1].response_ids), ", and");
  EXPECT_EQ(load_response_inputs(path, tokenizer, PromptFormat{}, vocab, /*limit=*/1).responses.size(), 1u);

  auto error = [&](const std::string& text) {
    write_file_atomic(path, text);
    return test::error_of([&] { load_response_inputs(path, tokenizer, PromptFormat{}, vocab); });
  };
  const std::string good = "{\"prompt\": \"Hi\", \"response\": \"Hello\"}\n";
  EXPECT_EQ(error(good + "\n{\"prompt\": \"Hi\", \"response\": \"\"}\n"), path.string() + ":3: the response is empty");
  EXPECT_EQ(error("\n\n" + good + "{\"prompt_ids\": [1], \"response_ids\": [999999999]}\n"),
            path.string() + ":4: id 999999999 is outside the vocabulary (size 151936)");
  EXPECT_EQ(error(good + "{\"prompt\": \"Hi there\", \"prompt_ids\": [9707], \"response_ids\": [4]}\n"),
            path.string() + ":2: 'prompt_ids' do not match the tokens of 'prompt' (check --chat and --system)");
  EXPECT_EQ(error("{\"prompt_ids\": [1, \"x\"], \"response_ids\": [4]}\n"),
            path.string() + ":1: 'prompt_ids' must be a list of token ids (integers in [0, 2147483647])");
  EXPECT_EQ(error(good + good + "{\"prompt\": \"Hi\"}\n"), path.string() + ":3: missing key 'response'");
  EXPECT_EQ(error("\n"), path.string() + ": no responses");
}

TEST(AttentionInputs, SampledResponsesKeepTheirPromptsAndEmptyOnesFail) {
  ILLUME_REQUIRE_SHARED_PATH("fixtures/tiny-qwen3/model.safetensors");
  const auto tokenizer = Tokenizer::from_dir(fixture());
  const auto model = Model::load(fixture());
  EncodedPrompts prompts;
  for (const char* text : {"Hello world", "What is 2+2?"}) {
    prompts.ids.push_back(encode_prompt(tokenizer, text, PromptFormat{}, "test"));
    prompts.texts.push_back(text);
  }
  auto sampling = sampling_options(model.config(), tokenizer);
  sampling.num_samples = 2;
  sampling.max_new_tokens = 4;
  sampling.seed = 3;
  auto inputs = sample_response_inputs(model, prompts, sampling);
  ASSERT_EQ(inputs.responses.size(), 4u);  // ordered by (prompt, sample)
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(inputs.responses[i].prompt_ids, prompts.ids[i / 2]) << i;
    EXPECT_EQ(inputs.prompt_texts[i], prompts.texts[i / 2]) << i;
    EXPECT_FALSE(inputs.responses[i].response_ids.empty()) << i;
    EXPECT_LE(inputs.responses[i].response_ids.size(), 4u) << i;
  }
  sampling.max_new_tokens = 0;  // every completion is empty: nothing to analyse
  EXPECT_ERROR_CONTAINS(sample_response_inputs(model, prompts, sampling), "every sampled response was empty");
}
