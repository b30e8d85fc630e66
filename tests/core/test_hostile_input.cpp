// Issue 14: bad input that used to hang, lose data or give a silently wrong value.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <thread>

#include "common.h"
#include "illume/data/tasks.h"
#include "illume/util/file.h"
#include "illume/util/json.h"
#include "illume/util/progress.h"

using namespace illume;

TEST(HostileInput, FifoAsAnInputFailsAtOnceInsteadOfBlocking) {
  const auto dir = test::scratch_dir();
  const auto fifo = dir / "prompts.jsonl";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  // Before: open() blocked forever waiting for a writer. The test would hang, so it runs the read in a
  // thread and gives up (failing) after a few seconds rather than hanging the suite.
  std::string error = "<still blocked>";
  std::thread reader([&] { error = test::error_of([&] { read_file(fifo); }); });
  for (int i = 0; i < 50 && error == "<still blocked>"; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  if (error == "<still blocked>") {
    std::ofstream(fifo) << "";  // unblock the reader so that the test can end
    reader.join();
    FAIL() << "read_file blocked on a FIFO";
  }
  reader.join();
  EXPECT_NE(error.find("prompts.jsonl"), std::string::npos) << error;
  EXPECT_NE(error.find("FIFO"), std::string::npos) << error;
  EXPECT_ERROR_CONTAINS(MappedFile{dir}, "a folder, not a file");
}

TEST(HostileInput, JsonlWriterKeepsTheOldFileUntilCommit) {
  const auto dir = test::scratch_dir();
  const auto path = dir / "out.jsonl";
  write_file_atomic(path, "{\"good\": 1}\n");
  {
    JsonlWriter writer(path);
    writer.write(Json{{"new", 1}});
    // Destroyed without commit (as when the run throws half-way): the good file stays.
  }
  EXPECT_EQ(read_file(path), "{\"good\": 1}\n");
  {
    JsonlWriter writer(path);
    writer.write(Json{{"new", 1}});
    EXPECT_EQ(read_file(path), "{\"good\": 1}\n");  // nothing visible before commit
    writer.commit();
  }
  EXPECT_EQ(read_file(path), "{\"new\":1}\n");
  // No temporary file left behind.
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) files += entry.is_regular_file() ? 1 : 0;
  EXPECT_EQ(files, 1);
  // Append mode (a live log) shows each row at once.
  JsonlWriter log(path, JsonlWriter::Mode::Append);
  log.write(Json{{"row", 2}});
  EXPECT_EQ(read_file(path), "{\"new\":1}\n{\"row\":2}\n");
}

TEST(HostileInput, JsonIntegersAreNotTruncatedOrWrapped) {
  const auto j = Json::parse(R"({"a": 1.9, "b": 4294967297, "c": 9223372036854775808, "d": -1, "e": [1, 2.5],
                                 "f": 7, "g": true, "h": 3})");
  EXPECT_ERROR_CONTAINS(json_get<std::int32_t>(j, "a", "x.json"), "key 'a' should be an integer");
  EXPECT_ERROR_CONTAINS(json_get<std::int32_t>(j, "b", "x.json"), "got 4294967297");
  EXPECT_ERROR_CONTAINS(json_get<std::int64_t>(j, "c", "x.json"), "x.json: key 'c'");
  EXPECT_EQ(json_get<std::uint64_t>(j, "c", "x.json"), 9223372036854775808ULL);
  EXPECT_ERROR_CONTAINS(json_get<std::uint64_t>(j, "d", "x.json"), "key 'd'");
  EXPECT_ERROR_CONTAINS((json_get<std::vector<std::int32_t>>(j, "e", "x.json")), "a list of an integer");
  EXPECT_EQ(json_get<std::int32_t>(j, "f", "x.json"), 7);
  EXPECT_DOUBLE_EQ(json_get<double>(j, "f", "x.json"), 7.0);  // an integer is a number
  EXPECT_ERROR_CONTAINS(json_get<int>(j, "g", "x.json"), "key 'g'");
  EXPECT_ERROR_CONTAINS(json_get<bool>(j, "h", "x.json"), "should be a boolean");
  EXPECT_ERROR_CONTAINS(json_get_or<std::int32_t>(j, "a", 0, "x.json"), "key 'a'");
}

TEST(HostileInput, NumericAnswersKeepTheirValueAndForm) {
  const auto dir = test::scratch_dir();
  const auto path = dir / "gsm.jsonl";
  write_file_atomic(path,
                    "{\"question\": \"q1\", \"answer\": 9223372036854775808}\n"
                    "{\"question\": \"q2\", \"answer\": 1e20}\n"
                    "{\"question\": \"q3\", \"answer\": -2.5e-3}\n"
                    "{\"question\": \"q4\", \"answer\": 18446744073709551615}\n");
  const auto problems = data::load_problems(data::Task::Amc23, path);
  ASSERT_EQ(problems.size(), 4u);
  EXPECT_EQ(problems[0].reference, "9223372036854775808");  // was -9223372036854775808
  EXPECT_EQ(problems[1].reference, "100000000000000000000");  // was 1e+20
  EXPECT_EQ(problems[2].reference, "-0.0025");
  EXPECT_EQ(problems[3].reference, "18446744073709551615");
}

TEST(HostileInput, SlowProgressReadsAsSecondsPerStep) {
  EXPECT_EQ(format_rate(0.07, "step"), "14.3 s/step");
  EXPECT_EQ(format_rate(12.5, "tok"), "12.5 tok/s");
  EXPECT_EQ(format_rate(0, "step"), "0.0 step/s");
}

TEST(HostileInput, ProgressRateCountsTheWorkDoneSinceTheStartOrTheResume) {
  // The rate used to stay 0 (each set() moved the baseline along with the count), so eval printed "0.0 problem/s".
  Progress fresh("eval", 10, "problem", false);
  for (int i = 0; i < 4; ++i) fresh.advance(1);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_GT(fresh.rate(), 0.0);
  EXPECT_LT(fresh.rate(), 4 / 0.019);  // 4 items over at least 20 ms
  Progress resumed("train", 10, "step", false);
  resumed.resume_from(8);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(resumed.rate(), 0.0);  // the 8 steps before the resume are not this process's work
  resumed.advance(1);
  EXPECT_GT(resumed.rate(), 0.0);
  EXPECT_LT(resumed.rate(), 1 / 0.019);
}

// Without a terminal, progress is a log of plain lines: the line finish() prints is not a copy of the
// one the last step already printed (the trainer's log ended with its last step twice).
TEST(HostileInput, PlainProgressDoesNotRepeatItsLastLine) {
  auto lines_of = [](const std::string& text) { return std::count(text.begin(), text.end(), '\n'); };
  testing::internal::CaptureStderr();
  {
    Progress quick("eval", 3, "problem", true);  // stderr is captured: not a terminal
    quick.advance(3);                            // within 5 s of the start: no line yet
    quick.finish();
  }
  auto text = testing::internal::GetCapturedStderr();
  EXPECT_EQ(lines_of(text), 1) << text;
  EXPECT_NE(text.find("eval: 3/3 problem"), std::string::npos) << text;
  testing::internal::CaptureStderr();
  {
    Progress slow("train", 2, "step", true);
    slow.advance(1);
    std::this_thread::sleep_for(std::chrono::milliseconds(5100));  // plain lines come at most every 5 s
    slow.advance(1, "reward 0.5");                                 // drawn: "train: 2/2 step ... reward 0.5"
    slow.finish();                                                 // the same line: not printed again
  }
  text = testing::internal::GetCapturedStderr();
  EXPECT_EQ(lines_of(text), 1) << text;
  EXPECT_NE(text.find("train: 2/2 step"), std::string::npos) << text;
}
