// Issue 14: runs that used to lose data, crash, or give a wrong result without a word.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include "common.h"
#include "illume/data/model_prompt_style.h"
#include "illume/infer/generate.h"
#include "illume/model/model.h"
#include "illume/train/checkpoint.h"
#include "illume/train/run_folder.h"
#include "illume/util/file.h"
#include "illume/util/json.h"
#include "illume/util/build_paths.h"
#include "train_test_util.h"

using namespace illume;
namespace fs = std::filesystem;

namespace {

Model small_model(std::int64_t max_positions) {
  Json config = {{"model_type", "qwen3"}, {"vocab_size", 40}, {"hidden_size", 32}, {"intermediate_size", 64},
                 {"num_hidden_layers", 1}, {"num_attention_heads", 2}, {"num_key_value_heads", 1}, {"head_dim", 16},
                 {"rms_norm_eps", 1e-6}, {"rope_theta", 10000.0}, {"tie_word_embeddings", true},
                 {"max_position_embeddings", max_positions}};
  return Model::random(ModelConfig::from_json(config, "small"), 1);
}

SamplingOptions options_for(const Model& model) {
  SamplingOptions o;
  o.valid_ids.assign(static_cast<std::size_t>(model.config().vocab_size), 1);
  o.temperature = 0;
  return o;
}

void edit_config(const fs::path& dir, const std::function<void(Json&)>& edit) {
  auto j = read_json_file(dir / "config.json");
  edit(j);
  write_file_atomic(dir / "config.json", j.dump(2));
}

std::string sft_recipe(const fs::path& tok, const fs::path& out, const std::string& extra_run = "") {
  return "model:\n  tokenizer: " + tok.string() +
         "\n  config: {model_type: qwen3, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 1, "
         "num_attention_heads: 2, num_key_value_heads: 1, head_dim: 16, rms_norm_eps: 1.0e-6, "
         "rope_theta: 10000.0, tie_word_embeddings: true}\n"
         "data:\n  generate: {n: 24, seed: 2, difficulty: easy}\n  eval_size: 4\n"
         "optim: {batch_size: 4, lr: 0.01, warmup_steps: 1}\n"
         "run: {out: " + out.string() + ", steps: 2, seed: 3, threads: 1, log_every: 1, save_every: 1, "
         "keep_checkpoints: 5, progress: false" + extra_run + "}\n";
}

}  // namespace

TEST(HostileRun, FreshRunRefusesAFolderThatHoldsARun) {
  const auto dir = test::scratch_dir();
  const auto out = dir / "run";
  train::prepare_run_folder(out, train::RunStart::Fresh);  // absent: fine
  fs::create_directories(out);
  train::prepare_run_folder(out, train::RunStart::Fresh);  // empty: fine
  write_file_atomic(out / "metrics.jsonl", "{\"step\": 1}\n");
  write_file_atomic(out / "checkpoints" / "step-000001" / "trainer_state.json", "{}");
  write_file_atomic(out / "checkpoints" / "step-000001" / "model.safetensors", "x");
  write_file_atomic(out / "notes.txt", "mine");
  EXPECT_ERROR_CONTAINS(train::prepare_run_folder(out, train::RunStart::Fresh), "--overwrite");
  train::prepare_run_folder(out, train::RunStart::Resume);  // resuming is what the folder is for
  EXPECT_TRUE(fs::exists(out / "metrics.jsonl"));
  // Overwrite removes the run's own files and nothing else.
  train::prepare_run_folder(out, train::RunStart::Overwrite);
  EXPECT_FALSE(fs::exists(out / "metrics.jsonl"));
  EXPECT_FALSE(fs::exists(out / "checkpoints"));
  EXPECT_EQ(read_file(out / "notes.txt"), "mine");
  // A file illume did not write inside checkpoints/: refused, and nothing is removed.
  write_file_atomic(out / "metrics.jsonl", "{}\n");
  write_file_atomic(out / "checkpoints" / "thesis.tex", "years of work");
  EXPECT_ERROR_CONTAINS(train::prepare_run_folder(out, train::RunStart::Overwrite), "thesis.tex");
  EXPECT_TRUE(fs::exists(out / "metrics.jsonl"));
  EXPECT_EQ(read_file(out / "checkpoints" / "thesis.tex"), "years of work");
}

TEST(HostileRun, GenerateRefusesOutOfRangeOptions) {
  const auto model = small_model(64);
  const std::vector<std::vector<std::int32_t>> prompts = {{1, 2, 3}};
  auto o = options_for(model);
  o.num_samples = std::int64_t{1} << 62;  // used to overflow prompts x samples (SIGSEGV)
  EXPECT_ERROR_CONTAINS(generate(model, prompts, o), "num_samples");
  o = options_for(model);
  o.temperature = -1;  // used to decode greedily without a word
  EXPECT_ERROR_CONTAINS(generate(model, prompts, o), "temperature -1");
  o = options_for(model);
  o.temperature = std::nan("");
  EXPECT_ERROR_CONTAINS(generate(model, prompts, o), "temperature");
  o = options_for(model);
  o.top_p = 0;
  EXPECT_ERROR_CONTAINS(generate(model, prompts, o), "top_p");
  o = options_for(model);
  o.max_batch_rows = 0;
  EXPECT_ERROR_CONTAINS(generate(model, prompts, o), "max_batch_rows");
}

TEST(HostileRun, PromptsLongerThanTheModelAreRefusedAndResponsesStopAtItsEnd) {
  const auto model = small_model(16);
  auto o = options_for(model);
  o.max_new_tokens = 16;
  std::vector<std::int32_t> long_prompt(20, 3);
  EXPECT_ERROR_CONTAINS(generate(model, {long_prompt}, o), "max_position_embeddings");
  // A 10-token prompt leaves 6 positions: the response stops there ("length"), not at 16 tokens of
  // garbage past the positions the model knows.
  std::vector<std::int32_t> prompt(10, 3);
  o.stop_token_ids = {};
  const auto out = generate(model, {prompt}, o);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].ids.size(), 6u);
  EXPECT_EQ(out[0].finish_reason, "length");
  // The plain forward checks too.
  auto ids = torch::ones({1, 20}, torch::kLong);
  EXPECT_ERROR_CONTAINS(model.forward(ids, torch::ones_like(ids)), "max_position_embeddings (16)");
}

TEST(HostileRun, CheckpointTensorsTheModelDoesNotReadAreAnError) {
  const auto dir = test::scratch_dir();
  test::make_tiny_model(dir / "m");  // qwen3, 2 layers
  fs::copy(dir / "m", dir / "fewer", fs::copy_options::recursive);
  edit_config(dir / "fewer", [](Json& j) { j["num_hidden_layers"] = 1; });
  EXPECT_ERROR_CONTAINS(Model::load(dir / "fewer"), "not used by a qwen3 model of 1 layers");
  LoadOptions allow;
  allow.allow_unused_weights = true;
  EXPECT_EQ(Model::load(dir / "fewer", allow).config().num_layers, 1);
  fs::copy(dir / "m", dir / "llama", fs::copy_options::recursive);
  edit_config(dir / "llama", [](Json& j) { j["model_type"] = "llama"; });
  EXPECT_ERROR_CONTAINS(Model::load(dir / "llama"), "norm");  // the q/k norms of Qwen3
  EXPECT_NO_THROW(Model::load(dir / "m"));
  // The CLI says how to load anyway, in one line.
  auto r = test::run_illume({"generate", "--model", (dir / "fewer").string(), "--prompt", "1", "--max-new-tokens", "1"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("--allow-unused-weights"), std::string::npos) << r.err;
}

TEST(HostileRun, CommandLineNumbersOutsideTheirRangeAreErrors) {
  const auto dir = test::scratch_dir();
  auto r = test::run_illume({"countdown-gen", "--puzzles", "-1", "--out", (dir / "x.jsonl").string()});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("--puzzles"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "x.jsonl"));
  test::make_tiny_model(dir / "m");
  r = test::run_illume({"eval", "--model", (dir / "m").string(), "--task", "countdown", "--data", "x.jsonl",
                        "--out", (dir / "e").string(), "--limit", "-5"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("--limit"), std::string::npos) << r.err;
  r = test::run_illume({"generate", "--model", (dir / "m").string(), "--prompt", "1 2", "-n", "4611686018427387904"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("--num-samples"), std::string::npos) << r.err;
  r = test::run_illume({"generate", "--model", (dir / "m").string(), "--prompt", "1 2", "--temperature", "-1"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("temperature"), std::string::npos) << r.err;
}

TEST(HostileRun, SftRefusesAnOldRunUnlessResumingOrOverwriting) {
  const auto dir = test::scratch_dir();
  auto r = test::run_illume({"countdown-tokenizer", "--out", (dir / "tok").string(), "--conversations", "50", "--merges", "20"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::ofstream(dir / "r.yaml") << sft_recipe(dir / "tok", dir / "run");
  r = test::run_illume({"sft", "--config", (dir / "r.yaml").string()});
  ASSERT_EQ(r.status, 0) << r.err;
  const auto metrics = read_file(dir / "run" / "metrics.jsonl");
  // Again without --resume: refused before any work, the old run untouched.
  r = test::run_illume({"sft", "--config", (dir / "r.yaml").string()});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("not empty"), std::string::npos) << r.err;
  EXPECT_EQ(read_file(dir / "run" / "metrics.jsonl"), metrics);
  EXPECT_TRUE(fs::exists(dir / "run" / "checkpoints" / "step-000002"));
  r = test::run_illume({"sft", "--config", (dir / "r.yaml").string(), "--overwrite", "run.steps=1"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_FALSE(fs::exists(dir / "run" / "checkpoints" / "step-000002"));  // the old run's, removed
  EXPECT_EQ(read_jsonl_file(dir / "run" / "metrics.jsonl").size(), 1u);
  // export_dir pointing at the run (it replaces its folder) is refused while the recipe is read.
  r = test::run_illume({"sft", "--config", (dir / "r.yaml").string(), "--resume", "run.export_dir=" + (dir / "run").string()});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("run.export_dir"), std::string::npos) << r.err;
  EXPECT_TRUE(fs::exists(dir / "run" / "metrics.jsonl"));
}

TEST(HostileRun, SftStopsOnANonFiniteLossKeepingTheLastGoodCheckpoint) {
  const auto dir = test::scratch_dir();
  auto r = test::run_illume({"countdown-tokenizer", "--out", (dir / "tok").string(), "--conversations", "50", "--merges", "20"});
  ASSERT_EQ(r.status, 0) << r.err;
  // lr 1e30: step 1 blows the weights up, a later step's loss or gradient is no longer finite.
  std::ofstream(dir / "r.yaml") << sft_recipe(dir / "tok", dir / "run");
  r = test::run_illume({"sft", "--config", (dir / "r.yaml").string(), "optim.lr=1e30", "run.steps=6"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("not finite"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("terminate"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "run" / "final"));
  // Every checkpoint on disk holds finite weights.
  for (const auto& checkpoint : train::list_checkpoints(dir / "run"))
    for (auto& p : Model::load(checkpoint).parameters())
      EXPECT_TRUE(torch::isfinite(p).all().item<bool>()) << checkpoint;
}

TEST(HostileRun, CtrlCStopsAtAStepBoundaryAndSaysHowToResume) {
  const auto dir = test::scratch_dir();
  auto r = test::run_illume({"countdown-tokenizer", "--out", (dir / "tok").string(), "--conversations", "50", "--merges", "20"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::ofstream(dir / "r.yaml") << sft_recipe(dir / "tok", dir / "run");
  const auto err_path = dir / "stderr.txt";
  const std::string command = "exec " + test::shell_quote(test::illume_binary()) + " sft --config " +
                              test::shell_quote((dir / "r.yaml").string()) + " run.steps=100000 2>" +
                              test::shell_quote(err_path.string()) + " >/dev/null </dev/null";
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  // Wait for the first checkpoint (at most a minute), then press Ctrl-C.
  for (int i = 0; i < 600 && !fs::exists(dir / "run" / "checkpoints" / "step-000001" / "trainer_state.json"); ++i)
    ::usleep(100'000);
  ::kill(pid, SIGINT);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status)) << "killed by a signal instead of stopping cleanly";
  EXPECT_EQ(WEXITSTATUS(status), 130);
  const auto err = read_file(err_path);
  EXPECT_NE(err.find("interrupted at step"), std::string::npos) << err;
  EXPECT_NE(err.find("rerun with --resume"), std::string::npos) << err;
  // The metrics reached the file whole (no half line), and the run resumes.
  for (const auto& row : read_jsonl_file(dir / "run" / "metrics.jsonl")) EXPECT_TRUE(row.contains("step"));
  r = test::run_illume({"sft", "--config", (dir / "r.yaml").string(), "--resume", "run.steps=3"});
  EXPECT_EQ(r.status, 0) << r.err;
}

TEST(HostileRun, EvalChecksItsOutputFolderBeforeTheWork) {
  const auto dir = test::scratch_dir();
  test::make_tiny_model(dir / "m");
  write_file_atomic(dir / "file", "x");
  std::string data;
  for (const auto& p : test::tiny_countdown_problems(4)) data += p.raw.dump() + "\n";
  write_file_atomic(dir / "test.jsonl", data);
  auto r = test::run_illume({"eval", "--model", (dir / "m").string(), "--task", "countdown", "--data",
                             (dir / "test.jsonl").string(), "--out", (dir / "file").string()});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("a file of that name exists"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("eval:"), std::string::npos) << "the evaluation ran first: " << r.err;
}

TEST(HostileRun, ResumingWithOtherDataSettingsIsAnErrorOtherChangesAreNamed) {
  const Json saved = {{"run", {{"seed", 1}, {"out", "/a"}, {"steps", 10}}}, {"optim", {{"lr", 1e-6}, {"batch_size", 8}}},
                      {"rollout", {{"group_size", 4}}}};
  Json same = saved;
  same["run"]["out"] = "/moved";
  EXPECT_TRUE(train::compare_resumed_config(saved, same, {"run.seed"}, "ts.json").empty());
  Json seed = saved;
  seed["run"]["seed"] = 2;
  EXPECT_ERROR_CONTAINS(train::compare_resumed_config(saved, seed, {"run.seed", "rollout.group_size"}, "ts.json"),
                        "ts.json: the run was started with run.seed = 1; resuming with 2");
  Json group = saved;
  group["rollout"]["group_size"] = 8;
  EXPECT_ERROR_CONTAINS(train::compare_resumed_config(saved, group, {"rollout"}, "ts.json"), "rollout.group_size = 4");
  Json lr = saved;
  lr["optim"]["lr"] = 2e-6;
  lr["run"]["steps"] = 20;
  const auto changes = train::compare_resumed_config(saved, lr, {"run.seed"}, "ts.json");
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(changes[0], "optim.lr: 1e-06 -> 2e-06");
  EXPECT_EQ(changes[1], "run.steps: 10 -> 20");
}

namespace {

// A tiny GRPO recipe on a random 2-layer model (as tests/torch/test_train.cpp builds them).
fs::path grpo_recipe(const fs::path& dir) {
  test::make_tiny_model(dir / "model");
  std::string data;
  for (const auto& p : test::tiny_countdown_problems(8)) data += p.raw.dump() + "\n";
  write_file_atomic(dir / "train.jsonl", data);
  write_file_atomic(dir / "r.yaml", R"(
model: {dir: model}
data: {task: countdown, path: train.jsonl}
rollout: {group_size: 2, max_response_tokens: 4}
optim: {batch_size: 4, micro_batch_size: 2, lr: 1.0e-3}
credit: {strategy: coupled}
attention: {layers: [0], window: 2, horizon: [1, 4]}
run: {out: run, steps: 2, save_every: 1, progress: false}
)");
  return dir / "r.yaml";
}

}  // namespace

TEST(HostileRun, GrpoRefusesChangedDataOnResume) {
  const auto dir = test::scratch_dir();
  const auto recipe = grpo_recipe(dir);
  // (The non-finite stop is tested through SFT above: a GRPO run on this tiny model has no reward variance
  // to push its weights anywhere, so no lr makes its loss non-finite reliably.)
  auto r = test::run_illume({"train", "--config", recipe.string()});
  ASSERT_EQ(r.status, 0) << r.err;
  // A healthy run, then a resume that would change the groups: refused, naming the key.
  r = test::run_illume({"train", "--config", recipe.string(), "--resume", "run.steps=3", "rollout.group_size=4"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("rollout.group_size = 2"), std::string::npos) << r.err;
  // A changed lr is allowed, and said.
  r = test::run_illume({"train", "--config", recipe.string(), "--resume", "run.steps=3", "optim.lr=2e-3"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("optim.lr: 0.001 -> 0.002"), std::string::npos) << r.err;
}

TEST(HostileRun, GrpoSettingsFailBeforeTheModelLoads) {
  const auto dir = test::scratch_dir();
  const auto recipe = grpo_recipe(dir);
  for (const auto& [override_, needle] : std::vector<std::pair<std::string, std::string>>{
           {"attention.layers=[99]", "layer 99 is beyond the model (2 layers"},
           {"rollout.top_p=0", "rollout.top_p"},
           {"optim.betas=[1.5, 0.9]", "optim.betas"},
           {"loss.kl_coef=-1", "loss.kl_coef"},
           {"optim.weight_decay=-1", "optim.weight_decay"},
           {"optim.adam_eps=-1", "optim.adam_eps"},
           {"optim.grad_clip=-1", "optim.grad_clip"},
           {"optim.lr=inf", "optim.lr"}}) {
    auto r = test::run_illume({"train", "--config", recipe.string(), override_});
    EXPECT_NE(r.status, 0) << override_;
    EXPECT_NE(r.err.find(needle), std::string::npos) << override_ << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "not one line: " << r.err;
    EXPECT_FALSE(fs::exists(dir / "run" / "metrics.jsonl")) << override_;
  }
}

TEST(HostileRun, EvalDefaultsToThePromptStyleTheModelRecords) {
  const auto dir = test::scratch_dir();
  fs::create_directories(dir / "m");
  EXPECT_EQ(data::resolve_prompt_style(dir / "m", false, false), data::PromptStyle::Plain);  // nothing recorded
  data::record_prompt_style(dir / "m", data::PromptStyle::Chat);
  EXPECT_EQ(data::resolve_prompt_style(dir / "m", false, false), data::PromptStyle::Chat);
  EXPECT_EQ(data::resolve_prompt_style(dir / "m", false, true), data::PromptStyle::Plain);
  EXPECT_ERROR_CONTAINS(data::resolve_prompt_style(dir / "m", true, true), "--chat and --plain");
  write_file_atomic(dir / "m" / "tokenizer_config.json", R"({"illume_prompt_style": "chatml"})");
  EXPECT_ERROR_CONTAINS(data::recorded_prompt_style(dir / "m"), "tokenizer_config.json: key 'illume_prompt_style'");
  // The default model was trained on chat prompts and says so.
  EXPECT_EQ(data::recorded_prompt_style(fs::path(build::source_dir()) / "models" / "illume-countdown-tiny"),
            data::PromptStyle::Chat);
}
