// `illume score` end to end: runs the real binary (ILLUME_BIN, which ctest sets; else the `illume`
// next to this test executable) on small data/response pairs.
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "common.h"
#include "illume/util/file.h"
#include "illume/util/json.h"

using namespace illume;

namespace {

struct CliRun {
  int status = -1;
  std::string out, err;
  std::vector<Json> lines() const {
    std::vector<Json> rows;
    std::size_t start = 0;
    while (start < out.size()) {
      std::size_t end = out.find('\n', start);
      if (end == std::string::npos) end = out.size();
      rows.push_back(Json::parse(out.substr(start, end - start)));
      start = end + 1;
    }
    return rows;
  }
};

class ScoreCli : public ::testing::Test {
 protected:
  void SetUp() override {
    binary_ = test::illume_binary();
    if (binary_.empty() || !std::filesystem::exists(binary_))
      FAIL() << "cannot find the illume binary: set ILLUME_BIN to it (ctest does), or build the illume_cli target "
                "so that `illume` sits next to this test executable";
    dir_ = test::scratch_dir();
  }

  std::filesystem::path write(const std::string& name, const std::string& content) {
    auto path = dir_ / name;
    write_file_atomic(path, content);
    return path;
  }

  CliRun run(const std::string& args) {
    std::string command = "'" + binary_.string() + "' " + args + " > '" + (dir_ / "stdout").string() + "' 2> '" +
                          (dir_ / "stderr").string() + "'";
    int raw = std::system(command.c_str());
    CliRun r;
    r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
    r.out = read_file(dir_ / "stdout");
    r.err = read_file(dir_ / "stderr");
    return r;
  }

  std::filesystem::path binary_, dir_;
};

const char* kCountdownData =
    "{\"nums\": [1, 2, 3], \"target\": 6}\n"
    "{\"nums\": [4, 5], \"target\": 20}\n"
    "\n"
    "{\"nums\": [7, 2], \"target\": 5}\n";

}  // namespace

TEST_F(ScoreCli, ScoresCountdownWithTinyZerosRuleByDefault) {
  auto data = write("data.jsonl", std::string(kCountdownData) +
                                      "{\"nums\": [1, 2, 3], \"target\": 3}\n"
                                      "{\"nums\": [1, 2, 3], \"target\": 6}\n");
  auto responses = write("responses.jsonl",
                         "{\"response\": \"<think>x</think><answer>1+2+3</answer>\"}\n"
                         "{\"response\": \"<answer>4+5</answer>\"}\n"
                         "{\"response\": \"no answer \\u0000 here\"}\n"
                         "{\"response\": \"<answer>1+2</answer>\"}\n"
                         "{\"response\": \"<answer>1+2+3</answer>\\n\"}\n");
  const std::string files = "--data '" + data.string() + "' --responses '" + responses.string() + "'";
  CliRun r = run("score --task countdown " + files);
  ASSERT_EQ(r.status, 0) << r.err;
  auto lines = r.lines();
  ASSERT_EQ(lines.size(), 5u) << r.out;
  EXPECT_EQ(lines[0], Json::parse(R"({"index": 0, "reward": 1.0, "correct": true, "detail": "correct"})"));
  EXPECT_EQ(lines[1], Json::parse(R"({"index": 1, "reward": 0.1, "correct": false, "detail": "result 9 != 20"})"));
  EXPECT_EQ(lines[2], Json::parse(R"({"index": 2, "reward": 0.0, "correct": false,
                                      "detail": "no <answer>...</answer> on the last line"})"));
  // Where the rules differ: a subset of the numbers, and an answer that is not on the last line.
  EXPECT_EQ(lines[3], Json::parse(R"({"index": 3, "reward": 0.1, "correct": false,
                                      "detail": "numbers [1, 2] are not the given [1, 2, 3]"})"));
  EXPECT_EQ(lines[4]["reward"], 0.0);
  EXPECT_EQ(run("score --task countdown --countdown-rule tinyzero " + files).out, r.out);

  CliRun lenient = run("score --task countdown --countdown-rule lenient " + files);
  ASSERT_EQ(lenient.status, 0) << lenient.err;
  auto loose = lenient.lines();
  ASSERT_EQ(loose.size(), 5u);
  EXPECT_EQ(loose[1]["reward"], 0.0) << "the lenient rule's format reward is 0 unless given";
  EXPECT_EQ(loose[2]["detail"], "no <answer> tag");
  EXPECT_EQ(loose[3]["reward"], 1.0);
  EXPECT_EQ(loose[4]["reward"], 1.0);

  CliRun formatted = run("score --task countdown --countdown-rule lenient --format-reward 0.1 " + files);
  EXPECT_EQ(formatted.lines()[1]["reward"], 0.1);
  CliRun no_format = run("score --task countdown --format-reward 0 " + files);
  EXPECT_EQ(no_format.lines()[1]["reward"], 0.0);

  CliRun all = run("score --task countdown --countdown-rule lenient --use-all-numbers " + files);
  ASSERT_EQ(all.status, 0) << all.err;
  EXPECT_EQ(all.lines()[3]["reward"], 0.0);
  EXPECT_EQ(all.lines()[3]["detail"], "does not use 3");
}

TEST_F(ScoreCli, ScoresMath) {
  auto data = write("gsm.jsonl",
                    "{\"question\": \"q1\", \"answer\": \"... #### 1,000\"}\n"
                    "{\"question\": \"q2\", \"answer\": \"... #### 7\"}\n");
  auto responses = write("responses.jsonl",
                         "{\"response\": \"so \\\\boxed{\\\\$1,000}\"}\n"
                         "{\"response\": \"\\\\boxed{8}\"}\n");
  CliRun r = run("score --task gsm8k --data '" + data.string() + "' --responses '" + responses.string() + "'");
  ASSERT_EQ(r.status, 0) << r.err;
  auto lines = r.lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["correct"], true);
  EXPECT_EQ(lines[1]["correct"], false);
  EXPECT_EQ(lines[1]["detail"], "answer '8' != '7'");
}

TEST_F(ScoreCli, ResponseErrorsNameTheFileAndLineAndExitNonZero) {
  auto data = write("data.jsonl", kCountdownData);
  struct Case {
    std::string responses, message;
  };
  std::vector<Case> cases = {
      {"{\"response\": \"a\"}\n{\"response\": \"b\"}\n", "responses.jsonl: 2 responses, but "},
      {"{\"response\": \"a\"}\n{\"response\": \"b\"}\n{\"response\": \"c\"}\n{\"response\": \"d\"}\n",
       "responses.jsonl: 4 responses, but "},
      {"{\"response\": \"a\"}\n{\"response\": \"b\"\n{\"response\": \"c\"}\n", "responses.jsonl:2: malformed JSON"},
      {"{\"response\": \"a\"}\n\n{\"text\": \"b\"}\n{\"response\": \"c\"}\n", "responses.jsonl:3: missing key 'response'"},
      {"{\"response\": 5}\n{\"response\": \"b\"}\n{\"response\": \"c\"}\n",
       "responses.jsonl:1: key 'response' must be a string (it is number)"},
      {"\"text\"\n", "responses.jsonl:1: expected a JSON object"},
  };
  for (const auto& c : cases) {
    auto responses = write("responses.jsonl", c.responses);
    CliRun r = run("score --task countdown --data '" + data.string() + "' --responses '" + responses.string() + "'");
    EXPECT_EQ(r.status, 1) << c.message;
    EXPECT_TRUE(r.out.empty()) << "nothing is printed before the input is checked: " << r.out;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << r.err;
    EXPECT_EQ(r.err.rfind("illume: error: ", 0), 0u) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line: " << r.err;
  }

}

TEST_F(ScoreCli, BadDataAndArgumentsFailWithOneLine) {
  auto data = write("data.jsonl", kCountdownData);
  auto responses = write("ok.jsonl", "{\"response\": \"a\"}\n");
  auto bad_data = write("bad.jsonl", "{\"nums\": [1]}\n");
  CliRun r = run("score --task countdown --data '" + bad_data.string() + "' --responses '" + responses.string() + "'");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("bad.jsonl:1: missing field 'target'"), std::string::npos) << r.err;

  r = run("score --task chess --data '" + bad_data.string() + "' --responses '" + responses.string() + "'");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("unknown task 'chess' (valid: countdown,"), std::string::npos) << r.err;

  r = run("score --task math500 --data '" + bad_data.string() + "' --responses '" + responses.string() +
          "' --use-all-numbers");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("countdown task only"), std::string::npos) << r.err;

  r = run("score --task countdown --data '" + data.string() + "' --responses '" + responses.string() +
          "' --use-all-numbers");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("--use-all-numbers applies to --countdown-rule lenient only"), std::string::npos) << r.err;

  r = run("score --task countdown --data '" + data.string() + "' --responses '" + responses.string() +
          "' --countdown-rule strict");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("unknown countdown rule 'strict' (valid: tinyzero, lenient)"), std::string::npos) << r.err;

  r = run("score --task math500 --data '" + bad_data.string() + "' --responses '" + responses.string() +
          "' --countdown-rule lenient");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("countdown task only"), std::string::npos) << r.err;

  r = run("score --task countdown --data '" + data.string() + "' --responses '" + responses.string() +
          "' --format-reward 2");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("--format-reward must be between 0 and 1"), std::string::npos) << r.err;

  r = run("score --task countdown --data '" + data.string() + "' --responses '" + (dir_ / "absent.jsonl").string() + "'");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("absent.jsonl: cannot open"), std::string::npos) << r.err;

  r = run("score --task countdown --data '" + data.string() + "'");  // --responses missing: a usage error
  EXPECT_NE(r.status, 0);
}

// `generate -n N --out` rows carry prompt_index and sample_index: several responses per problem,
// matched by index, in any order; rows without the index are positional as before.
TEST_F(ScoreCli, MatchesResponsesToProblemsByPromptIndex) {
  auto data = write("data.jsonl", kCountdownData);
  auto responses = write("responses.jsonl",
                         "{\"prompt_index\": 2, \"sample_index\": 0, \"response\": \"<answer>7-2</answer>\"}\n"
                         "{\"prompt_index\": 0, \"sample_index\": 0, \"response\": \"<answer>1+2+3</answer>\"}\n"
                         "{\"prompt_index\": 0, \"sample_index\": 1, \"response\": \"<answer>1*2*3+1</answer>\"}\n");
  CliRun r = run("score --task countdown --data '" + data.string() + "' --responses '" + responses.string() + "'");
  ASSERT_EQ(r.status, 0) << r.err;
  auto lines = r.lines();
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0]["index"], 2);  // problem 2 ({7, 2} -> 5): right
  EXPECT_EQ(lines[0]["sample_index"], 0);
  EXPECT_EQ(lines[0]["reward"], 1.0);
  EXPECT_EQ(lines[1]["index"], 0);  // problem 0 ({1, 2, 3} -> 6): right
  EXPECT_EQ(lines[1]["reward"], 1.0);
  EXPECT_EQ(lines[2]["index"], 0);  // wrong (and 1 is used twice): the format reward
  EXPECT_EQ(lines[2]["sample_index"], 1);
  EXPECT_EQ(lines[2]["reward"], 0.1);

  struct Case {
    std::string responses, message;
  };
  std::vector<Case> cases = {
      {"{\"prompt_index\": 3, \"response\": \"a\"}\n", "responses.jsonl:1: prompt_index 3 is beyond the 3 problems of"},
      {"{\"prompt_index\": 0, \"response\": \"a\"}\n{\"response\": \"b\"}\n",
       "responses.jsonl:2: missing key 'prompt_index' (give it on every line or on none)"},
      {"{\"response\": \"a\"}\n{\"prompt_index\": 0, \"response\": \"b\"}\n", "responses.jsonl:2: unexpected key 'prompt_index'"},
      {"{\"prompt_index\": -1, \"response\": \"a\"}\n", "responses.jsonl:1: key 'prompt_index' must be a non-negative integer"},
      {"{\"prompt_index\": 1.5, \"response\": \"a\"}\n", "responses.jsonl:1: key 'prompt_index' must be a non-negative integer"},
      {"{\"prompt_index\": 1, \"sample_index\": 0, \"response\": \"a\"}\n{\"prompt_index\": 1, \"sample_index\": 0, \"response\": \"b\"}\n",
       "responses.jsonl:2: a second response to prompt_index 1, sample_index 0"},
  };
  for (const auto& c : cases) {
    auto bad = write("responses.jsonl", c.responses);
    CliRun e = run("score --task countdown --data '" + data.string() + "' --responses '" + bad.string() + "'");
    EXPECT_EQ(e.status, 1) << c.message;
    EXPECT_TRUE(e.out.empty()) << e.out;
    EXPECT_NE(e.err.find(c.message), std::string::npos) << e.err;
    EXPECT_EQ(std::count(e.err.begin(), e.err.end(), '\n'), 1) << "one line: " << e.err;
  }
}
