// illume score: scores responses against a task's problems with the task's reward.
//   illume score --task countdown --data test.jsonl --responses responses.jsonl
//                [--countdown-rule tinyzero|lenient] [--use-all-numbers] [--format-reward R]
// Countdown is scored by TinyZero's rule unless --countdown-rule lenient (countdown.h); the format
// reward defaults to the rule's own (TinyZero 0.1, lenient 0); --use-all-numbers is lenient's.
// Responses are JSON objects {"response": TEXT[, "prompt_index": i[, "sample_index": s]]}, either
//   - without "prompt_index": line i answers problem i of the data file (blank lines are skipped in
//     both), one response per problem;
//   - with "prompt_index" on every line (`illume generate --task T --data F -n N --out` writes it):
//     the line answers problem prompt_index (0-based, blank lines skipped), so a problem may have
//     several responses (one per sample_index) or none.
// -n/--num-samples N (as generate's) says how many responses each problem has: without "prompt_index",
// lines i*N .. i*N+N-1 answer problem i; with it, every problem must have exactly N.
// Prints one JSON line per response, in the responses' order:
//   {"index": i, ["sample_index": s,] "reward": r, "correct": true|false, "detail": "..."}
// Everything is read and checked before anything is printed: malformed lines, a missing 'response'
// and mismatched counts fail with one line naming FILE:LINE, exit status 1.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "cli/command.h"
#include "cli/common.h"
#include "illume/util/jsonl.h"
#include "illume/data/tasks.h"
#include "illume/util/error.h"
#include "illume/util/json.h"

namespace {

struct ScoreArgs {
  std::string task;
  std::string data_path;
  std::string responses_path;
  std::string countdown_rule = "tinyzero";
  bool countdown_rule_given = false;
  bool use_all_numbers = false;
  double format_reward = 0.0;
  bool format_reward_given = false;
  std::int64_t num_samples = 0;  // responses per problem; 0: not given (one per problem unless indexed)
};

struct ScoredResponse {
  std::string text;
  std::size_t problem = 0;                   // index into the data file's problems
  std::optional<std::int64_t> sample_index;  // as given
};

// A non-negative integer field of a response row (absent: nullopt).
std::optional<std::int64_t> index_field(const illume::Json& row, const char* key, const std::string& source) {
  auto it = row.find(key);
  if (it == row.end()) return std::nullopt;
  if (!it->is_number_unsigned() && !(it->is_number_integer() && it->get<std::int64_t>() >= 0))
    illume::fail("{}: key '{}' must be a non-negative integer (it is {})", source, key, it->dump());
  return it->get<std::int64_t>();
}

// The responses of `path` matched to the `problems` problems of `data_path` (see the file comment).
std::vector<ScoredResponse> read_responses(const std::string& path, std::size_t problems,
                                           const std::string& data_path, std::int64_t num_samples) {
  const auto per_problem = static_cast<std::size_t>(std::max<std::int64_t>(1, num_samples));
  std::vector<ScoredResponse> responses;
  bool indexed = false;
  std::set<std::pair<std::int64_t, std::int64_t>> seen;  // (prompt_index, sample_index)
  for (const auto& row : illume::read_jsonl_rows(path)) {
    std::string source = illume::row_source(path, row);
    if (!row.value.is_object()) illume::fail("{}: expected a JSON object {{\"response\": TEXT}}", source);
    auto it = row.value.find("response");
    if (it == row.value.end()) illume::fail("{}: missing key 'response'", source);
    if (!it->is_string()) illume::fail("{}: key 'response' must be a string (it is {})", source, it->type_name());
    ScoredResponse r;
    r.text = it->get<std::string>();
    auto prompt_index = index_field(row.value, "prompt_index", source);
    r.sample_index = index_field(row.value, "sample_index", source);
    if (responses.empty()) indexed = prompt_index.has_value();
    if (prompt_index.has_value() != indexed)
      illume::fail("{}: {} 'prompt_index' (give it on every line or on none)", source,
                   indexed ? "missing key" : "unexpected key");
    if (indexed) {
      if (static_cast<std::uint64_t>(*prompt_index) >= problems)
        illume::fail("{}: prompt_index {} is beyond the {} problems of {}", source, *prompt_index, problems,
                     data_path);
      if (r.sample_index && !seen.insert({*prompt_index, *r.sample_index}).second)
        illume::fail("{}: a second response to prompt_index {}, sample_index {}", source, *prompt_index,
                     *r.sample_index);
      r.problem = static_cast<std::size_t>(*prompt_index);
    } else {
      r.problem = responses.size() / per_problem;
    }
    responses.push_back(std::move(r));
  }
  if (!indexed && responses.size() != problems * per_problem) {
    illume::fail("{}: {} responses, but {} has {} problems ({} response{} per problem, in the same order; or give "
                 "each line its 'prompt_index')",
                 path, responses.size(), data_path, problems, per_problem, per_problem == 1 ? "" : "s");
  }
  if (indexed && num_samples > 0) {
    std::vector<std::size_t> counts(problems, 0);
    for (const auto& r : responses) ++counts[r.problem];
    for (std::size_t i = 0; i < problems; ++i)
      if (counts[i] != per_problem)
        illume::fail("{}: prompt_index {} has {} responses, but -n {} says each problem has {}", path, i, counts[i],
                     num_samples, num_samples);
  }
  return responses;
}

void run_score(const ScoreArgs& args) {
  using namespace illume;
  data::Task task = data::parse_task(args.task);
  if (task != data::Task::Countdown && (args.use_all_numbers || args.format_reward_given || args.countdown_rule_given))
    fail("--countdown-rule, --use-all-numbers and --format-reward apply to the countdown task only");
  reward::CountdownRule rule = reward::parse_countdown_rule(args.countdown_rule);
  if (rule == reward::CountdownRule::TinyZero && args.use_all_numbers)
    fail("--use-all-numbers applies to --countdown-rule lenient only (TinyZero's rule always uses every number)");
  if (args.format_reward_given &&
      (!std::isfinite(args.format_reward) || args.format_reward < 0.0 || args.format_reward > 1.0))
    fail("--format-reward must be between 0 and 1 (got {})", args.format_reward);

  std::vector<data::Problem> problems = data::load_problems(task, args.data_path);
  std::vector<ScoredResponse> responses =
      read_responses(args.responses_path, problems.size(), args.data_path, args.num_samples);

  data::ScoreOptions options;
  options.countdown.rule = rule;
  options.countdown.use_all_numbers = args.use_all_numbers;
  if (args.format_reward_given) options.countdown.format_reward = args.format_reward;
  for (const auto& response : responses) {
    reward::RewardResult result = data::score_response(task, problems[response.problem], response.text, options);
    Json line = {{"index", response.problem}};
    if (response.sample_index) line["sample_index"] = *response.sample_index;
    line.update({{"reward", result.reward}, {"correct", result.correct}, {"detail", result.detail}});
    std::string text = dump_line(line);
    text.push_back('\n');
    std::fwrite(text.data(), 1, text.size(), stdout);
  }
  if (std::fflush(stdout) != 0) fail("cannot write to standard output");
}

void setup(CLI::App& app) {
  auto args = std::make_shared<ScoreArgs>();
  auto* cmd = app.add_subcommand("score", "Score responses against a task's problems (one JSON line per response)");
  cmd->add_option("--task", args->task, "task: " + illume::data::task_names())->required();
  cmd->add_option("--data", args->data_path, "the task's problems (JSONL)")->required();
  cmd->add_option("--responses", args->responses_path, "responses (JSONL): one {\"response\": TEXT} per problem in order, or lines with "
                  "\"prompt_index\" (and \"sample_index\") as `generate --out` writes them, several per problem")
      ->required();
  cmd->add_option("-n,--num-samples", args->num_samples,
                  "responses per problem (as generate -n wrote them): without prompt_index, N consecutive lines per "
                  "problem; with it, exactly N each (default: one per problem, or as indexed)")
      ->check(illume::cli::integer_range(1, illume::kMaxSamplesPerPrompt));
  auto* rule = cmd->add_option("--countdown-rule", args->countdown_rule,
                                "countdown: tinyzero (TinyZero's reward, the default) or lenient (illume's earlier rule)")
                   ->capture_default_str();
  cmd->add_flag("--use-all-numbers", args->use_all_numbers,
                "countdown, lenient rule: every number exactly once (default: at most once)");
  auto* format = cmd->add_option("--format-reward", args->format_reward,
                                 "countdown: reward for a well-formed but wrong answer (default: tinyzero 0.1, lenient 0)");
  cmd->callback([args, format, rule] {
    args->format_reward_given = format->count() > 0;
    args->countdown_rule_given = rule->count() > 0;
    run_score(*args);
  });
}
ILLUME_COMMAND(setup);

}  // namespace
