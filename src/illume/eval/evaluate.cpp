#include "illume/eval/evaluate.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>

#include "illume/infer/generate.h"
#include "illume/text/chat.h"
#include "illume/util/error.h"
#include "illume/util/file.h"
#include "illume/util/progress.h"

namespace illume::eval {

EvalSummary evaluate(const Model& model, const Tokenizer& tokenizer, data::Task task,
                     const std::vector<data::Problem>& all_problems, const EvalOptions& options) {
  if (options.k < 1) fail("eval: --k must be >= 1");
  const bool greedy = options.temperature <= 0;
  const std::int64_t k = greedy ? 1 : options.k;
  std::vector<data::Problem> problems = all_problems;
  if (options.limit > 0 && static_cast<std::int64_t>(problems.size()) > options.limit)
    problems.resize(static_cast<std::size_t>(options.limit));
  if (problems.empty()) fail("eval: no problems to evaluate");

  const auto start = std::chrono::steady_clock::now();
  const auto style = options.chat ? data::PromptStyle::Chat : data::PromptStyle::Plain;
  EvalSummary out;
  double first_correct = 0, all_correct = 0, any_correct = 0, length_sum = 0;
  Progress progress("eval", static_cast<std::int64_t>(problems.size()), "problem", options.show_progress);
  const auto per_batch = std::max<std::int64_t>(1, options.prompts_per_batch);
  for (std::size_t begin = 0; begin < problems.size(); begin += per_batch) {
    const auto end = std::min(problems.size(), begin + static_cast<std::size_t>(per_batch));
    std::vector<std::vector<std::int32_t>> prompts;
    for (auto i = begin; i < end; ++i) {
      prompts.push_back(tokenizer.encode(data::prompt_text(task, problems[i], style), true));
    }
    auto s = sampling_options(model.config(), tokenizer);
    s.temperature = options.temperature;
    s.top_p = options.top_p;
    s.max_new_tokens = options.max_new_tokens;
    s.num_samples = k;
    s.seed = options.seed + begin;  // per-sample streams also depend on the prompt index within the call
    s.stop_token_ids = options.stop_token_ids.empty() ? default_stop_tokens(model.config(), tokenizer) : options.stop_token_ids;
    std::vector<Completion> completions;
    {
      torch::NoGradGuard no_grad;
      completions = generate(model, prompts, s, [&](const std::vector<std::int32_t>& ids) { return tokenizer.decode(ids, true); });
    }
    for (auto i = begin; i < end; ++i) {
      const auto& p = problems[i];
      Json correct = Json::array(), rewards = Json::array(), lengths = Json::array();
      double n_correct = 0;
      for (std::int64_t j = 0; j < k; ++j) {
        const auto& c = completions[(i - begin) * k + j];
        auto r = data::score_response(task, p, c.text);
        correct.push_back(r.correct);
        rewards.push_back(r.reward);
        lengths.push_back(c.ids.size());
        n_correct += r.correct ? 1 : 0;
        length_sum += c.ids.size();
      }
      const auto& first = completions[(i - begin) * k];
      bool first_ok = correct[0].get<bool>();
      first_correct += first_ok;
      all_correct += n_correct;
      any_correct += n_correct > 0;
      out.per_problem.push_back({{"id", p.id}, {"reference", p.reference}, {"pass@1", first_ok ? 1.0 : 0.0},
                                 {"avg@k", n_correct / k}, {"correct", correct}, {"rewards", rewards},
                                 {"response_lengths", lengths}, {"first_response", first.text}});
      progress.advance(1);
    }
  }
  progress.finish();
  const double n = static_cast<double>(problems.size());
  out.summary = {{"task", data::task_name(task)},
                 {"problems", problems.size()},
                 {"k", k},
                 {"temperature", options.temperature},
                 {"greedy", greedy},
                 {"prompt_style", options.chat ? "chat" : "plain"},
                 {"max_new_tokens", options.max_new_tokens},
                 {"pass@1", first_correct / n},
                 {fmt::format("avg@{}", k), all_correct / (n * k)},
                 {"avg@k", all_correct / (n * k)},
                 {fmt::format("pass@{}", k), any_correct / n},
                 {"response_length_mean", length_sum / (n * k)},
                 {"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()}};
  return out;
}

void write_eval(const std::filesystem::path& out_dir, const EvalSummary& result) {
  ensure_directory(out_dir);
  std::string lines;
  for (const auto& row : result.per_problem) lines += dump_line(row) + "\n";
  write_file_atomic(out_dir / "results.jsonl", lines);
  write_file_atomic(out_dir / "summary.json", result.summary.dump(2) + "\n");
}

}  // namespace illume::eval
