// Evaluation of a model on a task's test set, or on a suite of benchmarks (METHOD.md section 5): n
// samples per problem (or one greedy answer), scored with the task's reward; the estimators are in
// statistics.h (pass@1 = mean c/n over all samples, unbiased pass@k, avg@n).
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "illume/data/tasks.h"
#include "illume/model/model.h"
#include "illume/text/tokenizer.h"
#include "illume/util/json.h"

namespace illume::eval {

struct EvalOptions {
  std::int64_t k = 1;              // samples per problem (n); more than 1 needs temperature > 0
  double temperature = 0.0;        // 0 = greedy
  double top_p = 1.0;
  std::int64_t top_k = 0;          // 0 = off
  std::int64_t max_new_tokens = 1024;
  std::int64_t limit = 0;          // first N problems; 0 = all
  bool chat = false;               // chat template around the prompt (else the plain base prompt)
  std::uint64_t seed = 0;
  std::int64_t prompts_per_batch = 16;  // x k = the rows decoding together (continuous batching)
  std::vector<std::int32_t> stop_token_ids;
  bool show_progress = true;
  data::ScoreOptions score;        // the reward's options (Countdown: TinyZero's rule by default)
  // Replaces the task's reward when set: a trainer evaluating with its own reward (synthetic tasks).
  std::function<data::RewardResult(const data::Problem&, const std::string& response)> scorer;
};

// Fails with one line for k < 1, for k > 1 at temperature 0 (greedy decoding gives one answer; the
// paper's AIME avg@16 is -n 16 --temperature 0.6), and for max_new_tokens < 1.
void check_options(const EvalOptions& options);

struct EvalSummary {
  Json summary;                    // statistics.h's numbers plus the task and the settings
  std::vector<Json> per_problem;   // one row per problem
};

EvalSummary evaluate(const Model& model, const Tokenizer& tokenizer, data::Task task,
                     const std::vector<data::Problem>& problems, const EvalOptions& options);

// Writes OUT/results.jsonl and OUT/summary.json (each atomically).
void write_eval(const std::filesystem::path& out_dir, const EvalSummary& result);

// ---- suites (data::suite_tasks) -----------------------------------------------------------------------

struct SuiteResult {
  std::string suite;
  std::vector<std::pair<data::Task, EvalSummary>> benchmarks;
  Json summary;  // suite_summary(...)
};

// Evaluates every benchmark of the suite on DATA_ROOT/TASK/test.jsonl with the same options. All
// files are loaded (and checked) before the first is evaluated.
SuiteResult evaluate_suite(const Model& model, const Tokenizer& tokenizer, const std::string& suite,
                           const std::filesystem::path& data_root, const EvalOptions& options);

// The suite's table from its benchmarks' summaries (each with "task", "problems", "pass@1", ...):
//   {"suite", "benchmarks": [{"task", "problems", "samples_per_problem", "pass@1", "pass@k"}...],
//    "average_pass@1" (the unweighted mean over benchmarks, as the paper averages), "settings"}
Json suite_summary(const std::string& suite, const std::vector<Json>& benchmark_summaries);

// suite_summary as a markdown table: one row per benchmark (pass@1 in percent, one decimal, as the
// paper prints it) and an "average" row.
std::string suite_markdown(const Json& suite_summary);

// OUT/TASK/results.jsonl and OUT/TASK/summary.json per benchmark, OUT/summary.json and OUT/summary.md.
void write_suite(const std::filesystem::path& out_dir, const SuiteResult& result);

}  // namespace illume::eval
