#include "illume/eval/evaluate.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>

#include "illume/eval/statistics.h"
#include "illume/infer/generate.h"
#include "illume/text/chat.h"
#include "illume/util/error.h"
#include "illume/util/file.h"
#include "illume/util/progress.h"

namespace illume::eval {

void check_options(const EvalOptions& options) {
  if (options.k < 1) fail("eval: -n/--num-samples must be >= 1 (got {})", options.k);
  if (options.k > 1 && options.temperature <= 0)
    fail("eval: -n {} needs --temperature > 0 (greedy decoding gives one answer per problem; AIME's avg@16 is "
         "-n 16 --temperature 0.6)",
         options.k);
  if (options.max_new_tokens < 1) fail("eval: --max-new-tokens must be >= 1 (got {})", options.max_new_tokens);
}

EvalSummary evaluate(const Model& model, const Tokenizer& tokenizer, data::Task task,
                     const std::vector<data::Problem>& all_problems, const EvalOptions& options) {
  check_options(options);
  const bool greedy = options.temperature <= 0;
  const std::int64_t k = options.k;
  std::vector<data::Problem> problems = all_problems;
  if (options.limit > 0 && static_cast<std::int64_t>(problems.size()) > options.limit)
    problems.resize(static_cast<std::size_t>(options.limit));
  if (problems.empty()) fail("eval: no problems to evaluate");

  const auto start = std::chrono::steady_clock::now();
  const auto style = options.chat ? data::PromptStyle::Chat : data::PromptStyle::Plain;
  EvalSummary out;
  std::vector<std::vector<ScoredSample>> scored;
  // Built once: the tokenizer's valid ids (a pass over the whole vocabulary) and the stop tokens.
  auto s = sampling_options(model.config(), tokenizer);
  s.temperature = options.temperature;
  s.top_p = options.top_p;
  s.top_k = options.top_k;
  s.max_new_tokens = options.max_new_tokens;
  s.num_samples = k;
  if (!options.stop_token_ids.empty()) s.stop_token_ids = options.stop_token_ids;
  // Every problem in one call: generate() keeps prompts_per_batch x k rows decoding and gives a finished
  // row's slot to the next (problem, sample), so no batch waits for its longest response. Each (problem,
  // sample) draws from its own stream keyed by the problem's index, so the batching changes no response.
  s.seed = options.seed;
  s.max_batch_rows = std::max<std::int64_t>(1, options.prompts_per_batch) * k;
  s.show_progress = options.show_progress;
  s.progress_label = "eval " + data::task_name(task);
  std::vector<std::vector<std::int32_t>> prompts;
  for (const auto& p : problems) prompts.push_back(tokenizer.encode(data::prompt_text(task, p, style), true));
  std::vector<Completion> completions;
  {
    torch::NoGradGuard no_grad;
    completions = generate(model, prompts, s, [&](const std::vector<std::int32_t>& ids) { return tokenizer.decode(ids, true); });
  }
  for (std::size_t i = 0; i < problems.size(); ++i) {
    const auto& p = problems[i];
    Json correct = Json::array(), rewards = Json::array(), lengths = Json::array();
    std::vector<ScoredSample> samples;
    for (std::int64_t j = 0; j < k; ++j) {
      const auto& c = completions[i * k + j];
      auto r = options.scorer ? options.scorer(p, c.text) : data::score_response(task, p, c.text, options.score);
      samples.push_back({r.correct, r.formatted, r.reward, static_cast<std::int64_t>(c.ids.size())});
      correct.push_back(r.correct);
      rewards.push_back(r.reward);
      lengths.push_back(c.ids.size());
    }
    const auto count = std::count_if(samples.begin(), samples.end(), [](const ScoredSample& s) { return s.correct; });
    const double share = static_cast<double>(count) / static_cast<double>(k);
    out.per_problem.push_back({{"id", p.id}, {"reference", p.reference}, {"correct_count", count},
                               {"pass@1", share}, {"avg@k", share},
                               {"correct", correct}, {"rewards", rewards}, {"response_lengths", lengths},
                               {"first_response", completions[i * k].text}});
    scored.push_back(std::move(samples));
  }
  out.summary = {{"task", data::task_name(task)},
                 {"k", k},
                 {"temperature", options.temperature},
                 {"top_p", options.top_p},
                 {"top_k", options.top_k},
                 {"greedy", greedy},
                 {"prompt_style", options.chat ? "chat" : "plain"},
                 {"max_new_tokens", options.max_new_tokens},
                 {"estimator", "pass@1 = mean of c/n over problems; pass@k = mean of 1 - C(n-c,k)/C(n,k) (unbiased)"}};
  if (task == data::Task::Countdown) {
    out.summary["countdown_rule"] = reward::countdown_rule_name(options.score.countdown.rule);
    out.summary["format_reward"] = reward::countdown_format_reward(options.score.countdown);
  }
  out.summary.update(sample_statistics(scored));
  out.summary["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

void write_eval(const std::filesystem::path& out_dir, const EvalSummary& result) {
  ensure_directory(out_dir);
  std::string lines;
  for (const auto& row : result.per_problem) lines += dump_line(row) + "\n";
  write_file_atomic(out_dir / "results.jsonl", lines);
  write_file_atomic(out_dir / "summary.json", result.summary.dump(2) + "\n");
}

SuiteResult evaluate_suite(const Model& model, const Tokenizer& tokenizer, const std::string& suite,
                           const std::filesystem::path& data_root, const EvalOptions& options) {
  check_options(options);
  const auto tasks = data::suite_tasks(suite);
  std::vector<std::vector<data::Problem>> problems;
  for (auto task : tasks) problems.push_back(data::load_problems(task, data::task_data_path(data_root, task)));
  SuiteResult result;
  result.suite = suite;
  std::vector<Json> summaries;
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    auto summary = evaluate(model, tokenizer, tasks[i], problems[i], options);
    summary.summary["data"] = data::task_data_path(data_root, tasks[i]).string();
    summaries.push_back(summary.summary);
    result.benchmarks.emplace_back(tasks[i], std::move(summary));
  }
  result.summary = suite_summary(suite, summaries);
  return result;
}

Json suite_summary(const std::string& suite, const std::vector<Json>& benchmark_summaries) {
  if (benchmark_summaries.empty()) fail("eval: suite '{}' has no benchmarks", suite);
  Json rows = Json::array();
  double pass_sum = 0;
  for (const auto& s : benchmark_summaries) {
    Json row = {{"task", s.at("task")}, {"problems", s.at("problems")}, {"pass@1", s.at("pass@1")}};
    for (const char* key : {"samples_per_problem", "pass@k", "data", "seconds"})
      if (s.contains(key)) row[key] = s.at(key);
    pass_sum += s.at("pass@1").get<double>();
    rows.push_back(std::move(row));
  }
  Json settings = Json::object();
  for (const char* key : {"k", "temperature", "top_p", "prompt_style", "max_new_tokens", "estimator"})
    if (benchmark_summaries.front().contains(key)) settings[key] = benchmark_summaries.front().at(key);
  return {{"suite", suite},
          {"benchmarks", rows},
          {"average_pass@1", pass_sum / static_cast<double>(benchmark_summaries.size())},
          {"settings", settings}};
}

std::string suite_markdown(const Json& summary) {
  const auto& rows = summary.at("benchmarks");
  const std::int64_t n = rows.empty() ? 1 : rows.front().value("samples_per_problem", std::int64_t{1});
  const bool sampled = n > 1;
  auto percent = [](const Json& v) { return fmt::format("{:.1f}", 100.0 * v.get<double>()); };
  std::string out = fmt::format("Suite `{}`: pass@1 in percent", summary.at("suite").get<std::string>());
  if (sampled) out += fmt::format(" (mean over {} samples per problem; also pass@{})", n, n);
  out += ".\n\n";
  out += sampled ? fmt::format("| benchmark | problems | pass@1 | pass@{} |\n|---|---:|---:|---:|\n", n)
                 : "| benchmark | problems | pass@1 |\n|---|---:|---:|\n";
  for (const auto& row : rows) {
    out += fmt::format("| {} | {} | {} |", row.at("task").get<std::string>(), row.at("problems").get<std::int64_t>(),
                       percent(row.at("pass@1")));
    if (sampled) out += fmt::format(" {} |", row.contains("pass@k") ? percent(row.at("pass@k")) : "");
    out += "\n";
  }
  out += fmt::format("| **average** ({} benchmarks) | | **{}** |{}\n", rows.size(), percent(summary.at("average_pass@1")),
                     sampled ? " |" : "");
  return out;
}

void write_suite(const std::filesystem::path& out_dir, const SuiteResult& result) {
  ensure_directory(out_dir);
  for (const auto& [task, summary] : result.benchmarks) write_eval(out_dir / data::task_name(task), summary);
  write_file_atomic(out_dir / "summary.json", result.summary.dump(2) + "\n");
  write_file_atomic(out_dir / "summary.md", suite_markdown(result.summary));
}

}  // namespace illume::eval
