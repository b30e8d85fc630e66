// Tasks: loading problems from the datasets' JSONL files, the prompts, and scoring a response with the
// task's reward (METHOD.md section 5).
//
// Schemas (one JSON object per line; blank lines skipped):
//   countdown {nums: [int...], target: int}
//   gsm8k     {question, answer}            reference = text after "####", commas removed
//   math500   {problem, answer, unique_id?}
//   aime24    {id, problem (or question), answer}  answer a string, may have leading zeros ("025")
//   aime25    {problem, answer}
//   amc23     {id, problem or question, answer}    answer a JSON number (27.0 -> "27")
//   olympiadbench {id, question, final_answer: [str...]}  reference = the list's entries joined by ", "
//             (every row of the shared set has one entry, e.g. "$\frac{9}{32}$"; "$" is dropped by
//             the math normaliser), as the Qwen2.5-Math harness takes final_answer[0]
//   minerva_math {problem, solution, idx?}        reference = the last \boxed{} of solution
// Answers may be strings or numbers; numbers become strings (integral floats without ".0"). The
// math comparison normalises both sides, so "025" == "25" and "27.0" == "27" either way.
// Problem::id is the row's "id" (string or number), else "unique_id", else "idx", else "TASK-INDEX"
// (0-based).
// Schema errors fail with "FILE:LINE: missing field 'answer'" and the like.
//
// Prompts (build_prompt):
//   Countdown, Plain: TinyZero's base template (examples/data_preprocess/countdown.py, 'base'),
//     ending "Assistant: Let me solve this step by step.\n<think>".
//   Countdown, Chat: only the user message, the same text as the "countdown_prompt" rows of
//     shared/tokenizer/qwen3_vectors.jsonl; the caller wraps it in the chat template.
//   Math, Chat: "Please reason step by step, and put your final answer within \boxed{}.\n" + problem.
//   Math, Plain: the same conversation preamble as Countdown's, "User: " + the Chat text, then
//     "\nAssistant:".
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "illume/rl/reward/countdown.h"
#include "illume/rl/reward/math.h"
#include "illume/util/json.h"

namespace illume::data {

using reward::RewardResult;

enum class Task { Countdown, Gsm8k, Math500, Aime24, Aime25, Amc23, Olympiadbench, MinervaMath };

// "countdown", "gsm8k", "math500", "aime24", "aime25", "amc23", "olympiadbench", "minerva_math"
// (case-insensitive); otherwise fails with "unknown task 'x' (valid: countdown, gsm8k, ...)".
Task parse_task(const std::string& name);
std::string task_name(Task task);
// The valid names, comma-separated, for help texts.
std::string task_names();
bool is_math_task(Task task);  // every task but Countdown

// The benchmark suites of the paper's math tables (METHOD.md section 5), each one `illume eval
// --suite NAME`:
//   paper-math: aime24, aime25, amc23, math500, olympiadbench    (Qwen3-4B/8B: the 5-benchmark average)
//   small-math: amc23, math500, olympiadbench, minerva_math, gsm8k (Qwen3-0.6B/1.7B)
// Fails with "unknown suite 'x' (valid: paper-math, small-math)".
std::vector<Task> suite_tasks(const std::string& suite);
std::string suite_names();

// A task's test file under a data root laid out as ../shared/data: ROOT/TASK/test.jsonl.
std::filesystem::path task_data_path(const std::filesystem::path& data_root, Task task);

struct Problem {
  std::string id;
  std::string question;   // math: the problem text; countdown: "Using the numbers [..], create ... N."
  std::string reference;  // math: the answer as a string; countdown: the target as a string
  // countdown:
  std::vector<std::int64_t> nums;
  std::int64_t target = 0;
  nlohmann::json raw;     // the row as read
};

// One row; `source` ("FILE:LINE") prefixes error messages, `index` is the 0-based row number.
Problem problem_from_json(Task task, const Json& row, const std::string& source, std::size_t index);

std::vector<Problem> load_problems(Task task, const std::filesystem::path& jsonl);

struct ScoreOptions {
  reward::CountdownRewardOptions countdown;
};

// Countdown -> countdown_reward(nums, target) (TinyZero's rule unless options say otherwise); the math
// tasks -> math_reward(reference).
RewardResult score_response(Task task, const Problem& problem, std::string_view response,
                            const ScoreOptions& options = {});

enum class PromptStyle { Plain, Chat };

std::string build_prompt(Task task, const Problem& problem, PromptStyle style);

// The whole prompt text a model is given (encode it with parse_special = true): Plain is
// build_prompt's text; Chat wraps build_prompt's user text in the chat template with the generation
// prompt and thinking on (the model opens its own <think> block, as the default model was trained).
// SFT, GRPO rollouts, evaluation and analysis all prompt through this one function.
std::string prompt_text(Task task, const Problem& problem, PromptStyle style);

}  // namespace illume::data
