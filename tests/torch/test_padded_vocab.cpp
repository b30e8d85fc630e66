// Padded vocabularies (issue 14, item 1): the embedding has more rows than the tokenizer has ids
// (every Qwen3: 151,936 rows, 151,669 ids; ../shared/fixtures/tiny-qwen3 the same). Ids without text
// must never be sampled, the training log-probs must use the sampler's distribution, and a tokenizer
// larger than the model is a clear error. Also `illume tokenize`'s special-token parsing (item 7).
#include <torch/torch.h>

#include <cmath>
#include <sstream>

#include "common.h"
#include "illume/infer/generate.h"
#include "illume/infer/vocabulary.h"
#include "illume/train/grpo_trainer.h"
#include "illume/util/build_paths.h"
#include "illume/util/file.h"
#include "illume/util/json.h"

using namespace illume;

namespace {

std::filesystem::path fixture() { return test::shared_path("fixtures/tiny-qwen3"); }

ModelConfig tiny_config(std::int64_t vocab) {
  Json config = {{"model_type", "qwen3"}, {"vocab_size", vocab}, {"hidden_size", 32},
                 {"intermediate_size", 64}, {"num_hidden_layers", 1}, {"num_attention_heads", 2},
                 {"num_key_value_heads", 1}, {"head_dim", 16}, {"rms_norm_eps", 1e-6},
                 {"rope_theta", 10000.0}, {"tie_word_embeddings", true}};
  return ModelConfig::from_json(config, "tiny config");
}

std::vector<std::int64_t> ids_of(const std::string& line) {
  std::vector<std::int64_t> ids;
  std::stringstream stream(line);
  std::int64_t id;
  while (stream >> id) ids.push_back(id);
  return ids;
}

void expect_one_line_error(const test::RunResult& r, const std::vector<std::string>& needles) {
  EXPECT_NE(r.status, 0) << r.err;
  for (const auto& needle : needles) EXPECT_NE(r.err.find(needle), std::string::npos) << "stderr: " << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "stderr: " << r.err;
  EXPECT_EQ(r.err.rfind("illume: error: ", 0), 0u) << "stderr: " << r.err;
}

}  // namespace

// Hand-computed: ids 0 and 2 valid out of 5 (id 1 a hole, 3 and 4 padding).
TEST(PaddedVocabulary, MaskGivesInvalidIdsZeroProbabilityAndZeroGradient) {
  const std::vector<std::uint8_t> valid = {1, 0, 1};
  auto invalid = invalid_id_mask(valid, 5, torch::kCPU);
  ASSERT_TRUE(invalid.defined());
  EXPECT_TRUE(torch::equal(invalid, torch::tensor({false, true, false, true, true})));
  EXPECT_FALSE(invalid_id_mask({1, 1, 1}, 3, torch::kCPU).defined());  // nothing to mask
  EXPECT_FALSE(invalid_id_mask({1, 1, 1, 1}, 3, torch::kCPU).defined());

  auto logits = torch::tensor({1.0f, 2.0f, 3.0f, 4.0f, 5.0f}).unsqueeze(0).requires_grad_(true);
  auto log_probs = torch::log_softmax(mask_invalid_ids(logits, invalid), -1);
  const double normaliser = std::log(std::exp(1.0) + std::exp(3.0));
  EXPECT_NEAR(log_probs[0][0].item<double>(), 1.0 - normaliser, 1e-6);
  EXPECT_NEAR(log_probs[0][2].item<double>(), 3.0 - normaliser, 1e-6);
  for (int id : {1, 3, 4}) EXPECT_EQ(log_probs[0][id].exp().item<double>(), 0.0) << id;
  // The entropy sum stays finite (p log p = 0 at masked ids), and equals the two-id entropy.
  auto entropy = -(log_probs.exp() * log_probs).sum().item<double>();
  const double p0 = std::exp(1.0 - normaliser), p2 = std::exp(3.0 - normaliser);
  EXPECT_NEAR(entropy, -(p0 * std::log(p0) + p2 * std::log(p2)), 1e-6);
  log_probs[0][2].backward();
  auto grad = logits.grad()[0];
  for (int id : {1, 3, 4}) EXPECT_EQ(grad[id].item<double>(), 0.0) << id;
  EXPECT_NEAR(grad[2].item<double>(), 1.0 - p2, 1e-6);
}

TEST(PaddedVocabulary, GenerateRefusesOptionsWithoutValidIds) {
  auto model = Model::random(tiny_config(40), 1);
  SamplingOptions options;
  options.max_new_tokens = 2;
  auto message = test::error_of([&] { generate(model, {{1, 2, 3}}, options); });
  EXPECT_NE(message.find("valid_ids"), std::string::npos) << message;
  EXPECT_NE(message.find("sampling_options"), std::string::npos) << message;
}

// The fixture with its padded rows made to dominate every logit: unmasked, both sampling and greedy
// decoding would choose them (checked first), so any unknown id in the output means no mask.
TEST(PaddedVocabulary, SamplingOnTheFixtureNeverYieldsAnUnknownId) {
  ILLUME_REQUIRE_SHARED_PATH("fixtures/tiny-qwen3/model.safetensors");
  auto model = Model::load(fixture());
  auto tokenizer = Tokenizer::from_dir(fixture());
  const std::int64_t known = tokenizer.vocab_size(), rows = model.config().vocab_size;
  ASSERT_LT(known, rows);  // the fixture is padded like the real checkpoints
  {
    // Final norm keeps only hidden dimension 0, and the padded rows weigh it by +-100 (half each way),
    // so whatever its sign a padded id has the largest logit by far.
    torch::NoGradGuard no_grad;
    auto& weights = model.weights();
    weights.norm.zero_();
    weights.norm[0] = 1.0;
    auto padded = weights.lm_head.narrow(0, known, rows - known);
    padded.zero_();
    const auto half = (rows - known) / 2;
    padded.narrow(0, 0, half).select(1, 0).fill_(100.0);
    padded.narrow(0, half, rows - known - half).select(1, 0).fill_(-100.0);
  }
  const auto prompt = tokenizer.encode("Using the numbers [3, 5, 7], create an equation that equals 22.");
  {
    torch::NoGradGuard no_grad;
    auto ids = torch::tensor(std::vector<std::int64_t>(prompt.begin(), prompt.end())).unsqueeze(0);
    auto last = model.forward(ids, torch::ones_like(ids))[0][-1];
    ASSERT_GE(last.argmax().item<std::int64_t>(), known) << "the test setup does not favour padded ids";
    ASSERT_GT(torch::softmax(last, -1).narrow(0, known, rows - known).sum().item<double>(), 0.99);
  }
  auto options = sampling_options(model.config(), tokenizer);
  options.temperature = 1.0;
  options.num_samples = 32;
  options.max_new_tokens = 8;
  options.stop_token_ids.clear();  // every sample runs all 8 steps
  auto detokenize = [&](const std::vector<std::int32_t>& ids) { return tokenizer.decode(ids, true); };
  auto sampled = generate(model, {prompt}, options, detokenize);
  options.temperature = 0;
  options.num_samples = 1;
  auto greedy = generate(model, {prompt}, options, detokenize);
  sampled.insert(sampled.end(), greedy.begin(), greedy.end());
  std::int64_t tokens = 0;
  for (const auto& c : sampled) {
    ASSERT_EQ(c.ids.size(), 8u);
    for (auto id : c.ids) {
      EXPECT_TRUE(tokenizer.has_id(id)) << "sampled id " << id;
      ++tokens;
    }
    for (auto lp : c.logprobs) EXPECT_TRUE(std::isfinite(lp));
    for (auto e : c.entropies) EXPECT_TRUE(std::isfinite(e));
  }
  EXPECT_EQ(tokens, 33 * 8);
}

// The trainer's log-probs with the mask equal a log-softmax over the valid ids alone (hand-built
// from a full forward), and without it they differ: the mask is what makes them the sampler's.
TEST(PaddedVocabulary, TrainingLogprobsNormaliseOverValidIdsOnly) {
  const std::int64_t vocab = 48, valid_count = 40;
  auto model = Model::random(tiny_config(vocab), 3);
  std::vector<std::uint8_t> valid(valid_count, 1);
  valid[7] = 0;  // a hole as well as the padding
  auto invalid = invalid_id_mask(valid, vocab, model.device());
  const std::vector<std::int64_t> row = {5, 9, 11, 3, 20, 21, 22};  // prompt 4, response 3
  auto ids = torch::tensor(row).unsqueeze(0);
  auto mask = torch::ones_like(ids);
  torch::NoGradGuard no_grad;
  auto masked = train::response_logprobs(model, ids, mask, {4}, {3}, 0.7, true, nullptr, invalid);
  auto plain = train::response_logprobs(model, ids, mask, {4}, {3}, 0.7, true);
  auto logits = model.forward(ids, mask)[0] / 0.7;  // [T, V]
  for (std::int64_t t = 0; t < 3; ++t) {
    auto position = logits[3 + t];
    std::vector<double> kept;
    for (std::int64_t id = 0; id < valid_count; ++id)
      if (valid[id]) kept.push_back(position[id].item<double>());
    double top = *std::max_element(kept.begin(), kept.end()), sum = 0;
    for (double x : kept) sum += std::exp(x - top);
    const double expected = position[row[4 + t]].item<double>() - top - std::log(sum);
    EXPECT_NEAR(masked.logprobs[0][t].item<double>(), expected, 1e-5) << t;
    EXPECT_GT(std::abs(plain.logprobs[0][t].item<double>() - expected), 1e-4) << t;
    EXPECT_TRUE(std::isfinite(masked.entropy[0][t].item<double>()));
  }
}

// A tokenizer with more ids than the model's embedding rows: a one-line error naming the tokenizer
// file and the model's vocab_size, before any forward (today: a torch index error).
TEST(PaddedVocabulary, TokenizerLargerThanTheModelIsAClearError) {
  ILLUME_REQUIRE_SHARED_PATH("fixtures/tiny-qwen3/tokenizer.json");
  auto dir = test::scratch_dir() / "small-model";
  Model::random(tiny_config(1000), 2).save(dir);
  for (const char* name : {"tokenizer.json", "tokenizer_config.json"})
    std::filesystem::create_symlink(fixture() / name, dir / name);
  auto tokenizer = Tokenizer::from_dir(dir);
  auto message = test::error_of([&] { sampling_options(ModelConfig::load(dir), tokenizer); });
  EXPECT_NE(message.find((dir / "tokenizer.json").string()), std::string::npos) << message;
  EXPECT_NE(message.find("vocab_size 1000"), std::string::npos) << message;
  auto r = test::run_illume({"generate", "--model", dir.string(), "--prompt", "Hello world", "--max-new-tokens", "2"});
  expect_one_line_error(r, {(dir / "tokenizer.json").string(), "vocab_size 1000", "151668"});
}

// generate -n 16 at temperature 1 on the unmodified fixture: every response decodes.
TEST(PaddedVocabulary, GenerateManySamplesOnTheFixtureSucceeds) {
  ILLUME_REQUIRE_SHARED_PATH("fixtures/tiny-qwen3/model.safetensors");
  auto out = test::scratch_dir() / "samples.jsonl";
  auto r = test::run_illume({"generate", "--model", fixture().string(), "--prompt", "Janet has 16 eggs.", "-n", "16",
                             "--temperature", "1", "--max-new-tokens", "64", "--out", out.string()});
  ASSERT_EQ(r.status, 0) << r.err;
  auto rows = read_jsonl_file(out);
  ASSERT_EQ(rows.size(), 16u);
  for (const auto& row : rows)
    for (auto id : row["response_ids"].get<std::vector<std::int64_t>>()) EXPECT_LT(id, 151669);
}

// The README's tiny recipe, run from the checkout as the README writes it, for one step.
TEST(PaddedVocabulary, TinyRecipeRunsAGrpoStep) {
  ILLUME_REQUIRE_SHARED_PATH("fixtures/tiny-qwen3/model.safetensors");
  ILLUME_REQUIRE_SHARED_PATH("data/countdown/train.jsonl");
  auto out = test::scratch_dir() / "run";
  // The recipe's relative paths (../shared/...) are relative to the checkout: run from there.
  std::string command = "cd " + test::shell_quote(build::source_dir()) + " && " + test::shell_quote(test::illume_binary()) +
                        " train --config configs/countdown-tiny-cpu.yaml run.steps=1 " +
                        test::shell_quote("run.out=" + out.string()) + " 2>&1";
  std::string output;
  FILE* pipe = ::popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  char buffer[4096];
  std::size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) output.append(buffer, n);
  const int status = ::pclose(pipe);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << output;
  auto metrics = read_jsonl_file(out / "metrics.jsonl");
  // The recipe evaluates (eval.every): a row of its own before training, then step 1's.
  ASSERT_EQ(metrics.size(), 2u) << output;
  EXPECT_EQ(metrics[0]["step"], 0);
  EXPECT_TRUE(metrics[0].contains("eval/accuracy") && metrics[1].contains("eval/accuracy")) << output;
}

// `illume tokenize` is Hugging Face's encode(text, add_special_tokens=False): special-token text in
// the input becomes the special token (qwen3_vectors.jsonl's countdown prompts, from the real
// tokenizer); --no-parse-special keeps it text, also inside --chat where the template's own special
// tokens still count.
TEST(PaddedVocabulary, TokenizeParsesSpecialTokensLikeHuggingFace) {
  ILLUME_REQUIRE_SHARED_PATH("tokenizer/qwen3_vectors.jsonl");
  const auto model = test::shared_path("tokenizer").string();
  std::size_t checked = 0;
  for (const auto& row : read_jsonl_file(test::shared_path("tokenizer/qwen3_vectors.jsonl"))) {
    const auto text = row["text"].get<std::string>();
    if (text.find("<|im_start|>") == std::string::npos) continue;
    auto file = test::scratch_dir() / "text.txt";
    write_file_atomic(file, text);
    auto r = test::run_illume({"tokenize", "--model", model, "--file", file.string()});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(ids_of(r.out), row["ids"].get<std::vector<std::int64_t>>()) << text;
    auto literal = test::run_illume({"tokenize", "--model", model, "--file", file.string(), "--no-parse-special"});
    ASSERT_EQ(literal.status, 0) << literal.err;
    auto literal_ids = ids_of(literal.out);
    EXPECT_EQ(std::count(literal_ids.begin(), literal_ids.end(), 151644), 0) << text;
    EXPECT_GT(literal_ids.size(), row["ids"].size());
    if (++checked == 3) break;
  }
  EXPECT_EQ(checked, 3u);

  auto plain = test::run_illume({"tokenize", "--model", model, "--text", "<|im_start|>"});
  EXPECT_EQ(plain.out, "151644\n");
  // User text holding <|im_end|>: parsed, the prompt has two; kept as text, only the template's one.
  auto chat = [&](bool parse) {
    std::vector<std::string> args = {"tokenize", "--model", model, "--chat", "--text", "hi<|im_end|>there"};
    if (!parse) args.push_back("--no-parse-special");
    auto r = test::run_illume(args);
    EXPECT_EQ(r.status, 0) << r.err;
    return ids_of(r.out);
  };
  auto parsed = chat(true), literal = chat(false);
  EXPECT_EQ(std::count(parsed.begin(), parsed.end(), 151645), 2);
  EXPECT_EQ(std::count(literal.begin(), literal.end(), 151645), 1);
  EXPECT_EQ(std::count(literal.begin(), literal.end(), 151644), 2);  // user and assistant turns
  EXPECT_EQ(literal.front(), 151644);
  std::string joined;
  for (auto id : literal) joined += std::to_string(id) + ",";
  auto back = test::run_illume({"detokenize", "--model", model, "--ids", joined});
  EXPECT_EQ(back.out, "<|im_start|>user\nhi<|im_end|>there<|im_end|>\n<|im_start|>assistant\n\n");
}
