#include <fstream>

#include "common.h"
#include "illume/util/error.h"
#include "illume/util/file.h"
#include "illume/util/json.h"
#include "illume/util/jsonl.h"
#include "illume/util/progress.h"
#include "illume/util/text.h"

using namespace illume;

TEST(Util, ReadFileMissingNamesThePath) {
  try {
    read_file("/nonexistent/illume/x.txt");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/illume/x.txt: cannot open"), std::string::npos) << e.what();
  }
}

TEST(Util, AtomicWriteReplacesAndLeavesNoTemp) {
  auto dir = test::scratch_dir();
  auto path = dir / "sub" / "a.json";
  write_file_atomic(path, "first");
  write_file_atomic(path, "second");
  EXPECT_EQ(read_file(path), "second");
  int files = 0;
  for (auto& entry : std::filesystem::directory_iterator(dir / "sub")) {
    (void)entry;
    ++files;
  }
  EXPECT_EQ(files, 1);
}

TEST(Util, JsonlMalformedLineNamesFileAndLine) {
  auto dir = test::scratch_dir();
  auto path = dir / "x.jsonl";
  write_file_atomic(path, "{\"a\": 1}\n\n{\"a\": 2\n");
  EXPECT_ERROR_CONTAINS(read_jsonl_file(path), "x.jsonl:3: malformed JSON");
  EXPECT_ERROR_CONTAINS(read_jsonl_rows(path), "x.jsonl:3: malformed JSON");
}

TEST(Util, JsonlRowsKeepTrueLineNumbers) {
  auto path = test::scratch_dir() / "x.jsonl";
  write_file_atomic(path, "{\"a\": 1}\n\n  \r\n{\"a\": 2}\r\n{\"a\": 3}");
  auto rows = read_jsonl_rows(path);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].line, 1u);
  EXPECT_EQ(rows[1].line, 4u);  // blank and white-space-only lines count
  EXPECT_EQ(rows[2].value["a"], 3);
  EXPECT_EQ(row_source(path, rows[2]), path.string() + ":5");
}

TEST(Util, JsonlSkipsBlankLinesAndCrlf) {
  auto dir = test::scratch_dir();
  auto path = dir / "x.jsonl";
  write_file_atomic(path, "{\"a\": 1}\r\n\n{\"a\": 2}");
  auto rows = read_jsonl_file(path);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1]["a"].get<int>(), 2);
}

TEST(Util, JsonGetReportsMissingAndWrongType) {
  Json j = Json::parse(R"({"a": "text"})");
  EXPECT_THROW(json_get<int>(j, "a", "cfg.json"), Error);
  try {
    json_get<int>(j, "b", "cfg.json");
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "cfg.json: missing key 'b'");
  }
  EXPECT_EQ(json_get_or<int>(j, "b", 7, "cfg.json"), 7);
}

TEST(Util, FormatDuration) {
  EXPECT_EQ(format_duration(1.25), "1.2 s");
  EXPECT_EQ(format_duration(125), "2 min 05 s");
  EXPECT_EQ(format_duration(3720), "1 h 02 min");
}

TEST(Util, TrimAndShape) {
  EXPECT_EQ(trim(" \t\r\n\v\fa b\n "), "a b");
  EXPECT_EQ(trim("   "), "");
  EXPECT_FALSE(is_space('\0'));
  EXPECT_FALSE(is_space('\xa0'));  // a UTF-8 continuation byte, not white space
  EXPECT_EQ(shape_of(std::vector<std::int64_t>{2, 3}), "[2, 3]");
  EXPECT_EQ(shape_of(std::vector<std::int64_t>{}), "[]");
}
