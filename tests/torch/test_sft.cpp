#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <regex>

#include "common.h"
#include "illume/io/safetensors.h"
#include "illume/io/safetensors_torch.h"
#include "illume/model/model.h"
#include "illume/text/tokenizer.h"
#include "illume/train/sft.h"
#include "illume/util/build_paths.h"
#include "illume/util/config.h"
#include "illume/util/file.h"
#include "illume/util/json.h"

using namespace illume;
using namespace illume::train;

TEST(Sft, BatchMarksOnlyResponsePositions) {
  TokenSequence a{{5, 6, 7, 8, 9}, 3};  // prompt 5 6 7, response 8 9
  TokenSequence b{{1, 2, 3}, 1};        // prompt 1, response 2 3
  auto batch = pack_batch({&a, &b}, 0);
  ASSERT_EQ(batch.ids.sizes(), (std::vector<std::int64_t>{2, 5}));
  EXPECT_TRUE(torch::equal(batch.mask, torch::tensor({{1, 1, 1, 1, 1}, {1, 1, 1, 0, 0}}, torch::kInt64)));
  EXPECT_TRUE(torch::equal(batch.loss_mask, torch::tensor({{0.f, 0.f, 0.f, 1.f, 1.f}, {0.f, 1.f, 1.f, 0.f, 0.f}})));
  EXPECT_EQ(batch.ids[1][4].item<std::int64_t>(), 0);  // right padding with pad_id
  EXPECT_EQ(batch.target_tokens, 4);
  EXPECT_EQ(batch.prompt_lengths, (std::vector<std::int64_t>{3, 1}));
  EXPECT_EQ(batch.response_lengths, (std::vector<std::int64_t>{2, 2}));
}

TEST(Sft, LossCountsResponseTokensOnly) {
  // Hand-made batch: B=2, T=5, V=7. Response targets: row 0 positions 3, 4; row 1 positions 1, 2.
  TokenSequence a{{5, 6, 1, 3, 4}, 3};
  TokenSequence b{{1, 2, 3}, 1};
  auto batch = pack_batch({&a, &b}, 0);
  torch::manual_seed(3);
  auto logits = torch::randn({2, 5, 7}).requires_grad_(true);
  auto loss = masked_lm_loss(logits, batch.ids, batch.loss_mask);
  // Expected: mean of -log_softmax(logits[b, t-1])[ids[b, t]] over the 4 response targets.
  auto lp = torch::log_softmax(logits.detach(), -1);
  double expected = -(lp[0][2][3].item<double>() + lp[0][3][4].item<double>() + lp[1][0][2].item<double>() +
                      lp[1][1][3].item<double>()) / 4.0;
  EXPECT_NEAR(loss.item<double>(), expected, 1e-5);
  loss.backward();
  auto g = logits.grad();
  // Positions that predict prompt tokens or padding get no gradient; those that predict response tokens do.
  for (int t : {0, 1, 4}) EXPECT_EQ(g[0][t].abs().sum().item<double>(), 0.0) << "row 0 pos " << t;
  for (int t : {2, 3, 4}) EXPECT_EQ(g[1][t].abs().sum().item<double>(), 0.0) << "row 1 pos " << t;
  for (int t : {2, 3}) EXPECT_GT(g[0][t].abs().sum().item<double>(), 0.0);
  for (int t : {0, 1}) EXPECT_GT(g[1][t].abs().sum().item<double>(), 0.0);
  // Changing a prompt token (that is not predicted-from) leaves the loss unchanged.
  TokenSequence a2{{5, 0, 1, 3, 4}, 3};
  auto batch2 = pack_batch({&a2, &b}, 0);
  EXPECT_NEAR(masked_lm_loss(logits.detach(), batch2.ids, batch2.loss_mask).item<double>(), expected, 1e-6);
}

TEST(Sft, LearningRateWarmsUpThenDecaysByCosine) {
  SftConfig c;
  c.optim.lr = 1e-3;
  c.optim.warmup_steps = 10;
  c.run.steps = 110;
  c.optim.min_lr_ratio = 0.1;
  const auto lr = lr_schedule(c);
  EXPECT_NEAR(lr.at(0), 1e-4, 1e-12);
  EXPECT_NEAR(lr.at(9), 1e-3, 1e-12);
  EXPECT_NEAR(lr.at(10), 1e-3, 1e-12);
  EXPECT_NEAR(lr.at(60), 1e-3 * (0.1 + 0.9 * 0.5), 1e-12);
  EXPECT_NEAR(lr.at(110), 1e-4, 1e-12);
  EXPECT_LT(lr.at(80), lr.at(40));
}

namespace {

std::string recipe_text(const std::filesystem::path& tok, const std::filesystem::path& out) {
  return "model:\n  tokenizer: " + tok.string() +
         "\n  config: {model_type: qwen3, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 1, "
         "num_attention_heads: 2, num_key_value_heads: 1, head_dim: 16, rms_norm_eps: 1.0e-6, "
         "rope_theta: 10000.0, tie_word_embeddings: true}\n"
         "data:\n  generate: {n: 40, seed: 2, difficulty: easy}\n  eval_size: 8\n"
         "optim: {batch_size: 4, lr: 0.01, warmup_steps: 1}\n"
         "run: {out: " + out.string() + ", steps: 4, seed: 3, threads: 1, log_every: 1, eval_every: 2, save_every: 2, "
         "keep_checkpoints: 5, progress: false}\n";
}

void write_recipe(const std::filesystem::path& path, const std::filesystem::path& tok, const std::filesystem::path& out,
                  const std::string& extra = "") {
  std::ofstream(path) << recipe_text(tok, out) << extra;
}

// The Countdown tokenizer (a small one) in `dir`.
std::filesystem::path make_tokenizer(const std::filesystem::path& dir) {
  auto r = test::run_illume({"countdown-tokenizer", "--out", dir.string(), "--conversations", "50", "--merges", "20"});
  EXPECT_EQ(r.status, 0) << r.err;
  return dir;
}

at::Tensor weights_of(const std::filesystem::path& dir) {
  auto model = Model::load(dir);
  std::vector<at::Tensor> flat;
  for (auto& p : model.parameters()) flat.push_back(p.flatten());
  return torch::cat(flat);
}

}  // namespace

TEST(Sft, TrainsCheckpointsAndResumesToTheSameWeights) {
  auto dir = test::scratch_dir();
  const auto tok = make_tokenizer(dir / "tok");
  write_recipe(dir / "a.yaml", tok, dir / "a");
  auto r = test::run_illume({"sft", "--config", (dir / "a.yaml").string()});
  ASSERT_EQ(r.status, 0) << r.err;
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"})
    EXPECT_TRUE(std::filesystem::exists(dir / "a" / "final" / f)) << f;
  EXPECT_TRUE(std::filesystem::exists(dir / "a" / "checkpoints" / "step-000002" / "optimizer.safetensors"));
  EXPECT_TRUE(std::filesystem::exists(dir / "a" / "checkpoints" / "step-000004" / "trainer_state.json"));
  auto metrics = read_jsonl_file(dir / "a" / "metrics.jsonl");
  ASSERT_EQ(metrics.size(), 4u);
  EXPECT_EQ(metrics[3]["step"], 4);
  EXPECT_TRUE(metrics[1].contains("eval_loss"));
  EXPECT_TRUE(std::isfinite(metrics[3]["loss"].get<double>()));
  // TRL's SFTTrainer names (docs/metrics.md).
  for (const char* key : {"learning_rate", "grad_norm", "num_tokens", "timing/update"})
    EXPECT_TRUE(metrics[3].contains(key)) << key;
  for (const char* old_name : {"lr", "tokens", "time_train_seconds"}) EXPECT_FALSE(metrics[3].contains(old_name)) << old_name;
  EXPECT_GT(metrics[3]["timing/update"].get<double>(), 0.0);
  // The weights moved away from the same random initialisation.
  auto fresh = Model::random(Model::load(dir / "a" / "final").config(), 3);
  std::vector<at::Tensor> flat;
  for (auto& p : fresh.parameters()) flat.push_back(p.flatten());
  auto final_a = weights_of(dir / "a" / "final");
  EXPECT_GT((final_a - torch::cat(flat)).abs().max().item<double>(), 1e-4);

  // Resume: a run that starts from A's step-2 checkpoint ends with A's weights.
  std::filesystem::create_directories(dir / "b" / "checkpoints");
  std::filesystem::copy(dir / "a" / "checkpoints" / "step-000002", dir / "b" / "checkpoints" / "step-000002",
                        std::filesystem::copy_options::recursive);
  write_recipe(dir / "b.yaml", tok, dir / "b");
  r = test::run_illume({"sft", "--config", (dir / "b.yaml").string(), "--resume"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("resuming"), std::string::npos) << r.err;
  EXPECT_TRUE(torch::allclose(weights_of(dir / "b" / "final"), final_a, 1e-5, 1e-6));
  EXPECT_EQ(read_jsonl_file(dir / "b" / "metrics.jsonl").size(), 2u);  // steps 3 and 4 only
}

TEST(Sft, RecipeErrorsNameTheFileOrTheOverride) {
  auto dir = test::scratch_dir();
  auto error_for = [&](const std::string& name, const std::string& text, std::vector<std::string> overrides = {}) {
    std::ofstream(dir / name) << text;
    std::vector<std::string> args = {"sft", "--config", (dir / name).string()};
    args.insert(args.end(), overrides.begin(), overrides.end());
    auto r = test::run_illume(args);
    EXPECT_EQ(r.status, 1) << name;
    return r.err;
  };
  const auto ok = recipe_text(dir / "tok", dir / "out");
  auto err = error_for("bad.yaml", ok + "accuracy: {n: 3, nn: 4}\n");
  EXPECT_NE(err.find("bad.yaml: unknown key 'accuracy.nn'"), std::string::npos) << err;
  err = error_for("ok.yaml", ok, {"optim.lr=abc"});
  EXPECT_NE(err.find("override 'optim.lr=abc': key 'optim.lr' should be a number, got \"abc\""), std::string::npos) << err;
  err = error_for("ok.yaml", ok, {"optim.lr=inf"});
  EXPECT_NE(err.find("override 'optim.lr=inf': key 'optim.lr' should be a number"), std::string::npos) << err;
  err = error_for("nan.yaml", std::regex_replace(ok, std::regex("lr: 0.01"), "lr: .nan"));
  EXPECT_NE(err.find("nan.yaml: key 'optim.lr' should be a number, got \".nan\""), std::string::npos) << err;
  err = error_for("dup.yaml", ok + "optim: {lr: 1}\n");
  EXPECT_NE(err.find("dup.yaml: duplicate key 'optim'"), std::string::npos) << err;
  err = error_for("ok.yaml", ok, {"model.dtype=bf16"});
  EXPECT_NE(err.find("key 'model.dtype' must be f32"), std::string::npos) << err;
  err = error_for("ok.yaml", ok, {"run.export_dtype=bfloat16"});
  EXPECT_NE(err.find("key 'run.export_dtype' must be one of f32|bf16|f16, got 'bfloat16'"), std::string::npos) << err;
  err = error_for("ok.yaml", ok, {"data.prompt_style=raw"});
  EXPECT_NE(err.find("key 'data.prompt_style' must be one of plain|chat, got 'raw'"), std::string::npos) << err;
  // The keys of the older SFT dialect say where they went.
  err = error_for("old.yaml", ok + "train: {steps: 4, eps: 1.0e-8}\n");
  EXPECT_NE(err.find("old.yaml: unknown key 'train.eps' (now 'optim.adam_eps')"), std::string::npos) << err;
  // Reported before the keys the new dialect misses (here run.out: the old recipe has 'out').
  err = error_for("old-out.yaml", std::regex_replace(ok, std::regex("run: \\{out: [^,]*, "), "out: x\nrun: {"));
  EXPECT_NE(err.find("old-out.yaml: unknown key 'out' (now 'run.out')"), std::string::npos) << err;
  err = error_for("typo.yaml", ok + "accuracy: {pth: test.jsonl, n: 3}\n");
  EXPECT_NE(err.find("typo.yaml: unknown key 'accuracy.pth'"), std::string::npos) << err;
  err = error_for("resume.yaml", ok + "resume: true\n");
  EXPECT_NE(err.find("resume.yaml: unknown key 'resume' (now the --resume flag)"), std::string::npos) << err;
  err = error_for("ok.yaml", ok, {"data.prompt_format=chat"});
  EXPECT_NE(err.find("unknown key 'data.prompt_format' (now 'data.prompt_style' (plain|chat))"), std::string::npos) << err;
  auto r = test::run_illume({"sft", "--config", (dir / "missing.yaml").string()});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("missing.yaml"), std::string::npos) << r.err;
}

// The recipe that trained the shipped default model still reads to the values it was trained with
// (docs/default-model.md), with its paths relative to configs/.
TEST(Sft, DefaultModelRecipeReads) {
  const std::filesystem::path source = ::illume::build::source_dir();
  auto c = load_sft_config(source / "configs" / "default-model.yaml", {});
  const auto model_dir = (source / "models" / "illume-countdown-tiny").lexically_normal();
  EXPECT_EQ(c.model.tokenizer, model_dir);
  EXPECT_EQ(c.run.export_dir, model_dir);
  EXPECT_EQ(c.run.out, (source / "runs" / "default-model").lexically_normal());
  EXPECT_EQ(c.accuracy.path, (source / ".." / "shared" / "data" / "countdown" / "test.jsonl").lexically_normal());
  EXPECT_EQ(c.model.config["hidden_size"], 192);
  EXPECT_EQ(c.data.generate_n, 200000);
  EXPECT_EQ(c.data.prompt_style, data::PromptStyle::Chat);
  EXPECT_EQ(c.run.steps, 3000);
  EXPECT_EQ(c.run.seed, 0u);
  EXPECT_EQ(c.run.threads, 2);
  EXPECT_EQ(c.optim.batch_size, 32);
  EXPECT_DOUBLE_EQ(c.optim.lr, 3e-3);
  EXPECT_DOUBLE_EQ(c.optim.min_lr_ratio, 0.05);
  EXPECT_DOUBLE_EQ(c.optim.beta2, 0.95);
  EXPECT_DOUBLE_EQ(c.optim.weight_decay, 0.1);
  EXPECT_EQ(c.run.export_dtype, c10::kBFloat16);
  EXPECT_EQ(c.accuracy.n, 64);
  // --print-config's JSON reads back to the same config.
  auto printed = sft_config_to_json(c);
  EXPECT_EQ(sft_config_to_json(read_sft_config(config_tree(printed, "printed"))), printed);
}

// Relative paths in the recipe are relative to its folder: it prints and runs the same from another
// working directory.
TEST(Sft, RecipePathsWorkFromAnotherWorkingDirectory) {
  auto dir = test::scratch_dir();
  make_tokenizer(dir / "tok");
  std::filesystem::create_directories(dir / "recipes");
  std::filesystem::create_directories(dir / "elsewhere");
  std::ofstream(dir / "recipes" / "r.yaml")
      << std::regex_replace(recipe_text("../tok", "../out"), std::regex("progress: false"), "progress: false, export_dir: ../export");
  struct WorkingDirectory {
    std::filesystem::path saved = std::filesystem::current_path();
    explicit WorkingDirectory(const std::filesystem::path& to) { std::filesystem::current_path(to); }
    ~WorkingDirectory() { std::filesystem::current_path(saved); }
  } cd(dir / "elsewhere");
  auto r = test::run_illume({"sft", "--config", "../recipes/r.yaml", "--print-config", "run.steps=2"});
  ASSERT_EQ(r.status, 0) << r.err;
  auto printed = Json::parse(r.out);
  EXPECT_EQ(printed["model"]["tokenizer"], (dir / "tok").string());
  EXPECT_EQ(printed["run"]["out"], (dir / "out").string());
  EXPECT_EQ(printed["run"]["export_dir"], (dir / "export").string());
  EXPECT_EQ(printed["run"]["steps"], 2);
  r = test::run_illume({"sft", "--config", "../recipes/r.yaml", "run.steps=2"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(std::filesystem::exists(dir / "out" / "final" / "model.safetensors"));
  EXPECT_TRUE(std::filesystem::exists(dir / "export" / "model.safetensors"));
}

namespace {

// metrics.jsonl without the wall-clock keys (which differ between any two runs).
std::vector<Json> rows_without_times(const std::filesystem::path& path) {
  auto rows = read_jsonl_file(path);
  for (auto& row : rows)
    for (auto it = row.begin(); it != row.end();) {
      // Clock readings, and the resume record (the one difference a resume makes: run_log.h).
      if (it.key().rfind("timing/", 0) == 0 || it.key() == "resumed_from_step") it = row.erase(it);
      else ++it;
    }
  return rows;
}

}  // namespace

// The SFT twin of TrainCheckpoint.KillAndResumeGivesIdenticalMetrics: a run stopped after step 3 (its
// newest checkpoint is step 2; step 3's row and half of step 4's reached metrics.jsonl) and resumed
// ends with the uninterrupted run's weights, bit for bit, and its metrics, each step once.
TEST(Sft, KillAndResumeGivesIdenticalWeightsAndMetrics) {
  auto dir = test::scratch_dir();
  const auto tok = make_tokenizer(dir / "tok");
  write_recipe(dir / "a.yaml", tok, dir / "a");
  write_recipe(dir / "b.yaml", tok, dir / "b");
  const auto config_a = load_sft_config(dir / "a.yaml", {"run.steps=5"});
  const auto config_b = load_sft_config(dir / "b.yaml", {"run.steps=5"});
  const auto final_a = run_sft(config_a);

  EXPECT_TRUE(run_sft(config_b, /*resume=*/false, /*stop_after=*/3).empty());
  EXPECT_FALSE(std::filesystem::exists(dir / "b" / "final"));
  EXPECT_EQ(rows_without_times(dir / "b" / "metrics.jsonl").size(), 3u);  // step 3 is after the checkpoint
  std::ofstream(dir / "b" / "metrics.jsonl", std::ios::app) << "{\"step\": 4, \"lo";
  const auto final_b = run_sft(config_b, /*resume=*/true);

  auto weights_a = Model::load(final_a).parameters();
  auto weights_b = Model::load(final_b).parameters();
  ASSERT_EQ(weights_a.size(), weights_b.size());
  for (std::size_t i = 0; i < weights_a.size(); ++i) EXPECT_TRUE(torch::equal(weights_a[i], weights_b[i])) << "parameter " << i;
  auto rows_a = rows_without_times(dir / "a" / "metrics.jsonl");
  auto rows_b = rows_without_times(dir / "b" / "metrics.jsonl");
  ASSERT_EQ(rows_a.size(), 5u);
  ASSERT_EQ(rows_b.size(), 5u);
  for (std::size_t i = 0; i < rows_a.size(); ++i) {
    EXPECT_EQ(rows_b[i]["step"], static_cast<std::int64_t>(i + 1));  // each step once, in order
    EXPECT_EQ(rows_a[i], rows_b[i]) << "step " << i + 1;
  }
  EXPECT_NE(rows_a[0]["loss"], rows_a[4]["loss"]);  // the rows are not trivially equal
}
