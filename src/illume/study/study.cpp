#include "illume/study/study.h"

#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>

#include "illume/attention/inputs.h"
#include "illume/data/tasks.h"
#include "illume/infer/generate.h"
#include "illume/model/device.h"
#include "illume/model/model.h"
#include "illume/report/analysis_outputs.h"
#include "illume/study/study_report.h"
#include "illume/text/tokenizer.h"
#include "illume/train/checkpoint.h"
#include "illume/train/grpo_trainer.h"
#include "illume/train/run_folder.h"
#include "illume/util/error.h"
#include "illume/util/file.h"
#include "illume/util/interrupt.h"
#include "illume/util/progress.h"
#include "illume/util/say.h"

namespace illume::study {
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// What a study writes into OUT (and --overwrite may remove).
bool study_entry(const std::string& name) {
  return name == "study.json" || name == "index.html" || name == "runs" || name == "analysis";
}
bool analysis_file(const std::string& name) {
  return name == "summary.json" || name == "report.html" || name == "tokens_metrics.jsonl";
}

enum class RunProgress { Fresh, Partial, Done };

// Done: the final checkpoint (step >= run.steps) and a metrics.jsonl whose last row is that step with
// its evaluation. Partial: a checkpoint before that (resume from it). Fresh: no checkpoint.
RunProgress run_progress(const StudyRun& run) {
  const auto& out = run.config.run.out;
  const auto newest = train::newest_checkpoint(out);
  if (!newest) return RunProgress::Fresh;
  if (train::read_trainer_state(*newest).step < run.config.run.steps) return RunProgress::Partial;
  const auto log = out / "metrics.jsonl";
  if (!fs::exists(log)) return RunProgress::Fresh;
  const auto rows = read_jsonl_file(log);
  if (rows.empty()) return RunProgress::Fresh;
  const auto& last = rows.back();
  const bool complete = last.is_object() && last.value("step", std::int64_t{-1}) >= run.config.run.steps &&
                        last.contains("eval/accuracy");
  // A final checkpoint without the log's last rows cannot be continued (there is no step left): redo.
  return complete ? RunProgress::Done : RunProgress::Fresh;
}

// Responses of `model` to the first n held-out problems, sampled and analysed (Table 2 with bootstrap
// intervals, METHOD.md sections 1-3), written to `out`; as `illume demo` analyses its policies.
Json analyse_policy(const Model& model, const Tokenizer& tokenizer, const std::vector<data::Problem>& problems,
                    const StudyConfig& config, const fs::path& out, const std::string& title, const std::string& model_name) {
  const auto& base = config.base;
  EncodedPrompts prompts;
  for (std::int64_t i = 0; i < config.analysis_responses && i < static_cast<std::int64_t>(problems.size()); ++i) {
    const auto& p = problems[static_cast<std::size_t>(i)];
    prompts.ids.push_back(tokenizer.encode(data::prompt_text(base.eval.task, p, base.data.prompt_style), true, out.string()));
    prompts.texts.push_back(data::build_prompt(base.eval.task, p, base.data.prompt_style));
  }
  auto sampling = sampling_options(model.config(), tokenizer);
  sampling.temperature = config.analysis_temperature;
  sampling.seed = 0;  // the same prompts and sampling streams for every policy
  sampling.max_new_tokens = base.eval.max_new_tokens > 0 ? base.eval.max_new_tokens : base.max_response_tokens;
  auto inputs = sample_response_inputs(model, prompts, sampling);
  AnalysisSettings settings;
  settings.stats = analysis_attention_config(static_cast<int>(model.config().num_layers));
  settings.seed = 0;
  AnalysisOutputMeta meta;
  meta.title = title;
  meta.model = model_name;
  meta.settings = {{"temperature", config.analysis_temperature}};
  return analyze_and_write(out, model, tokenizer, inputs, settings, meta);
}

// A run folder made with other settings than the study's now is another experiment: a resumed study
// that kept it would compare runs of different recipes. Only the keys that change no run's numbers
// (and run.steps: more steps continue a finished run) may differ.
void check_same_recipe(const StudyRun& run) {
  const auto saved_path = run.config.run.out / "config.json";
  if (!fs::exists(saved_path)) return;
  static const std::vector<std::string> free_keys = {"run.steps", "run.save_every", "run.keep_checkpoints",
                                                      "run.progress", "run.tensorboard", "run.log_samples"};
  for (const auto& change : train::compare_resumed_config(read_json_file(saved_path), train::train_config_to_json(run.config),
                                                          {}, saved_path.string())) {
    bool free = false;
    for (const auto& key : free_keys) free |= change.rfind(key + ":", 0) == 0;
    if (!free)
      fail("{}: the run was made with other settings than the study's now ({}); pass --overwrite to start the study "
           "over, keep the value, or choose another study.out",
           saved_path.string(), change);
  }
}

bool analysed(const StudyConfig& config, const StudyRun& run) {
  return config.analysed == AnalysedPolicies::All ||
         (config.analysed == AnalysedPolicies::FirstSeed && run.seed == config.seeds.front());
}

}  // namespace

void prepare_study_folder(const StudyConfig& config, StudyStart start) {
  const auto& out = config.out;
  std::error_code ec;
  if (!fs::exists(out, ec)) return;
  if (!fs::is_directory(out, ec)) fail("{}: study.out exists and is not a folder", out.string());
  if (start == StudyStart::Resume) return;
  std::vector<fs::path> entries;
  for (const auto& e : fs::directory_iterator(out)) entries.push_back(e.path());
  if (entries.empty()) return;
  if (start == StudyStart::Fresh)
    fail("{}: study.out is not empty (holds '{}'); pass --resume to continue that study, --overwrite to start over "
         "(removes only the study's own files), or choose another study.out",
         out.string(), entries.front().filename().string());
  // Overwrite: check everything first, then remove, so that a refusal removes nothing.
  for (const auto& e : entries) {
    const auto name = e.filename().string();
    if (!study_entry(name)) fail("{}: holds '{}', which illume study did not write; --overwrite removes only a study's own files", out.string(), name);
    if (name == "analysis")
      for (const auto& policy : fs::directory_iterator(e)) {
        if (!policy.is_directory()) fail("{}: holds '{}', which illume study did not write", e.string(), policy.path().filename().string());
        for (const auto& f : fs::directory_iterator(policy.path()))
          if (!analysis_file(f.path().filename().string()))
            fail("{}: holds '{}', which illume study did not write", policy.path().string(), f.path().filename().string());
      }
    if (name == "runs")
      for (const auto& run : fs::directory_iterator(e)) {
        if (!run.is_directory()) fail("{}: holds '{}', which illume study did not write", e.string(), run.path().filename().string());
        // A run folder is removed whole: only when --overwrite of that run would remove everything in it.
        if (const auto kept = train::entry_overwrite_keeps(run.path()); !kept.empty())
          fail("{}: holds '{}', which illume did not write; --overwrite removes only a study's own files",
               run.path().string(), fs::relative(kept, run.path()).string());
      }
  }
  for (const auto& e : entries) fs::remove_all(e);
}

Json run_study(const StudyConfig& config, StudyStart start) {
  const auto t_start = Clock::now();
  init_torch_runtime();
  prepare_study_folder(config, start);
  ensure_directory(config.out / "runs");
  const auto& base = config.base;
  const auto n_runs = config.runs.size();

  // What every run shares: the tokenizer, the training and the held-out problems.
  auto tokenizer = Tokenizer::from_dir(base.model.dir);
  auto problems = data::load_problems(base.data.task, base.data.path);
  if (base.data.limit > 0 && static_cast<std::int64_t>(problems.size()) > base.data.limit)
    problems.resize(static_cast<std::size_t>(base.data.limit));
  const auto held_out = data::load_problems(base.eval.task, base.eval.data);
  LoadOptions load;
  load.device = parse_device(base.model.device.str());
  load.dtype = base.model.dtype;

  for (const auto& run : config.runs) check_same_recipe(run);
  std::vector<RunState> states(n_runs);
  std::vector<AnalysisRecord> analyses;
  std::size_t already = 0;
  for (std::size_t i = 0; i < n_runs; ++i)
    if (run_progress(config.runs[i]) == RunProgress::Done) {
      states[i].status = "done";
      ++already;
    }
  // A resumed study keeps the training seconds its earlier invocations recorded.
  if (start == StudyStart::Resume && fs::exists(config.out / "study.json")) {
    const auto old = read_json_file(config.out / "study.json");
    if (old.contains("runs") && old["runs"].is_array())
      for (const auto& r : old["runs"])
        for (std::size_t i = 0; i < n_runs; ++i)
          if (r.value("name", "") == config.runs[i].name) states[i].seconds = r.value("seconds", 0.0);
  }
  auto write_report = [&] { write_study_report(config, summarize_study(config, states, analyses, seconds_since(t_start))); };

  say("study: %zu runs (%zu strategies x %zu seeds), %lld steps each, evaluation every %lld steps on %lld held-out "
      "problems -> %s\n",
      n_runs, config.strategies.size(), config.seeds.size(), static_cast<long long>(base.run.steps),
      static_cast<long long>(base.eval.every), static_cast<long long>(base.eval.limit), config.out.string().c_str());
  if (already > 0) say("study: %zu of %zu runs finished earlier; they are not redone\n", already, n_runs);

  // The starting policy's analysis, once.
  // The policy's analysis, unless an earlier invocation wrote it and the policy has not changed since.
  auto analyse_into = [&](const std::function<Model()>& load_model, const std::string& policy, const std::string& strategy,
                          const std::string& label, const std::string& model_name, bool redo) {
    const auto dir = config.out / "analysis" / policy;
    Json coupling;
    if (!redo && fs::exists(dir / "summary.json")) {
      coupling = read_json_file(dir / "summary.json").value("coupling", Json::object());
    } else {
      const auto t0 = Clock::now();
      coupling = analyse_policy(load_model(), tokenizer, held_out, config, dir, "illume study: " + label, model_name);
      say("study: analysed %s (%lld responses) in %s -> %s\n", label.c_str(),
          static_cast<long long>(config.analysis_responses), format_duration(seconds_since(t0)).c_str(),
          (dir / "report.html").string().c_str());
    }
    analyses.push_back({label, policy, strategy, dir / "report.html", coupling});
  };
  if (config.analysed != AnalysedPolicies::None)
    analyse_into([&] { return Model::load(base.model.dir, load); }, "start", "", "the starting policy",
                 base.model.dir.string(), false);
  write_report();

  Progress progress("study", static_cast<std::int64_t>(n_runs), "run", false);
  progress.resume_from(static_cast<std::int64_t>(already));
  std::size_t finished = already;
  for (std::size_t i = 0; i < n_runs; ++i) {
    const auto& run = config.runs[i];
    const auto& out = run.config.run.out;
    bool trained = false;
    if (states[i].status != "done") {
      const auto where = run_progress(run);
      std::int64_t from = 0;
      if (where == RunProgress::Fresh && fs::exists(out)) train::prepare_run_folder(out, train::RunStart::Overwrite);
      auto trainer = std::make_unique<train::GrpoTrainer>(run.config, Model::load(base.model.dir, load), tokenizer,
                                                          base.model.dir, problems);
      if (where == RunProgress::Partial && trainer->resume()) from = trainer->current_step();
      const double rate = progress.rate();  // runs per second, over the runs trained by this invocation
      const auto remaining = static_cast<double>(n_runs - finished);
      say("study: run %zu/%zu %s (credit %s, seed %llu) %s; elapsed %s, ETA %s\n", i + 1, n_runs, run.name.c_str(),
          run.strategy.c_str(), static_cast<unsigned long long>(run.seed),
          from > 0 ? fmt::format("resumes at step {}", from).c_str() : "starts",
          format_duration(seconds_since(t_start)).c_str(),
          rate > 0 ? format_duration(remaining / rate).c_str() : "after the first run");
      states[i].status = "running";
      write_report();
      const auto t0 = Clock::now();
      try {
        trainer->run();
      } catch (const Interrupted& e) {  // Ctrl-C: the run stopped at a step boundary
        write_report();
        throw Interrupted(fmt::format("{}; study: {} of {} runs finished, `illume study ... --resume` continues", e.what(),
                                      finished, n_runs));
      }
      states[i].seconds += seconds_since(t0);
      states[i].status = "done";
      trained = true;
      ++finished;
      progress.advance(1);
    }
    if (analysed(config, run)) {
      const auto checkpoint = train::newest_checkpoint(out);
      if (!checkpoint) fail("{}: the run finished without a checkpoint", out.string());
      analyse_into([&] { return Model::load(*checkpoint, load); }, run.name, run.strategy,
                   run.name + " (final policy)", checkpoint->string(), trained);
    }
    write_report();
    if (trained) {
      const auto summary = read_json_file(out / "eval_summary.json");
      const double rate = progress.rate();
      const auto remaining = static_cast<double>(n_runs - finished);
      say("study: run %zu/%zu %s done in %s: held-out accuracy %.3f at the end, peak %.3f; elapsed %s, ETA %s\n", i + 1,
          n_runs, run.name.c_str(), format_duration(states[i].seconds).c_str(),
          summary["last"].value("value", 0.0), summary["peak"].value("value", 0.0),
          format_duration(seconds_since(t_start)).c_str(),
          remaining == 0 ? "0 s" : rate > 0 ? format_duration(remaining / rate).c_str() : "?");
    }
  }
  auto data = summarize_study(config, states, analyses, seconds_since(t_start));
  write_study_report(config, data);
  say("study: done in %s -> %s\n%s\n", format_duration(seconds_since(t_start)).c_str(),
      (config.out / "index.html").string().c_str(), data["verdict"]["text"].get<std::string>().c_str());
  return data;
}

}  // namespace illume::study
