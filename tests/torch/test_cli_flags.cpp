// Flags mean the same everywhere (issue 14 item 7), on real models: generate, analyze and perturb
// take the prompt format the model folder records (as eval does), the deprecated spellings reach the
// same settings as the new ones, and analyze's --window is bounded at parse time and clamped inside.
#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "common.h"
#include "illume/util/build_paths.h"
#include "illume/util/file.h"
#include "illume/util/json.h"

using namespace illume;
namespace fs = std::filesystem;

namespace {

// The default model records "illume_prompt_style": "chat" (illume sft wrote it).
std::string default_model() {
  return (fs::path(::illume::build::source_dir()) / "models" / "illume-countdown-tiny").string();
}

Json settings_of(const fs::path& summary) { return Json::parse(read_file(summary)).at("settings"); }

}  // namespace

TEST(CliFlags, GenerateDefaultsToTheModelFoldersPromptStyle) {
  const std::string prompt = "Using the numbers [3, 5, 7], create an equation that equals 22.";
  auto run = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {"generate", "--model", default_model(), "--prompt", prompt, "--greedy",
                                     "--max-new-tokens", "24"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = test::run_illume(args);
    EXPECT_EQ(r.status, 0) << r.err;
    return r.out;
  };
  const auto by_default = run({});
  EXPECT_EQ(by_default, run({"--chat"}));
  EXPECT_NE(by_default, run({"--plain"}));  // the model answers a chat prompt differently from a plain one
}

TEST(CliFlags, AnalyzeAndPerturbDefaultToTheModelFoldersPromptStyle) {
  ILLUME_REQUIRE_SHARED_PATH("data/countdown/test.jsonl");
  const auto data = test::shared_path("data/countdown/test.jsonl").string();
  const auto dir = test::scratch_dir();
  write_file_atomic(dir / "r.jsonl", "{\"prompt\": \"What is 2 + 3?\", \"response\": \"It is 5, since 2 + 3 = 5.\"}\n");
  auto r = test::run_illume({"analyze", "--model", default_model(), "--responses", (dir / "r.jsonl").string(),
                             "--bootstrap", "0", "--out", (dir / "default").string()});
  ASSERT_EQ(r.status, 0) << r.err;
  auto settings = settings_of(dir / "default" / "summary.json");
  EXPECT_EQ(settings.at("prompt_format"), "chat");
  EXPECT_EQ(settings.at("prompt_format_source"), "model folder");
  r = test::run_illume({"analyze", "--model", default_model(), "--responses", (dir / "r.jsonl").string(),
                        "--bootstrap", "0", "--plain", "--out", (dir / "plain").string()});
  ASSERT_EQ(r.status, 0) << r.err;
  settings = settings_of(dir / "plain" / "summary.json");
  EXPECT_EQ(settings.at("prompt_format"), "plain");
  EXPECT_EQ(settings.at("prompt_format_source"), "--plain");
  // The prompt is encoded in the format: the chat one is longer by the template's tokens.
  auto prompt_tokens = [&](const char* out) {
    std::istringstream in(read_file(dir / out / "tokens_metrics.jsonl"));
    std::string line;
    std::getline(in, line);
    return Json::parse(line).at("prompt_ids").size();
  };
  EXPECT_GT(prompt_tokens("default"), prompt_tokens("plain"));

  r = test::run_illume({"perturb", "--model", default_model(), "--task", "countdown", "--data", data, "--limit", "1",
                        "--max-new-tokens", "24", "--positions", "1", "--alternatives", "1", "--continuation-tokens",
                        "4", "--out", (dir / "perturb").string()});
  ASSERT_EQ(r.status, 0) << r.err;
  auto perturb = Json::parse(read_file(dir / "perturb" / "perturb.json"));
  EXPECT_NE(perturb.dump().find("\"prompt_format\":\"chat\""), std::string::npos) << perturb.dump().substr(0, 400);
  EXPECT_NE(perturb.dump().find("\"prompt_format_source\":\"model folder\""), std::string::npos);
}

TEST(CliFlags, DeprecatedSpellingsReachTheSameSettings) {
  const auto dir = test::scratch_dir();
  write_file_atomic(dir / "p.jsonl", "{\"prompt\": \"What is 2 + 3?\"}\n");
  // analyze --n / --batch-rows are -n / --max-batch-rows: the same responses, the same summary.
  std::vector<std::string> base = {"analyze", "--model", default_model(), "--prompts", (dir / "p.jsonl").string(),
                                   "--temperature", "1", "--max-new-tokens", "12", "--bootstrap", "0"};
  auto with = [&](std::vector<std::string> extra, const std::string& out) {
    auto args = base;
    args.insert(args.end(), extra.begin(), extra.end());
    args.insert(args.end(), {"--out", (dir / out).string()});
    return test::run_illume(args);
  };
  auto now = with({"-n", "2", "--max-batch-rows", "1"}, "now");
  ASSERT_EQ(now.status, 0) << now.err;
  EXPECT_EQ(now.err.find("warning"), std::string::npos) << now.err;
  auto old = with({"--n", "2", "--batch-rows", "1"}, "old");
  ASSERT_EQ(old.status, 0) << old.err;
  EXPECT_NE(old.err.find("illume: warning: --n is deprecated; use -n,--num-samples"), std::string::npos) << old.err;
  EXPECT_NE(old.err.find("illume: warning: --batch-rows is deprecated; use --max-batch-rows"), std::string::npos);
  EXPECT_EQ(read_file(dir / "now" / "tokens_metrics.jsonl"), read_file(dir / "old" / "tokens_metrics.jsonl"));
  EXPECT_EQ(settings_of(dir / "now" / "summary.json").at("num_samples"), 2);
}

TEST(CliFlags, AnalyzeWindowBeyondTheResponseEqualsTheSequenceLength) {
  ILLUME_REQUIRE_SHARED_PATH("fixtures/tiny-qwen3/model.safetensors");
  const auto dir = test::scratch_dir();
  // 4 prompt ids + 3 response ids: no distance reaches 7.
  write_file_atomic(dir / "r.jsonl", "{\"prompt_ids\": [9707, 1879, 11, 1077], \"response_ids\": [220, 16, 17]}\n");
  auto run = [&](const std::string& window) {
    auto r = test::run_illume({"analyze", "--model", test::shared_path("fixtures/tiny-qwen3").string(), "--responses",
                               (dir / "r.jsonl").string(), "--system", "", "--bootstrap", "0", "--receiver-min-rows",
                               "1", "--window", window, "--out", (dir / window).string()});
    EXPECT_EQ(r.status, 0) << r.err;
    return Json::parse(read_file(dir / window / "tokens_metrics.jsonl")).at("waad");
  };
  // The largest W a flag takes (2^24) is as cheap as W = 7 and gives the same WAAD.
  const auto at_length = run("7");
  EXPECT_EQ(run("16777216"), at_length);
  EXPECT_EQ(at_length.size(), 3u);
  EXPECT_NE(run("1"), at_length);
}
