// Tasks: names, suites, loading the real datasets, schema errors naming FILE:LINE, scoring, prompts.
#include <string>
#include <vector>

#include "common.h"
#include "illume/data/tasks.h"
#include "illume/util/error.h"
#include "illume/util/file.h"
#include "illume/util/json.h"

using namespace illume;
using illume::test::error_of;
using namespace illume::data;

namespace {

#define EXPECT_CONTAINS(haystack, needle) \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << "'" << (haystack) << "' lacks '" << (needle) << "'"

}  // namespace

TEST(Tasks, ParseTaskNames) {
  EXPECT_EQ(parse_task("countdown"), Task::Countdown);
  EXPECT_EQ(parse_task("gsm8k"), Task::Gsm8k);
  EXPECT_EQ(parse_task("math500"), Task::Math500);
  EXPECT_EQ(parse_task("aime24"), Task::Aime24);
  EXPECT_EQ(parse_task("aime25"), Task::Aime25);
  EXPECT_EQ(parse_task("AMC23"), Task::Amc23);
  EXPECT_EQ(parse_task("olympiadbench"), Task::Olympiadbench);
  EXPECT_EQ(parse_task("minerva_math"), Task::MinervaMath);
  for (Task t : {Task::Countdown, Task::Gsm8k, Task::Math500, Task::Aime24, Task::Aime25, Task::Amc23,
                 Task::Olympiadbench, Task::MinervaMath})
    EXPECT_EQ(parse_task(task_name(t)), t);
  std::string message = error_of([] { parse_task("gsm9k"); });
  EXPECT_EQ(message,
            "unknown task 'gsm9k' (valid: countdown, gsm8k, math500, aime24, aime25, amc23, olympiadbench, "
            "minerva_math)");
  EXPECT_FALSE(is_math_task(Task::Countdown));
  EXPECT_TRUE(is_math_task(Task::Aime24));
  EXPECT_TRUE(is_math_task(Task::Olympiadbench));
  EXPECT_TRUE(is_math_task(Task::MinervaMath));
}

TEST(Tasks, SuitesAreThePapersBenchmarkSets) {
  // METHOD.md section 5: the 5-benchmark math average, and the Qwen3-0.6B/1.7B set.
  EXPECT_EQ(suite_tasks("paper-math"),
            (std::vector<Task>{Task::Aime24, Task::Aime25, Task::Amc23, Task::Math500, Task::Olympiadbench}));
  EXPECT_EQ(suite_tasks("small-math"),
            (std::vector<Task>{Task::Amc23, Task::Math500, Task::Olympiadbench, Task::MinervaMath, Task::Gsm8k}));
  EXPECT_EQ(error_of([] { suite_tasks("math"); }), "unknown suite 'math' (valid: paper-math, small-math)");
  EXPECT_EQ(task_data_path("../shared/data", Task::MinervaMath), std::filesystem::path("../shared/data/minerva_math/test.jsonl"));
}

TEST(Tasks, LoadsOlympiadBenchAndMinervaMath) {
  ILLUME_REQUIRE_SHARED_PATH("data/olympiadbench/test.jsonl");
  auto olympiad = load_problems(Task::Olympiadbench, test::shared_path("data/olympiadbench/test.jsonl"));
  ASSERT_EQ(olympiad.size(), 675u);  // SOURCE.md
  EXPECT_EQ(olympiad[0].id, "1606");
  EXPECT_EQ(olympiad[0].reference, "2");
  EXPECT_CONTAINS(olympiad[0].question, "Xenia and Sergey");
  EXPECT_EQ(olympiad[1].reference, "$\\frac{1}{2 n+2}$");
  EXPECT_EQ(olympiad[5].reference, "$(1,8,19), (2,7,13), (4,5,7)$");
  // Graded through the math normaliser: the "$" go, numbers compare as numbers, tuples as text.
  EXPECT_TRUE(score_response(Task::Olympiadbench, olympiad[0], "so Sergey needs \\boxed{2} moves").correct);
  EXPECT_FALSE(score_response(Task::Olympiadbench, olympiad[0], "\\boxed{3}").correct);
  EXPECT_TRUE(score_response(Task::Olympiadbench, olympiad[1], "\\boxed{\\dfrac{1}{2n+2}}").correct);
  EXPECT_TRUE(score_response(Task::Olympiadbench, olympiad[2], "\\boxed{2^{1009}}").correct);
  EXPECT_TRUE(score_response(Task::Olympiadbench, olympiad[5], "\\boxed{(1,8,19),(2,7,13),(4,5,7)}").correct);
  EXPECT_FALSE(score_response(Task::Olympiadbench, olympiad[5], "\\boxed{(1,8,19),(2,7,13)}").correct);

  ILLUME_REQUIRE_SHARED_PATH("data/minerva_math/test.jsonl");
  auto minerva = load_problems(Task::MinervaMath, test::shared_path("data/minerva_math/test.jsonl"));
  ASSERT_EQ(minerva.size(), 272u);  // SOURCE.md
  EXPECT_EQ(minerva[0].id, "0");    // idx
  EXPECT_CONTAINS(minerva[0].question, "Magellan telescopes");
  // The reference is the last \boxed{} of the worked solution.
  EXPECT_EQ(minerva[0].reference, "1.6");
  EXPECT_EQ(minerva[1].reference, "4.5e33");
  EXPECT_EQ(minerva[3].reference, "20.39");
  EXPECT_TRUE(score_response(Task::MinervaMath, minerva[0], "\\boxed{1.6}").correct);
  EXPECT_TRUE(score_response(Task::MinervaMath, minerva[0], "\\boxed{1.60 \\text{ cm}}").correct);
  EXPECT_FALSE(score_response(Task::MinervaMath, minerva[0], "\\boxed{16}").correct);
  EXPECT_TRUE(score_response(Task::MinervaMath, minerva[4], "$a = \\boxed{0.006}$").correct);
}

TEST(Tasks, LoadsTheRealDatasets) {
  ILLUME_REQUIRE_SHARED_PATH("data/countdown/test.jsonl");
  auto countdown = load_problems(Task::Countdown, test::shared_path("data/countdown/test.jsonl"));
  ASSERT_EQ(countdown.size(), 2001u);
  EXPECT_EQ(countdown[0].nums, (std::vector<std::int64_t>{96, 7, 37, 74}));
  EXPECT_EQ(countdown[0].target, 55);
  EXPECT_EQ(countdown[0].reference, "55");
  EXPECT_EQ(countdown[0].id, "countdown-0");
  EXPECT_EQ(countdown[0].question, "Using the numbers [96, 7, 37, 74], create an equation that equals 55.");

  ILLUME_REQUIRE_SHARED_PATH("data/gsm8k/test.jsonl");
  auto gsm8k = load_problems(Task::Gsm8k, test::shared_path("data/gsm8k/test.jsonl"));
  ASSERT_EQ(gsm8k.size(), 1319u);
  EXPECT_EQ(gsm8k[0].reference, "18");
  EXPECT_CONTAINS(gsm8k[0].question, "Janet");

  ILLUME_REQUIRE_SHARED_PATH("data/math500/test.jsonl");
  auto math500 = load_problems(Task::Math500, test::shared_path("data/math500/test.jsonl"));
  ASSERT_EQ(math500.size(), 500u);
  EXPECT_EQ(math500[0].reference, "\\left( 3, \\frac{\\pi}{2} \\right)");
  EXPECT_CONTAINS(math500[0].id, "test/");  // unique_id

  ILLUME_REQUIRE_SHARED_PATH("data/aime24/test.jsonl");
  auto aime24 = load_problems(Task::Aime24, test::shared_path("data/aime24/test.jsonl"));
  ASSERT_EQ(aime24.size(), 30u);
  EXPECT_EQ(aime24[0].id, "60");
  EXPECT_EQ(aime24[7].reference, "025");  // kept as written; the comparison normalises
  EXPECT_TRUE(score_response(Task::Aime24, aime24[7], "\\boxed{25}").correct);

  ILLUME_REQUIRE_SHARED_PATH("data/aime25/test.jsonl");
  auto aime25 = load_problems(Task::Aime25, test::shared_path("data/aime25/test.jsonl"));
  ASSERT_EQ(aime25.size(), 30u);
  EXPECT_EQ(aime25[0].reference, "70");
  EXPECT_EQ(aime25[0].id, "aime25-0");

  ILLUME_REQUIRE_SHARED_PATH("data/amc23/test.jsonl");
  auto amc23 = load_problems(Task::Amc23, test::shared_path("data/amc23/test.jsonl"));
  ASSERT_EQ(amc23.size(), 40u);
  EXPECT_EQ(amc23[0].reference, "27");  // the JSON number 27.0
  EXPECT_TRUE(amc23[0].raw["answer"].is_number_float());
  EXPECT_TRUE(score_response(Task::Amc23, amc23[0], "\\boxed{27.0}").correct);
  EXPECT_TRUE(score_response(Task::Amc23, amc23[0], "\\boxed{27}").correct);
}

namespace {

struct SchemaCase {
  Task task;
  std::string content;
  std::string message;  // the whole expected message after "PATH"
};

}  // namespace

TEST(Tasks, SchemaErrorsNameFileAndLine) {
  std::vector<SchemaCase> cases = {
      {Task::Countdown, "{\"nums\": [1, 2], \"target\": 3}\n{\"nums\": [1, 2]}\n", ":2: missing field 'target'"},
      {Task::Countdown, "\n\n{\"target\": 3}\n", ":3: missing field 'nums'"},
      {Task::Countdown, "{\"nums\": 5, \"target\": 3}", ":1: field 'nums' must be a non-empty list of integers"},
      {Task::Countdown, "{\"nums\": [], \"target\": 3}", ":1: field 'nums' must be a non-empty list of integers"},
      {Task::Countdown, "{\"nums\": [1.5, 2], \"target\": 3}", ":1: every entry of 'nums' must be an integer (it is number)"},
      {Task::Countdown, "{\"nums\": [1, \"2\"], \"target\": 3}", ":1: every entry of 'nums' must be an integer (it is string)"},
      {Task::Countdown, "{\"nums\": [1, 2], \"target\": \"3\"}", ":1: field 'target' must be an integer (it is string)"},
      {Task::Countdown, "{\"nums\": [1, 2], \"target\": 18446744073709551615}", ":1: field 'target' is out of range"},
      {Task::Countdown, "[1, 2, 3]", ":1: expected a JSON object (it is array)"},
      {Task::Countdown, "{\"nums\": [1, 2], \"target\": 3}\n{\"nums\": [1, 2], \"target\": 3", ":2: malformed JSON"},
      {Task::Gsm8k, "{\"question\": \"q\", \"answer\": \"no marker\"}", ":1: field 'answer': GSM8K answer has no '#### N' line"},
      {Task::Gsm8k, "{\"answer\": \"#### 5\"}", ":1: missing field 'question'"},
      {Task::Gsm8k, "{\"question\": 7, \"answer\": \"#### 5\"}", ":1: field 'question' must be a string (it is number)"},
      {Task::Math500, "{\"problem\": \"p\"}", ":1: missing field 'answer'"},
      {Task::Math500, "{\"problem\": \"p\", \"answer\": true}", ":1: field 'answer' must be a string or a number (it is boolean)"},
      {Task::Math500, "{\"problem\": \"p\", \"answer\": \"  \"}", ":1: field 'answer' is empty"},
      {Task::Aime24, "{\"id\": 1, \"answer\": \"025\"}", ":1: missing field 'problem'"},
      {Task::Aime25, "{\"question\": \"p\", \"answer\": \"5\"}", ":1: missing field 'problem'"},
      {Task::Amc23, "{\"id\": 1, \"problem\": \"p\", \"answer\": null}", ":1: missing field 'answer'"},
      {Task::Olympiadbench, "{\"question\": \"q\"}", ":1: missing field 'final_answer'"},
      {Task::Olympiadbench, "{\"question\": \"q\", \"final_answer\": \"2\"}",
       ":1: field 'final_answer' must be a non-empty list of strings"},
      {Task::Olympiadbench, "{\"question\": \"q\", \"final_answer\": []}",
       ":1: field 'final_answer' must be a non-empty list of strings"},
      {Task::Olympiadbench, "{\"question\": \"q\", \"final_answer\": [2]}",
       ":1: every entry of 'final_answer' must be a string (one is number)"},
      {Task::Olympiadbench, "{\"question\": \"q\", \"final_answer\": [\"$ $\"]}", ":1: field 'final_answer' is empty"},
      {Task::Olympiadbench, "{\"problem\": \"q\", \"final_answer\": [\"2\"]}", ":1: missing field 'question'"},
      {Task::MinervaMath, "{\"problem\": \"p\", \"solution\": \"it is 5\"}", ":1: field 'solution' has no \\boxed{...} answer"},
      {Task::MinervaMath, "{\"problem\": \"p\", \"solution\": \"\\\\boxed{ }\"}", ":1: field 'solution' has no \\boxed{...} answer"},
      {Task::MinervaMath, "{\"problem\": \"p\"}", ":1: missing field 'solution'"},
  };
  auto dir = test::scratch_dir();
  int n = 0;
  for (const auto& c : cases) {
    auto path = dir / ("case" + std::to_string(n++) + ".jsonl");
    write_file_atomic(path, c.content);
    std::string message = error_of([&] { load_problems(c.task, path); });
    EXPECT_EQ(message.substr(0, std::min(message.size(), path.string().size() + c.message.size())),
              path.string() + c.message)
        << message;
  }
  EXPECT_ERROR_CONTAINS(load_problems(Task::Math500, dir / "absent.jsonl"), "absent.jsonl: cannot open");
}

TEST(Tasks, FlexibleFields) {
  auto dir = test::scratch_dir();
  auto path = dir / "amc.jsonl";
  // amc23: `question` when there is no `problem`; numbers become strings; ids may be strings.
  write_file_atomic(path,
                    "{\"id\": \"a\", \"question\": \"Q1\", \"answer\": 27.0}\n"
                    "\n"
                    "{\"problem\": \"Q2\", \"answer\": 0.5}\n"
                    "{\"problem\": \"Q3\", \"answer\": -3}\r\n");
  auto problems = load_problems(Task::Amc23, path);
  ASSERT_EQ(problems.size(), 3u);
  EXPECT_EQ(problems[0].id, "a");
  EXPECT_EQ(problems[0].question, "Q1");
  EXPECT_EQ(problems[0].reference, "27");
  EXPECT_EQ(problems[1].id, "amc23-1");
  EXPECT_EQ(problems[1].reference, "0.5");
  EXPECT_EQ(problems[2].reference, "-3");
  EXPECT_TRUE(score_response(Task::Amc23, problems[1], "\\boxed{\\frac{1}{2}}").correct);

}

TEST(Tasks, ScoreResponseDispatches) {
  Problem countdown;
  countdown.nums = {1, 2, 3};
  countdown.target = 6;
  EXPECT_TRUE(score_response(Task::Countdown, countdown, "<answer>1+2+3</answer>").correct);
  // TinyZero's rule by default: a subset of the numbers gets the format reward 0.1.
  EXPECT_EQ(score_response(Task::Countdown, countdown, "<answer>2*3</answer>").reward, 0.1);
  ScoreOptions options;
  options.countdown.rule = reward::CountdownRule::Lenient;
  EXPECT_EQ(score_response(Task::Countdown, countdown, "<answer>2*3</answer>", options).reward, 1.0);
  options.countdown.format_reward = 0.1;
  EXPECT_EQ(score_response(Task::Countdown, countdown, "<answer>1+2</answer>", options).reward, 0.1);
  options.countdown.use_all_numbers = true;
  EXPECT_EQ(score_response(Task::Countdown, countdown, "<answer>2*3</answer>", options).detail, "does not use 1");

  Problem math;
  math.reference = "\\frac{1}{2}";
  EXPECT_EQ(score_response(Task::Math500, math, "\\boxed{0.5}").reward, 1.0);
  EXPECT_EQ(score_response(Task::Gsm8k, math, "0.5").detail, "no \\boxed answer");
}

TEST(Tasks, CountdownPlainPromptIsTinyZerosBaseTemplate) {
  Problem p;
  p.nums = {96, 7, 37, 74};
  p.target = 55;
  EXPECT_EQ(build_prompt(Task::Countdown, p, PromptStyle::Plain),
            "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. The "
            "assistant first thinks about the reasoning process in the mind and then provides the user with the answer.\n"
            "User: Using the numbers [96, 7, 37, 74], create an equation that equals 55. You can use basic arithmetic "
            "operations (+, -, *, /) and each number can only be used once. Show your work in <think> </think> tags. "
            "And return the final answer in <answer> </answer> tags, for example <answer> (1 + 2) / 3 </answer>.\n"
            "Assistant: Let me solve this step by step.\n<think>");
}

TEST(Tasks, CountdownChatPromptMatchesTheQwen3Vectors) {
  ILLUME_REQUIRE_SHARED_PATH("tokenizer/qwen3_vectors.jsonl");
  ILLUME_REQUIRE_SHARED_PATH("data/countdown/test.jsonl");
  auto problems = load_problems(Task::Countdown, test::shared_path("data/countdown/test.jsonl"));
  int checked = 0;
  for (const Json& row : read_jsonl_file(test::shared_path("tokenizer/qwen3_vectors.jsonl"))) {
    if (row.value("source", "") != "countdown_prompt") continue;
    // The vectors hold the whole chat text; the user message is between these markers.
    std::string text = row["text"].get<std::string>();
    const std::string open = "<|im_start|>user\n", close = "<|im_end|>";
    auto begin = text.find(open);
    ASSERT_NE(begin, std::string::npos);
    begin += open.size();
    std::string user = text.substr(begin, text.find(close, begin) - begin);
    // Row k of the vectors is test problem k.
    ASSERT_LT(static_cast<std::size_t>(checked), problems.size());
    EXPECT_EQ(build_prompt(Task::Countdown, problems[checked], PromptStyle::Chat), user) << "row " << checked;
    ++checked;
  }
  EXPECT_EQ(checked, 20);
}

TEST(Tasks, MathPrompts) {
  Problem p;
  p.question = "What is $1+1$?";
  p.reference = "2";
  std::string chat = build_prompt(Task::Gsm8k, p, PromptStyle::Chat);
  EXPECT_EQ(chat, "Please reason step by step, and put your final answer within \\boxed{}.\nWhat is $1+1$?");
  std::string plain = build_prompt(Task::Math500, p, PromptStyle::Plain);
  EXPECT_EQ(plain.rfind("A conversation between User and Assistant.", 0), 0u);
  EXPECT_CONTAINS(plain, "User: " + chat + "\nAssistant:");
  EXPECT_EQ(plain.substr(plain.size() - 10), "Assistant:");
}
