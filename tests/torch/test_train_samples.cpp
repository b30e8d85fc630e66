// The GRPO trainer's sample completions (run.log_samples): OUT/samples.jsonl holds each step's rows
// with their credit per token, is trimmed on resume like metrics.jsonl, and the dashboard of the run
// shows them as a table (with the resume point on its curves).
#include <torch/torch.h>

#include <algorithm>
#include <fstream>
#include <set>

#include "chromium_page.h"
#include "common.h"
#include "illume/report/dashboard.h"
#include "illume/train/grpo_trainer.h"
#include "illume/util/config.h"
#include "train_test_util.h"

using namespace illume;
using namespace illume::test;
namespace fs = std::filesystem;

namespace {

// The test's reward: digits in the response / 4, at most 1 (unlike the share of digits, unchanged by
// how the response's invalid bytes are written).
reward::RewardResult digit_count_reward(const data::Problem&, const std::string& response) {
  reward::RewardResult r;
  double digits = 0;
  for (char c : response) digits += (c >= '0' && c <= '9') ? 1 : 0;
  r.reward = std::min(1.0, digits / 4);
  r.correct = r.reward >= 1;
  r.formatted = true;
  return r;
}

std::string ascii_of(const std::string& text) {
  std::string out;
  for (char c : text)
    if (static_cast<unsigned char>(c) < 0x80) out += c;
  return out;
}

// The e2e tests' tiny coupled-credit run (test_train_e2e.cpp), 3 steps, a checkpoint every step.
train::GrpoTrainer coupled_trainer(const fs::path& model_dir, const fs::path& out, std::int64_t log_samples) {
  auto root = parse_yaml(fmt::format(R"(
model: {{dir: "{}"}}
data: {{task: countdown, path: synthetic}}
rollout: {{group_size: 4, temperature: 1.0, max_response_tokens: 12}}
optim: {{batch_size: 16, micro_batch_size: 8, lr: 3.0e-3, grad_clip: 1.0}}
credit: {{strategy: coupled, q: 0.4, gamma_amp: 1.5}}
attention: {{layers: [0, 1], window: 3, horizon: [2, 20]}}
run: {{out: "{}", steps: 3, seed: 5, save_every: 1, progress: false, log_samples: {}}}
)",
                                     model_dir.string(), out.string(), log_samples),
                         "samples.yaml");
  return train::GrpoTrainer(train::train_config_from_json(root, "samples.yaml"), Model::load(model_dir),
                            Tokenizer::from_dir(model_dir), model_dir, tiny_countdown_problems(12), digit_count_reward);
}

// The text from `from` up to `to` (exclusive); "" when `from` is absent.
std::string between_markers(const std::string& text, const std::string& from, const std::string& to) {
  auto a = text.find(from);
  if (a == std::string::npos) return "";
  auto b = text.find(to, a);
  return text.substr(a, b == std::string::npos ? std::string::npos : b - a);
}

}  // namespace

TEST(TrainSamples, StepsLogSampleCompletionsWithTheirCreditAndTheDashboardShowsThem) {
  auto dir = scratch_dir();
  auto model_dir = make_tiny_model(dir / "model", 3);
  const auto out = dir / "run";
  {
    auto trainer = coupled_trainer(model_dir, out, 3);
    trainer.run(2);  // "killed" after step 2 (checkpoint 2)
    // A step past the checkpoint whose samples reached the file, and a half line: the resume drops both.
    trainer.step();
    std::ofstream(out / "samples.jsonl", std::ios::app) << "{\"step\": 3, \"prompt\": \"x\"}\n{\"step\": 3, \"pro";
  }
  {
    auto trainer = coupled_trainer(model_dir, out, 3);
    ASSERT_TRUE(trainer.resume());
    trainer.run();
  }
  const auto rows = read_jsonl_file(out / "samples.jsonl");
  ASSERT_EQ(rows.size(), 9u) << "3 samples for each of 3 steps, step 3 once";
  std::size_t anchors = 0, amplified = 0, rewarded = 0;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const Json& row = rows[i];
    EXPECT_EQ(row["step"], static_cast<int>(i / 3 + 1));
    for (const char* key : {"problem", "prompt", "response", "finish_reason", "reward", "advantage", "strategy", "tokens",
                            "gamma", "anchors", "preplans"})
      ASSERT_TRUE(row.contains(key)) << key << " in row " << i;
    EXPECT_EQ(row["strategy"], "coupled");
    EXPECT_NE(row["prompt"].get<std::string>().find("Using the numbers"), std::string::npos) << row["prompt"];
    const auto& tokens = row["tokens"];
    ASSERT_GT(tokens.size(), 0u);
    ASSERT_EQ(row["gamma"].size(), tokens.size());
    EXPECT_LE(tokens.size(), 12u);
    // gamma of coupled credit: 1, 1.25 (a share moved), 1.5 or 1.75 (terms add).
    for (const auto& g : row["gamma"]) {
      const double v = g.get<double>();
      EXPECT_TRUE(v == 1.0 || v == 1.25 || v == 1.5 || v == 1.75) << v;
      amplified += v > 1 ? 1 : 0;
    }
    for (const char* role : {"anchors", "preplans"})
      for (const auto& t : row[role]) {
        ASSERT_LT(t.get<std::size_t>(), tokens.size()) << role;
        EXPECT_GT(row["gamma"][t.get<std::size_t>()].get<double>(), 1.0) << role << " tokens get credit";
      }
    anchors += row["anchors"].size();
    // The reward is the response's own, and the pieces spell the response. The random model emits stray
    // bytes, written as U+FFFD (in the response where they are invalid, in a piece wherever a character
    // is split between tokens): so the reward counts digits only, and the spelling is compared on the
    // ASCII characters.
    const std::string response = row["response"].get<std::string>();
    EXPECT_DOUBLE_EQ(row["reward"].get<double>(), digit_count_reward({}, response).reward);
    std::string joined;
    for (const auto& t : tokens) joined += t.get<std::string>();
    EXPECT_EQ(ascii_of(joined).rfind(ascii_of(response), 0), 0u) << "the pieces spell the response";
    rewarded += row["reward"].get<double>() > 0 ? 1 : 0;
  }
  EXPECT_GT(anchors, 0u) << "coupled credit marks its anchors";
  EXPECT_GT(rewarded, 0u) << "some response with a digit, so the reward comparison can fail";
  EXPECT_GT(amplified, 0u);

  // The dashboard: a samples table (latest step first), the resume at step 2 on the curves.
  const fs::path html = dir / "dashboard.html";
  Json data = collect_runs({out}, html);
  ASSERT_EQ(data["runs"][0]["samples"].size(), 9u);
  EXPECT_EQ(data["runs"][0]["samples"][0]["step"], 3);
  EXPECT_EQ(data["runs"][0]["resumes"], Json({2}));
  write_dashboard(html, data);
  if (!fs::exists(chromium_path())) FAIL() << "chromium is not installed (make deps installs it): " << chromium_path();
  ChromiumPage page = load_in_chromium(html, "#selftest", dir, "--dump-dom", "1280,2000");
  ASSERT_EQ(page.status, 0) << page.stderr_text;
  EXPECT_TRUE(page.console.empty()) << join(page.console);
  EXPECT_EQ(dom_attribute(page.dom, "<body", "data-js-errors"), "0");
  EXPECT_EQ(dom_attribute(page.dom, "<body", "data-overflow-x"), "0");
  EXPECT_EQ(page.dom.find("id=\"samples-card\" hidden"), std::string::npos);
  const std::string table = between_markers(page.dom, "<table class=\"samples\"", "</table>");
  ASSERT_FALSE(table.empty());
  EXPECT_EQ(count(table, "<tr><td>3</td>"), 3u) << table.substr(0, 2000);
  EXPECT_LT(table.find("<tr><td>3</td>"), table.find("<tr><td>1</td>")) << "latest step first";
  EXPECT_GT(count(table, "class=\"tok"), 9u);
  EXPECT_GT(count(table, "tok anc"), 0u);
  EXPECT_EQ(dom_attribute(page.dom, "<canvas class=\"curve\" id=\"cv-reward\"", "data-resume-lines"), "1");
}

TEST(TrainSamples, ZeroTurnsThemOff) {
  auto dir = scratch_dir();
  auto model_dir = make_tiny_model(dir / "model", 3);
  auto trainer = coupled_trainer(model_dir, dir / "run", 0);
  trainer.run(1);
  EXPECT_FALSE(fs::exists(dir / "run" / "samples.jsonl"));
  EXPECT_EQ(read_jsonl_file(dir / "run" / "metrics.jsonl").size(), 1u);
}
