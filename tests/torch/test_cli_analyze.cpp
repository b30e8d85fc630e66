// `illume analyze` end to end on the tiny-qwen3 fixture: the three output files with the documented
// fields and consistent lengths, the report in headless Chromium, and one-line errors for bad input.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <sstream>
#include <string>

#include "chromium_page.h"
#include "common.h"
#include "illume/util/file.h"
#include "illume/util/json.h"

using namespace illume;
namespace fs = std::filesystem;

namespace {

fs::path fixture() { return test::shared_path("fixtures/tiny-qwen3"); }

void expect_one_line_error(const test::RunResult& r, const std::string& needle) {
  EXPECT_NE(r.status, 0) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << "stderr: " << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "stderr: " << r.err;
  EXPECT_EQ(r.err.rfind("illume: error: ", 0), 0u) << "stderr: " << r.err;
}

std::vector<Json> read_rows(const fs::path& path) {
  std::vector<Json> rows;
  std::istringstream in(read_file(path));
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) rows.push_back(Json::parse(line));
  return rows;
}

}  // namespace

TEST(CliAnalyze, GeneratesMetricsSummaryAndReport) {
  ILLUME_REQUIRE_SHARED_PATH("fixtures/tiny-qwen3/model.safetensors");
  ILLUME_REQUIRE_SHARED_PATH("data/gsm8k/test.jsonl");
  auto out = test::scratch_dir() / "an";
  auto r = test::run_illume({"analyze", "--model", fixture().string(), "--prompts",
                             test::shared_path("data/gsm8k/test.jsonl").string(), "--limit", "3", "--max-new-tokens",
                             "40", "--out", out.string()});
  ASSERT_EQ(r.status, 0) << r.err;
  ASSERT_TRUE(fs::exists(out / "tokens_metrics.jsonl"));
  ASSERT_TRUE(fs::exists(out / "summary.json"));
  ASSERT_TRUE(fs::exists(out / "report.html"));

  auto rows = read_rows(out / "tokens_metrics.jsonl");
  ASSERT_EQ(rows.size(), 3u);
  for (const auto& row : rows) {
    const auto R = row.at("response_ids").size();
    ASSERT_GT(R, 0u);
    EXPECT_LE(R, 40u);
    for (const char* key : {"waad", "fai", "delta", "entropy"}) EXPECT_EQ(row.at(key).size(), R) << key;
    // tiny-qwen3 has 2 layers: mid5 gives {0, 1}; 4 query heads.
    EXPECT_EQ(row.at("layers"), Json::array({0, 1}));
    ASSERT_EQ(row.at("head_span").size(), 2u);
    for (const auto& layer : row.at("head_span")) EXPECT_EQ(layer.size(), 4u);
    // 8 heads, 30% -> round(2.4) = 2 per group.
    EXPECT_EQ(row.at("local_heads").size(), 2u);
    EXPECT_EQ(row.at("global_heads").size(), 2u);
    for (const char* key : {"preplan", "anchor"}) {
      EXPECT_FALSE(row.at(key).empty()) << key;
      for (const auto& i : row.at(key)) EXPECT_LT(i.get<std::size_t>(), R) << key;
    }
    for (const auto& w : row.at("waad")) {
      EXPECT_GE(w.get<double>(), 0.0);
      EXPECT_LE(w.get<double>(), 10.0);
    }
    for (const auto& x : row.at("fai")) EXPECT_GE(x.get<double>(), 0.0);
    EXPECT_EQ(row.at("delta").back().get<double>(), 0.0);
    for (const auto& e : row.at("entropy")) EXPECT_GE(e.get<double>(), 0.0);
  }
  auto summary = Json::parse(read_file(out / "summary.json"));
  EXPECT_EQ(summary.at("settings").at("window"), 10);
  EXPECT_EQ(summary.at("settings").at("fai_horizon_hi"), "end");
  for (const char* key : {"entropy_at_preplan", "receiver_global_cooccurrence", "fai_after_waad"})
    for (const char* field : {"observed", "random", "lift"})
      EXPECT_TRUE(summary.at("coupling").at(key).at(field).is_number()) << key << "." << field;
  EXPECT_EQ(summary.at("coupling").at("responses"), 3);

  // The report: no console errors, all five plots drawn with ink.
  if (!fs::exists(test::chromium_path())) FAIL() << "chromium is not installed: " << test::chromium_path();
  auto page = test::load_in_chromium(out / "report.html", "#r=0", out.parent_path());
  EXPECT_EQ(page.status, 0) << page.stderr_text;
  EXPECT_TRUE(page.console.empty()) << page.console.front();
  EXPECT_EQ(test::dom_attribute(page.dom, "<body", "data-js-errors"), "0");
  EXPECT_EQ(test::dom_attribute(page.dom, "<body", "data-plots-drawn"), "5");
  // Response 0 carries per-head maps: the panels offer the two group means and all 2 x 4 heads; the
  // rhythm verdict is set either way, and the maps mark the response's preplan tokens in the window.
  EXPECT_EQ(test::dom_attribute(page.dom, "<body", "data-head-options"), "10");
  EXPECT_NE(test::dom_attribute(page.dom, "<body", "data-rhythm"), "");
  EXPECT_NE(test::dom_attribute(page.dom, "<canvas id=\"cv-local\"", "data-preplan-marks"), "0");
  for (const char* key : {"entropy_at_preplan", "receiver_global_cooccurrence", "fai_after_waad"}) {
    EXPECT_EQ(summary.at("coupling").at(key).at("bootstrap"), 1000) << key;
    EXPECT_TRUE(summary.at("coupling").at(key).contains("lift_ci")) << key;
  }
  for (const char* canvas : {"cv-waad", "cv-fai", "cv-local", "cv-global", "cv-heads"}) {
    auto ink = test::dom_attribute(page.dom, std::string("<canvas id=\"") + canvas + "\"", "data-ink");
    ASSERT_FALSE(ink.empty()) << canvas;
    EXPECT_GT(std::stoll(ink), 0) << canvas;
  }
}

TEST(CliAnalyze, ReadsGivenResponsesById) {
  ILLUME_REQUIRE_SHARED_PATH("fixtures/tiny-qwen3/model.safetensors");
  auto dir = test::scratch_dir();
  write_file_atomic(dir / "r.jsonl",
                    "{\"prompt_ids\": [9707, 1879, 11, 1077], \"response_ids\": [220, 16, 17, 18, 19, 20, 21, 22, 23, "
                    "24, 25, 26, 27, 28]}\n{\"prompt\": \"What is 2+2?\", \"response\": \"It is 4, because two and two "
                    "make four.\"}\n");
  auto r = test::run_illume({"analyze", "--model", fixture().string(), "--responses", (dir / "r.jsonl").string(),
                             "--layers", "1", "--window", "3", "--fai-horizon-lo", "2", "--fai-horizon-hi", "6",
                             "--receiver-horizon-lo", "0", "--receiver-min-rows", "1", "--bootstrap", "40",
                             "--system", "",
                             "--out", (dir / "out").string()});
  ASSERT_EQ(r.status, 0) << r.err;
  auto rows = read_rows(dir / "out" / "tokens_metrics.jsonl");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].at("response_ids").size(), 14u);
  EXPECT_EQ(rows[0].at("waad").size(), 14u);
  EXPECT_EQ(rows[0].at("layers"), Json::array({1}));
  for (const auto& row : rows) {
    for (const auto& w : row.at("waad")) EXPECT_LE(w.get<double>(), 3.0);
    // H = [2, 6]: the last two tokens have no future token in the horizon.
    const auto& fai = row.at("fai");
    EXPECT_EQ(fai[fai.size() - 1].get<double>(), 0.0);
    EXPECT_EQ(fai[fai.size() - 2].get<double>(), 0.0);
    EXPECT_GT(fai[0].get<double>(), 0.0);
  }
  auto summary = Json::parse(read_file(dir / "out" / "summary.json"));
  EXPECT_EQ(summary.at("settings").at("fai_horizon_lo"), 2);
  EXPECT_EQ(summary.at("settings").at("receiver_horizon_lo"), 0);
  EXPECT_EQ(summary.at("settings").at("receiver_min_rows"), 1);
  EXPECT_EQ(summary.at("settings").at("bootstrap"), 40);
  EXPECT_EQ(summary.at("coupling").at("entropy_at_preplan").at("bootstrap"), 40);
}

TEST(CliAnalyze, BadInputGivesOneLineErrors) {
  ILLUME_REQUIRE_SHARED_PATH("fixtures/tiny-qwen3/model.safetensors");
  auto dir = test::scratch_dir();
  auto run = [&](const std::string& jsonl, std::vector<std::string> extra = {}) {
    auto path = dir / "in.jsonl";
    write_file_atomic(path, jsonl);
    std::vector<std::string> args = {"analyze", "--model", fixture().string(), "--responses", path.string(),
                                     "--out", (dir / "out").string()};
    args.insert(args.end(), extra.begin(), extra.end());
    return test::run_illume(args);
  };
  const std::string good = "{\"prompt\": \"Hi\", \"response\": \"Hello there\"}\n";
  expect_one_line_error(run("{\"prompt\": \"Hi\", \"response\": \"\"}\n"), "in.jsonl:1: the response is empty");
  // Line numbers are the file's: blank lines count.
  expect_one_line_error(run("\n" + good + "\n{\"prompt\": \"Hi\", \"response\": \"\"}\n"), "in.jsonl:4: the response is empty");
  expect_one_line_error(run("{\"prompt\": \"Hello\", \"prompt_ids\": [1, 2, 3], \"response_ids\": [4]}\n"),
                        "do not match");
  expect_one_line_error(run("{\"prompt_ids\": [1, 2], \"response_ids\": []}\n"), "the response is empty");
  expect_one_line_error(run("{\"prompt_ids\": [1, 2], \"response_ids\": [999999999]}\n"), "vocabulary");
  expect_one_line_error(run(good, {"--window", "0"}), "--window: must be a whole number in [1, 16777216], got 0");
  // A typo of W is refused before any work (a W beyond the sequence is clamped to it, see
  // AttentionStreaming.AWindowBeyondTheSequenceIsTheSequence).
  expect_one_line_error(run(good, {"--window", "1000000000"}), "--window: must be a whole number in [1, 16777216]");
  expect_one_line_error(run(good, {"--fai-horizon-lo", "5", "--fai-horizon-hi", "3"}),
                        "--fai-horizon-hi 3 is below --fai-horizon-lo 5");
  expect_one_line_error(run(good, {"--fai-horizon-lo", "-1"}), "--fai-horizon-lo -1");
  expect_one_line_error(run(good, {"--layers", "0,7"}), "layer 7 is beyond the model (2 layers)");
  expect_one_line_error(run(good, {"--head-quantile", "0.8"}), "--head-quantile");
  expect_one_line_error(run(good, {"--passes", "3"}), "passes");
  expect_one_line_error(run(good, {"--receiver-min-rows", "0"}), "receiver minimum rows must be >= 1");
  expect_one_line_error(run(good, {"--receiver-horizon-lo", "-2"}), "receiver horizon start must be >= 0");
  expect_one_line_error(run(good, {"--bootstrap", "-1"}), "bootstrap");
  expect_one_line_error(run("{\"prompt\": \"Hi\", \"response\": \"x\"}\n{not json\n"), "in.jsonl");
  expect_one_line_error(run("{\"prompt\": \"Hi\"}\n"), "response");
  EXPECT_FALSE(fs::exists(dir / "out" / "tokens_metrics.jsonl"));
}
