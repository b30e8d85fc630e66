#include "illume/data/tasks.h"

#include <fmt/format.h>

#include <array>
#include <cmath>
#include <utility>

#include "illume/util/jsonl.h"
#include "illume/text/chat.h"

namespace illume::data {

namespace {

constexpr std::array<std::pair<std::string_view, Task>, 8> kTasks = {{
    {"countdown", Task::Countdown},
    {"gsm8k", Task::Gsm8k},
    {"math500", Task::Math500},
    {"aime24", Task::Aime24},
    {"aime25", Task::Aime25},
    {"amc23", Task::Amc23},
    {"olympiadbench", Task::Olympiadbench},
    {"minerva_math", Task::MinervaMath},
}};

struct SuiteEntry {
  std::string_view name;
  std::vector<Task> tasks;
};

const std::vector<SuiteEntry>& suites() {
  static const std::vector<SuiteEntry> all = {
      {"paper-math", {Task::Aime24, Task::Aime25, Task::Amc23, Task::Math500, Task::Olympiadbench}},
      {"small-math", {Task::Amc23, Task::Math500, Task::Olympiadbench, Task::MinervaMath, Task::Gsm8k}},
  };
  return all;
}

constexpr std::string_view kConversationPreamble =
    "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. The "
    "assistant first thinks about the reasoning process in the mind and then provides the user with the answer.\n";

constexpr std::string_view kMathInstruction =
    "Please reason step by step, and put your final answer within \\boxed{}.";

const Json* find_field(const Json& row, const char* key) {
  auto it = row.find(key);
  if (it == row.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string string_field(const Json& row, std::initializer_list<const char*> keys, const std::string& source) {
  for (const char* key : keys) {
    if (const Json* value = find_field(row, key)) {
      if (!value->is_string()) fail("{}: field '{}' must be a string (it is {})", source, key, value->type_name());
      return value->get<std::string>();
    }
  }
  fail("{}: missing field '{}'", source, *keys.begin());
}

// "1e+20" -> "100000000000000000000", "-2.5e-03" -> "-0.0025": the shortest round-trip form of a
// double written out in plain decimal digits (answers are compared as written, and a reference "1e+20"
// would not match a model's "100000000000000000000").
std::string plain_decimal(const std::string& shortest) {
  const auto e = shortest.find_first_of("eE");
  if (e == std::string::npos) return shortest;
  std::string mantissa = shortest.substr(0, e);
  const int exponent = std::stoi(shortest.substr(e + 1));
  std::string sign;
  if (!mantissa.empty() && mantissa[0] == '-') {
    sign = "-";
    mantissa.erase(0, 1);
  }
  const auto dot = mantissa.find('.');
  std::string digits = mantissa;
  int point = static_cast<int>(mantissa.size());  // position of the decimal point within `digits`
  if (dot != std::string::npos) {
    digits.erase(dot, 1);
    point = static_cast<int>(dot);
  }
  point += exponent;
  if (point <= 0) digits = "0." + std::string(static_cast<std::size_t>(-point), '0') + digits;
  else if (point >= static_cast<int>(digits.size())) digits += std::string(static_cast<std::size_t>(point) - digits.size(), '0');
  else digits.insert(static_cast<std::size_t>(point), ".");
  return sign + digits;
}

// A JSON string or number as text: 27 -> "27", 27.0 -> "27", 0.5 -> "0.5", "025" -> "025",
// 9223372036854775808 -> "9223372036854775808", 1e20 -> "100000000000000000000".
std::string answer_text(const Json& value, const char* key, const std::string& source) {
  if (value.is_string()) return value.get<std::string>();
  // Unsigned first: nlohmann's is_number_integer() is true for unsigned values too, and 2^63 read as
  // int64 would turn negative.
  if (value.is_number_unsigned()) return std::to_string(value.get<std::uint64_t>());
  if (value.is_number_integer()) return std::to_string(value.get<std::int64_t>());
  if (value.is_number_float()) {
    double x = value.get<double>();
    if (!std::isfinite(x)) fail("{}: field '{}' is not a finite number", source, key);
    if (x == std::floor(x) && std::fabs(x) < 1e15) return std::to_string(static_cast<std::int64_t>(x));
    if (std::fabs(x) >= 1e300 || (x != 0 && std::fabs(x) < 1e-300))
      fail("{}: field '{}' ({}) is too large or too small to be an answer", source, key, x);
    return plain_decimal(fmt::format("{}", x));  // shortest round-trip form, without an exponent
  }
  fail("{}: field '{}' must be a string or a number (it is {})", source, key, value.type_name());
}

std::string answer_field(const Json& row, const std::string& source) {
  const Json* value = find_field(row, "answer");
  if (value == nullptr) fail("{}: missing field 'answer'", source);
  std::string text = answer_text(*value, "answer", source);
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) fail("{}: field 'answer' is empty", source);
  return text;
}

// OlympiadBench's final_answer: a non-empty list of strings, joined by ", ".
std::string final_answer_field(const Json& row, const std::string& source) {
  const Json* value = find_field(row, "final_answer");
  if (value == nullptr) fail("{}: missing field 'final_answer'", source);
  if (!value->is_array() || value->empty()) fail("{}: field 'final_answer' must be a non-empty list of strings", source);
  std::string text;
  for (const Json& entry : *value) {
    if (!entry.is_string()) fail("{}: every entry of 'final_answer' must be a string (one is {})", source, entry.type_name());
    if (!text.empty()) text += ", ";
    text += entry.get<std::string>();
  }
  if (text.find_first_not_of(" \t\r\n$") == std::string::npos) fail("{}: field 'final_answer' is empty", source);
  return text;
}

// Minerva-Math's reference: the last \boxed{} of the worked solution.
std::string boxed_solution_field(const Json& row, const std::string& source) {
  std::string solution = string_field(row, {"solution"}, source);
  auto boxed = reward::extract_last_boxed(solution);
  if (!boxed || boxed->find_first_not_of(" \t\r\n") == std::string::npos)
    fail("{}: field 'solution' has no \\boxed{{...}} answer", source);
  return *boxed;
}

std::int64_t integer_field(const Json& value, const char* what, const std::string& source) {
  if (!value.is_number_integer() && !value.is_number_unsigned())
    fail("{}: {} must be an integer (it is {})", source, what, value.type_name());
  if (value.is_number_unsigned() && value.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX))
    fail("{}: {} is out of range", source, what);
  return value.get<std::int64_t>();
}

std::string numbers_list(const std::vector<std::int64_t>& nums) {
  return fmt::format("[{}]", fmt::join(nums, ", "));  // Python's list repr, as in TinyZero's prompt
}

std::string countdown_user_text(const Problem& problem) {
  return fmt::format(
      "Using the numbers {}, create an equation that equals {}. You can use basic arithmetic operations (+, -, *, /) "
      "and each number can only be used once. Show your work in <think> </think> tags. And return the final answer "
      "in <answer> </answer> tags, for example <answer> (1 + 2) / 3 </answer>.",
      numbers_list(problem.nums), problem.target);
}

}  // namespace

Task parse_task(const std::string& name) {
  std::string lower;
  for (char c : name) lower.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
  for (auto& [task_name, task] : kTasks)
    if (lower == task_name) return task;
  fail("unknown task '{}' (valid: {})", name, task_names());
}

std::string task_name(Task task) {
  for (auto& [name, t] : kTasks)
    if (t == task) return std::string(name);
  return "unknown";
}

std::string task_names() {
  std::string out;
  for (auto& [name, task] : kTasks) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

bool is_math_task(Task task) { return task != Task::Countdown; }

std::vector<Task> suite_tasks(const std::string& suite) {
  for (const auto& entry : suites())
    if (suite == entry.name) return entry.tasks;
  fail("unknown suite '{}' (valid: {})", suite, suite_names());
}

std::string suite_names() {
  std::string out;
  for (const auto& entry : suites()) {
    if (!out.empty()) out += ", ";
    out += entry.name;
  }
  return out;
}

std::filesystem::path task_data_path(const std::filesystem::path& data_root, Task task) {
  return data_root / task_name(task) / "test.jsonl";
}

Problem problem_from_json(Task task, const Json& row, const std::string& source, std::size_t index) {
  if (!row.is_object()) fail("{}: expected a JSON object (it is {})", source, row.type_name());
  Problem problem;
  problem.raw = row;
  if (const Json* id = find_field(row, "id"); id != nullptr && (id->is_string() || id->is_number_integer() || id->is_number_unsigned())) {
    problem.id = id->is_string() ? id->get<std::string>() : answer_text(*id, "id", source);
  } else if (const Json* uid = find_field(row, "unique_id"); uid != nullptr && uid->is_string()) {
    problem.id = uid->get<std::string>();
  } else if (const Json* idx = find_field(row, "idx"); idx != nullptr && (idx->is_number_integer() || idx->is_number_unsigned())) {
    problem.id = answer_text(*idx, "idx", source);
  } else {
    problem.id = fmt::format("{}-{}", task_name(task), index);
  }
  switch (task) {
    case Task::Countdown: {
      const Json* nums = find_field(row, "nums");
      if (nums == nullptr) fail("{}: missing field 'nums'", source);
      if (!nums->is_array() || nums->empty()) fail("{}: field 'nums' must be a non-empty list of integers", source);
      for (const Json& n : *nums) problem.nums.push_back(integer_field(n, "every entry of 'nums'", source));
      const Json* target = find_field(row, "target");
      if (target == nullptr) fail("{}: missing field 'target'", source);
      problem.target = integer_field(*target, "field 'target'", source);
      problem.reference = std::to_string(problem.target);
      problem.question = fmt::format("Using the numbers {}, create an equation that equals {}.",
                                     numbers_list(problem.nums), problem.target);
      break;
    }
    case Task::Gsm8k: {
      problem.question = string_field(row, {"question"}, source);
      std::string answer = string_field(row, {"answer"}, source);
      try {
        problem.reference = reward::gsm8k_reference_answer(answer);
      } catch (const Error& e) {
        fail("{}: field 'answer': {}", source, e.what());
      }
      break;
    }
    case Task::Math500:
    case Task::Aime25:
      problem.question = string_field(row, {"problem"}, source);
      problem.reference = answer_field(row, source);
      break;
    case Task::Aime24:
    case Task::Amc23:
      problem.question = string_field(row, {"problem", "question"}, source);
      problem.reference = answer_field(row, source);
      break;
    case Task::Olympiadbench:
      problem.question = string_field(row, {"question"}, source);
      problem.reference = final_answer_field(row, source);
      break;
    case Task::MinervaMath:
      problem.question = string_field(row, {"problem"}, source);
      problem.reference = boxed_solution_field(row, source);
      break;
  }
  return problem;
}

std::vector<Problem> load_problems(Task task, const std::filesystem::path& jsonl) {
  std::vector<Problem> problems;
  auto rows = read_jsonl_rows(jsonl);
  problems.reserve(rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i)
    problems.push_back(problem_from_json(task, rows[i].value, row_source(jsonl, rows[i]), i));
  return problems;
}

RewardResult score_response(Task task, const Problem& problem, std::string_view response, const ScoreOptions& options) {
  if (task == Task::Countdown)
    return reward::countdown_reward(response, reward::CountdownProblem{problem.nums, problem.target}, options.countdown);
  return reward::math_reward(response, problem.reference);
}

std::string build_prompt(Task task, const Problem& problem, PromptStyle style) {
  if (task == Task::Countdown) {
    std::string user = countdown_user_text(problem);
    if (style == PromptStyle::Chat) return user;
    return fmt::format("{}User: {}\nAssistant: Let me solve this step by step.\n<think>", kConversationPreamble, user);
  }
  std::string user = fmt::format("{}\n{}", kMathInstruction, problem.question);
  if (style == PromptStyle::Chat) return user;
  return fmt::format("{}User: {}\nAssistant:", kConversationPreamble, user);
}

std::string prompt_text(Task task, const Problem& problem, PromptStyle style) {
  auto text = build_prompt(task, problem, style);
  if (style == PromptStyle::Chat) return format_chat({{"user", text}}, /*add_generation_prompt=*/true, /*enable_thinking=*/true);
  return text;
}

}  // namespace illume::data
