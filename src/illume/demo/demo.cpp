#include "illume/demo/demo.h"

#include <chrono>
#include <cstdio>

#include "illume/attention/inputs.h"
#include "illume/data/countdown_gen.h"
#include "illume/data/tasks.h"
#include "illume/eval/evaluate.h"
#include "illume/infer/generate.h"
#include "illume/model/device.h"
#include "illume/model/model.h"
#include "illume/report/analysis_outputs.h"
#include "illume/report/dashboard.h"
#include "illume/text/tokenizer.h"
#include "illume/train/grpo_trainer.h"
#include "illume/train/train_config.h"
#include "illume/util/config.h"
#include "illume/util/error.h"
#include "illume/util/file.h"
#include "illume/util/say.h"

namespace illume::demo {
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Countdown JSONL {nums, target} from the generator (no shared data): seeds the default model's
// SFT data (seed 1) never used.
fs::path generated_split(const fs::path& dir, const std::string& name, std::uint64_t seed, std::uint64_t count) {
  auto path = dir / (name + ".jsonl");
  std::string lines;
  for (const auto& p : data::generate_countdown_set(seed, count, data::countdown_difficulty("standard")))
    lines += dump_line(Json{{"nums", p.nums}, {"target", p.target}}) + "\n";
  write_file_atomic(path, lines);
  return path;
}

// Responses of `model` to the first n problems (sampled at `temperature`), analysed and written to out.
Json analyse(const Model& model, const Tokenizer& tokenizer, const std::vector<data::Problem>& problems,
             std::int64_t n, double temperature, std::uint64_t seed, std::int64_t max_new_tokens, const fs::path& out,
             const std::string& title, const std::string& model_name) {
  EncodedPrompts prompts;
  for (std::int64_t i = 0; i < n && i < static_cast<std::int64_t>(problems.size()); ++i) {
    const auto& p = problems[static_cast<std::size_t>(i)];
    prompts.ids.push_back(
        tokenizer.encode(data::prompt_text(data::Task::Countdown, p, data::PromptStyle::Chat), true, out.string()));
    prompts.texts.push_back(data::build_prompt(data::Task::Countdown, p, data::PromptStyle::Chat));
  }
  auto sampling = sampling_options(model.config(), tokenizer);
  sampling.temperature = temperature;
  sampling.seed = seed;
  sampling.max_new_tokens = max_new_tokens;
  auto inputs = sample_response_inputs(model, prompts, sampling);
  AnalysisSettings settings;
  settings.stats = analysis_attention_config(static_cast<int>(model.config().num_layers));
  settings.seed = seed;
  AnalysisOutputMeta meta;
  meta.title = title;
  meta.model = model_name;
  meta.settings = {{"temperature", temperature}};
  return analyze_and_write(out, model, tokenizer, inputs, settings, meta);
}

void print_coupling(const Json& summary) {
  for (const char* key : {"entropy_at_preplan", "receiver_global_cooccurrence", "fai_after_waad"})
    if (summary.contains(key))
      say("    %-30s observed %.4f  random %.4f  lift %+.0f%%\n", key, summary[key].value("observed", 0.0),
                  summary[key].value("random", 0.0), 100 * summary[key].value("lift", 0.0));
}

}  // namespace

Json run_demo(const DemoOptions& o) {
  const auto start = Clock::now();
  init_torch_runtime();
  if (!fs::exists(o.model_dir / "config.json") || !fs::exists(o.model_dir / "model.safetensors"))
    fail("{}: no model here (config.json + model.safetensors); `make default-model` trains it", o.model_dir.string());
  if (!fs::exists(o.grpo_config)) fail("{}: the demo's GRPO recipe is missing", o.grpo_config.string());
  if (o.strategies.empty()) fail("demo: no credit strategies to run");
  ensure_directory(o.out_dir);

  // Data.
  fs::path train_file, test_file;
  const auto shared_countdown = o.shared_dir / "data" / "countdown";
  if (!o.shared_dir.empty() && fs::exists(shared_countdown / "train.jsonl") && fs::exists(shared_countdown / "test.jsonl")) {
    train_file = shared_countdown / "train.jsonl";
    test_file = shared_countdown / "test.jsonl";
  } else {
    say("demo: %s not found; using generated Countdown puzzles (seeds 101/102) in %s\n",
                shared_countdown.string().c_str(), (o.out_dir / "data").string().c_str());
    ensure_directory(o.out_dir / "data");
    train_file = generated_split(o.out_dir / "data", "train", 101, 4000);
    test_file = generated_split(o.out_dir / "data", "test", 102, static_cast<std::uint64_t>(std::max<std::int64_t>(o.eval_problems, o.analysis_responses)));
  }
  auto test_problems = data::load_problems(data::Task::Countdown, test_file);
  auto train_problems = data::load_problems(data::Task::Countdown, train_file);

  // The GRPO recipe with the demo's paths (the strategy and output folder are set per run).
  auto recipe = load_config(o.grpo_config);
  apply_override(recipe, "model.dir=" + o.model_dir.string());
  apply_override(recipe, "data.path=" + train_file.string());
  for (const auto& ov : o.overrides) apply_override(recipe, ov);
  auto base_config = train::read_train_config(recipe);

  auto tokenizer = Tokenizer::from_dir(o.model_dir);
  eval::EvalOptions eval_options;
  eval_options.chat = base_config.data.prompt_style == data::PromptStyle::Chat;
  eval_options.limit = o.eval_problems;
  eval_options.max_new_tokens = base_config.max_response_tokens;
  eval_options.prompts_per_batch = 64;
  eval_options.show_progress = true;

  Json result = {{"model", o.model_dir.string()}, {"train_data", train_file.string()}, {"test_data", test_file.string()},
                 {"runs", Json::object()}};

  // 1-2. The default model: evaluation and analysis.
  say("demo: [1/%zu] the default model %s\n", o.strategies.size() + 2, o.model_dir.string().c_str());
  auto t0 = Clock::now();
  Json base_summary, base_coupling;
  {
    auto model = Model::load(o.model_dir);
    auto base = eval::evaluate(model, tokenizer, data::Task::Countdown, test_problems, eval_options);
    eval::write_eval(o.out_dir / "eval-base", base);
    base_summary = base.summary;
    say("  accuracy (greedy pass@1) on %lld held-out puzzles: %.3f\n",
                static_cast<long long>(base_summary["problems"].get<std::int64_t>()), base_summary["pass@1"].get<double>());
    auto coupling = analyse(model, tokenizer, test_problems, o.analysis_responses, o.analysis_temperature, o.seed,
                            base_config.max_response_tokens, o.out_dir / "analysis-base",
                            "illume demo: the default model", o.model_dir.string());
    base_coupling = coupling;
    say("  analysis of %lld responses -> %s\n", static_cast<long long>(o.analysis_responses),
                (o.out_dir / "analysis-base" / "report.html").string().c_str());
    print_coupling(coupling);
  }
  result["base"] = base_summary;
  result["seconds_base"] = seconds_since(t0);

  // 3. GRPO per strategy, from the same weights, seed and prompts.
  std::vector<fs::path> run_dirs;
  std::size_t index = 2;
  for (const auto& strategy : o.strategies) {
    auto run_recipe = recipe;
    apply_override(run_recipe, "credit.strategy=" + strategy);
    auto config = train::read_train_config(run_recipe);
    const auto run_dir = o.out_dir / ("grpo-" + strategy);
    config.run.out = fs::absolute(run_dir);
    fs::remove_all(run_dir);  // a demo run always starts from the default model
    say("demo: [%zu/%zu] GRPO with credit '%s': %lld steps x %lld responses -> %s\n", index++,
                o.strategies.size() + 2, strategy.c_str(), static_cast<long long>(config.run.steps),
                static_cast<long long>(config.optim.batch_size), run_dir.string().c_str());
    t0 = Clock::now();
    train::GrpoTrainer trainer(config, Model::load(o.model_dir), tokenizer, o.model_dir, train_problems);
    trainer.run();
    const double train_seconds = seconds_since(t0);
    auto after = eval::evaluate(trainer.policy(), tokenizer, data::Task::Countdown, test_problems, eval_options);
    eval::write_eval(run_dir / "eval-after", after);
    ensure_directory(run_dir / "eval-before");
    write_file_atomic(run_dir / "eval-before" / "summary.json", base_summary.dump(2) + "\n");
    auto coupling = analyse(trainer.policy(), tokenizer, test_problems, o.analysis_responses, o.analysis_temperature,
                            o.seed, config.max_response_tokens, run_dir / "analysis",
                            "illume demo: after GRPO (" + strategy + ")", run_dir.string());
    // Mean share of the step spent in the attention pass.
    double share = 0, steps = 0;
    for (const auto& row : read_jsonl_file(run_dir / "metrics.jsonl")) {
      share += row.value("share_attention", 0.0);
      steps += 1;
    }
    Json r = {{"before", base_summary["pass@1"]}, {"after", after.summary["pass@1"]},
              {"train_seconds", train_seconds}, {"share_attention", steps > 0 ? share / steps : 0.0},
              {"eval_after", after.summary}, {"coupling_after", coupling}};
    result["runs"][strategy] = r;
    say("  accuracy %.3f -> %.3f; training %.0f s, attention pass %.1f%% of a step\n",
                base_summary["pass@1"].get<double>(), after.summary["pass@1"].get<double>(), train_seconds,
                100 * r["share_attention"].get<double>());
    run_dirs.push_back(run_dir);
  }

  // 4. The dashboard.
  const auto index_html = o.out_dir / "index.html";
  auto data = collect_runs(run_dirs, index_html);
  std::string title = "illume demo: GRPO on " + o.model_dir.filename().string() + ", credit ";
  for (std::size_t i = 0; i < o.strategies.size(); ++i) title += (i ? " vs " : "") + o.strategies[i];
  data["title"] = title;
  // The analysis before training sits beside the runs: linked from each, with its coupling
  // statistics, so that the dashboard's top shows them before and after.
  for (auto& run : data["runs"])
    run["reports"].push_back({{"label", "the default model (before training)"},
                              {"path", (o.out_dir / "analysis-base" / "report.html").string()},
                              {"href", "analysis-base/report.html"},
                              {"coupling", base_coupling}});
  write_dashboard(index_html, data);
  result["seconds"] = seconds_since(start);
  result["index"] = index_html.string();
  write_file_atomic(o.out_dir / "demo.json", result.dump(2) + "\n");
  say("demo: done in %.0f s -> %s\n", result["seconds"].get<double>(), index_html.string().c_str());
  return result;
}

}  // namespace illume::demo
