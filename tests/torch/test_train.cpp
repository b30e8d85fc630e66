#include <torch/torch.h>

#include <fstream>

#include "common.h"
#include "illume/attention/reference.h"
#include "illume/attention/streaming.h"
#include "illume/rl/advantage.h"
#include "illume/rl/credit.h"
#include "illume/rl/policy_loss.h"
#include "illume/train/attention_pass.h"
#include "illume/train/checkpoint.h"
#include "illume/train/grpo_trainer.h"
#include "illume/train/train_config.h"
#include "illume/util/config.h"
#include "illume/util/file.h"
#include "train_test_util.h"
#include "illume/util/build_paths.h"

using namespace illume;
using illume::test::error_of;
namespace fs = std::filesystem;

namespace {

Json tiny_recipe(const fs::path& model_dir, const fs::path& out) {
  return parse_yaml(fmt::format(R"(
model: {{dir: "{}"}}
data: {{task: countdown, path: synthetic.jsonl}}
rollout: {{group_size: 4, temperature: 1.0, max_response_tokens: 12}}
optim: {{batch_size: 16, micro_batch_size: 4, lr: 3.0e-3, grad_clip: 1.0}}
credit: {{strategy: none}}
run: {{out: "{}", steps: 4, seed: 7, save_every: 2, progress: false}}
)",
                                model_dir.string(), out.string()),
                    "tiny.yaml");
}

std::vector<Json> read_rows(const fs::path& path) {
  auto rows = read_jsonl_file(path);
  for (auto& r : rows) {
    r.erase("resumed_from_step");  // the resume record (run_log.h): the one difference a resume makes
    for (const char* prefix : {"timing/", "share_"})
      for (auto it = r.begin(); it != r.end();) {
        if (it.key().rfind(prefix, 0) == 0) it = r.erase(it);
        else ++it;
      }
  }
  return rows;
}

}  // namespace

TEST(TrainConfig, RepositoryRecipesParse) {
  const fs::path source = ::illume::build::source_dir();
  for (const char* name : {"countdown-qwen3-4b.yaml", "math-qwen3-4b.yaml", "countdown-tiny-cpu.yaml", "demo-grpo.yaml"}) {
    auto path = source / "configs" / name;
    auto c = train::load_train_config(path, {});
    // Paths in a recipe are relative to configs/, whatever the working directory.
    EXPECT_TRUE(c.model.dir.is_absolute()) << name;
    EXPECT_EQ(c.run.out.string().rfind((source / "runs").lexically_normal().string(), 0), 0u) << c.run.out;
    if (std::string(name).find("4b") != std::string::npos) {
      // METHOD.md section 4's hyperparameters.
      EXPECT_EQ(c.model.dir, (source / "models" / "Qwen3-4B-Base").lexically_normal());
      EXPECT_EQ(c.model.device, c10::Device(c10::kCUDA));
      EXPECT_EQ(c.model.dtype, c10::kBFloat16);
      EXPECT_EQ(c.optim.batch_size, 512);
      EXPECT_EQ(c.optim.micro_batch_size, 32);
      EXPECT_DOUBLE_EQ(c.optim.lr, 1e-6);
      EXPECT_EQ(c.group_size, 8);
      EXPECT_DOUBLE_EQ(c.temperature, 1.0);
      EXPECT_EQ(c.max_response_tokens, 1024);
      EXPECT_EQ(c.run.steps, 500);
      EXPECT_DOUBLE_EQ(c.credit.q, 0.4);
      EXPECT_DOUBLE_EQ(c.credit.gamma_amp, 1.5);
      EXPECT_EQ(c.window, 10);
      EXPECT_EQ(c.fai_horizon_lo, 10);
      EXPECT_EQ(c.fai_horizon_hi, 100);
      EXPECT_DOUBLE_EQ(c.loss.clip_low, 0.2);
      EXPECT_DOUBLE_EQ(c.optim.grad_clip, 1.0);
      EXPECT_EQ(c.loss.aggregation, "seq-mean-token-mean");
    }
    if (std::string(name) == "countdown-tiny-cpu.yaml") {
      EXPECT_EQ(c.model.dir, (source / ".." / "shared" / "fixtures" / "tiny-qwen3").lexically_normal());
      EXPECT_EQ(c.data.path, (source / ".." / "shared" / "data" / "countdown" / "train.jsonl").lexically_normal());
      EXPECT_EQ(c.data.task, data::Task::Countdown);
      EXPECT_EQ(c.data.prompt_style, data::PromptStyle::Plain);
    }
    if (std::string(name) == "demo-grpo.yaml") {
      EXPECT_EQ(c.model.dir, (source / "models" / "illume-countdown-tiny").lexically_normal());
      EXPECT_EQ(c.data.prompt_style, data::PromptStyle::Chat);
    }
  }
}

TEST(TrainConfig, UnknownKeysWrongTypesAndBadValuesFail) {
  auto root = tiny_recipe("m", "o");
  auto ok = train::train_config_from_json(root, "tiny.yaml");
  EXPECT_EQ(ok.prompts_per_step(), 4);
  // Each override's error names the override.
  auto with = [&](const std::string& o) {
    auto tree = config_tree(root, "tiny.yaml");
    apply_override(tree, o);
    return error_of([&] { train::read_train_config(tree); });
  };
  EXPECT_EQ(with("optim.learning_rate=1"), "override 'optim.learning_rate=1': unknown key 'optim.learning_rate'");
  EXPECT_EQ(with("extra=1"), "override 'extra=1': unknown key 'extra'");
  EXPECT_EQ(with("optim.lr=fast"), "override 'optim.lr=fast': key 'optim.lr' should be a number, got \"fast\"");
  for (const char* not_finite : {"nan", ".inf", "-inf", "1e999"})
    EXPECT_NE(with(fmt::format("optim.lr={}", not_finite)).find("key 'optim.lr' should be a number"), std::string::npos);
  EXPECT_NE(with("credit.strategy=magic").find("key 'credit.strategy' must be one of"), std::string::npos);
  EXPECT_EQ(with("optim.batch_size=10"),
            "override 'optim.batch_size=10': key 'optim.batch_size' (10) must be a multiple of rollout.group_size (4)");
  EXPECT_NE(with("credit.q=0").find("override 'credit.q=0': key 'credit.q'"), std::string::npos);
  EXPECT_NE(with("optim.lr=0").find("key 'optim.lr' must be positive"), std::string::npos);
  EXPECT_NE(with("optim.betas=[0.9]").find("key 'optim.betas' must be [beta1, beta2]"), std::string::npos);
  // Enumerations are typed when read.
  EXPECT_EQ(with("data.task=countdwn"), "override 'data.task=countdwn': key 'data.task' must be one of "
                                        "countdown|gsm8k|math500|aime24|aime25|amc23|olympiadbench|minerva_math, got 'countdwn'");
  EXPECT_NE(with("data.prompt_style=raw").find("key 'data.prompt_style' must be one of plain|chat, got 'raw'"), std::string::npos);
  EXPECT_NE(with("model.dtype=float32").find("key 'model.dtype' must be one of f32|bf16|f16"), std::string::npos);
  EXPECT_NE(with("model.device=gpu").find("key 'model.device' must be cpu, cuda or cuda:N, got 'gpu'"), std::string::npos);
  EXPECT_EQ(train::read_train_config([&] {
              auto tree = config_tree(root, "tiny.yaml");
              apply_override(tree, "model.device=cuda:1");
              return tree;
            }()).model.device, c10::Device(c10::kCUDA, 1));
  // The Countdown reward: TinyZero's rule and its 0.1 format reward unless the recipe says otherwise.
  EXPECT_EQ(ok.countdown.rule, reward::CountdownRule::TinyZero);
  EXPECT_DOUBLE_EQ(reward::countdown_format_reward(ok.countdown), 0.1);
  auto lenient = [&] {
    auto tree = config_tree(root, "tiny.yaml");
    apply_override(tree, "reward.countdown_rule=lenient");
    return train::read_train_config(tree);
  }();
  EXPECT_EQ(lenient.countdown.rule, reward::CountdownRule::Lenient);
  EXPECT_DOUBLE_EQ(reward::countdown_format_reward(lenient.countdown), 0.0);
  EXPECT_NE(with("reward.countdown_rule=tinyzro").find("key 'reward.countdown_rule' must be one of tinyzero|lenient"),
            std::string::npos);
  EXPECT_NE(with("reward.countdown_use_all_numbers=true").find("applies to countdown_rule lenient only"), std::string::npos);
  EXPECT_NE(with("reward.countdown_format_reward=2").find("must be in [0, 1]"), std::string::npos);
  // Keys of the older SFT dialect say where they went.
  EXPECT_EQ(with("optim.eps=1e-8"), "override 'optim.eps=1e-8': unknown key 'optim.eps' (now 'optim.adam_eps')");
  EXPECT_EQ(with("resume=true"), "override 'resume=true': unknown key 'resume' (now the --resume flag)");
  // Round trip: the resolved config reads back to the same values.
  auto again = train::train_config_from_json(train::train_config_to_json(ok), "round trip");
  EXPECT_EQ(train::train_config_to_json(again), train::train_config_to_json(ok));
  EXPECT_EQ(again.model.dir, fs::current_path() / "m");  // relative in memory: the working directory
}

// A mistyped enumeration fails while the recipe is read, before the model (here: absent) loads.
TEST(TrainConfig, MistypedTaskFailsBeforeTheModelLoads) {
  auto dir = test::scratch_dir();
  write_file_atomic(dir / "r.yaml", R"(
model: {dir: no-such-model}
data: {task: countdown, path: no-such-data.jsonl}
optim: {batch_size: 4, micro_batch_size: 4}
rollout: {group_size: 4}
run: {out: out}
)");
  auto r = test::run_illume({"train", "--config", (dir / "r.yaml").string(), "data.task=countdwn"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("override 'data.task=countdwn': key 'data.task' must be one of countdown|"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("no-such-model"), std::string::npos) << r.err;
  // The same typo in the file, with a model that would load: the file is named, nothing runs.
  auto model_dir = test::make_tiny_model(dir / "model");
  write_file_atomic(dir / "s.yaml", R"(
model: {dir: model}
data: {task: countdwn, path: no-such-data.jsonl}
run: {out: out}
)");
  r = test::run_illume({"train", "--config", (dir / "s.yaml").string()});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("s.yaml: key 'data.task' must be one of"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "out"));
  // Without the typo, the run gets as far as the data (the model loaded).
  r = test::run_illume({"train", "--config", (dir / "s.yaml").string(), "data.task=countdown"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("no-such-data.jsonl"), std::string::npos) << r.err;
}

// A recipe's relative paths are relative to the recipe's folder, so it runs from any working
// directory; --print-config shows them absolute; an override's relative path is the working
// directory's.
TEST(TrainConfig, RecipePathsWorkFromAnotherWorkingDirectory) {
  auto dir = test::scratch_dir();
  test::make_tiny_model(dir / "model");
  std::vector<Json> rows;
  for (const auto& p : test::tiny_countdown_problems(8)) rows.push_back(p.raw);
  fs::create_directories(dir / "data");
  {
    JsonlWriter data(dir / "data" / "train.jsonl");
    for (const auto& row : rows) data.write(row);
    data.commit();
  }
  fs::create_directories(dir / "recipes");
  fs::create_directories(dir / "elsewhere");
  write_file_atomic(dir / "recipes" / "r.yaml", R"(
model: {dir: ../model}
data: {task: countdown, path: ../data/train.jsonl}
rollout: {group_size: 2, max_response_tokens: 4}
optim: {batch_size: 4, micro_batch_size: 4, lr: 1.0e-3}
credit: {strategy: coupled}
attention: {layers: [0], window: 2, horizon: [1, 4]}
run: {out: ../runs/a, steps: 1, save_every: 0, progress: false}
)");
  struct WorkingDirectory {
    fs::path saved = fs::current_path();
    explicit WorkingDirectory(const fs::path& to) { fs::current_path(to); }
    ~WorkingDirectory() { fs::current_path(saved); }
  } cd(dir / "elsewhere");
  auto r = test::run_illume({"train", "--config", "../recipes/r.yaml", "--print-config"});
  ASSERT_EQ(r.status, 0) << r.err;
  auto printed = Json::parse(r.out);
  EXPECT_EQ(printed["model"]["dir"], (dir / "model").string());
  EXPECT_EQ(printed["data"]["path"], (dir / "data" / "train.jsonl").string());
  EXPECT_EQ(printed["run"]["out"], (dir / "runs" / "a").string());
  r = test::run_illume({"train", "--config", "../recipes/r.yaml", "run.out=here", "--print-config"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(Json::parse(r.out)["run"]["out"], (dir / "elsewhere" / "here").string());
  // The run itself finds its model and data and writes where the recipe says.
  r = test::run_illume({"train", "--config", "../recipes/r.yaml"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(read_jsonl_file(dir / "runs" / "a" / "metrics.jsonl").size(), 1u);
  EXPECT_EQ(read_json_file(dir / "runs" / "a" / "config.json")["model"]["dir"], (dir / "model").string());
}

// METHOD.md section 4: gamma is computed without gradient. Even a gamma that requires grad must not
// receive any, and the policy gradient must equal the one with gamma as a constant.
TEST(TrainLoss, GradientDoesNotFlowThroughGamma) {
  auto mask = torch::tensor({{1, 1, 1}, {1, 1, 0}}, torch::kBool);
  auto gamma = torch::tensor({{1.5, 1.0, 1.0}, {1.0, 1.5, 1.0}}, torch::requires_grad());
  auto adv = torch::tensor({0.5, -1.0}, torch::requires_grad());
  auto token_adv = token_advantages(adv, gamma, mask, "both");
  EXPECT_FALSE(token_adv.requires_grad());
  auto logp = torch::tensor({{-1.0, -2.0, -0.5}, {-0.3, -1.2, -9.0}}, torch::requires_grad());
  auto old = logp.detach().clone();
  PolicyLossOptions o;
  auto result = ppo_clip_loss(logp, old, token_adv, mask, o);
  result.loss.backward();
  EXPECT_FALSE(gamma.grad().defined() && gamma.grad().abs().sum().item<double>() != 0);
  EXPECT_FALSE(adv.grad().defined() && adv.grad().abs().sum().item<double>() != 0);
  // rho = 1: d/dlogp of -rho*A~ is -A~; seq-mean-token-mean divides by |o_i| and B = 2.
  auto g = logp.grad();
  EXPECT_NEAR(g[0][0].item<double>(), -(1.5 * 0.5) / 3 / 2, 1e-6);
  EXPECT_NEAR(g[0][1].item<double>(), -(0.5) / 3 / 2, 1e-6);
  EXPECT_NEAR(g[1][1].item<double>(), -(1.5 * -1.0) / 2 / 2, 1e-6);
  EXPECT_NEAR(g[1][2].item<double>(), 0.0, 1e-12);  // padding
  // compute_gamma's output never requires grad, whatever its inputs.
  CreditInputs in;
  in.response_mask = mask;
  in.entropy = torch::rand({2, 3}, torch::requires_grad());
  CreditOptions co;
  co.strategy = "entropy";
  EXPECT_FALSE(compute_gamma(in, co).requires_grad());
}

TEST(TrainLogprobs, ResponseLogprobsMatchFullForward) {
  auto dir = test::make_tiny_model(test::scratch_dir() / "model");
  auto model = Model::load(dir);
  // Two rows: prompt 5 + response 3, prompt 2 + response 4; right padding.
  std::vector<std::vector<std::int64_t>> rows = {{5, 9, 11, 3, 7, 20, 21, 22}, {4, 6, 30, 31, 32, 33}};
  auto ids = torch::zeros({2, 8}, torch::kLong);
  auto mask = torch::zeros({2, 8}, torch::kLong);
  for (int b = 0; b < 2; ++b)
    for (std::size_t t = 0; t < rows[b].size(); ++t) {
      ids[b][t] = rows[b][t];
      mask[b][t] = 1;
    }
  torch::NoGradGuard no_grad;
  auto lp = train::response_logprobs(model, ids, mask, {5, 2}, {3, 4}, 1.0, true);
  ASSERT_EQ(lp.logprobs.size(0), 2);
  ASSERT_EQ(lp.logprobs.size(1), 4);
  for (int b = 0; b < 2; ++b) {
    auto single = torch::tensor(rows[b]).unsqueeze(0);
    auto logits = model.forward(single, torch::ones_like(single));
    auto logsm = torch::log_softmax(logits[0], -1);
    std::int64_t P = b == 0 ? 5 : 2, R = b == 0 ? 3 : 4;
    for (std::int64_t t = 0; t < R; ++t) {
      EXPECT_NEAR(lp.logprobs[b][t].item<double>(), logsm[P - 1 + t][rows[b][P + t]].item<double>(), 1e-4);
      auto ent = -(logsm[P - 1 + t].exp() * logsm[P - 1 + t]).sum().item<double>();
      EXPECT_NEAR(lp.entropy[b][t].item<double>(), ent, 1e-4);
    }
  }
}

// The trainer's attention pass rides on the old-log-prob forward: its WAAD/FAI/Delta equal the
// materialising reference over the same rows, and the log-probs equal those of a forward without it.
TEST(TrainAttentionPass, FusedWithTheLogprobForwardMatchesTheReference) {
  auto dir = test::make_tiny_model(test::scratch_dir() / "model", 3, 3);
  auto model = Model::load(dir);
  const std::vector<std::int64_t> prompt = {6, 3}, response = {20, 14};
  const std::int64_t T = 26;
  auto gen = at::detail::createCPUGenerator(5);
  auto ids = torch::randint(0, model.config().vocab_size, {2, T}, gen, torch::kLong);
  auto mask = torch::zeros({2, T}, torch::kLong);
  for (int b = 0; b < 2; ++b) mask[b].narrow(0, 0, prompt[b] + response[b]).fill_(1);
  train::AttentionPassOptions options{{}, 4, 2, 9};
  torch::NoGradGuard no_grad;
  train::ResponseLogprobs fused;
  auto stats = train::attention_pass(model, prompt, response, options, [&](AttentionObserver* observer) {
    fused = train::response_logprobs(model, ids, mask, prompt, response, 1.0, true, observer);
  });
  EXPECT_GE(stats.statistics_seconds, 0.0);
  auto plain = train::response_logprobs(model, ids, mask, prompt, response, 1.0, true);
  EXPECT_TRUE(torch::equal(fused.logprobs, plain.logprobs));

  auto config = rl_attention_config(static_cast<int>(model.config().num_layers));
  config.window = 4;
  config.fai_horizon_lo = 2;
  config.fai_horizon_hi = 9;
  std::vector<SequenceLayout> layouts = {{0, prompt[0], response[0]}, {0, prompt[1], response[1]}};
  FullMapRecorder recorder(config.layers);
  model.forward_hidden(ids, mask, &recorder);
  auto expected = reference_attention_stats(recorder.maps(), layouts, config);
  for (int b = 0; b < 2; ++b) {
    const auto n = response[b];
    EXPECT_TRUE(torch::allclose(stats.waad[b].narrow(0, 0, n).to(torch::kDouble), expected[b].waad, 1e-5, 1e-6)) << b;
    EXPECT_TRUE(torch::allclose(stats.fai[b].narrow(0, 0, n).to(torch::kDouble), expected[b].fai, 1e-5, 1e-6)) << b;
    EXPECT_TRUE(torch::allclose(stats.delta[b].narrow(0, 0, n).to(torch::kDouble), expected[b].delta, 1e-5, 1e-6)) << b;
    if (n < response[0]) EXPECT_EQ(stats.waad[b].narrow(0, n, response[0] - n).abs().sum().item<double>(), 0.0);
  }
  EXPECT_GT(stats.waad.max().item<double>(), 0.0);
}

namespace {
train::GrpoTrainer make_trainer(const fs::path& model_dir, const fs::path& out, const std::string& strategy = "none") {
  auto root = tiny_recipe(model_dir, out);
  apply_override(root, "credit.strategy=" + strategy);
  auto config = train::train_config_from_json(root, "tiny.yaml");
  return train::GrpoTrainer(config, Model::load(model_dir), Tokenizer::from_dir(model_dir), model_dir,
                            test::tiny_countdown_problems(24), test::digit_share_reward);
}
}  // namespace

TEST(TrainCheckpoint, KillAndResumeGivesIdenticalMetrics) {
  auto dir = test::scratch_dir();
  auto model_dir = test::make_tiny_model(dir / "model");
  {
    auto a = make_trainer(model_dir, dir / "a", "random");
    a.run();
    EXPECT_EQ(a.current_step(), 4);
  }
  {
    auto b = make_trainer(model_dir, dir / "b", "random");
    b.run(2);  // "killed" after step 2 (its checkpoint is step 2)
    // A step after the checkpoint whose row reached metrics.jsonl before the "kill" (plus a half line).
    auto row = b.step();
    JsonlWriter(dir / "b" / "metrics.jsonl", JsonlWriter::Mode::Append).write(row);
    std::ofstream(dir / "b" / "metrics.jsonl", std::ios::app) << "{\"step\": 4, \"rew";
  }
  {
    auto b = make_trainer(model_dir, dir / "b", "random");
    ASSERT_TRUE(b.resume());
    EXPECT_EQ(b.current_step(), 2);
    EXPECT_EQ(b.data_position(), 8);
    b.run();
  }
  auto rows_a = read_rows(dir / "a" / "metrics.jsonl");
  auto rows_b = read_rows(dir / "b" / "metrics.jsonl");
  ASSERT_EQ(rows_a.size(), 4u);
  ASSERT_EQ(rows_b.size(), 4u);
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(rows_a[i], rows_b[i]) << "step " << i + 1;
  // The metrics moved (the rows are not trivially equal) and the checkpoint is a loadable HF folder.
  EXPECT_NE(rows_a[0]["loss"], rows_a[3]["loss"]);
  auto ckpts = train::list_checkpoints(dir / "a");
  ASSERT_EQ(ckpts.size(), 2u);
  EXPECT_EQ(ckpts.back().filename().string(), "step-000004");
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                        "optimizer.safetensors", "trainer_state.json"})
    EXPECT_TRUE(fs::exists(ckpts.back() / f)) << f;
  auto reloaded = Model::load(ckpts.back());
  auto p0 = reloaded.parameters();
  auto p1 = Model::load(model_dir).parameters();
  EXPECT_GT((p0[0] - p1[0]).abs().max().item<double>(), 0.0);  // trained weights differ from the start
  auto b_final = Model::load(train::list_checkpoints(dir / "b").back()).parameters();
  for (std::size_t i = 0; i < p0.size(); ++i) EXPECT_TRUE(torch::equal(p0[i], b_final[i])) << "parameter " << i;
}

TEST(TrainCli, TrainsFromYamlWithOverridesAndResumes) {
  auto dir = test::scratch_dir();
  auto model_dir = test::make_tiny_model(dir / "model");
  std::string data = (dir / "cd.jsonl").string();
  {
    std::ofstream f(data);
    for (int i = 0; i < 6; ++i) f << "{\"nums\": [" << 2 + i << ", 3, 4], \"target\": " << 9 + i << "}\n";
  }
  auto yaml = dir / "recipe.yaml";
  write_file_atomic(yaml, fmt::format("model: {{dir: \"{}\"}}\ndata: {{task: countdown, path: \"{}\"}}\n"
                                      "rollout: {{group_size: 2, max_response_tokens: 6}}\n"
                                      "optim: {{batch_size: 4, micro_batch_size: 2, lr: 1.0e-3}}\n"
                                      "credit: {{strategy: entropy}}\nrun: {{out: \"{}\", steps: 3, progress: false}}\n",
                                      model_dir.string(), data, (dir / "run").string()));
  auto r = test::run_illume({"train", "--config", yaml.string(), "run.steps=2", "run.save_every=1"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(read_jsonl_file(dir / "run" / "metrics.jsonl").size(), 2u);
  // Without --resume an existing run is refused; with it, the run continues to run.steps.
  r = test::run_illume({"train", "--config", yaml.string()});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("--resume"), std::string::npos) << r.err;
  r = test::run_illume({"train", "--config", yaml.string(), "--resume"});
  ASSERT_EQ(r.status, 0) << r.err;
  auto rows = read_jsonl_file(dir / "run" / "metrics.jsonl");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[2]["step"], 3);
  // TRL's names (docs/metrics.md); kl only with a reference model (loss.kl_coef > 0).
  for (const char* key : {"reward/mean", "reward/std", "frac_reward_zero_std", "accuracy", "completions/mean_length",
                          "completions/max_length", "completions/clipped_ratio", "entropy", "clip_ratio/low_mean",
                          "clip_ratio/high_mean", "clip_ratio/region_mean", "grad_norm", "learning_rate", "gamma_mean",
                          "gamma_amplified_fraction", "timing/generate", "timing/score", "timing/old_logprobs",
                          "timing/attention", "timing/update", "timing/step", "share_generate", "share_attention",
                          "share_train"})
    EXPECT_TRUE(rows[2].contains(key)) << key;
  EXPECT_FALSE(rows[2].contains("kl"));
  for (const char* old_name : {"reward_mean", "clip_fraction", "time_step_seconds", "lr"})
    EXPECT_FALSE(rows[2].contains(old_name)) << old_name;
  EXPECT_DOUBLE_EQ(rows[2]["clip_ratio/region_mean"].get<double>(),
                   rows[2]["clip_ratio/low_mean"].get<double>() + rows[2]["clip_ratio/high_mean"].get<double>());
  EXPECT_EQ(rows[2]["resumed_from_step"], 2) << "the first row after --resume records it";
  EXPECT_FALSE(rows[1].contains("resumed_from_step"));
  EXPECT_GT(rows[2]["gamma_amplified_fraction"].get<double>(), 0.0);  // entropy credit amplifies a q share
  // Errors name the override, or the file.
  r = test::run_illume({"train", "--config", yaml.string(), "optim.lr_typo=1"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("override 'optim.lr_typo=1': unknown key 'optim.lr_typo'"), std::string::npos) << r.err;
  r = test::run_illume({"train", "--config", (dir / "missing.yaml").string()});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("missing.yaml"), std::string::npos) << r.err;
}

TEST(EvalCli, PassAndAvgAtKOnTinyModel) {
  auto dir = test::scratch_dir();
  auto model_dir = test::make_tiny_model(dir / "model");
  std::string data = (dir / "cd.jsonl").string();
  {
    std::ofstream f(data);
    for (int i = 0; i < 5; ++i) f << "{\"nums\": [" << 2 + i << ", 3, 4], \"target\": " << 9 + i << "}\n";
  }
  auto r = test::run_illume({"eval", "--model", model_dir.string(), "--task", "countdown", "--data", data, "-n", "3",
                             "--temperature", "1.0", "--limit", "4", "--max-new-tokens", "6", "--out",
                             (dir / "out").string()});
  ASSERT_EQ(r.status, 0) << r.err;
  auto summary = read_json_file(dir / "out" / "summary.json");
  EXPECT_EQ(summary["problems"], 4);
  EXPECT_EQ(summary["k"], 3);
  EXPECT_TRUE(summary.contains("avg@3") && summary.contains("pass@3") && summary.contains("pass@1"));
  auto rows = read_jsonl_file(dir / "out" / "results.jsonl");
  ASSERT_EQ(rows.size(), 4u);
  double avg = 0;
  for (const auto& row : rows) {
    ASSERT_EQ(row["correct"].size(), 3u);
    ASSERT_EQ(row["response_lengths"].size(), 3u);
    for (const auto& len : row["response_lengths"]) EXPECT_LE(len.get<int>(), 6);
    avg += row["avg@k"].get<double>();
  }
  EXPECT_NEAR(summary["avg@3"].get<double>(), avg / 4, 1e-12);
  // Greedy: one answer per problem, deterministic.
  r = test::run_illume({"eval", "--model", model_dir.string(), "--task", "countdown", "--data", data, "--max-new-tokens",
                        "5", "--out", (dir / "g1").string()});
  ASSERT_EQ(r.status, 0) << r.err;
  r = test::run_illume({"eval", "--model", model_dir.string(), "--task", "countdown", "--data", data, "--max-new-tokens",
                        "5", "--out", (dir / "g2").string()});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(read_file(dir / "g1" / "results.jsonl"), read_file(dir / "g2" / "results.jsonl"));
  EXPECT_EQ(read_json_file(dir / "g1" / "summary.json")["k"], 1);
  // Bad task / data name the problem.
  r = test::run_illume({"eval", "--model", model_dir.string(), "--task", "nope", "--data", data, "--out", (dir / "x").string()});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("unknown task"), std::string::npos) << r.err;
}
