#include "illume/study/study_report.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "illume/eval/statistics.h"
#include "illume/report/page_assets.h"
#include "illume/study/statistics/seed_statistics.h"
#include "illume/util/error.h"
#include "illume/util/file.h"

namespace illume::study {
namespace fs = std::filesystem;

namespace {

// The curves drawn per strategy, in the page's order.
const std::vector<std::string>& curve_metrics() {
  static const std::vector<std::string> names = {"eval/accuracy", "reward/mean", "accuracy", "completions/mean_length",
                                                 "entropy"};
  return names;
}

// null for NaN/inf (JSON has no NaN; the page shows a dash).
Json number(double v) { return std::isfinite(v) ? Json(v) : Json(nullptr); }

Json interval_json(const MeanInterval& m) {
  return {{"n", m.n}, {"mean", number(m.mean)}, {"sd", number(m.sd)}, {"lo", number(m.lo)}, {"hi", number(m.hi)}};
}

double mean_of(const std::vector<double>& v) {
  if (v.empty()) return std::nan("");
  double s = 0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}

// What one finished run's metrics.jsonl says.
struct RunNumbers {
  bool complete = false;  // has evaluations
  eval::CurveSummary curve;
  std::int64_t evaluations = 0;
  double step_seconds = 0, attention_seconds = 0, share_attention = 0, eval_seconds = 0;
  std::map<std::string, std::map<std::int64_t, double>> series;  // metric -> step -> value
};

RunNumbers read_run(const fs::path& out) {
  RunNumbers r;
  const auto log = out / "metrics.jsonl";
  if (!fs::exists(log)) return r;
  std::vector<eval::CurvePoint> points;
  std::vector<double> step_s, attention_s, share, eval_s;
  for (const auto& row : read_jsonl_file(log)) {
    if (!row.is_object() || !row.contains("step") || !row["step"].is_number_integer()) continue;
    const auto step = row["step"].get<std::int64_t>();
    auto value = [&](const char* key, std::vector<double>& into) {
      auto it = row.find(key);
      if (it != row.end() && it->is_number()) into.push_back(it->get<double>());
    };
    value("timing/step", step_s);
    value("timing/attention", attention_s);
    value("share_attention", share);
    value("timing/eval", eval_s);
    for (const auto& key : curve_metrics()) {
      auto it = row.find(key);
      if (it != row.end() && it->is_number()) r.series[key][step] = it->get<double>();
    }
    auto accuracy = row.find("eval/accuracy");
    // A resumed run's log holds each step once (RunLog trims it), so the steps increase.
    if (accuracy != row.end() && accuracy->is_number() && (points.empty() || step > points.back().step))
      points.push_back({step, accuracy->get<double>()});
  }
  if (points.empty()) return r;
  r.complete = true;
  r.curve = eval::summarize_curve(points);
  r.evaluations = static_cast<std::int64_t>(points.size());
  r.step_seconds = mean_of(step_s);
  r.attention_seconds = mean_of(attention_s);
  r.share_attention = mean_of(share);
  r.eval_seconds = mean_of(eval_s);
  return r;
}

Json point_json(const eval::CurvePoint& p) { return {{"step", p.step}, {"value", p.value}}; }

std::string percent(double v) { return fmt::format("{:+.1f}", 100 * v); }

Json paired_json(const std::vector<std::uint64_t>& seeds, const PairedTest& t) {
  std::string verdict;
  if (t.difference.n < 2)
    verdict = "n=1: no interval";
  else if (t.excludes_zero_above())
    verdict = "above none beyond the noise";
  else if (t.excludes_zero_below())
    verdict = "below none beyond the noise";
  else
    verdict = "within the noise (the interval includes 0)";
  return {{"seeds", seeds},
          {"differences", t.differences},
          {"n", t.difference.n},
          {"mean", number(t.difference.mean)},
          {"sd", number(t.difference.sd)},
          {"lo", number(t.difference.lo)},
          {"hi", number(t.difference.hi)},
          {"t", number(t.t)},
          {"p", number(t.p_value)},
          {"positive", t.positive},
          {"negative", t.negative},
          {"ties", t.ties},
          {"sign_p", t.sign_p},
          {"verdict", verdict}};
}

std::string relative_href(const fs::path& target, const fs::path& base) {
  return fs::relative(target, base).generic_string();
}

}  // namespace

const Json& paper_countdown_accuracy() {
  static const Json paper = {{"none", 52.6}, {"random", 55.0}, {"entropy", 57.7},
                             {"local", 59.9}, {"global", 60.4}, {"coupled", 63.1}};
  return paper;
}

Json summarize_study(const StudyConfig& config, const std::vector<RunState>& states,
                     const std::vector<AnalysisRecord>& analyses, double elapsed_seconds) {
  check(states.size() == config.runs.size(), "summarize_study: {} states for {} runs", states.size(), config.runs.size());
  const auto& base = config.base;
  Json data;
  data["title"] = "illume study: attention-guided credit on " + base.model.dir.filename().string();
  data["config"] = study_config_to_json(config);
  data["elapsed_seconds"] = elapsed_seconds;
  data["settings"] = {{"model", base.model.dir.string()},
                      {"train_data", base.data.path.string()},
                      {"eval_data", base.eval.data.string()},
                      {"steps", base.run.steps},
                      {"group_size", base.group_size},
                      {"batch_size", base.optim.batch_size},
                      {"prompts_per_step", base.prompts_per_step()},
                      {"lr", base.optim.lr},
                      {"max_response_tokens", base.max_response_tokens},
                      {"eval_every", base.eval.every},
                      {"eval_problems", base.eval.limit},
                      {"eval_k", base.eval.k},
                      {"eval_temperature", base.eval.temperature},
                      {"reward", base.countdown.rule == reward::CountdownRule::TinyZero ? "tinyzero" : "lenient"},
                      {"quick", config.quick}};

  // The runs.
  std::vector<RunNumbers> numbers(config.runs.size());
  Json runs = Json::array();
  std::size_t done = 0;
  for (std::size_t i = 0; i < config.runs.size(); ++i) {
    const auto& run = config.runs[i];
    Json r = {{"name", run.name}, {"strategy", run.strategy}, {"seed", run.seed}, {"status", states[i].status},
              {"seconds", states[i].seconds}, {"href", relative_href(run.config.run.out / "metrics.jsonl", config.out)}};
    if (states[i].status == "done") {
      numbers[i] = read_run(run.config.run.out);
      const auto& n = numbers[i];
      if (!n.complete) fail("{}: the run is marked done but its metrics.jsonl holds no evaluation", run.config.run.out.string());
      ++done;
      r["final"] = point_json(n.curve.last);
      r["peak"] = point_json(n.curve.peak);
      r["peak_ema"] = point_json(n.curve.peak_ema);
      r["evaluations"] = n.evaluations;
      r["step_seconds"] = number(n.step_seconds);
      r["attention_seconds"] = number(n.attention_seconds);
      r["share_attention"] = number(n.share_attention);
      r["eval_seconds"] = number(n.eval_seconds);
    }
    runs.push_back(std::move(r));
  }
  data["runs"] = runs;
  data["state"] = done == config.runs.size() ? "done" : "running";
  data["done_runs"] = done;

  // Per strategy: the finished runs of each seed.
  auto finished = [&](const std::string& strategy, std::uint64_t seed) -> const RunNumbers* {
    for (std::size_t i = 0; i < config.runs.size(); ++i)
      if (config.runs[i].strategy == strategy && config.runs[i].seed == seed && numbers[i].complete) return &numbers[i];
    return nullptr;
  };
  const bool have_none = std::find(config.strategies.begin(), config.strategies.end(), "none") != config.strategies.end();
  Json strategies = Json::array();
  Json beats = Json::array(), below = Json::array();
  std::vector<std::string> lines;
  for (const auto& strategy : config.strategies) {
    Json s = {{"name", strategy}, {"paper", paper_countdown_accuracy().value(strategy, Json(nullptr))}};
    std::vector<double> finals, peaks, share, step_s, attention_s;
    std::vector<std::uint64_t> seeds;
    for (auto seed : config.seeds)
      if (const auto* n = finished(strategy, seed)) {
        seeds.push_back(seed);
        finals.push_back(n->curve.last.value);
        peaks.push_back(n->curve.peak.value);
        share.push_back(n->share_attention);
        step_s.push_back(n->step_seconds);
        attention_s.push_back(n->attention_seconds);
      }
    s["seeds"] = seeds;
    if (!finals.empty()) {
      s["final"] = interval_json(t_interval(finals));
      s["peak"] = interval_json(t_interval(peaks));
      s["share_attention"] = number(mean_of(share));
      s["step_seconds"] = number(mean_of(step_s));
      s["attention_seconds"] = number(mean_of(attention_s));
    }
    if (have_none && strategy != "none") {
      std::vector<double> a_final, b_final, a_peak, b_peak;
      std::vector<std::uint64_t> paired;
      for (auto seed : config.seeds) {
        const auto* a = finished(strategy, seed);
        const auto* b = finished("none", seed);
        if (!a || !b) continue;
        paired.push_back(seed);
        a_final.push_back(a->curve.last.value);
        b_final.push_back(b->curve.last.value);
        a_peak.push_back(a->curve.peak.value);
        b_peak.push_back(b->curve.peak.value);
      }
      if (!paired.empty()) {
        const auto final_test = paired_test(a_final, b_final);
        s["vs_none"] = {{"final", paired_json(paired, final_test)}, {"peak", paired_json(paired, paired_test(a_peak, b_peak))}};
        const auto& d = final_test.difference;
        if (final_test.excludes_zero_above()) beats.push_back(strategy);
        if (final_test.excludes_zero_below()) below.push_back(strategy);
        if (d.n > 1)
          lines.push_back(fmt::format("{} {} points (95% interval {} to {}, paired t-test p = {:.3g}, {} of {} seeds higher)",
                                      strategy, percent(d.mean), percent(d.lo), percent(d.hi), final_test.p_value,
                                      final_test.positive, d.n));
        else
          lines.push_back(fmt::format("{} {} points (n=1, no interval)", strategy, percent(d.mean)));
      }
    }
    strategies.push_back(std::move(s));
  }
  data["strategies"] = strategies;

  // The verdict, in words.
  std::string text;
  std::size_t paired_seeds = 0;
  for (const auto& s : strategies)
    if (s.contains("vs_none")) paired_seeds = std::max<std::size_t>(paired_seeds, s["vs_none"]["final"]["n"].get<std::size_t>());
  if (!have_none) {
    text = "The grid has no `none` run, so no strategy is compared with plain GRPO.";
  } else if (lines.empty()) {
    text = "No strategy has a finished run beside a finished `none` run of the same seed yet.";
  } else {
    if (paired_seeds < 2)
      text = "With one seed there is no interval: the differences below cannot be told from noise. ";
    else if (beats.empty())
      text = fmt::format("No strategy beats `none` beyond the noise of {} seeds (every 95% interval of the paired "
                         "difference in final held-out accuracy includes 0 or lies below it). ", paired_seeds);
    else {
      std::string names;
      for (const auto& b : beats) names += (names.empty() ? "" : ", ") + b.get<std::string>();
      text = fmt::format("Beyond the noise of {} seeds, {} beat{} `none` (the 95% interval of the paired difference in "
                         "final held-out accuracy lies above 0). ", paired_seeds, names, beats.size() == 1 ? "s" : "");
    }
    text += "Final accuracy minus none's, per seed pair: ";
    for (std::size_t i = 0; i < lines.size(); ++i) text += (i ? "; " : "") + lines[i];
    text += ". The paper (Countdown, Qwen2.5-3B, TinyZero protocol): GRPO 52.6, random 55.0, entropy 57.7, local 59.9, "
            "global 60.4, coupled 63.1.";
  }
  data["verdict"] = {{"text", text}, {"beats_none", beats}, {"below_none", below}};
  data["paper"] = paper_countdown_accuracy();

  // Curves: per metric and strategy, the mean over the seeds' finished runs at each step and its
  // standard error (null where fewer than 2 seeds have the step).
  Json curves = Json::object();
  for (const auto& metric : curve_metrics()) {
    Json per = Json::object();
    for (const auto& strategy : config.strategies) {
      std::map<std::int64_t, std::vector<double>> at;
      for (auto seed : config.seeds)
        if (const auto* n = finished(strategy, seed)) {
          auto it = n->series.find(metric);
          if (it != n->series.end())
            for (const auto& [step, v] : it->second) at[step].push_back(v);
        }
      if (at.empty()) continue;
      Json c = {{"step", Json::array()}, {"mean", Json::array()}, {"se", Json::array()}, {"n", Json::array()}};
      for (const auto& [step, values] : at) {
        const auto m = t_interval(values);
        c["step"].push_back(step);
        c["mean"].push_back(report_detail::round_significant(m.mean, 6));
        c["se"].push_back(std::isfinite(m.se) ? Json(report_detail::round_significant(m.se, 4)) : Json(nullptr));
        c["n"].push_back(m.n);
      }
      per[strategy] = std::move(c);
    }
    curves[metric] = std::move(per);
  }
  data["curves"] = curves;

  Json analysis = Json::array();
  for (const auto& a : analyses)
    analysis.push_back({{"label", a.label}, {"policy", a.policy}, {"strategy", a.strategy},
                        {"href", relative_href(a.report, config.out)}, {"coupling", a.coupling}});
  data["analysis"] = analysis;
  return data;
}

std::string render_study_page(const Json& data) { return report_detail::render_page("study.html", data); }

void write_study_report(const StudyConfig& config, const Json& data) {
  ensure_directory(config.out);
  write_file_atomic(config.out / "study.json", data.dump(2) + "\n");
  write_file_atomic(config.out / "index.html", render_study_page(data));
}

}  // namespace illume::study
