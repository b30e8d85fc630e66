// A trainer's TensorBoard events files (run.tensorboard) hold the same scalars as its metrics.jsonl,
// each step once, also across a kill and a resume.
#include <gtest/gtest.h>

#include <fstream>
#include <map>

#include "common.h"
#include "illume/train/run_log.h"
#include "illume/train/sft.h"
#include "illume/util/json.h"
#include "illume/util/tensorboard.h"
#include "tensorboard_decode.h"

using namespace illume;
using namespace illume::train;
namespace fs = std::filesystem;

namespace {

// A tiny SFT recipe (as tests/torch/test_sft.cpp's): a 1-layer model from random weights, logging every
// step, evaluating every 2, checkpointing every 2.
void write_tiny_recipe(const fs::path& path, const fs::path& tokenizer, const fs::path& out) {
  std::ofstream(path) << "model:\n  tokenizer: " << tokenizer.string()
                      << "\n  config: {model_type: qwen3, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 1, "
                         "num_attention_heads: 2, num_key_value_heads: 1, head_dim: 16, rms_norm_eps: 1.0e-6, "
                         "rope_theta: 10000.0, tie_word_embeddings: true}\n"
                         "data:\n  generate: {n: 40, seed: 2, difficulty: easy}\n  eval_size: 8\n"
                         "optim: {batch_size: 4, lr: 0.01, warmup_steps: 1}\n"
                         "run: {out: "
                      << out.string()
                      << ", steps: 4, seed: 3, threads: 1, log_every: 1, eval_every: 2, save_every: 2, "
                         "keep_checkpoints: 5, progress: false}\n";
}

// Every scalar event in the folder's events files, in TensorBoard's reading order: step -> tag -> value.
// A step that appears twice is a failure (TensorBoard would show the older value or both).
std::map<std::int64_t, std::map<std::string, double>> scalars_in(const fs::path& folder) {
  std::map<std::int64_t, std::map<std::string, double>> steps;
  for (const auto& file : tensorboard::event_files(folder)) {
    const auto events = test::decode_events_file(file);
    if (events.empty()) {
      ADD_FAILURE() << file << ": no events";
      continue;
    }
    EXPECT_EQ(events[0].file_version, "brain.Event:2") << file;
    for (std::size_t i = 1; i < events.size(); ++i) {
      EXPECT_FALSE(steps.count(events[i].step)) << "step " << events[i].step << " logged twice";
      for (const auto& [tag, value] : events[i].values) steps[events[i].step][tag] = value;
    }
  }
  return steps;
}

}  // namespace

TEST(TensorBoardRun, SftEventsMatchMetricsAcrossAKillAndResume) {
  ILLUME_REQUIRE_PROTOC();
  const auto dir = test::scratch_dir();
  auto made = test::run_illume({"countdown-tokenizer", "--out", (dir / "tok").string(), "--conversations", "50", "--merges", "20"});
  ASSERT_EQ(made.status, 0) << made.err;
  write_tiny_recipe(dir / "r.yaml", dir / "tok", dir / "out");
  const auto config = load_sft_config(dir / "r.yaml", {});
  ASSERT_TRUE(config.run.tensorboard);  // on by default

  // Stopped after step 3 (newest checkpoint: step 2), then resumed: step 3 is logged again.
  EXPECT_TRUE(run_sft(config, /*resume=*/false, /*stop_after=*/3).empty());
  ASSERT_EQ(tensorboard::event_files(dir / "out").size(), 1u);
  EXPECT_EQ(scalars_in(dir / "out").rbegin()->first, 3);
  run_sft(config, /*resume=*/true);
  ASSERT_EQ(tensorboard::event_files(dir / "out").size(), 2u);  // the resume's own file

  const auto rows = read_jsonl_file(dir / "out" / "metrics.jsonl");
  const auto steps = scalars_in(dir / "out");
  ASSERT_EQ(rows.size(), 4u);
  ASSERT_EQ(steps.size(), rows.size());
  for (const auto& row : rows) {
    const auto step = row.at("step").get<std::int64_t>();
    ASSERT_TRUE(steps.count(step)) << "step " << step << " missing from the events files";
    const auto& tags = steps.at(step);
    std::size_t numeric = 0;
    for (const auto& [key, value] : row.items()) {
      // (the resume record is the log's, not a scalar: run_log.h)
      if (key == "step" || key == "resumed_from_step" || !value.is_number()) continue;
      ++numeric;
      ASSERT_TRUE(tags.count(key)) << "step " << step << ": no scalar '" << key << "'";
      // simple_value is a 32-bit float.
      EXPECT_FLOAT_EQ(static_cast<float>(tags.at(key)), static_cast<float>(value.get<double>()))
          << "step " << step << " " << key;
    }
    EXPECT_EQ(tags.size(), numeric) << "step " << step;
    EXPECT_TRUE(tags.count("loss") && tags.count("learning_rate")) << "step " << step;
  }
  // The resumed run's first row (step 3) records where it resumed from.
  EXPECT_EQ(rows[2].at("step"), 3);
  EXPECT_EQ(rows[2].at("resumed_from_step"), 2);
  EXPECT_TRUE(steps.at(2).count("eval_loss"));  // eval_every: 2

  // run.tensorboard: false writes none.
  write_tiny_recipe(dir / "off.yaml", dir / "tok", dir / "off");
  const auto off = load_sft_config(dir / "off.yaml", {"run.tensorboard=false", "run.steps=2"});
  EXPECT_FALSE(off.run.tensorboard);
  run_sft(off);
  EXPECT_EQ(read_jsonl_file(dir / "off" / "metrics.jsonl").size(), 2u);
  EXPECT_TRUE(tensorboard::event_files(dir / "off").empty());
}

// The log's rules for its events files: a resume trims them to the checkpoint's step and starts a new
// file; a fresh log removes them (it replaces metrics.jsonl too), with TensorBoard on or off.
TEST(TensorBoardRun, RunLogTrimsOnResumeAndRemovesOnAFreshStart) {
  ILLUME_REQUIRE_PROTOC();
  const auto dir = test::scratch_dir();
  const auto path = dir / "metrics.jsonl";
  {
    RunLog log(path, std::nullopt, /*write_tensorboard=*/true);
    for (int step = 1; step <= 5; ++step)
      log.append({{"step", step}, {"loss", 1.0 / step}, {"reward", {{"mean", step * 0.25}}}, {"task", "countdown"}});
  }
  {
    RunLog log(path, 3, /*write_tensorboard=*/true);
    log.append({{"step", 4}, {"loss", 0.0}, {"reward", {{"mean", 2.0}}}});
  }
  const auto steps = scalars_in(dir);
  ASSERT_EQ(steps.size(), 4u);
  EXPECT_EQ(steps.at(2).at("loss"), 0.5);
  EXPECT_EQ(steps.at(3).at("reward/mean"), 0.75);
  EXPECT_EQ(steps.at(4).at("loss"), 0.0);  // the resumed run's value, the only one
  EXPECT_EQ(steps.at(4).at("reward/mean"), 2.0);
  EXPECT_EQ(steps.at(1).size(), 2u);  // the string left out
  EXPECT_EQ(tensorboard::event_files(dir).size(), 2u);
  { RunLog fresh(path, std::nullopt); }
  EXPECT_TRUE(tensorboard::event_files(dir).empty());
}
