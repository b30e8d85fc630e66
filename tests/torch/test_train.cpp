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
  for (auto& r : rows)
    for (const char* prefix : {"time_", "share_"})
      for (auto it = r.begin(); it != r.end();) {
        if (it.key().rfind(prefix, 0) == 0) it = r.erase(it);
        else ++it;
      }
  return rows;
}

}  // namespace

TEST(TrainConfig, RepositoryRecipesParse) {
  for (const char* name : {"countdown-qwen3-4b.yaml", "math-qwen3-4b.yaml", "countdown-tiny-cpu.yaml"}) {
    auto path = fs::path(::illume::build::source_dir()) / "configs" / name;
    auto c = train::train_config_from_json(load_yaml_file(path), path.string());
    if (std::string(name).find("4b") != std::string::npos) {
      // METHOD.md section 4's hyperparameters.
      EXPECT_EQ(c.batch_size, 512);
      EXPECT_EQ(c.micro_batch_size, 32);
      EXPECT_DOUBLE_EQ(c.lr, 1e-6);
      EXPECT_EQ(c.group_size, 8);
      EXPECT_DOUBLE_EQ(c.temperature, 1.0);
      EXPECT_EQ(c.max_response_tokens, 1024);
      EXPECT_EQ(c.steps, 500);
      EXPECT_DOUBLE_EQ(c.credit.q, 0.4);
      EXPECT_DOUBLE_EQ(c.credit.gamma_amp, 1.5);
      EXPECT_EQ(c.window, 10);
      EXPECT_EQ(c.horizon_lo, 10);
      EXPECT_EQ(c.horizon_hi, 100);
      EXPECT_DOUBLE_EQ(c.loss.clip_low, 0.2);
      EXPECT_DOUBLE_EQ(c.grad_clip, 1.0);
      EXPECT_EQ(c.loss.aggregation, "seq-mean-token-mean");
    }
  }
}

TEST(TrainConfig, UnknownKeysWrongTypesAndBadValuesFail) {
  auto root = tiny_recipe("m", "o");
  auto ok = train::train_config_from_json(root, "tiny.yaml");
  EXPECT_EQ(ok.prompts_per_step(), 4);
  auto with = [&](const std::string& o) {
    Json r = root;
    apply_override(r, o);
    return error_of([&] { train::train_config_from_json(r, "tiny.yaml"); });
  };
  EXPECT_EQ(with("optim.learning_rate=1"), "tiny.yaml: unknown key 'optim.learning_rate'");
  EXPECT_EQ(with("extra=1"), "tiny.yaml: unknown key 'extra'");
  EXPECT_NE(with("optim.lr=fast").find("key 'optim.lr' should be a number"), std::string::npos);
  EXPECT_NE(with("credit.strategy=magic").find("must be one of"), std::string::npos);
  EXPECT_NE(with("optim.batch_size=10").find("must be a multiple of rollout.group_size"), std::string::npos);
  EXPECT_NE(with("credit.q=0").find("credit.q"), std::string::npos);
  // Round trip: the resolved config reads back to the same values.
  auto again = train::train_config_from_json(train::train_config_to_json(ok), "round trip");
  EXPECT_EQ(train::train_config_to_json(again), train::train_config_to_json(ok));
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
    JsonlWriter(dir / "b" / "metrics.jsonl", true).write(row);
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
  for (const char* key : {"reward_mean", "reward_std", "accuracy", "response_length_mean", "entropy", "clip_fraction",
                          "kl_ref", "gamma_mean", "gamma_amplified_fraction", "time_generate_seconds",
                          "time_score_seconds", "time_old_logprobs_seconds", "time_attention_seconds",
                          "time_train_seconds", "time_step_seconds", "share_generate", "share_attention", "share_train"})
    EXPECT_TRUE(rows[2].contains(key)) << key;
  EXPECT_GT(rows[2]["gamma_amplified_fraction"].get<double>(), 0.0);  // entropy credit amplifies a q share
  // Errors name the file.
  r = test::run_illume({"train", "--config", yaml.string(), "optim.lr_typo=1"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("unknown key 'optim.lr_typo'"), std::string::npos) << r.err;
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
  auto r = test::run_illume({"eval", "--model", model_dir.string(), "--task", "countdown", "--data", data, "--k", "3",
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
