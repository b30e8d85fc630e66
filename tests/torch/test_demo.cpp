// `illume demo` end to end on a tiny random model (the default model's run is `make demo`): every
// stage runs and writes its files, and the dashboard links them.
#include <torch/torch.h>

#include "common.h"
#include "illume/util/file.h"
#include "illume/util/json.h"
#include "train_test_util.h"

using namespace illume;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> tiny_demo_args(const fs::path& model, const fs::path& out, const fs::path& shared) {
  return {"demo", "--model", model.string(), "--out", out.string(), "--shared", shared.string(),
          "--eval-problems", "6", "--analysis-responses", "3",
          "run.steps=2", "rollout.group_size=4", "optim.batch_size=8", "optim.micro_batch_size=4",
          "rollout.max_response_tokens=12", "run.progress=false"};
}

void expect_demo_files(const fs::path& out) {
  for (const char* f : {"index.html", "demo.json", "eval-base/summary.json", "eval-base/results.jsonl",
                        "analysis-base/report.html", "analysis-base/tokens_metrics.jsonl", "analysis-base/summary.json"})
    EXPECT_TRUE(fs::exists(out / f)) << f;
  for (const char* run : {"grpo-none", "grpo-coupled"}) {
    auto dir = out / run;
    for (const char* f : {"metrics.jsonl", "config.json", "eval-before/summary.json", "eval-after/summary.json",
                          "analysis/report.html"})
      EXPECT_TRUE(fs::exists(dir / f)) << run << "/" << f;
    EXPECT_EQ(read_jsonl_file(dir / "metrics.jsonl").size(), 2u) << run;
    auto config = read_json_file(dir / "config.json");
    EXPECT_EQ(config["credit"]["strategy"], std::string(run).substr(5));
  }
  auto demo = read_json_file(out / "demo.json");
  EXPECT_EQ(demo["base"]["problems"], 6);
  ASSERT_TRUE(demo["runs"].contains("coupled"));
  // The coupled run spends time in the attention pass; the plain one does not run it.
  EXPECT_GT(demo["runs"]["coupled"]["share_attention"].get<double>(), 0.0);
  EXPECT_LT(demo["runs"]["none"]["share_attention"].get<double>(), 1e-3);
  auto html = read_file(out / "index.html");
  EXPECT_NE(html.find("grpo-coupled/analysis/report.html"), std::string::npos);
  EXPECT_NE(html.find("analysis-base/report.html"), std::string::npos);
}

}  // namespace

TEST(Demo, RunsEveryStageOnATinyModel) {
  ILLUME_REQUIRE_SHARED_PATH("data/countdown/test.jsonl");
  auto dir = test::scratch_dir();
  auto model = test::make_tiny_model(dir / "model");
  auto r = test::run_illume(tiny_demo_args(model, dir / "out", test::shared_dir()));
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("demo: done"), std::string::npos) << r.out;
  expect_demo_files(dir / "out");
  EXPECT_EQ(read_json_file(dir / "out" / "demo.json")["test_data"],
            (test::shared_dir() / "data" / "countdown" / "test.jsonl").string());
}

TEST(Demo, GeneratesPuzzlesWithoutSharedData) {
  auto dir = test::scratch_dir();
  auto model = test::make_tiny_model(dir / "model");
  auto r = test::run_illume(tiny_demo_args(model, dir / "out", dir / "no-shared"));
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("using generated Countdown puzzles"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(dir / "out" / "data" / "train.jsonl"));
  expect_demo_files(dir / "out");
}

TEST(Demo, MissingModelOrBadOverrideIsOneLineError) {
  auto dir = test::scratch_dir();
  auto r = test::run_illume({"demo", "--model", (dir / "nothing").string(), "--out", (dir / "out").string()});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("make default-model"), std::string::npos) << r.err;
  auto model = test::make_tiny_model(dir / "model");
  r = test::run_illume({"demo", "--model", model.string(), "--out", (dir / "out").string(), "optim.lr_typo=1"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("unknown key 'optim.lr_typo'"), std::string::npos) << r.err;
}
