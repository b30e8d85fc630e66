// The first hour (issue 14 item 7): generate, analyze and perturb take task files directly
// (--task T --data F), record their prompt settings, `score` reads `generate -n` output, and `info`
// reports the thread count the commands run with.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "common.h"
#include "illume/data/tasks.h"
#include "illume/util/build_paths.h"
#include "illume/util/file.h"
#include "illume/util/json.h"

using namespace illume;
namespace fs = std::filesystem;

namespace {

std::string default_model() {
  return (fs::path(::illume::build::source_dir()) / "models" / "illume-countdown-tiny").string();
}

std::vector<Json> json_lines(const std::string& text) {
  std::vector<Json> rows;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) rows.push_back(Json::parse(line));
  return rows;
}

const char* kBoxedLine = "Please reason step by step, and put your final answer within \\boxed{}.";

}  // namespace

TEST(PromptInputs, GenerateTakesATaskFileAndScoreMatchesSamplesByIndex) {
  ILLUME_REQUIRE_SHARED_PATH("data/countdown/test.jsonl");
  const auto data = test::shared_path("data/countdown/test.jsonl").string();
  auto dir = test::scratch_dir();
  const auto out = (dir / "samples.jsonl").string();
  auto r = test::run_illume({"generate", "--model", default_model(), "--task", "countdown", "--data", data, "--chat",
                             "--limit", "2", "-n", "2", "--temperature", "1", "--max-new-tokens", "24", "--out", out});
  ASSERT_EQ(r.status, 0) << r.err;
  auto rows = json_lines(read_file(out));
  ASSERT_EQ(rows.size(), 4u);
  auto problems = data::load_problems(data::Task::Countdown, data);
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(rows[i].at("prompt_index"), i / 2);
    EXPECT_EQ(rows[i].at("sample_index"), i % 2);
    // The task's own prompt (the user message of the chat template), as eval builds it.
    EXPECT_EQ(rows[i].at("prompt"), data::build_prompt(data::Task::Countdown, problems[i / 2], data::PromptStyle::Chat));
  }
  auto scored = test::run_illume({"score", "--task", "countdown", "--data", data, "--responses", out});
  ASSERT_EQ(scored.status, 0) << scored.err;
  auto lines = json_lines(scored.out);
  ASSERT_EQ(lines.size(), 4u);
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(lines[i].at("index"), i / 2);
    EXPECT_EQ(lines[i].at("sample_index"), i % 2);
    EXPECT_TRUE(lines[i].at("reward").is_number());
  }
  // Task flags: --data needs --task and the reverse; a task name is checked; --prompts excludes --task.
  auto bad = test::run_illume({"generate", "--model", default_model(), "--task", "countdown"});
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.err.find("--data"), std::string::npos) << bad.err;
  bad = test::run_illume({"generate", "--model", default_model(), "--task", "chess", "--data", data});
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.err.find("unknown task 'chess'"), std::string::npos) << bad.err;
  bad = test::run_illume({"generate", "--model", default_model(), "--task", "countdown", "--data", data, "--prompts", data});
  EXPECT_NE(bad.status, 0);
  // A plain prompt file still works; a countdown file is not one (it has no prompt text).
  bad = test::run_illume({"generate", "--model", default_model(), "--prompts", data, "--max-new-tokens", "4"});
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.err.find("test.jsonl:1: no 'prompt'"), std::string::npos) << bad.err;
}

// Analyze records its prompt settings in summary.json (and so in the report header); a task in chat
// mode gets no \boxed{} system line, a prompt file keeps the paper's default one.
TEST(PromptInputs, AnalyzeRecordsPromptSettingsWithoutTheBoxedLineForTasks) {
  ILLUME_REQUIRE_SHARED_PATH("data/countdown/test.jsonl");
  const auto data = test::shared_path("data/countdown/test.jsonl").string();
  auto dir = test::scratch_dir();
  auto r = test::run_illume({"analyze", "--model", default_model(), "--task", "countdown", "--data", data, "--chat",
                             "--limit", "1", "--max-new-tokens", "24", "--out", (dir / "task").string()});
  ASSERT_EQ(r.status, 0) << r.err;
  auto summary = Json::parse(read_file(dir / "task" / "summary.json"));
  const auto& settings = summary.at("settings");
  EXPECT_EQ(settings.at("task"), "countdown");
  EXPECT_EQ(settings.at("data"), data);
  EXPECT_EQ(settings.at("prompt_format"), "chat");
  EXPECT_EQ(settings.at("system"), "");
  auto rows = json_lines(read_file(dir / "task" / "tokens_metrics.jsonl"));
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].at("prompt").get<std::string>().find("boxed"), std::string::npos);
  EXPECT_NE(read_file(dir / "task" / "report.html").find("\"prompt_format\":\"chat\""), std::string::npos);

  auto prompts = dir / "prompts.jsonl";
  write_file_atomic(prompts, "{\"prompt\": \"What is 2 + 3?\"}\n");
  r = test::run_illume({"analyze", "--model", default_model(), "--prompts", prompts.string(), "--chat",
                        "--max-new-tokens", "16", "--out", (dir / "file").string()});
  ASSERT_EQ(r.status, 0) << r.err;
  auto file_settings = Json::parse(read_file(dir / "file" / "summary.json")).at("settings");
  EXPECT_EQ(file_settings.at("prompts"), prompts.string());
  EXPECT_EQ(file_settings.at("system"), kBoxedLine);
  EXPECT_FALSE(file_settings.contains("task"));
}

TEST(PromptInputs, InfoReportsTheThreadCountCommandsRunWith) {
  const char* before = std::getenv("ILLUME_THREADS");
  const std::string saved = before ? before : "";
  ::setenv("ILLUME_THREADS", "3", 1);
  auto r = test::run_illume({"info"});
  if (before) ::setenv("ILLUME_THREADS", saved.c_str(), 1);
  else ::unsetenv("ILLUME_THREADS");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("threads: 3 (ILLUME_THREADS=3)"), std::string::npos) << r.out;
}
