// In-training evaluation of `illume train` (issue 11 item 6): the eval section of the recipe, the
// last / peak / peak-EMA summary of an evaluation curve (a pure function, hand-computed numbers), and
// a tiny GRPO run that evaluates at step 0, every eval.every steps and at the last step, keeps the
// best model in OUT/checkpoints/best, writes OUT/eval_summary.json, and resumes to the same result.
#include <torch/torch.h>

#include <cmath>
#include <set>

#include "common.h"
#include "illume/eval/evaluate.h"
#include "illume/eval/statistics.h"
#include "illume/train/checkpoint.h"
#include "illume/train/grpo_trainer.h"
#include "illume/train/train_config.h"
#include "illume/util/config.h"
#include "illume/util/file.h"
#include "train_test_util.h"

using namespace illume;
using illume::test::error_of;
namespace fs = std::filesystem;

namespace {

Json recipe(const fs::path& model_dir, const fs::path& out, const std::string& eval_section) {
  return parse_yaml(fmt::format(R"(
model: {{dir: "{}"}}
data: {{task: countdown, path: synthetic.jsonl}}
rollout: {{group_size: 4, temperature: 1.0, max_response_tokens: 12}}
optim: {{batch_size: 8, micro_batch_size: 4, lr: 3.0e-3, grad_clip: 1.0}}
credit: {{strategy: none}}
run: {{out: "{}", steps: 5, seed: 3, save_every: 1, keep_checkpoints: 10, progress: false}}
{}
)",
                                model_dir.string(), out.string(), eval_section),
                    "tiny.yaml");
}

train::TrainConfig with_overrides(const Json& root, const std::vector<std::string>& overrides) {
  auto tree = config_tree(root, "tiny.yaml");
  for (const auto& o : overrides) apply_override(tree, o);
  return train::read_train_config(tree);
}

std::string error_with(const Json& root, const std::string& override_text) {
  return error_of([&] { with_overrides(root, {override_text}); });
}

// Rows without the timing keys (they differ run to run).
// The rows without their clock readings (timing/..., share_...) and the resume record, which is all a
// resumed run's log may differ in.
std::vector<Json> rows_without_times(const fs::path& path) {
  auto rows = read_jsonl_file(path);
  for (auto& r : rows)
    for (auto it = r.begin(); it != r.end();) {
      if (it.key().rfind("timing/", 0) == 0 || it.key().rfind("share_", 0) == 0 || it.key() == "resumed_from_step")
        it = r.erase(it);
      else ++it;
    }
  return rows;
}

std::vector<at::Tensor> weights_of(const fs::path& dir) { return Model::load(dir).parameters(); }

bool same_weights(const std::vector<at::Tensor>& a, const std::vector<at::Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (!torch::equal(a[i], b[i])) return false;
  return true;
}

}  // namespace

TEST(TrainEvalConfig, KeysDefaultsAndErrorsNamingTheKey) {
  auto root = recipe("m", "o", "");
  // Off by default; task and length follow the training settings.
  auto plain = with_overrides(root, {});
  EXPECT_EQ(plain.eval.every, 0);
  EXPECT_FALSE(plain.eval.enabled());
  EXPECT_EQ(plain.eval.task, data::Task::Countdown);
  EXPECT_EQ(plain.eval.k, 1);
  EXPECT_DOUBLE_EQ(plain.eval.temperature, 0.0);
  EXPECT_EQ(plain.eval.limit, 0);
  EXPECT_EQ(plain.eval.max_new_tokens, 12);  // rollout.max_response_tokens
  auto set = with_overrides(root, {"eval.every=3", "eval.data=held-out.jsonl", "eval.task=gsm8k", "eval.k=4",
                                   "eval.temperature=0.6", "eval.limit=7", "eval.max_new_tokens=20"});
  EXPECT_EQ(set.eval.every, 3);
  EXPECT_TRUE(set.eval.enabled());
  EXPECT_EQ(set.eval.data, fs::current_path() / "held-out.jsonl");  // an override's path: the working directory
  EXPECT_EQ(set.eval.task, data::Task::Gsm8k);
  EXPECT_EQ(set.eval.k, 4);
  EXPECT_DOUBLE_EQ(set.eval.temperature, 0.6);
  EXPECT_EQ(set.eval.limit, 7);
  EXPECT_EQ(set.eval.max_new_tokens, 20);
  EXPECT_EQ(with_overrides(root, {"rollout.max_response_tokens=30"}).eval.max_new_tokens, 30);
  EXPECT_EQ(with_overrides(root, {"data.task=gsm8k"}).eval.task, data::Task::Gsm8k);
  // The resolved config reads back to itself.
  auto again = train::train_config_from_json(train::train_config_to_json(set), "round trip");
  EXPECT_EQ(train::train_config_to_json(again), train::train_config_to_json(set));
  EXPECT_EQ(train::train_config_to_json(set)["eval"]["task"], "gsm8k");

  // Each error names the key (and the override that set it).
  EXPECT_EQ(error_with(root, "eval.every=-1"), "override 'eval.every=-1': key 'eval.every' must be >= 0 (0 = off), got -1");
  EXPECT_EQ(error_with(root, "eval.k=0"), "override 'eval.k=0': key 'eval.k' must be >= 1, got 0");
  EXPECT_EQ(error_with(root, "eval.k=16"),
            "override 'eval.k=16': key 'eval.k' is 16, which needs eval.temperature > 0 (greedy decoding gives one "
            "answer per problem)");
  EXPECT_NE(error_with(root, "eval.temperature=-0.5").find("key 'eval.temperature' must be >= 0"), std::string::npos);
  EXPECT_NE(error_with(root, "eval.limit=-5").find("key 'eval.limit' must be >= 0"), std::string::npos);
  EXPECT_NE(error_with(root, "eval.max_new_tokens=0").find("key 'eval.max_new_tokens' must be >= 1"), std::string::npos);
  EXPECT_EQ(error_with(root, "eval.every=5"),
            "override 'eval.every=5': missing key 'eval.data' (eval.every is 5: the held-out problems to evaluate on)");
  EXPECT_NE(error_with(root, "eval.task=gsm9k").find("key 'eval.task' must be one of countdown|gsm8k"), std::string::npos);
  EXPECT_EQ(error_with(root, "eval.evry=5"), "override 'eval.evry=5': unknown key 'eval.evry'");
  EXPECT_NE(error_with(root, "eval.k=many").find("key 'eval.k' should be an integer"), std::string::npos)
      << error_with(root, "eval.k=many");
  // In the file: the file is named; eval.data is relative to the recipe's folder.
  auto dir = test::scratch_dir();
  write_file_atomic(dir / "r.yaml", "model: {dir: m}\ndata: {task: countdown, path: d.jsonl}\nrun: {out: o}\n"
                                    "eval: {every: 2, data: ../held/test.jsonl, k: 2}\n");
  EXPECT_EQ(error_of([&] { train::load_train_config(dir / "r.yaml", {}); }),
            (dir / "r.yaml").string() + ": key 'eval.k' is 2, which needs eval.temperature > 0 (greedy decoding gives "
                                        "one answer per problem)");
  auto from_file = train::load_train_config(dir / "r.yaml", {"eval.temperature=1"});
  EXPECT_EQ(from_file.eval.data, (dir / ".." / "held" / "test.jsonl").lexically_normal());
}

// The repository's recipes carry an eval section: the paper recipes evaluate on held-out test files
// every few steps.
TEST(TrainEvalConfig, RepositoryRecipesHaveAnEvalSection) {
  const fs::path source = ::illume::build::source_dir();
  const auto shared_data = (source / ".." / "shared" / "data").lexically_normal();
  for (const char* name : {"countdown-qwen3-4b.yaml", "math-qwen3-4b.yaml", "countdown-tiny-cpu.yaml", "demo-grpo.yaml"}) {
    auto c = train::load_train_config(source / "configs" / name, {});
    EXPECT_EQ(c.eval.data.parent_path().parent_path(), shared_data) << name;
    EXPECT_EQ(c.eval.data.filename(), "test.jsonl") << name;
    EXPECT_EQ(c.eval.k, 1) << name;
    EXPECT_DOUBLE_EQ(c.eval.temperature, 0.0) << name;
    if (std::string(name).find("4b") != std::string::npos) {
      EXPECT_GT(c.eval.every, 0) << name;
      EXPECT_LE(c.eval.every, 50) << name;
      EXPECT_EQ(c.eval.limit, 0) << name;  // the whole test set
      EXPECT_EQ(c.eval.max_new_tokens, c.max_response_tokens) << name;
    }
  }
  EXPECT_EQ(train::load_train_config(source / "configs" / "countdown-qwen3-4b.yaml", {}).eval.data,
            shared_data / "countdown" / "test.jsonl");
  EXPECT_EQ(train::load_train_config(source / "configs" / "math-qwen3-4b.yaml", {}).eval.task, data::Task::Math500);
}

// Last, peak and peak-EMA by hand. EMA (alpha 0.5): ema_0 = v_0, ema_i = 0.5 v_i + 0.5 ema_{i-1}.
TEST(EvalCurve, LastPeakAndPeakEmaByHand) {
  // values 0.2 0.5 0.3 0.6 0.1 at steps 0 2 4 6 8:
  //   ema = 0.2, 0.35, 0.325, 0.4625, 0.28125
  auto a = eval::summarize_curve({{0, 0.2}, {2, 0.5}, {4, 0.3}, {6, 0.6}, {8, 0.1}});
  EXPECT_EQ(a.last.step, 8);
  EXPECT_DOUBLE_EQ(a.last.value, 0.1);
  EXPECT_EQ(a.peak.step, 6);
  EXPECT_DOUBLE_EQ(a.peak.value, 0.6);
  EXPECT_EQ(a.peak_ema.step, 6);
  EXPECT_DOUBLE_EQ(a.peak_ema.value, 0.4625);
  ASSERT_EQ(a.ema.size(), 5u);
  EXPECT_DOUBLE_EQ(a.ema[1], 0.35);
  EXPECT_DOUBLE_EQ(a.ema[2], 0.325);
  EXPECT_DOUBLE_EQ(a.ema[4], 0.28125);
  // One lucky evaluation: the peak is at step 10, the smoothed peak at the end of the plateau.
  //   values 0.1 0.7 0.2 0.5 0.5 -> ema 0.1, 0.4, 0.3, 0.4, 0.45
  auto b = eval::summarize_curve({{0, 0.1}, {10, 0.7}, {20, 0.2}, {30, 0.5}, {40, 0.5}});
  EXPECT_EQ(b.peak, (eval::CurvePoint{10, 0.7}));
  EXPECT_EQ(b.peak_ema.step, 40);
  EXPECT_DOUBLE_EQ(b.peak_ema.value, 0.45);
  EXPECT_EQ(b.last, (eval::CurvePoint{40, 0.5}));
  // Ties go to the earliest step; one point is its own summary.
  auto c = eval::summarize_curve({{0, 0.5}, {5, 0.5}, {9, 0.25}});
  EXPECT_EQ(c.peak.step, 0);
  EXPECT_EQ(c.peak_ema.step, 0);  // ema 0.5, 0.5, 0.375
  auto d = eval::summarize_curve({{3, 0.75}});
  EXPECT_EQ(d.last, d.peak);
  EXPECT_EQ(d.peak_ema, d.peak);
  // Another alpha: 0.25 on 0 1 1 -> 0, 0.25, 0.4375.
  EXPECT_DOUBLE_EQ(eval::summarize_curve({{1, 0}, {2, 1}, {3, 1}}, 0.25).peak_ema.value, 0.4375);
  // The JSON form names every number and its step.
  auto j = eval::curve_summary_json(a);
  EXPECT_EQ(j["peak_ema"]["step"], 6);
  EXPECT_DOUBLE_EQ(j["peak_ema"]["value"].get<double>(), 0.4625);
  EXPECT_EQ(j["points"], 5);
  EXPECT_DOUBLE_EQ(j["ema_alpha"].get<double>(), 0.5);
  // Bad curves fail in one line.
  EXPECT_ERROR_CONTAINS(eval::summarize_curve({}), "no evaluation points");
  EXPECT_ERROR_CONTAINS(eval::summarize_curve({{2, 0.1}, {2, 0.2}}), "steps must increase (step 2 after step 2)");
  EXPECT_ERROR_CONTAINS(eval::summarize_curve({{1, std::nan("")}}), "not finite");
  EXPECT_ERROR_CONTAINS(eval::summarize_curve({{1, 0.5}}, 0.0), "must be in (0, 1]");
}

// The evaluating trainer, with the synthetic digit reward so that accuracy moves: rows, best model,
// summary, and a resumed run that ends where the uninterrupted one does.
TEST(TrainEval, EvaluatesKeepsTheBestModelAndResumes) {
  auto dir = test::scratch_dir();
  auto model_dir = test::make_tiny_model(dir / "model", 11);
  const auto problems = test::tiny_countdown_problems(24);
  {
    JsonlWriter held_out(dir / "held-out.jsonl");
    for (int i = 0; i < 6; ++i) held_out.write(problems[static_cast<std::size_t>(i)].raw);
    held_out.commit();
  }
  auto make = [&](const fs::path& out) {
    auto root = recipe(model_dir, out,
                       fmt::format("eval: {{every: 2, data: \"{}\", limit: 5, max_new_tokens: 8}}",
                                   (dir / "held-out.jsonl").string()));
    return train::GrpoTrainer(train::train_config_from_json(root, "tiny.yaml"), Model::load(model_dir),
                              Tokenizer::from_dir(model_dir), model_dir, problems, test::digit_share_reward);
  };
  const auto a_out = dir / "a";
  {
    auto a = make(a_out);
    a.run();
  }
  // Evaluations at step 0 (a row of its own, before training), every 2 steps, and the last step (5).
  auto rows = read_jsonl_file(a_out / "metrics.jsonl");
  ASSERT_EQ(rows.size(), 6u);
  std::vector<std::int64_t> evaluated;
  std::vector<eval::CurvePoint> curve;
  for (const auto& row : rows) {
    if (!row.contains("eval/accuracy")) continue;
    evaluated.push_back(row["step"].get<std::int64_t>());
    curve.push_back({row["step"].get<std::int64_t>(), row["eval/accuracy"].get<double>()});
    for (const char* key : {"eval/mean_length", "eval/format_rate", "eval/reward_mean", "timing/eval"})
      EXPECT_TRUE(row.contains(key)) << key << " at step " << row["step"];
    EXPECT_FALSE(row.contains("eval/pass@k")) << "k = 1";
    EXPECT_LE(row["eval/mean_length"].get<double>(), 8.0);
    // 5 problems: accuracy is a count of fifths.
    const double fifths = row["eval/accuracy"].get<double>() * 5;
    EXPECT_NEAR(fifths, std::round(fifths), 1e-9);
  }
  EXPECT_EQ(evaluated, (std::vector<std::int64_t>{0, 2, 4, 5}));
  EXPECT_EQ(rows[0]["step"], 0);
  EXPECT_FALSE(rows[0].contains("reward/mean")) << "the step-0 row is the evaluation alone";
  EXPECT_TRUE(rows[1].contains("reward/mean") && !rows[1].contains("eval/accuracy"));
  // The reward climbs: the evaluation moved (otherwise the best model would trivially be step 0).
  std::set<double> distinct;
  for (const auto& p : curve) distinct.insert(p.value);
  EXPECT_GT(distinct.size(), 1u) << "eval accuracy never changed; the test cannot tell best from first";

  // eval_summary.json: the curve's last, peak and peak-EMA (recomputed here from the logged values).
  const auto expected = eval::summarize_curve(curve);
  auto summary = read_json_file(a_out / "eval_summary.json");
  EXPECT_EQ(summary["last"]["step"], 5);
  EXPECT_DOUBLE_EQ(summary["last"]["value"].get<double>(), curve.back().value);
  EXPECT_EQ(summary["peak"]["step"], expected.peak.step);
  EXPECT_DOUBLE_EQ(summary["peak"]["value"].get<double>(), expected.peak.value);
  EXPECT_EQ(summary["peak_ema"]["step"], expected.peak_ema.step);
  EXPECT_DOUBLE_EQ(summary["peak_ema"]["value"].get<double>(), expected.peak_ema.value);
  EXPECT_EQ(summary["problems"], 5);
  EXPECT_EQ(summary["best_checkpoint"]["step"], expected.peak.step);
  ASSERT_EQ(summary["history"].size(), 4u);
  EXPECT_FALSE(fs::exists(a_out / "eval_summary.json.tmp"));

  // checkpoints/best: the model of the peak evaluation, not a step-* folder, and it survives pruning.
  const auto best = train::best_checkpoint_dir(a_out);
  auto best_state = train::read_trainer_state(best);
  EXPECT_EQ(best_state.step, expected.peak.step);
  EXPECT_DOUBLE_EQ(best_state.details["eval"]["accuracy"].get<double>(), expected.peak.value);
  const auto peak_weights = expected.peak.step == 0
                                ? weights_of(model_dir)
                                : weights_of(a_out / "checkpoints" / train::checkpoint_name(expected.peak.step));
  EXPECT_TRUE(same_weights(weights_of(best), peak_weights));
  EXPECT_EQ(train::list_checkpoints(a_out).size(), 5u) << "best/ is not a step checkpoint";
  EXPECT_EQ(train::newest_checkpoint(a_out)->filename(), "step-000005");
  // Evaluated again from its folder, the best model scores the peak accuracy.
  {
    eval::EvalOptions o;
    o.max_new_tokens = 8;
    o.limit = 5;
    o.show_progress = false;
    o.scorer = test::digit_share_reward;
    auto again = eval::evaluate(Model::load(best), Tokenizer::from_dir(best), data::Task::Countdown,
                                data::load_problems(data::Task::Countdown, dir / "held-out.jsonl"), o);
    EXPECT_DOUBLE_EQ(again.summary["pass@1"].get<double>(), expected.peak.value);
  }

  // Killed after step 3 (checkpoint 3; evaluations 0 and 2 logged), with a row of step 4 that reached
  // the log: the resumed run redoes step 4 and ends with the same log, summary and best model.
  const auto b_out = dir / "b";
  {
    auto b = make(b_out);
    b.run(3);
    EXPECT_TRUE(fs::exists(train::best_checkpoint_dir(b_out)));
    auto partial = read_json_file(b_out / "eval_summary.json");
    EXPECT_EQ(partial["last"]["step"], 2);
    auto row = b.step();
    JsonlWriter(b_out / "metrics.jsonl", JsonlWriter::Mode::Append).write(row);
  }
  const auto best_before_resume = train::read_trainer_state(train::best_checkpoint_dir(b_out)).step;
  {
    auto b = make(b_out);
    ASSERT_TRUE(b.resume());
    EXPECT_EQ(b.current_step(), 3);
    // Resume keeps the best model (nothing has run yet).
    EXPECT_EQ(train::read_trainer_state(train::best_checkpoint_dir(b_out)).step, best_before_resume);
    b.run();
  }
  EXPECT_EQ(rows_without_times(b_out / "metrics.jsonl"), rows_without_times(a_out / "metrics.jsonl"));
  // The resume is recorded on the first row the resumed run logged (step 4), once.
  const auto b_rows = read_jsonl_file(b_out / "metrics.jsonl");
  std::vector<std::int64_t> resumes;
  for (const auto& row : b_rows)
    if (row.contains("resumed_from_step")) {
      resumes.push_back(row["resumed_from_step"].get<std::int64_t>());
      EXPECT_EQ(row["step"], 4);
    }
  EXPECT_EQ(resumes, (std::vector<std::int64_t>{3}));
  auto summary_b = read_json_file(b_out / "eval_summary.json");
  summary_b.erase("data");
  summary.erase("data");
  EXPECT_EQ(summary_b, summary);
  EXPECT_EQ(train::read_trainer_state(train::best_checkpoint_dir(b_out)).step, expected.peak.step);
  EXPECT_TRUE(same_weights(weights_of(train::best_checkpoint_dir(b_out)), weights_of(best)));
  // Pruning to one step checkpoint leaves best/.
  train::prune_checkpoints(b_out, 1);
  EXPECT_EQ(train::list_checkpoints(b_out).size(), 1u);
  EXPECT_TRUE(fs::exists(train::best_checkpoint_dir(b_out) / "model.safetensors"));
}

// Sampled evaluation (k > 1) logs pass@k; a missing eval.data file fails before the first step.
TEST(TrainEval, SampledEvaluationLogsPassAtKAndBadDataFailsEarly) {
  auto dir = test::scratch_dir();
  auto model_dir = test::make_tiny_model(dir / "model", 4);
  const auto problems = test::tiny_countdown_problems(8);
  {
    JsonlWriter held_out(dir / "held-out.jsonl");
    for (int i = 0; i < 3; ++i) held_out.write(problems[static_cast<std::size_t>(i)].raw);
    held_out.commit();
  }
  auto root = recipe(model_dir, dir / "run",
                     fmt::format("eval: {{every: 1, data: \"{}\", k: 3, temperature: 1.0, max_new_tokens: 6}}",
                                 (dir / "held-out.jsonl").string()));
  apply_override(root, "run.steps=1");
  {
    train::GrpoTrainer t(train::train_config_from_json(root, "tiny.yaml"), Model::load(model_dir),
                         Tokenizer::from_dir(model_dir), model_dir, problems, test::digit_share_reward);
    t.run();
  }
  auto rows = read_jsonl_file(dir / "run" / "metrics.jsonl");
  ASSERT_EQ(rows.size(), 2u);
  for (const auto& row : rows) {
    ASSERT_TRUE(row.contains("eval/pass@k")) << row.dump();
    EXPECT_GE(row["eval/pass@k"].get<double>(), row["eval/accuracy"].get<double>());
  }
  EXPECT_EQ(read_json_file(dir / "run" / "eval_summary.json")["k"], 3);

  apply_override(root, "eval.data=" + (dir / "missing.jsonl").string());
  apply_override(root, "run.out=" + (dir / "never").string());
  auto config = train::train_config_from_json(root, "tiny.yaml");
  EXPECT_ERROR_CONTAINS(train::GrpoTrainer(config, Model::load(model_dir), Tokenizer::from_dir(model_dir), model_dir,
                                           problems, test::digit_share_reward),
                        "missing.jsonl");
  EXPECT_FALSE(fs::exists(dir / "never" / "metrics.jsonl"));
}
