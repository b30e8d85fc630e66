// The training runtime both trainers share: AdamW (train/adamw.h), the checkpoint layout
// (train/checkpoint.h), the metrics log (train/run_log.h), and resuming one trainer from the other's
// checkpoint.
#include <torch/torch.h>

#include <fstream>

#include "common.h"
#include "illume/io/safetensors.h"
#include "illume/io/safetensors_torch.h"
#include "illume/train/adamw.h"
#include "illume/train/checkpoint.h"
#include "illume/train/grpo_trainer.h"
#include "illume/train/run_log.h"
#include "illume/train/sft.h"
#include "illume/train/train_config.h"
#include "illume/util/config.h"
#include "illume/util/file.h"
#include "train_test_util.h"

using namespace illume;
using namespace illume::train;
using illume::test::error_of;
namespace fs = std::filesystem;

// Against torch's own AdamW (an independent implementation): matrices follow it with weight decay,
// 1-D tensors (norms, biases) follow it without, over several steps with changing gradients.
TEST(TrainAdamW, MatchesTorchAdamWWithDecayOnMatricesOnly) {
  torch::manual_seed(1);
  auto matrix = torch::randn({3, 4}).requires_grad_(true);
  auto bias = torch::randn({4}).requires_grad_(true);
  auto torch_matrix = matrix.detach().clone().requires_grad_(true);
  auto torch_bias = bias.detach().clone().requires_grad_(true);
  AdamWOptions o{0.01, 0.9, 0.95, 1e-8, 0.1};
  AdamW ours({{"w", matrix}, {"b", bias}}, o);
  torch::optim::AdamW with_decay({torch_matrix}, torch::optim::AdamWOptions(0.01).betas({0.9, 0.95}).eps(1e-8).weight_decay(0.1));
  torch::optim::AdamW without_decay({torch_bias}, torch::optim::AdamWOptions(0.01).betas({0.9, 0.95}).eps(1e-8).weight_decay(0.0));
  EXPECT_TRUE(decays_weight(matrix));
  EXPECT_FALSE(decays_weight(bias));
  for (int step = 0; step < 4; ++step) {
    auto g_matrix = torch::randn({3, 4}), g_bias = torch::randn({4});
    ours.zero_grad();
    matrix.mutable_grad() = g_matrix.clone();
    bias.mutable_grad() = g_bias.clone();
    ours.step(0.01);
    torch_matrix.mutable_grad() = g_matrix.clone();
    torch_bias.mutable_grad() = g_bias.clone();
    with_decay.step();
    without_decay.step();
  }
  EXPECT_EQ(ours.steps(), 4);
  EXPECT_TRUE(torch::allclose(matrix, torch_matrix, 1e-5, 1e-6)) << (matrix - torch_matrix).abs().max();
  EXPECT_TRUE(torch::allclose(bias, torch_bias, 1e-5, 1e-6)) << (bias - torch_bias).abs().max();
}

TEST(TrainAdamW, FirstStepByHand) {
  // Step 1: m^ = g, v^ = g^2, so p -= lr * g / (|g| + eps), after p *= (1 - lr * wd) for matrices.
  auto matrix = torch::tensor({{1.0, -2.0}, {3.0, 4.0}}).requires_grad_(true);
  auto norm = torch::tensor({1.0, 1.0}).requires_grad_(true);
  AdamW adam({{"m", matrix}, {"n", norm}}, {0.1, 0.9, 0.999, 1e-12, 0.5});
  matrix.mutable_grad() = torch::tensor({{2.0, -1.0}, {0.5, 0.0}});
  norm.mutable_grad() = torch::tensor({-3.0, 1.0});
  adam.step(0.1);
  // 1 * 0.95 - 0.1 = 0.85; -2 * 0.95 + 0.1 = -1.8; 3 * 0.95 - 0.1 = 2.75; g = 0: decay only, 4 * 0.95.
  EXPECT_NEAR(matrix[0][0].item<double>(), 0.85, 1e-6);
  EXPECT_NEAR(matrix[0][1].item<double>(), -1.8, 1e-6);
  EXPECT_NEAR(matrix[1][0].item<double>(), 2.75, 1e-6);
  EXPECT_NEAR(matrix[1][1].item<double>(), 3.8, 1e-6);
  EXPECT_NEAR(norm[0].item<double>(), 1.1, 1e-6);  // no decay on a 1-D tensor
  EXPECT_NEAR(norm[1].item<double>(), 0.9, 1e-6);
}

TEST(TrainAdamW, ClipsTheGlobalNormLikeTorch) {
  auto a = torch::zeros({2}).requires_grad_(true);
  auto b = torch::zeros({1}).requires_grad_(true);
  a.mutable_grad() = torch::tensor({3.0f, 4.0f});
  b.mutable_grad() = torch::tensor({12.0f});
  EXPECT_NEAR(clip_grad_norm({a, b}, 0.0), 13.0, 1e-5);  // off: the norm only
  EXPECT_NEAR(a.grad()[0].item<double>(), 3.0, 1e-6);
  EXPECT_NEAR(clip_grad_norm({a, b}, 6.5), 13.0, 1e-5);
  const double scale = 6.5 / (13.0 + 1e-6);
  EXPECT_NEAR(a.grad()[1].item<double>(), 4.0 * scale, 1e-6);
  EXPECT_NEAR(b.grad()[0].item<double>(), 12.0 * scale, 1e-5);
  EXPECT_NEAR(clip_grad_norm({a, b}, 100.0), 6.5, 1e-4);  // under the limit: unchanged
  EXPECT_NEAR(b.grad()[0].item<double>(), 12.0 * scale, 1e-5);
}

TEST(TrainAdamW, ScheduleIsConstantOrWarmupThenCosine) {
  auto constant = LrSchedule::constant(3e-4);
  EXPECT_DOUBLE_EQ(constant.at(0), 3e-4);
  EXPECT_DOUBLE_EQ(constant.at(10000), 3e-4);
  auto cosine = LrSchedule::warmup_cosine(1.0, 4, 104, 0.2);
  EXPECT_DOUBLE_EQ(cosine.at(0), 0.25);
  EXPECT_DOUBLE_EQ(cosine.at(3), 1.0);
  EXPECT_DOUBLE_EQ(cosine.at(4), 1.0);
  EXPECT_NEAR(cosine.at(54), 0.2 + 0.8 * 0.5, 1e-12);  // half way: cos(pi/2) = 0
  EXPECT_NEAR(cosine.at(104), 0.2, 1e-12);
  EXPECT_NEAR(cosine.at(500), 0.2, 1e-12);
}

TEST(TrainAdamW, StateRoundTripsByNameAndRefusesAnotherModel) {
  auto dir = test::scratch_dir();
  auto w = torch::ones({2, 2}).requires_grad_(true);
  AdamW adam({{"layer.weight", w}}, {});
  w.mutable_grad() = torch::full({2, 2}, 0.5);
  adam.step(1e-3);
  adam.step(1e-3);
  adam.save(dir / "optimizer.safetensors");

  auto w2 = torch::ones({2, 2}).requires_grad_(true);
  AdamW again({{"layer.weight", w2}}, {});
  EXPECT_EQ(again.load(dir / "optimizer.safetensors"), "");
  EXPECT_EQ(again.steps(), 2);
  EXPECT_TRUE(torch::equal(again.state()[0].second, adam.state()[0].second));
  EXPECT_TRUE(torch::equal(again.state()[1].second, adam.state()[1].second));

  auto other = torch::ones({3}).requires_grad_(true);
  AdamW foreign({{"other.bias", other}}, {});
  EXPECT_NE(foreign.load(dir / "optimizer.safetensors").find("no state for parameter 'other.bias'"), std::string::npos);
  EXPECT_EQ(foreign.steps(), 0);
  auto reshaped = torch::ones({4}).requires_grad_(true);
  AdamW wrong_shape({{"layer.weight", reshaped}}, {});
  EXPECT_NE(wrong_shape.load(dir / "optimizer.safetensors").find("another shape"), std::string::npos);
  EXPECT_EQ(wrong_shape.state()[0].second.abs().sum().item<double>(), 0.0);  // untouched

  write_file_atomic(dir / "junk.safetensors", "not a safetensors file");
  EXPECT_NE(error_of([&] { again.load(dir / "junk.safetensors"); }).find("junk.safetensors"), std::string::npos);
}

TEST(TrainCheckpointLayout, ListsNewestPrunesAndReadsState) {
  auto dir = test::scratch_dir();
  for (std::int64_t step : {2, 10, 4, 1000000}) {
    TrainerState s;
    s.trainer = TrainerKind::Sft;
    s.step = step;
    s.data_position = step * 3;
    s.seed = 9;
    const auto folder = dir / "checkpoints" / checkpoint_name(step);
    ensure_directory(folder);
    write_file_atomic(folder / "trainer_state.json", trainer_state_to_json(s).dump());
  }
  ensure_directory(dir / "checkpoints" / "step-000099");       // no trainer_state.json: incomplete
  ensure_directory(dir / "checkpoints" / ".step-000200.tmp");  // a writer's temporary folder
  auto all = list_checkpoints(dir);
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[0].filename().string(), "step-000002");
  EXPECT_EQ(all[1].filename().string(), "step-000004");
  EXPECT_EQ(all[2].filename().string(), "step-000010");
  EXPECT_EQ(all[3].filename().string(), "step-1000000");
  auto state = read_trainer_state(*newest_checkpoint(dir));
  EXPECT_EQ(state.trainer, TrainerKind::Sft);
  EXPECT_EQ(state.step, 1000000);
  EXPECT_EQ(state.data_position, 3000000);
  EXPECT_EQ(state.seed, 9u);
  prune_checkpoints(dir, 2);
  all = list_checkpoints(dir);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].filename().string(), "step-000010");
  EXPECT_FALSE(newest_checkpoint(dir / "nowhere"));

  write_file_atomic(dir / "bad" / "trainer_state.json", R"({"trainer": "ppo", "step": 1, "data_position": 0, "seed": 0})");
  EXPECT_NE(error_of([&] { read_trainer_state(dir / "bad"); }).find("bad/trainer_state.json: unknown trainer 'ppo'"),
            std::string::npos);
}

TEST(TrainCheckpointLayout, FolderWriteReplacesOwnFoldersOnly) {
  auto dir = test::scratch_dir();
  auto write = [&](const fs::path& target, const std::string& text) {
    write_folder_atomic(target, [&](const fs::path& tmp) { write_file_atomic(tmp / "config.json", text); });
  };
  write(dir / "model", "1");
  write(dir / "model", "2");  // an illume folder is replaced
  EXPECT_EQ(read_file(dir / "model" / "config.json"), "2");
  EXPECT_FALSE(fs::exists(dir / ".model.tmp"));
  EXPECT_FALSE(fs::exists(dir / ".model.old"));
  write_file_atomic(dir / "home" / "thesis.tex", "years of work");
  auto message = error_of([&] { write(dir / "home", "3"); });
  EXPECT_NE(message.find("holds 'thesis.tex', which illume did not write"), std::string::npos) << message;
  EXPECT_EQ(read_file(dir / "home" / "thesis.tex"), "years of work");
  EXPECT_FALSE(fs::exists(dir / "home" / "config.json"));
}

TEST(TrainRunLog, ResumeDropsRowsAfterTheCheckpointAndHalfLines) {
  auto dir = test::scratch_dir();
  const auto path = dir / "metrics.jsonl";
  {
    RunLog log(path, std::nullopt);
    for (int step = 1; step <= 5; ++step) log.append({{"step", step}, {"loss", 1.0 / step}});
  }
  std::ofstream(path, std::ios::app) << "{\"step\": 6, \"lo";
  {
    RunLog log(path, 3);
    log.append({{"step", 4}, {"loss", 0.0}});
  }
  auto rows = read_jsonl_file(path);
  ASSERT_EQ(rows.size(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(rows[i]["step"], i + 1);
  EXPECT_EQ(rows[3]["loss"], 0.0);
  { RunLog fresh(path, std::nullopt); }
  EXPECT_EQ(read_file(path), "");
  write_file_atomic(path, "{\"step\": 1}\nnot json\n{\"step\": 2}\n");
  EXPECT_NE(error_of([&] { trim_run_log(path, 1); }).find("metrics.jsonl:2"), std::string::npos);
}

namespace {

TrainConfig grpo_config(const fs::path& model_dir, const fs::path& out, std::int64_t steps) {
  auto root = parse_yaml(fmt::format(R"(
model: {{dir: "{}"}}
data: {{task: countdown, path: synthetic.jsonl}}
rollout: {{group_size: 4, temperature: 1.0, max_response_tokens: 8}}
optim: {{batch_size: 8, micro_batch_size: 4, lr: 3.0e-3, grad_clip: 1.0}}
credit: {{strategy: none}}
run: {{out: "{}", steps: {}, seed: 5, save_every: 2, progress: false}}
)",
                                     model_dir.string(), out.string(), steps),
                         "cross.yaml");
  return train_config_from_json(root, "cross.yaml");
}

GrpoTrainer grpo_trainer(const fs::path& model_dir, const fs::path& out, std::int64_t steps) {
  return GrpoTrainer(grpo_config(model_dir, out, steps), Model::load(model_dir), Tokenizer::from_dir(model_dir), model_dir,
                     test::tiny_countdown_problems(12), test::digit_share_reward);
}

SftConfig sft_config(const fs::path& model_dir, const fs::path& data, const fs::path& out, std::int64_t steps) {
  SftConfig c;
  c.run.seed = 4;
  c.run.out = out;
  c.model.dir = model_dir;
  c.data.path = data;
  c.data.prompt_style = data::PromptStyle::Plain;
  c.data.eval_size = 2;
  c.run.steps = steps;
  c.optim.batch_size = 4;
  c.optim.lr = 3e-3;
  c.optim.warmup_steps = 0;
  c.run.log_every = 1;
  c.run.eval_every = 0;
  c.run.save_every = 2;
  return c;
}

fs::path write_sft_data(const fs::path& path) {
  std::ofstream f(path);
  for (int i = 0; i < 10; ++i) f << "{\"prompt\": \"Using the numbers [" << i << ", 3]\", \"response\": \"" << i + 3 << "\"}\n";
  return path;
}

void copy_checkpoint(const fs::path& from, const fs::path& out_dir) {
  ensure_directory(out_dir / "checkpoints");
  fs::copy(from, out_dir / "checkpoints" / from.filename(), fs::copy_options::recursive);
}

std::string optimizer_steps_of(const fs::path& checkpoint) {
  return st::SafetensorsFile(checkpoint / "optimizer.safetensors").metadata().at("steps");
}

void expect_same_weights(const std::vector<at::Tensor>& a, const std::vector<at::Tensor>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << "parameter " << i;
}

}  // namespace

TEST(TrainCrossResume, GrpoResumesFromAnSftCheckpoint) {
  auto dir = test::scratch_dir();
  auto model_dir = test::make_tiny_model(dir / "model");
  run_sft(sft_config(model_dir, write_sft_data(dir / "sft.jsonl"), dir / "sft", 2));
  const auto sft_checkpoint = dir / "sft" / "checkpoints" / "step-000002";
  ASSERT_EQ(read_trainer_state(sft_checkpoint).trainer, TrainerKind::Sft);
  copy_checkpoint(sft_checkpoint, dir / "grpo");

  auto trainer = grpo_trainer(model_dir, dir / "grpo", 3);
  ASSERT_TRUE(trainer.resume());
  EXPECT_EQ(trainer.current_step(), 2);
  EXPECT_EQ(trainer.data_position(), 2 * trainer.config().prompts_per_step());  // SFT counted examples
  expect_same_weights(trainer.policy().parameters(), Model::load(sft_checkpoint).parameters());
  EXPECT_EQ(trainer.optimizer().steps(), 2);  // the moments fit the model: loaded
  auto moments = load_safetensors(sft_checkpoint / "optimizer.safetensors");
  EXPECT_TRUE(torch::equal(trainer.optimizer().state()[0].second, moments.at(trainer.optimizer().state()[0].first)));
  trainer.run();
  EXPECT_EQ(trainer.current_step(), 3);
  const auto newest = *newest_checkpoint(dir / "grpo");
  EXPECT_EQ(newest.filename().string(), "step-000003");
  EXPECT_EQ(read_trainer_state(newest).trainer, TrainerKind::Grpo);
  EXPECT_EQ(optimizer_steps_of(newest), "4");  // 2 from SFT + batch 8 / micro-batch 4
  auto rows = read_jsonl_file(dir / "grpo" / "metrics.jsonl");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["step"], 3);
}

TEST(TrainCrossResume, SftResumesFromAGrpoCheckpoint) {
  auto dir = test::scratch_dir();
  auto model_dir = test::make_tiny_model(dir / "model");
  grpo_trainer(model_dir, dir / "grpo", 2).run();
  const auto grpo_checkpoint = dir / "grpo" / "checkpoints" / "step-000002";
  ASSERT_EQ(read_trainer_state(grpo_checkpoint).trainer, TrainerKind::Grpo);
  EXPECT_EQ(optimizer_steps_of(grpo_checkpoint), "4");
  copy_checkpoint(grpo_checkpoint, dir / "sft");
  const auto data = write_sft_data(dir / "sft.jsonl");

  // Already at steps: the final folder is the GRPO checkpoint's weights, bit for bit.
  auto config = sft_config(model_dir, data, dir / "sft", 2);
  const auto at_two = run_sft(config, /*resume=*/true);
  expect_same_weights(Model::load(at_two).parameters(), Model::load(grpo_checkpoint).parameters());

  // One more step continues GRPO's optimiser (step count 4 -> 5) and logs step 3 only.
  config.run.steps = 3;
  run_sft(config, /*resume=*/true);
  const auto newest = *newest_checkpoint(dir / "sft");
  EXPECT_EQ(newest.filename().string(), "step-000003");
  EXPECT_EQ(read_trainer_state(newest).trainer, TrainerKind::Sft);
  EXPECT_EQ(optimizer_steps_of(newest), "5");
  auto rows = read_jsonl_file(dir / "sft" / "metrics.jsonl");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["step"], 3);
  auto moved = Model::load(dir / "sft" / "final").parameters();
  auto before = Model::load(grpo_checkpoint).parameters();
  EXPECT_GT((moved[0] - before[0]).abs().max().item<double>(), 0.0);
}
