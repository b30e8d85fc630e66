// The perturbation test (METHOD.md §3, paper Table 1): content words, Jaccard, the per-problem statistic,
// the seeded choice of problems, and runs on tiny-qwen3.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <set>

#include "common.h"
#include "illume/attention/perturb.h"
#include "illume/infer/generate.h"
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

namespace {

PerturbTrial trial(std::size_t prompt, bool high, double jaccard_value) {
  PerturbTrial t;
  t.prompt_index = prompt;
  t.high_fai = high;
  t.jaccard = jaccard_value;
  return t;
}

std::vector<std::vector<std::int32_t>> tiny_prompts(const Tokenizer& tokenizer) {
  return {tokenizer.encode("Janet has 16 eggs. How many are left?", false),
          tokenizer.encode("A robe takes 2 bolts of fiber.", false)};
}

PerturbSettings tiny_settings(const Tokenizer& tokenizer) {
  PerturbSettings s;
  s.valid_ids = valid_token_ids(tokenizer);
  s.analysis.stats = analysis_attention_config(2);
  s.analysis.stats.find_receivers = false;
  s.positions = 2;
  s.alternatives = 3;
  s.continuation_tokens = 8;
  s.max_new_tokens = 24;
  return s;
}

}  // namespace

// The paper's statistic is per problem (87.14% = 61/70 problems), not over trial pairs: hand-made
// trials where the two differ.
TEST(AttentionPerturb, SummaryCountsProblemsWhoseMeanHighIsBelowTheirMeanLow) {
  std::vector<PerturbTrial> trials = {
      // problem 0: high mean 0.4 < low mean 0.5 -> below; pairs (0.2, 0.5) below, (0.6, 0.5) not
      trial(0, true, 0.2), trial(0, true, 0.6), trial(0, false, 0.5),
      // problem 1: high 0.9 > low mean 0.4 -> not below; both pairs not below
      trial(1, true, 0.9), trial(1, false, 0.3), trial(1, false, 0.5),
      // problem 2: a tie -> not below (a pair tie counts 1/2)
      trial(2, true, 0.5), trial(2, false, 0.5),
      // problem 3: no low-FAI trial -> no comparison, but its trial enters the pooled mean
      trial(3, true, 0.7)};
  auto s = summarize_perturbation(trials);
  EXPECT_EQ(s.problems, 3);
  EXPECT_EQ(s.problems_high_below_low, 1);
  EXPECT_EQ(s.problems_tied, 1);
  EXPECT_DOUBLE_EQ(s.fraction_high_below_low, 1.0 / 3.0);
  EXPECT_EQ(s.pairs, 5);
  EXPECT_DOUBLE_EQ(s.pairwise_high_below_low, 1.5 / 5.0);
  EXPECT_EQ(s.high_trials, 5);
  EXPECT_EQ(s.low_trials, 4);
  EXPECT_DOUBLE_EQ(s.mean_high, (0.2 + 0.6 + 0.9 + 0.5 + 0.7) / 5.0);
  EXPECT_DOUBLE_EQ(s.mean_low, (0.5 + 0.3 + 0.5 + 0.5) / 4.0);
  PerturbResult result;
  result.trials = trials;
  result.summary = s;
  auto json = result.to_json();
  EXPECT_DOUBLE_EQ(json.at("problems_high_below_low").at("fraction").get<double>(), 1.0 / 3.0);
  EXPECT_EQ(json.at("problems_high_below_low").at("below"), 1);
  EXPECT_EQ(json.at("problems_high_below_low").at("problems"), 3);
  EXPECT_DOUBLE_EQ(json.at("pairwise").at("high_below_low").get<double>(), 0.3);
  auto md = result.to_markdown();
  EXPECT_NE(md.find("| problems whose mean high-FAI Jaccard < mean low-FAI Jaccard | 0.3333 (1/3) | 0.8714 (61/70) |"),
            std::string::npos)
      << md;
}

TEST(AttentionPerturb, ProblemsAreSampledWithASeed) {
  auto a = sample_prompt_indices(100, 10, 7);
  ASSERT_EQ(a.size(), 10u);
  EXPECT_TRUE(std::is_sorted(a.begin(), a.end()));
  EXPECT_EQ(std::set<std::size_t>(a.begin(), a.end()).size(), 10u);
  EXPECT_LT(a.back(), 100u);
  EXPECT_EQ(a, sample_prompt_indices(100, 10, 7));  // deterministic for a seed
  EXPECT_NE(a, sample_prompt_indices(100, 10, 8));
  std::vector<std::size_t> first(10);
  std::iota(first.begin(), first.end(), std::size_t{0});
  EXPECT_NE(a, first);  // not the first N
  // Every row is drawn about equally often over seeds (uniform): 2,000 draws of 10 of 100.
  std::vector<int> hits(100, 0);
  for (std::uint64_t seed = 0; seed < 2000; ++seed)
    for (auto i : sample_prompt_indices(100, 10, seed)) ++hits[i];
  for (int h : hits) {
    EXPECT_GT(h, 140);  // expected 200, sd ~13.4
    EXPECT_LT(h, 260);
  }
  EXPECT_EQ(sample_prompt_indices(3, 10, 1), (std::vector<std::size_t>{0, 1, 2}));  // all when too few
}

TEST(AttentionPerturb, TinyQwen3Run) {
  ILLUME_REQUIRE_SHARED_PATH("fixtures/tiny-qwen3/model.safetensors");
  auto dir = test::shared_path("fixtures/tiny-qwen3");
  auto model = Model::load(dir);
  auto tokenizer = Tokenizer::from_dir(dir);
  auto s = tiny_settings(tokenizer);
  auto decode = [&](const std::vector<std::int32_t>& ids) {
    return tokenizer.decode(illume::known_ids(ids, tokenizer.vocab_size()), true);
  };
  auto result = perturbation_test(model, tiny_prompts(tokenizer), s, decode);
  // No stop tokens: both responses are 24 tokens, so 2 prompts x (2 + 2) positions x 3 alternatives.
  ASSERT_EQ(result.trials.size(), 24u);
  ASSERT_EQ(result.problems.size(), 2u);
  double high = 0, low = 0;
  for (const auto& t : result.trials) {
    EXPECT_NE(t.forced, t.original);
    EXPECT_GE(t.jaccard, 0.0);
    EXPECT_LE(t.jaccard, 1.0);
    EXPECT_LT(t.position, 23);
    EXPECT_EQ(t.forced_text, decode(t.forced_continuation));
    EXPECT_EQ(t.reference_text, decode(t.reference_continuation));
    EXPECT_DOUBLE_EQ(t.jaccard, jaccard(content_words(t.reference_text), content_words(t.forced_text)));
    (t.high_fai ? high : low) += t.jaccard;
  }
  EXPECT_NEAR(result.summary.mean_high, high / 12.0, 1e-12);
  EXPECT_NEAR(result.summary.mean_low, low / 12.0, 1e-12);
  // Every high-FAI position of a prompt has FAI >= every low-FAI position of it.
  for (const auto& a : result.trials)
    for (const auto& b : result.trials)
      if (a.prompt_index == b.prompt_index && a.high_fai && !b.high_fai) EXPECT_GE(a.fai, b.fai);
  EXPECT_EQ(result.summary.pairs, 2 * 6 * 6);
  EXPECT_EQ(result.summary.problems, 2);
  for (const auto& p : result.problems) {
    EXPECT_EQ(p.response_tokens, 24);
    EXPECT_EQ(p.high_trials, 6);
    EXPECT_EQ(p.low_trials, 6);
  }
  auto json = result.to_json();
  EXPECT_EQ(json.at("trials").size(), 24u);
  EXPECT_TRUE(json.at("trials")[0].at("forced_continuation").is_string());
  EXPECT_TRUE(json.at("trials")[0].at("reference_continuation").is_string());
  EXPECT_EQ(json.at("problems").size(), 2u);
  EXPECT_NE(result.to_markdown().find("high-FAI positions | "), std::string::npos);
}

// Issue 11: the original continuation used to be the response's own tokens, cut where the response
// ends, while forced continuations always got M tokens, so late positions compared a short word set
// with a long one. Now every trial compares two windows of M tokens, the reference being the greedy
// continuation of the response up to and including the original token.
TEST(AttentionPerturb, ReferenceAndForcedWindowsHaveEqualLength) {
  ILLUME_REQUIRE_SHARED_PATH("fixtures/tiny-qwen3/model.safetensors");
  auto dir = test::shared_path("fixtures/tiny-qwen3");
  auto model = Model::load(dir);
  auto tokenizer = Tokenizer::from_dir(dir);
  auto s = tiny_settings(tokenizer);
  s.positions = 11;  // every candidate position, up to the response's last ones
  s.alternatives = 1;
  auto prompts = tiny_prompts(tokenizer);
  prompts.resize(1);
  auto decode = [&](const std::vector<std::int32_t>& ids) {
    return tokenizer.decode(illume::known_ids(ids, tokenizer.vocab_size()), true);
  };
  auto result = perturbation_test(model, prompts, s, decode);
  ASSERT_EQ(result.trials.size(), 22u);  // 23 positions with a token after them -> 11 + 11
  // The greedy response, computed here independently of the test.
  auto options = sampling_options(model.config(), tokenizer);
  options.temperature = 0;
  options.stop_token_ids.clear();
  options.max_new_tokens = s.max_new_tokens;
  auto response = generate(model, prompts, options)[0].ids;
  ASSERT_EQ(response.size(), 24u);
  options.max_new_tokens = s.continuation_tokens;
  std::int64_t late = 0;
  for (const auto& t : result.trials) {
    EXPECT_EQ(t.reference_continuation.size(), 8u) << "position " << t.position;
    EXPECT_EQ(t.forced_continuation.size(), 8u) << "position " << t.position;
    EXPECT_EQ(t.original, response[t.position]);
    if (t.position + 1 + s.continuation_tokens <= 24) {
      // Inside the response the reference is the response itself (greedy is deterministic).
      std::vector<std::int32_t> inside(response.begin() + t.position + 1,
                                       response.begin() + t.position + 1 + s.continuation_tokens);
      EXPECT_EQ(t.reference_continuation, inside) << "position " << t.position;
    } else {
      // Past its end: the greedy continuation of the response up to the position.
      ++late;
      std::vector<std::int32_t> prefix = prompts[0];
      prefix.insert(prefix.end(), response.begin(), response.begin() + t.position + 1);
      EXPECT_EQ(t.reference_continuation, generate(model, {prefix}, options)[0].ids) << "position " << t.position;
    }
  }
  EXPECT_GT(late, 0);
}

TEST(AttentionPerturb, CliWritesTableWithTextsAndSettings) {
  ILLUME_REQUIRE_SHARED_PATH("fixtures/tiny-qwen3/model.safetensors");
  ILLUME_REQUIRE_SHARED_PATH("data/gsm8k/test.jsonl");
  auto out = test::scratch_dir();
  const auto data = test::shared_path("data/gsm8k/test.jsonl").string();
  auto r = test::run_illume({"perturb", "--model", test::shared_path("fixtures/tiny-qwen3").string(), "--task",
                             "gsm8k", "--data", data, "--chat", "--problems", "2", "--seed", "5", "--max-new-tokens",
                             "16", "--continuation-tokens", "6", "--positions", "2", "--out", out.string()});
  ASSERT_EQ(r.status, 0) << r.err;
  auto json = Json::parse(read_file(out / "perturb.json"));
  EXPECT_TRUE(json.at("problems_high_below_low").at("fraction").is_number());
  EXPECT_TRUE(json.at("pairwise").at("high_below_low").is_number());
  EXPECT_FALSE(json.at("trials").empty());
  for (const auto& t : json.at("trials")) {
    EXPECT_TRUE(t.at("forced_continuation").is_string());
    EXPECT_TRUE(t.at("reference_continuation").is_string());
  }
  // Prompt settings: the task's own template, no system line.
  const auto& settings = json.at("settings");
  EXPECT_EQ(settings.at("task"), "gsm8k");
  EXPECT_EQ(settings.at("data"), data);
  EXPECT_EQ(settings.at("prompt_format"), "chat");
  EXPECT_EQ(settings.at("system"), "");
  EXPECT_EQ(settings.at("seed"), 5);
  // Two problems drawn with seed 5 from the file's rows, not its first two.
  const auto rows = sample_prompt_indices(settings.at("rows_in_file").get<std::size_t>(), 2, 5);
  ASSERT_EQ(json.at("problems").size(), 2u);
  EXPECT_EQ(json.at("problems")[0].at("row"), rows[0]);
  EXPECT_EQ(json.at("problems")[1].at("row"), rows[1]);
  EXPECT_NE(rows, (std::vector<std::size_t>{0, 1}));
  EXPECT_TRUE(json.at("problems")[0].at("response").is_string());
  EXPECT_NE(read_file(out / "perturb.md").find("problems whose mean high-FAI Jaccard < mean low-FAI Jaccard"),
            std::string::npos);
  auto bad = test::run_illume({"perturb", "--model", test::shared_path("fixtures/tiny-qwen3").string(), "--prompts",
                               data, "--layers", "5", "--out", out.string()});
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.err.find("layer 5 is beyond the model (2 layers)"), std::string::npos) << bad.err;
}

// Responses too short to perturb used to give an empty table and exit 0.
TEST(AttentionPerturb, NoTrialsIsAnError) {
  ILLUME_REQUIRE_SHARED_PATH("fixtures/tiny-qwen3/model.safetensors");
  ILLUME_REQUIRE_SHARED_PATH("data/gsm8k/test.jsonl");
  auto out = test::scratch_dir() / "out";
  auto r = test::run_illume({"perturb", "--model", test::shared_path("fixtures/tiny-qwen3").string(), "--prompts",
                             test::shared_path("data/gsm8k/test.jsonl").string(), "--limit", "1", "--max-new-tokens",
                             "2", "--out", out.string()});
  EXPECT_EQ(r.status, 1);
  // The error is one line (the progress line before it is the bar's).
  const auto error = r.err.substr(std::min(r.err.size(), r.err.find("illume: error: ")));
  EXPECT_NE(error.find("illume: error: perturbation test: no trials"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(error.begin(), error.end(), '\n'), 1) << r.err;
  EXPECT_FALSE(std::filesystem::exists(out / "perturb.json"));
}
