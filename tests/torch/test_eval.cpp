// Evaluation: the estimators against hand-computed binomials, the summary of scored samples (pass@1
// over all samples, not the first), the options that are errors, the suite table, and `illume eval
// --suite` end to end on the default model with a small data root.
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "common.h"
#include "illume/eval/evaluate.h"
#include "illume/eval/statistics.h"
#include "illume/util/build_paths.h"
#include "illume/util/file.h"
#include "illume/util/json.h"

using namespace illume;
using namespace illume::eval;
namespace fs = std::filesystem;

// The illume::Error message of `expression` contains `needle`.
#define EXPECT_EVAL_ERROR(expression, needle)                                              \
  do {                                                                                     \
    std::string message_ = ::illume::test::error_of([&] { (void)(expression); });          \
    EXPECT_NE(message_.find(needle), std::string::npos) << "error: '" << message_ << "'"; \
  } while (0)

TEST(EvalEstimators, PassAtKIsTheUnbiasedEstimator) {
  // 1 - C(n-c, k) / C(n, k), by hand.
  EXPECT_DOUBLE_EQ(pass_at_k(5, 2, 2), 1.0 - 3.0 / 10.0);     // C(3,2)=3, C(5,2)=10
  EXPECT_DOUBLE_EQ(pass_at_k(10, 3, 5), 1.0 - 21.0 / 252.0);  // C(7,5)=21, C(10,5)=252
  EXPECT_DOUBLE_EQ(pass_at_k(4, 1, 1), 0.25);                 // pass@1 = c/n
  EXPECT_DOUBLE_EQ(pass_at_k(16, 5, 1), 5.0 / 16.0);
  EXPECT_DOUBLE_EQ(pass_at_k(16, 0, 16), 0.0);
  EXPECT_DOUBLE_EQ(pass_at_k(16, 1, 16), 1.0);                // pass@n: any correct
  EXPECT_DOUBLE_EQ(pass_at_k(8, 6, 3), 1.0);                  // n - c < k: every 3-subset has a correct one
  // Large n stays finite and in [0, 1] where the binomials would overflow a double (C(2000,1000) ~ 1e600).
  double large = pass_at_k(2000, 1, 1000);
  EXPECT_DOUBLE_EQ(large, 0.5);  // C(1999,1000)/C(2000,1000) = 1000/2000
  double tiny = pass_at_k(2000, 1000, 1000);
  EXPECT_TRUE(std::isfinite(tiny));
  EXPECT_DOUBLE_EQ(tiny, 1.0);
  EXPECT_NEAR(pass_at_k(1000, 3, 10), 1.0 - (990.0 * 989.0 * 988.0) / (1000.0 * 999.0 * 998.0), 1e-15);
  EXPECT_EVAL_ERROR(pass_at_k(4, 1, 5), "1 <= k <= n");
  EXPECT_EVAL_ERROR(pass_at_k(4, 5, 1), "0 <= c <= n");
  EXPECT_EVAL_ERROR(pass_at_k(4, 1, 0), "1 <= k <= n");
  EXPECT_EQ(reported_ks(16), (std::vector<std::int64_t>{1, 2, 4, 8, 16}));
  EXPECT_EQ(reported_ks(6), (std::vector<std::int64_t>{1, 2, 4, 6}));
  EXPECT_EQ(reported_ks(1), (std::vector<std::int64_t>{1}));
}

TEST(EvalEstimators, PassAtOneUsesEverySampleNotTheFirst) {
  auto sample = [](bool correct, bool formatted = true) { return ScoredSample{correct, formatted, correct ? 1.0 : 0.1, 10}; };
  // Three problems x 4 samples, c = 0, 1, 4; the one correct sample of problem 1 is its last.
  std::vector<std::vector<ScoredSample>> samples = {
      {sample(false, false), sample(false), sample(false), sample(false, false)},
      {sample(false), sample(false), sample(false), sample(true)},
      {sample(true), sample(true), sample(true), sample(true)},
  };
  Json s = sample_statistics(samples);
  EXPECT_DOUBLE_EQ(s["pass@1"].get<double>(), (0.0 + 0.25 + 1.0) / 3.0) << "first-sample pass@1 would be 1/3";
  EXPECT_DOUBLE_EQ(s["avg@4"].get<double>(), s["pass@1"].get<double>());
  EXPECT_DOUBLE_EQ(s["pass@2"].get<double>(), (0.0 + (1.0 - 3.0 / 6.0) + 1.0) / 3.0);
  EXPECT_DOUBLE_EQ(s["pass@4"].get<double>(), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(s["pass@k"].get<double>(), 2.0 / 3.0);
  EXPECT_EQ(s["samples_per_problem"], 4);
  EXPECT_EQ(s["problems"], 3);
  EXPECT_EQ(s["correct_responses"], 5);
  EXPECT_EQ(s["formatted_but_wrong_responses"], 5);
  EXPECT_EQ(s["unformatted_responses"], 2);
  EXPECT_DOUBLE_EQ(s["reward_mean"].get<double>(), (5 * 1.0 + 7 * 0.1) / 12.0);
  EXPECT_FALSE(s.contains("pass@3"));
  EXPECT_EVAL_ERROR(sample_statistics({{sample(true)}, {sample(true), sample(false)}}), "same number of samples");
  EXPECT_EVAL_ERROR(sample_statistics({}), "no problems");
}

TEST(EvalOptions, GreedyWithManySamplesIsAnError) {
  EvalOptions o;
  o.k = 16;
  EXPECT_EVAL_ERROR(check_options(o), "-n 16 needs --temperature > 0");
  o.temperature = 0.6;
  check_options(o);  // AIME's avg@16
  o.k = 0;
  EXPECT_EVAL_ERROR(check_options(o), "-n/--num-samples must be >= 1");
}

TEST(EvalSuite, TableAveragesTheBenchmarks) {
  std::vector<Json> summaries = {
      {{"task", "amc23"}, {"problems", 40}, {"samples_per_problem", 1}, {"pass@1", 0.25}, {"pass@k", 0.25}, {"k", 1}, {"temperature", 0.0}},
      {{"task", "math500"}, {"problems", 500}, {"samples_per_problem", 1}, {"pass@1", 0.5}, {"pass@k", 0.5}},
      {{"task", "gsm8k"}, {"problems", 1319}, {"samples_per_problem", 1}, {"pass@1", 0.6}, {"pass@k", 0.6}},
  };
  Json table = suite_summary("small-math", summaries);
  EXPECT_DOUBLE_EQ(table["average_pass@1"].get<double>(), (0.25 + 0.5 + 0.6) / 3.0) << "unweighted, as the paper averages";
  EXPECT_EQ(table["benchmarks"].size(), 3u);
  EXPECT_EQ(table["settings"]["k"], 1);
  EXPECT_EQ(suite_markdown(table),
            "Suite `small-math`: pass@1 in percent.\n\n"
            "| benchmark | problems | pass@1 |\n|---|---:|---:|\n"
            "| amc23 | 40 | 25.0 |\n"
            "| math500 | 500 | 50.0 |\n"
            "| gsm8k | 1319 | 60.0 |\n"
            "| **average** (3 benchmarks) | | **45.0** |\n");
  for (auto& s : summaries) s["samples_per_problem"] = 16;
  std::string sampled = suite_markdown(suite_summary("small-math", summaries));
  EXPECT_NE(sampled.find("| benchmark | problems | pass@1 | pass@16 |"), std::string::npos) << sampled;
  EXPECT_NE(sampled.find("mean over 16 samples per problem"), std::string::npos) << sampled;
}

// `illume eval --suite small-math` on the default model: every benchmark read from DATA_ROOT/TASK/
// test.jsonl in its own schema, one table, per-benchmark folders. The model is a Countdown model, so
// the numbers are near 0; the test is the plumbing and the table.
TEST(EvalSuite, CommandLineWritesOneTable) {
  auto dir = test::scratch_dir();
  auto root = dir / "data";
  auto put = [&](const std::string& task, const std::string& rows) {
    fs::create_directories(root / task);
    write_file_atomic(root / task / "test.jsonl", rows);
  };
  put("amc23", "{\"id\": 1, \"question\": \"What is 2+2?\", \"answer\": 4.0}\n{\"id\": 2, \"question\": \"1+1?\", \"answer\": 2}\n");
  put("math500", "{\"problem\": \"What is 3+3?\", \"answer\": \"6\", \"unique_id\": \"a\"}\n");
  put("olympiadbench", "{\"id\": 7, \"question\": \"What is 5+5?\", \"final_answer\": [\"$10$\"]}\n");
  put("minerva_math", "{\"problem\": \"What is 1+2?\", \"solution\": \"So \\\\boxed{3}.\", \"idx\": 0}\n");
  put("gsm8k", "{\"question\": \"What is 4+4?\", \"answer\": \"4+4=8\\n#### 8\"}\n");
  const std::string model = (fs::path(::illume::build::source_dir()) / "models" / "illume-countdown-tiny").string();
  auto out = dir / "out";
  auto r = test::run_illume({"eval", "--model", model, "--suite", "small-math", "--data-root", root.string(), "--out",
                             out.string(), "--max-new-tokens", "4", "--chat"});
  ASSERT_EQ(r.status, 0) << r.err;
  Json summary = Json::parse(read_file(out / "summary.json"));
  EXPECT_EQ(summary["suite"], "small-math");
  ASSERT_EQ(summary["benchmarks"].size(), 5u);
  EXPECT_EQ(summary["benchmarks"][0]["task"], "amc23");
  EXPECT_EQ(summary["benchmarks"][0]["problems"], 2);
  EXPECT_EQ(summary["benchmarks"][3]["task"], "minerva_math");
  for (const char* task : {"amc23", "math500", "olympiadbench", "minerva_math", "gsm8k"}) {
    EXPECT_TRUE(fs::exists(out / task / "results.jsonl")) << task;
    EXPECT_TRUE(fs::exists(out / task / "summary.json")) << task;
  }
  std::string table = read_file(out / "summary.md");
  EXPECT_NE(table.find("| olympiadbench | 1 |"), std::string::npos) << table;
  EXPECT_NE(table.find("**average** (5 benchmarks)"), std::string::npos) << table;
  EXPECT_NE(r.out.find("| minerva_math | 1 |"), std::string::npos) << "the table is printed too: " << r.out;

  // Bad input: one line each, before the model runs.
  auto bad = test::run_illume({"eval", "--model", model, "--suite", "big-math", "--out", out.string()});
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.err.find("unknown suite 'big-math' (valid: paper-math, small-math)"), std::string::npos) << bad.err;
  bad = test::run_illume({"eval", "--model", model, "--suite", "paper-math", "--data-root", root.string(), "--out",
                          out.string()});
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.err.find("aime24/test.jsonl: cannot open"), std::string::npos) << bad.err;
  bad = test::run_illume({"eval", "--model", model, "--task", "countdown", "-n", "4", "--out", out.string()});
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.err.find("-n 4 needs --temperature > 0"), std::string::npos) << bad.err;
  bad = test::run_illume({"eval", "--model", model, "--out", out.string()});
  EXPECT_NE(bad.err.find("give --task TASK or --suite SUITE"), std::string::npos) << bad.err;
}

// The default model on 32 test puzzles, greedy, under both Countdown rules: the summary names the rule
// and counts the format-only (0.1) responses; TinyZero's rule never scores a response correct that
// the lenient rule (at most once each) scores wrong... except through Python's extras (** // .),
// which this model never writes, so TinyZero's accuracy is at most the lenient one here.
TEST(EvalCountdown, BothRulesOnTheDefaultModel) {
  ILLUME_REQUIRE_SHARED_PATH("data/countdown/test.jsonl");
  auto dir = test::scratch_dir();
  const std::string model = (fs::path(::illume::build::source_dir()) / "models" / "illume-countdown-tiny").string();
  Json summaries[2];
  const char* rules[2] = {"tinyzero", "lenient"};
  for (int i = 0; i < 2; ++i) {
    auto out = dir / rules[i];
    auto r = test::run_illume({"eval", "--model", model, "--task", "countdown", "--chat", "--data",
                               test::shared_path("data/countdown/test.jsonl").string(), "--limit", "32",
                               "--max-new-tokens", "160", "--countdown-rule", rules[i], "--out", out.string()});
    ASSERT_EQ(r.status, 0) << r.err;
    summaries[i] = Json::parse(read_file(out / "summary.json"));
    EXPECT_EQ(summaries[i]["countdown_rule"], rules[i]);
  }
  EXPECT_DOUBLE_EQ(summaries[0]["format_reward"].get<double>(), 0.1);
  EXPECT_DOUBLE_EQ(summaries[1]["format_reward"].get<double>(), 0.0);
  EXPECT_LE(summaries[0]["pass@1"].get<double>(), summaries[1]["pass@1"].get<double>());
  const auto correct = summaries[0]["correct_responses"].get<std::int64_t>();
  const auto format_only = summaries[0]["formatted_but_wrong_responses"].get<std::int64_t>();
  const auto unformatted = summaries[0]["unformatted_responses"].get<std::int64_t>();
  EXPECT_EQ(correct + format_only + unformatted, 32);
  EXPECT_NEAR(summaries[0]["reward_mean"].get<double>(), (correct * 1.0 + format_only * 0.1) / 32.0, 1e-12);
}

// Sampled evaluation draws each (problem, sample) from a stream keyed by the problem's index in the
// whole evaluation, so how many prompts share a generate call does not change a single response.
TEST(EvalCountdown, SampledResultsDoNotDependOnTheBatching) {
  ILLUME_REQUIRE_SHARED_PATH("data/countdown/test.jsonl");
  const auto model_dir = fs::path(::illume::build::source_dir()) / "models" / "illume-countdown-tiny";
  auto model = Model::load(model_dir);
  auto tokenizer = Tokenizer::from_dir(model_dir);
  auto problems = data::load_problems(data::Task::Countdown, test::shared_path("data/countdown/test.jsonl"));
  EvalOptions o;
  o.k = 2;
  o.temperature = 1.0;
  o.limit = 7;
  o.chat = true;
  o.max_new_tokens = 48;
  o.seed = 11;
  o.show_progress = false;
  std::vector<std::string> responses[2];
  const std::int64_t batching[2] = {2, 7};
  for (int i = 0; i < 2; ++i) {
    o.prompts_per_batch = batching[i];
    auto result = evaluate(model, tokenizer, data::Task::Countdown, problems, o);
    ASSERT_EQ(result.per_problem.size(), 7u);
    for (const auto& row : result.per_problem) responses[i].push_back(row["first_response"].get<std::string>());
  }
  EXPECT_EQ(responses[0], responses[1]);
  // And the seed matters: another seed gives other responses somewhere among the 7 problems.
  o.seed = 12;
  auto other = evaluate(model, tokenizer, data::Task::Countdown, problems, o);
  std::vector<std::string> other_responses;
  for (const auto& row : other.per_problem) other_responses.push_back(row["first_response"].get<std::string>());
  EXPECT_NE(other_responses, responses[0]);
}
