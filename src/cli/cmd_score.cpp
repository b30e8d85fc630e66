// illume score: scores responses against a task's problems with the task's reward.
//   illume score --task countdown --data test.jsonl --responses responses.jsonl
//                [--countdown-rule tinyzero|lenient] [--use-all-numbers] [--format-reward R]
// Countdown is scored by TinyZero's rule unless --countdown-rule lenient (countdown.h); the format
// reward defaults to the rule's own (TinyZero 0.1, lenient 0); --use-all-numbers is lenient's.
// Response line i (a JSON object {"response": TEXT}) answers problem i of the data file (blank lines
// are skipped in both). Prints one JSON line per response:
//   {"index": i, "reward": r, "correct": true|false, "detail": "..."}
// Everything is read and checked before anything is printed: malformed lines, a missing 'response'
// and mismatched counts fail with one line naming FILE:LINE, exit status 1.
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli/command.h"
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
};

std::vector<std::string> read_responses(const std::string& path) {
  std::vector<std::string> responses;
  for (const auto& row : illume::read_jsonl_rows(path)) {
    std::string source = illume::row_source(path, row);
    if (!row.value.is_object()) illume::fail("{}: expected a JSON object {{\"response\": TEXT}}", source);
    auto it = row.value.find("response");
    if (it == row.value.end()) illume::fail("{}: missing key 'response'", source);
    if (!it->is_string()) illume::fail("{}: key 'response' must be a string (it is {})", source, it->type_name());
    responses.push_back(it->get<std::string>());
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
  std::vector<std::string> responses = read_responses(args.responses_path);
  if (responses.size() != problems.size()) {
    fail("{}: {} responses, but {} has {} problems (one response per problem, in the same order)",
         args.responses_path, responses.size(), args.data_path, problems.size());
  }

  data::ScoreOptions options;
  options.countdown.rule = rule;
  options.countdown.use_all_numbers = args.use_all_numbers;
  if (args.format_reward_given) options.countdown.format_reward = args.format_reward;
  for (std::size_t i = 0; i < responses.size(); ++i) {
    reward::RewardResult result = data::score_response(task, problems[i], responses[i], options);
    Json line = {{"index", i}, {"reward", result.reward}, {"correct", result.correct}, {"detail", result.detail}};
    std::string text = dump_line(line);
    text.push_back('\n');
    std::fwrite(text.data(), 1, text.size(), stdout);
  }
  if (std::fflush(stdout) != 0) fail("cannot write to standard output");
}

void setup(CLI::App& app) {
  auto args = std::make_shared<ScoreArgs>();
  auto* cmd = app.add_subcommand("score", "Score responses against a task's problems (one JSON line per response)");
  cmd->add_option("--task", args->task, "Task: " + illume::data::task_names())->required();
  cmd->add_option("--data", args->data_path, "The task's problems (JSONL)")->required();
  cmd->add_option("--responses", args->responses_path, "Responses, one {\"response\": TEXT} per line (JSONL)")
      ->required();
  auto* rule = cmd->add_option("--countdown-rule", args->countdown_rule,
                                "Countdown: tinyzero (TinyZero's reward, the default) or lenient (illume's earlier rule)");
  cmd->add_flag("--use-all-numbers", args->use_all_numbers,
                "Countdown, lenient rule: every number exactly once (default: at most once)");
  auto* format = cmd->add_option("--format-reward", args->format_reward,
                                 "Countdown: reward for a well-formed but wrong answer (default: tinyzero 0.1, lenient 0)");
  cmd->callback([args, format, rule] {
    args->format_reward_given = format->count() > 0;
    args->countdown_rule_given = rule->count() > 0;
    run_score(*args);
  });
}
ILLUME_COMMAND(setup);

}  // namespace
