// The perturbation test (METHOD.md §3, paper Table 1): content words, Jaccard, and a run on tiny-qwen3.
#include <gtest/gtest.h>

#include "common.h"
#include "illume/attention/perturb.h"
#include "illume/infer/vocabulary.h"
#include "illume/text/tokenizer.h"
#include "illume/util/json.h"
#include "illume/util/file.h"

using namespace illume;

TEST(AttentionPerturb, ContentWordsAndJaccard) {
  auto a = content_words("The total is 18 dollars, so she makes $18 every day.");
  EXPECT_EQ(a, (std::set<std::string>{"total", "18", "dollars", "makes", "every", "day"}));
  auto b = content_words("She makes 20 DOLLARS every day!");
  EXPECT_EQ(b, (std::set<std::string>{"makes", "20", "dollars", "every", "day"}));
  // common: makes, dollars, every, day = 4; union: total, 18, dollars, makes, every, day, 20 = 7.
  EXPECT_DOUBLE_EQ(jaccard(a, b), 4.0 / 7.0);
  EXPECT_DOUBLE_EQ(jaccard({}, {}), 1.0);
  EXPECT_DOUBLE_EQ(jaccard(a, {}), 0.0);
  EXPECT_DOUBLE_EQ(jaccard(a, a), 1.0);
  // Non-ASCII bytes separate words; only stop words -> empty.
  EXPECT_EQ(content_words("caf\xC3\xA9 x2"), (std::set<std::string>{"caf", "x2"}));
  EXPECT_TRUE(content_words("and the of it").empty());
}

TEST(AttentionPerturb, TinyQwen3Run) {
  ILLUME_REQUIRE_SHARED_PATH("fixtures/tiny-qwen3/model.safetensors");
  auto dir = test::shared_path("fixtures/tiny-qwen3");
  auto model = Model::load(dir);
  auto tokenizer = Tokenizer::from_dir(dir);
  std::vector<std::vector<std::int32_t>> prompts = {tokenizer.encode("Janet has 16 eggs. How many are left?", false),
                                                    tokenizer.encode("A robe takes 2 bolts of fiber.", false)};
  PerturbSettings s;
  s.valid_ids = valid_token_ids(tokenizer);
  s.analysis.stats = analysis_attention_config(2);
  s.analysis.stats.find_receivers = false;
  s.positions = 2;
  s.alternatives = 3;
  s.continuation_tokens = 8;
  s.max_new_tokens = 24;
  auto result = perturbation_test(model, prompts, s, [&](const std::vector<std::int32_t>& ids) {
    return tokenizer.decode(illume::known_ids(ids, tokenizer.vocab_size()), true);
  });
  // No stop tokens: both responses are 24 tokens, so 2 prompts x (2 + 2) positions x 3 alternatives.
  ASSERT_EQ(result.trials.size(), 24u);
  double high = 0, low = 0;
  for (const auto& t : result.trials) {
    EXPECT_NE(t.forced, t.original);
    EXPECT_GE(t.jaccard, 0.0);
    EXPECT_LE(t.jaccard, 1.0);
    EXPECT_LT(t.position, 23);
    (t.high_fai ? high : low) += t.jaccard;
  }
  EXPECT_NEAR(result.mean_high, high / 12.0, 1e-12);
  EXPECT_NEAR(result.mean_low, low / 12.0, 1e-12);
  // Every high-FAI position of a prompt has FAI >= every low-FAI position of it.
  for (const auto& a : result.trials)
    for (const auto& b : result.trials)
      if (a.prompt_index == b.prompt_index && a.high_fai && !b.high_fai) EXPECT_GE(a.fai, b.fai);
  EXPECT_EQ(result.pairs, 2 * 6 * 6);
  EXPECT_GE(result.top_below_bottom, 0.0);
  EXPECT_LE(result.top_below_bottom, 1.0);
  auto json = result.to_json();
  EXPECT_EQ(json.at("trials").size(), 24u);
  EXPECT_NE(result.to_markdown().find("high-FAI positions | 12"), std::string::npos);
}

TEST(AttentionPerturb, CliWritesTable) {
  ILLUME_REQUIRE_SHARED_PATH("fixtures/tiny-qwen3/model.safetensors");
  ILLUME_REQUIRE_SHARED_PATH("data/gsm8k/test.jsonl");
  auto out = test::scratch_dir();
  auto r = test::run_illume({"perturb", "--model", test::shared_path("fixtures/tiny-qwen3").string(), "--prompts",
                             test::shared_path("data/gsm8k/test.jsonl").string(), "--limit", "1", "--max-new-tokens",
                             "16", "--continuation-tokens", "6", "--positions", "2", "--out", out.string()});
  ASSERT_EQ(r.status, 0) << r.err;
  auto json = Json::parse(read_file(out / "perturb.json"));
  EXPECT_TRUE(json.at("jaccard_high_fai").is_number());
  EXPECT_FALSE(json.at("trials").empty());
  EXPECT_NE(read_file(out / "perturb.md").find("Pr(high-FAI Jaccard < low-FAI Jaccard)"), std::string::npos);
  auto bad = test::run_illume({"perturb", "--model", test::shared_path("fixtures/tiny-qwen3").string(), "--prompts",
                               test::shared_path("data/gsm8k/test.jsonl").string(), "--layers", "5", "--out",
                               out.string()});
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.err.find("layer 5 is beyond the model (2 layers)"), std::string::npos) << bad.err;
}
