// The training dashboard (illume report): reading run folders, the error messages, and the page itself
// rendered by headless Chromium (every curve panel drawn with ink, no script errors, the eval table, a
// 10,000-step run within the virtual time budget). Lives in tests/torch because the report code is part
// of the `illume` library; it uses no torch. Chromium is found as in test_report_html.cpp
// (chromium_page.h); when it is absent the page tests fail saying so.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "chromium_page.h"
#include "common.h"
#include "illume/report/dashboard.h"
#include "illume/report/page_assets.h"
#include "illume/util/error.h"
#include "illume/util/file.h"
#include "illume/util/json.h"

using namespace illume;
using namespace illume::test;
namespace fs = std::filesystem;

namespace {

#define ILLUME_REQUIRE_CHROMIUM()                                                                       \
  do {                                                                                                 \
    if (!fs::exists(chromium_path())) FAIL() << "chromium is not installed (make deps installs it): " << chromium_path(); \
  } while (0)

void write_text(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out << text;
  ASSERT_TRUE(out.good()) << path;
}

// The synthetic runs' metrics, as functions of the step (1-based) so tests can assert exact values.
double reward_at(int step, int steps, bool coupled) {
  return 0.2 + (coupled ? 0.6 : 0.45) * step / steps + 0.03 * std::sin(step * 1.7);
}

struct RunSpec {
  std::string strategy = "none";
  int steps = 50;
  double pass_before = 0.25, pass_after = 0.3125;
  bool report = true;
  int resumed_from = 0;  // > 0: the run resumed from this step (its log's resume record)
};

// An analysis summary.json as `illume analyze` writes it (coupling statistics, paper Table 2).
Json analysis_summary(double entropy_observed, const std::vector<double>& lift_ci) {
  Json coupling = {
      {"entropy_at_preplan", {{"observed", entropy_observed}, {"random", 0.24}, {"lift", entropy_observed / 0.24 - 1},
                              {"count", 70}, {"description", "..."}, {"lift_ci", lift_ci}}},
      {"receiver_global_cooccurrence", {{"observed", 0.6084}, {"random", 0.2241}, {"lift", 0.6084 / 0.2241 - 1}, {"count", 40}}},
      {"fai_after_waad", {{"observed", 0.5253}, {"random", 0.3687}, {"lift", 0.5253 / 0.3687 - 1}, {"count", 50}}},
      {"responses", 16},
      {"response_tokens", 1074}};
  return {{"coupling", coupling}, {"settings", {{"window", 10}}}};
}

// A run folder as illume train / eval / analyze leave it: metrics.jsonl in the current names
// (docs/metrics.md; one row per step; step 10 lacks "entropy", every row carries a non-numeric "note",
// kl and learning_rate are constant), config.json, eval-before and eval-after, and analysis/report.html
// with its summary.json.
void make_run(const fs::path& dir, const RunSpec& spec) {
  const bool coupled = spec.strategy == "coupled";
  std::string lines;
  for (int s = 1; s <= spec.steps; ++s) {
    double t_attn = coupled ? 0.5 + 0.01 * (s % 7) : 0.0, t_gen = 2.0 + 0.002 * s, t_train = 1.0;
    double total = t_gen + t_attn + t_train;
    Json row = {{"step", s},
                {"reward/mean", reward_at(s, spec.steps, coupled)},
                {"reward/std", 0.1 + 0.02 * std::cos(s * 0.3)},
                {"accuracy", 0.1 + 0.5 * s / spec.steps},
                {"completions/mean_length", 200.0 - 1.5 * s * 50 / spec.steps},
                {"completions/max_length", 400 - s % 13},
                {"entropy", 0.8 - 0.4 * s / spec.steps},
                {"loss", 0.05 * std::sin(s * 0.9)},
                {"clip_ratio/low_mean", 0.01 + 0.002 * (s % 5)},
                {"clip_ratio/high_mean", 0.005 + 0.001 * (s % 3)},
                {"kl", 0.0},
                {"learning_rate", 1e-6},
                {"gamma_mean", coupled ? 1.15 + 0.01 * std::sin(s * 0.5) : 1.0},
                {"gamma_amplified_fraction", coupled ? 0.2 + 0.01 * (s % 3) : 0.0},
                {"timing/generate", t_gen},
                {"timing/attention", t_attn},
                {"timing/update", t_train},
                {"timing/step", total},
                {"share_attention", t_attn / total},
                {"note", "not a number"}};
    if (s == 10) row.erase("entropy");
    if (spec.resumed_from > 0 && s == spec.resumed_from + 1) row["resumed_from_step"] = spec.resumed_from;
    lines += row.dump() + "\n";
  }
  write_text(dir / "metrics.jsonl", lines);
  Json config = {{"model", {{"dir", "models/tiny-0.5b"}, {"device", "cuda"}}},
                 {"optim", {{"lr", 1e-6}, {"batch_size", 64}}},
                 {"rollout", {{"group_size", 8}}},
                 {"credit", {{"strategy", spec.strategy}, {"q", 0.3}}},
                 {"run", {{"steps", spec.steps}, {"seed", 7}}}};
  write_text(dir / "config.json", config.dump(2));
  auto summary = [](double pass1, double avg) {
    return Json{{"task", "countdown"}, {"problems", 200}, {"k", 4}, {"temperature", 0.6}, {"pass@1", pass1},
                {"avg@4", avg}, {"avg@k", avg}, {"pass@4", pass1 + 0.2}, {"response_length_mean", 180.5},
                {"seconds", 12.5}};
  };
  write_text(dir / "eval-before" / "summary.json", summary(spec.pass_before, spec.pass_before - 0.0125).dump(2));
  write_text(dir / "eval-after" / "summary.json", summary(spec.pass_after, spec.pass_after - 0.0125).dump(2));
  fs::create_directories(dir / "eval-unfinished");  // no summary.json: ignored
  if (spec.report) {
    write_text(dir / "analysis" / "report.html", "<!doctype html><title>stub</title>");
    write_text(dir / "analysis" / "summary.json", analysis_summary(coupled ? 0.36 : 0.30, {0.2, 0.8}).dump(2));
  }
}

struct TwoRuns {
  fs::path none, coupled, out_html;
};

TwoRuns make_two_runs(const fs::path& scratch) {
  TwoRuns r{scratch / "runs" / "run-none", scratch / "runs" / "run-coupled", scratch / "out" / "dashboard.html"};
  make_run(r.none, {"none", 50, 0.25, 0.3125, true});
  make_run(r.coupled, {"coupled", 50, 0.25, 0.4375, true, 20});
  return r;
}

// The curve canvases the two synthetic runs fill: 8 main panels + 3 under "More metrics" (loss,
// timing/step, share_attention; reward/std is the reward band, completions/max_length shares the
// length panel; kl and learning_rate are constant, so listed instead of drawn).
const std::vector<std::string> kCanvases = {"cv-reward", "cv-accuracy", "cv-length", "cv-entropy", "cv-gamma_mean",
                                            "cv-gamma_amplified", "cv-clip", "cv-time", "cv-m-loss",
                                            "cv-m-timing/step", "cv-m-share_attention"};

long long ink(const std::string& dom, const std::string& canvas_id) {
  std::string v = dom_attribute(dom, "<canvas class=\"curve\" id=\"" + canvas_id + "\"", "data-ink");
  return v.empty() ? -1 : std::stoll(v);
}




// The text of the DOM between two markers (e.g. one section's HTML).
std::string between(const std::string& dom, const std::string& from, const std::string& to) {
  auto a = dom.find(from);
  if (a == std::string::npos) return "";
  auto b = dom.find(to, a);
  return dom.substr(a, b == std::string::npos ? std::string::npos : b - a);
}

}  // namespace

TEST(Dashboard, CollectsRunFolders) {
  auto dir = test::scratch_dir();
  TwoRuns runs = make_two_runs(dir);
  Json data = collect_runs({runs.none, runs.coupled}, runs.out_html);
  ASSERT_EQ(data["runs"].size(), 2u);
  const Json& a = data["runs"][0];
  const Json& b = data["runs"][1];
  EXPECT_EQ(a["name"], "run-none");
  EXPECT_EQ(b["name"], "run-coupled");
  EXPECT_EQ(a["label"], "none");
  EXPECT_EQ(b["label"], "coupled");
  EXPECT_EQ(a["steps"], 50);
  EXPECT_EQ(b["dir"], runs.coupled.generic_string());

  // Metrics: one column per numeric key, one entry per row; exact values; gaps are null.
  const Json& m = b["metrics"];
  ASSERT_EQ(m["step"].size(), 50u);
  EXPECT_EQ(m["step"][0], 1);
  EXPECT_EQ(m["step"][49], 50);
  EXPECT_DOUBLE_EQ(m["reward/mean"][49].get<double>(), reward_at(50, 50, true));
  EXPECT_DOUBLE_EQ(m["reward/mean"][0].get<double>(), reward_at(1, 50, true));
  EXPECT_GT(m["reward/mean"][49].get<double>(), m["reward/mean"][0].get<double>() + 0.4) << "rising reward";
  EXPECT_DOUBLE_EQ(m["accuracy"][24].get<double>(), 0.1 + 0.5 * 25 / 50);
  EXPECT_TRUE(m["entropy"][9].is_null()) << "step 10 has no entropy";
  EXPECT_DOUBLE_EQ(m["entropy"][10].get<double>(), 0.8 - 0.4 * 11 / 50);
  EXPECT_EQ(m["completions/max_length"][0], 399);
  EXPECT_FALSE(m.contains("note")) << "non-numeric keys are not columns";
  EXPECT_FALSE(m.contains("resumed_from_step")) << "the resume record is not a column";
  EXPECT_EQ(b["resumes"], Json({20}));
  EXPECT_FALSE(a.contains("resumes"));
  EXPECT_EQ(m.size(), 19u) << m.dump().substr(0, 300);  // step + 18 numeric keys
  for (const auto& [key, column] : m.items()) EXPECT_EQ(column.size(), 50u) << key;
  EXPECT_DOUBLE_EQ(a["metrics"]["share_attention"][5].get<double>(), 0.0);

  // Settings from config.json (dotted keys, those present).
  EXPECT_DOUBLE_EQ(b["settings"]["optim.lr"].get<double>(), 1e-6);
  EXPECT_EQ(b["settings"]["rollout.group_size"], 8);
  EXPECT_EQ(b["settings"]["optim.batch_size"], 64);
  EXPECT_EQ(b["settings"]["model.dir"], "models/tiny-0.5b");
  EXPECT_EQ(b["settings"]["run.steps"], 50);
  EXPECT_EQ(b["settings"]["run.seed"], 7);
  EXPECT_EQ(b["settings"].size(), 6u);

  // Evals: eval-LABEL/summary.json; the unfinished eval folder (no summary) is left out.
  ASSERT_EQ(b["evals"].size(), 2u) << b["evals"].dump();
  EXPECT_DOUBLE_EQ(a["evals"]["before"]["pass@1"].get<double>(), 0.25);
  EXPECT_DOUBLE_EQ(a["evals"]["after"]["pass@1"].get<double>(), 0.3125);
  EXPECT_DOUBLE_EQ(b["evals"]["after"]["pass@1"].get<double>(), 0.4375);
  EXPECT_DOUBLE_EQ(b["evals"]["after"]["avg@k"].get<double>(), 0.425);
  EXPECT_DOUBLE_EQ(b["evals"]["after"]["pass@k"].get<double>(), 0.4375 + 0.2) << "pass@k from pass@4";
  EXPECT_EQ(b["evals"]["before"]["k"], 4);
  EXPECT_EQ(b["evals"]["before"]["task"], "countdown");
  EXPECT_FALSE(b["evals"]["before"].contains("seconds"));

  // Report links, relative to the dashboard's folder.
  ASSERT_EQ(a["reports"].size(), 1u);
  EXPECT_EQ(a["reports"][0]["href"], "../runs/run-none/analysis/report.html");
  EXPECT_EQ(a["reports"][0]["label"], "analysis");
  EXPECT_EQ(b["reports"][0]["href"], "../runs/run-coupled/analysis/report.html");
  // The coupling statistics of the summary.json beside a report (the keys the page shows).
  const Json& coupling = b["reports"][0]["coupling"];
  EXPECT_DOUBLE_EQ(coupling["entropy_at_preplan"]["observed"].get<double>(), 0.36);
  EXPECT_EQ(coupling["entropy_at_preplan"]["lift_ci"], Json({0.2, 0.8}));
  EXPECT_FALSE(coupling["entropy_at_preplan"].contains("description"));
  EXPECT_EQ(coupling["responses"], 16);
  EXPECT_DOUBLE_EQ(coupling["fai_after_waad"]["random"].get<double>(), 0.3687);
  // A dashboard written next to the runs links "run-none/analysis/report.html".
  Json beside = collect_runs({runs.none}, dir / "runs" / "dash.html");
  EXPECT_EQ(beside["runs"][0]["reports"][0]["href"], "run-none/analysis/report.html");

  // Optional parts absent: a folder with metrics.jsonl only; a trailing slash still names the run.
  fs::path bare = dir / "bare run";
  write_text(bare / "metrics.jsonl", "{\"reward_mean\": 0.5}\n\n{\"reward_mean\": 0.7}\n");
  write_text(bare / "sub dir" / "report.html", "stub");
  Json only = collect_runs({bare.string() + "/"}, dir / "dash.html");
  const Json& r = only["runs"][0];
  EXPECT_EQ(r["name"], "bare run");
  EXPECT_FALSE(r.contains("label"));
  EXPECT_FALSE(r.contains("settings"));
  EXPECT_FALSE(r.contains("evals"));
  EXPECT_EQ(r["metrics"]["step"], Json({1, 2})) << "rows without a step are numbered from 1";
  EXPECT_EQ(r["reports"][0]["href"], "bare%20run/sub%20dir/report.html");

  // The page embeds the data; the same run twice gets told apart.
  Json twice = collect_runs({runs.none, runs.none}, runs.out_html);
  EXPECT_EQ(twice["runs"][0]["name"], "run-none");
  EXPECT_EQ(twice["runs"][1]["name"], runs.none.generic_string());
  write_dashboard(runs.out_html, data);
  std::string html = read_file(runs.out_html);
  EXPECT_EQ(html, render_dashboard(data));
  EXPECT_EQ(html.find(report_detail::kDataPlaceholder), std::string::npos);
  EXPECT_EQ(count(html, "<script"), 3u);
  EXPECT_EQ(count(html, "</script"), 3u);
}

TEST(Dashboard, PageRendersInChromium) {
  ILLUME_REQUIRE_CHROMIUM();
  auto dir = test::scratch_dir();
  TwoRuns runs = make_two_runs(dir);
  Json data = collect_runs({runs.none, runs.coupled}, runs.out_html);
  data["title"] = "none vs coupled <i>&</i>";
  write_dashboard(runs.out_html, data);
  // #selftest also drives the tooltips, the smoothing control and the legend toggles. A 1280-pixel
  // window: nothing may scroll sideways (the run table used to).
  ChromiumPage run = load_in_chromium(runs.out_html, "#selftest", dir, "--dump-dom", "1280,2000");
  auto problems = page_problems(run, kCanvases.size());
  ASSERT_TRUE(problems.empty()) << join(problems);
  EXPECT_EQ(dom_attribute(run.dom, "<body", "data-selftest"), "ok");
  EXPECT_EQ(dom_attribute(run.dom, "<body", "data-overflow-x"), "0") << "the page is wider than a 1280-pixel window";
  // Constant panels are listed, not drawn.
  EXPECT_EQ(run.dom.find("id=\"cv-m-kl\""), std::string::npos);
  EXPECT_EQ(run.dom.find("id=\"cv-m-learning_rate\""), std::string::npos);
  std::string constants = between(run.dom, "id=\"constants\"", "</div>");
  EXPECT_NE(constants.find("kl=0"), std::string::npos) << constants;
  EXPECT_NE(constants.find("learning_rate=1e-6"), std::string::npos) << constants;
  EXPECT_EQ(constants.find("gamma_mean"), std::string::npos) << "constant in one run only: drawn";
  // The resume of run-coupled (from step 20): one dashed line on each panel with its curves.
  EXPECT_EQ(dom_attribute(run.dom, "<canvas class=\"curve\" id=\"cv-reward\"", "data-resume-lines"), "1");
  EXPECT_NE(between(run.dom, "id=\"runs\"", "</table>").find("resumed from 20"), std::string::npos);
  // Analysis at the top, before the run table, with Table 2's rows of both analyses; the lift
  // intervals [20, 80] exclude 0, so those lifts are marked, the others (no interval) are not judged.
  const auto analysis_at = run.dom.find("id=\"analysis-card\""), runs_at = run.dom.find("id=\"runs\"");
  ASSERT_NE(analysis_at, std::string::npos);
  EXPECT_LT(analysis_at, runs_at);
  EXPECT_EQ(run.dom.find("id=\"analysis-card\" hidden"), std::string::npos);
  std::string coupling = between(run.dom, "id=\"coupling\"", "</table>");
  EXPECT_NE(coupling.find("0.36 <span class=\"muted\">vs</span> 0.24"), std::string::npos) << coupling;
  EXPECT_NE(coupling.find("0.3 <span class=\"muted\">vs</span> 0.24"), std::string::npos) << coupling;
  EXPECT_EQ(count(coupling, "change up\">(+50% [20, 80])"), 1u) << coupling;
  EXPECT_EQ(count(coupling, "<tr>"), 3u) << "a header and one row per analysis";
  // (the page's script also spells the tag, so only the markup before the scripts counts)
  EXPECT_EQ(count(between(run.dom, "<body", "<script id=\"illume-data\""), "<canvas class=\"curve\""), kCanvases.size());
  for (const auto& id : kCanvases) EXPECT_GT(ink(run.dom, id), 200) << id;

  // The eval table: both runs, both labels' pass@1, the change after - before.
  std::string evals = between(run.dom, "id=\"evals\"", "id=\"evals-note\"");
  ASSERT_FALSE(evals.empty());
  EXPECT_NE(evals.find("run-none"), std::string::npos);
  EXPECT_NE(evals.find("run-coupled"), std::string::npos);
  EXPECT_NE(evals.find(">0.3125<"), std::string::npos) << evals;
  EXPECT_NE(evals.find(">0.4375<"), std::string::npos) << evals;
  EXPECT_EQ(count(evals, ">0.25<"), 2u) << "both runs' pass@1 before training";
  EXPECT_NE(evals.find(">+0.0625<"), std::string::npos) << evals;
  EXPECT_NE(evals.find(">+0.1875<"), std::string::npos) << evals;
  // Green only outside the noise: SE = sqrt(p1(1-p1)/200 + p2(1-p2)/200). run-none +0.0625 (SE 0.045)
  // and avg@k +0.0625 stay grey; run-coupled +0.1875 (SE 0.047) is green, for pass@1 and avg@k.
  EXPECT_EQ(count(evals, "change up"), 2u) << evals;
  EXPECT_EQ(count(evals, "change flat"), 2u) << evals;
  EXPECT_EQ(count(evals, "change down"), 0u) << evals;
  EXPECT_NE(evals.find("avg@4"), std::string::npos);
  // Run table, report links, the share of time in attention, the title as text.
  std::string table = between(run.dom, "id=\"runs\"", "</table>");
  EXPECT_NE(table.find(">coupled<"), std::string::npos);
  EXPECT_NE(table.find("models/tiny-0.5b"), std::string::npos);
  EXPECT_NE(run.dom.find("href=\"../runs/run-none/analysis/report.html\""), std::string::npos);
  EXPECT_NE(run.dom.find("href=\"../runs/run-coupled/analysis/report.html\""), std::string::npos);
  EXPECT_NE(run.dom.find("Mean share of step time"), std::string::npos);
  EXPECT_EQ(run.dom.find("<i>&amp;</i>"), std::string::npos);
  EXPECT_NE(run.dom.find("none vs coupled &lt;i&gt;&amp;&lt;/i&gt;"), std::string::npos);
}

namespace {

// The rows `illume train` adds with eval.every = 10 over 50 steps: a row of its own at step 0 (before
// training), and eval/... keys on the rows of steps 10, 20, ..., 50. `accuracy` holds the six values.
void add_training_evaluations(const fs::path& dir, const std::vector<double>& accuracy) {
  auto rows = read_jsonl_file(dir / "metrics.jsonl");
  auto eval_keys = [&](std::size_t i) {
    return Json{{"eval/accuracy", accuracy[i]}, {"eval/mean_length", 40.0 - i}, {"eval/format_rate", 0.5 + 0.1 * i},
                {"eval/reward_mean", accuracy[i] + 0.05}, {"timing/eval", 3.0}};
  };
  Json first = {{"step", 0}};  // (the trainer also logs data_position, which these synthetic rows lack)
  first.update(eval_keys(0));
  std::string lines = first.dump() + "\n";
  for (auto& row : rows) {
    const auto step = row["step"].get<int>();
    if (step % 10 == 0) row.update(eval_keys(static_cast<std::size_t>(step / 10)));
    lines += row.dump() + "\n";
  }
  write_text(dir / "metrics.jsonl", lines);
}

}  // namespace

// In-training evaluation (illume train's eval.every): the eval curves panel and last / peak / peak-EMA
// in the run table, with hand-computed values (EMA alpha 0.5: eval/statistics.h).
TEST(Dashboard, EvalCurvesDuringTrainingInChromium) {
  ILLUME_REQUIRE_CHROMIUM();
  auto dir = test::scratch_dir();
  TwoRuns runs = make_two_runs(dir);
  // none:    0.2 0.5 0.3 0.6 0.1 0.4 -> ema 0.2 0.35 0.325 0.4625 0.28125 0.340625
  // coupled: 0.1 0.7 0.2 0.5 0.5 0.5 -> ema 0.1 0.4 0.3 0.4 0.45 0.475
  add_training_evaluations(runs.none, {0.2, 0.5, 0.3, 0.6, 0.1, 0.4});
  add_training_evaluations(runs.coupled, {0.1, 0.7, 0.2, 0.5, 0.5, 0.5});
  Json data = collect_runs({runs.none, runs.coupled}, runs.out_html);
  const Json& none = data["runs"][0];
  const Json& coupled = data["runs"][1];
  EXPECT_EQ(none["metrics"]["step"][0], 0);
  EXPECT_DOUBLE_EQ(none["metrics"]["eval/accuracy"][0].get<double>(), 0.2);
  EXPECT_TRUE(none["metrics"]["eval/accuracy"][1].is_null()) << "step 1 was not evaluated";
  EXPECT_EQ(none["eval_curve"]["last"], Json({{"step", 50}, {"value", 0.4}}));
  EXPECT_EQ(none["eval_curve"]["peak"], Json({{"step", 30}, {"value", 0.6}}));
  EXPECT_EQ(none["eval_curve"]["peak_ema"]["step"], 30);
  EXPECT_DOUBLE_EQ(none["eval_curve"]["peak_ema"]["value"].get<double>(), 0.4625);
  EXPECT_EQ(coupled["eval_curve"]["peak"], Json({{"step", 10}, {"value", 0.7}}));
  EXPECT_EQ(coupled["eval_curve"]["peak_ema"]["step"], 50);
  EXPECT_DOUBLE_EQ(coupled["eval_curve"]["peak_ema"]["value"].get<double>(), 0.475);
  EXPECT_EQ(coupled["eval_curve"]["points"], 6);
  write_dashboard(runs.out_html, data);

  ChromiumPage run = load_in_chromium(runs.out_html, "#selftest", dir, "--dump-dom");
  // The training panels and the three eval panels; timing/eval is constant (3 s), so listed, not drawn.
  std::vector<std::string> canvases = kCanvases;
  for (const char* id : {"cv-eval", "cv-eval-length", "cv-eval-format"}) canvases.push_back(id);
  auto problems = page_problems(run, canvases.size());
  ASSERT_TRUE(problems.empty()) << join(problems);
  EXPECT_NE(between(run.dom, "id=\"constants\"", "</div>").find("timing/eval=3"), std::string::npos);
  EXPECT_EQ(dom_attribute(run.dom, "<body", "data-selftest"), "ok");
  for (const auto& id : canvases) EXPECT_GT(ink(run.dom, id), 200) << id;
  EXPECT_EQ(run.dom.find("id=\"eval-card\" hidden"), std::string::npos) << "the eval card shows";
  EXPECT_EQ(run.dom.find("id=\"cv-m-eval/"), std::string::npos) << "eval/ keys are drawn once, in the eval card";
  std::string panel = between(run.dom, "id=\"eval-panels\"", "id=\"more-card\"");
  EXPECT_NE(panel.find("peak-EMA <b>0.4625 <span class=\"muted\">@ 30</span>"), std::string::npos) << panel;
  // The run table: last, peak, peak-EMA with their steps; 50 steps logged (the step-0 row is an evaluation).
  std::string table = between(run.dom, "id=\"runs\"", "</table>");
  EXPECT_NE(table.find("eval last / peak / peak-EMA"), std::string::npos);
  const std::string slash = " <span class=\"muted\">/</span> ";
  auto at = [](const char* value, int step) { return std::string(value) + " <span class=\"muted\">@ " + std::to_string(step) + "</span>"; };
  EXPECT_NE(table.find("<td class=\"sep eval-curve\">" + at("0.4", 50) + slash + at("0.6", 30) + slash + at("0.4625", 30) + "</td>"),
            std::string::npos) << table;
  EXPECT_NE(table.find("<td class=\"sep eval-curve\">" + at("0.5", 50) + slash + at("0.7", 10) + slash + at("0.475", 50) + "</td>"),
            std::string::npos) << table;
  EXPECT_EQ(table.find(">51 <span"), std::string::npos) << "the step-0 row counted as a step: " << table;

  // Without evaluations the card stays hidden (the two plain runs above).
  TwoRuns plain = make_two_runs(dir / "plain");
  write_dashboard(plain.out_html, collect_runs({plain.none, plain.coupled}, plain.out_html));
  ChromiumPage bare = load_in_chromium(plain.out_html, "", dir, "--dump-dom");
  ASSERT_TRUE(page_problems(bare, kCanvases.size()).empty()) << join(page_problems(bare, kCanvases.size()));
  EXPECT_NE(bare.dom.find("id=\"eval-card\" hidden"), std::string::npos);
  EXPECT_EQ(between(bare.dom, "id=\"runs\"", "</table>").find("peak-EMA"), std::string::npos);
}

TEST(Dashboard, HostileNamesAreText) {
  ILLUME_REQUIRE_CHROMIUM();
  auto dir = test::scratch_dir();
  fs::path hostile = dir / "runs" / "a<b>x<i>'\"&<!--";
  write_text(hostile / "metrics.jsonl", "{\"step\": 1, \"reward_mean\": 0.5}\n{\"step\": 2, \"reward_mean\": 0.6}\n");
  write_text(hostile / "config.json", "{\"credit\": {\"strategy\": \"<img src=x onerror=alert(1)>\"}}");
  write_text(hostile / "analysis" / "report.html", "stub");
  fs::path html = dir / "dash.html";
  write_dashboard(html, collect_runs({hostile}, html));
  ChromiumPage run = load_in_chromium(html, "#selftest", dir, "--dump-dom");
  auto problems = page_problems(run, 1);
  ASSERT_TRUE(problems.empty()) << join(problems);
  EXPECT_EQ(run.dom.find("<b>x"), std::string::npos);
  EXPECT_EQ(run.dom.find("<i>'"), std::string::npos);
  EXPECT_EQ(run.dom.find("<img"), std::string::npos);
  EXPECT_NE(run.dom.find("a&lt;b&gt;x&lt;i&gt;'\"&amp;&lt;!--"), std::string::npos);
  EXPECT_NE(run.dom.find("href=\"runs/a%3Cb%3Ex%3Ci%3E%27%22%26%3C%21--/analysis/report.html\""), std::string::npos);
  EXPECT_GT(ink(run.dom, "cv-reward"), 20);
}

TEST(Dashboard, BrokenPageIsDetected) {
  ILLUME_REQUIRE_CHROMIUM();
  auto dir = test::scratch_dir();
  TwoRuns runs = make_two_runs(dir);
  std::string page = render_dashboard(collect_runs({runs.none, runs.coupled}, runs.out_html));
  auto at = page.find("'use strict';");
  ASSERT_NE(at, std::string::npos);
  page.insert(at + 13, " undefinedFunctionForTheTest();");
  write_file_atomic(runs.out_html, page);
  ChromiumPage run = load_in_chromium(runs.out_html, "", dir, "--dump-dom");
  ASSERT_FALSE(page_problems(run, kCanvases.size()).empty()) << "a page whose script throws must be reported";
  ASSERT_FALSE(run.console.empty()) << "chromium did not log the uncaught error:\n" << run.stderr_text;
  EXPECT_EQ(dom_attribute(run.dom, "<body", "data-js-errors"), "1");
  EXPECT_EQ(dom_attribute(run.dom, "<body", "data-plots-drawn"), "");
}

TEST(Dashboard, RejectsBadRunFolders) {
  auto dir = test::scratch_dir();
  fs::path out = dir / "dash.html";
  fs::path run = dir / "run";
  fs::create_directories(run);
  auto metrics = run / "metrics.jsonl";

  EXPECT_EQ(error_of([&] { collect_runs({dir / "nope"}, out); }), (dir / "nope").string() + ": no such run folder");
  EXPECT_EQ(error_of([&] { collect_runs({run}, out); }),
            metrics.string() + ": missing (a run folder holds the metrics.jsonl that illume train writes)");

  write_text(metrics, "{\"step\": 1, \"reward_mean\": 0.1}\n{\"step\": 2, \"reward_mean\": 0.2}\n{\"step\": 3, \"reward_mean\": \n");
  std::string message = error_of([&] { collect_runs({run}, out); });
  EXPECT_EQ(message.rfind(metrics.string() + ":3: malformed JSON (", 0), 0u) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << "one line";

  write_text(metrics, "{\"step\": 1}\n[1, 2]\n");
  EXPECT_EQ(error_of([&] { collect_runs({run}, out); }),
            metrics.string() + ":2: expected a JSON object (one per training step), found array");

  write_text(metrics, "");
  EXPECT_EQ(error_of([&] { collect_runs({run}, out); }), metrics.string() + ": no training steps (the file is empty)");
  write_text(metrics, "\n  \n");
  EXPECT_EQ(error_of([&] { collect_runs({run}, out); }), metrics.string() + ": no training steps (the file is empty)");

  // Optional files, when present, must be well-formed.
  write_text(metrics, "{\"step\": 1}\n");
  write_text(run / "config.json", "{\"credit\": ");
  message = error_of([&] { collect_runs({run}, out); });
  EXPECT_EQ(message.rfind((run / "config.json").string() + ": malformed JSON (", 0), 0u) << message;
  write_text(run / "config.json", "[1]");
  EXPECT_EQ(error_of([&] { collect_runs({run}, out); }), (run / "config.json").string() + ": expected a JSON object, found array");
  fs::remove(run / "config.json");
  write_text(run / "eval-after" / "summary.json", "\"text\"");
  EXPECT_EQ(error_of([&] { collect_runs({run}, out); }),
            (run / "eval-after" / "summary.json").string() + ": expected a JSON object, found string");
  fs::remove_all(run / "eval-after");
  EXPECT_EQ(error_of([&] { collect_runs({run}, out); }), "<no error>");
  EXPECT_EQ(error_of([&] { collect_runs({}, out); }), "dashboard: no run folders given");

  // Hand-made data is checked too.
  Json bad = {{"runs", {{{"name", "x"}, {"metrics", {{"step", {1, 2, 3}}, {"reward_mean", {0.1, 0.2}}}}}}}};
  EXPECT_EQ(error_of([&] { render_dashboard(bad); }), "dashboard data: runs[0].metrics.reward_mean has 2 values for 3 steps");
  bad = {{"runs", {{{"name", "x"}, {"metrics", {{"step", {1}}, {"reward_mean", {"high"}}}}}}}};
  EXPECT_EQ(error_of([&] { render_dashboard(bad); }), "dashboard data: runs[0].metrics.reward_mean must hold numbers (found string)");
  EXPECT_EQ(error_of([&] { render_dashboard({{"title", "t"}}); }), "dashboard data: missing key 'runs' (an array)");
  EXPECT_EQ(error_of([&] { render_dashboard({{"runs", {{{"metrics", Json::object()}}}}}); }),
            "dashboard data: runs[0]: missing key 'name' (a string)");
}

TEST(Dashboard, TenThousandStepsRenderInChromium) {
  ILLUME_REQUIRE_CHROMIUM();
  auto dir = test::scratch_dir();
  make_run(dir / "runs" / "long-none", {"none", 10000, 0.25, 0.3, false});
  make_run(dir / "runs" / "long-coupled", {"coupled", 10000, 0.25, 0.41, false});
  fs::path html = dir / "dashboard.html";
  write_dashboard(html, collect_runs({dir / "runs" / "long-none", dir / "runs" / "long-coupled"}, html));
  auto bytes = fs::file_size(html);
  std::cout << "[ report   ] 2 x 10,000 steps: " << bytes / 1024 << " KiB\n";
  EXPECT_LT(bytes, 12u << 20) << "metrics are embedded rounded";
  ChromiumPage run = load_in_chromium(html, "#selftest", dir, "--dump-dom");
  auto problems = page_problems(run, kCanvases.size());
  ASSERT_TRUE(problems.empty()) << join(problems);
  EXPECT_EQ(dom_attribute(run.dom, "<body", "data-selftest"), "ok");
  for (const auto& id : kCanvases) EXPECT_GT(ink(run.dom, id), 200) << id;
  std::string render_ms = dom_attribute(run.dom, "<body", "data-render-ms");
  std::cout << "[ report   ] dashboard of 2 x 10,000 steps drawn (with the self-test) in " << render_ms
            << " ms (page clock)\n";
  ASSERT_FALSE(render_ms.empty());
  EXPECT_LT(std::stoll(render_ms), 10000) << "the page took longer than the virtual time budget";
}

TEST(Dashboard, Cli) {
  auto dir = test::scratch_dir();
  TwoRuns runs = make_two_runs(dir);
  RunResult help = run_illume({"report", "--help"});
  EXPECT_EQ(help.status, 0) << help.err;
  EXPECT_NE(help.out.find("--runs"), std::string::npos) << help.out;
  RunResult ok = run_illume({"report", "--runs", runs.none.string(), runs.coupled.string(), "--out",
                             runs.out_html.string(), "--title", "CLI check"});
  ASSERT_EQ(ok.status, 0) << ok.err;
  EXPECT_EQ(ok.out, runs.out_html.string() + "\n");
  std::string html = read_file(runs.out_html);
  EXPECT_NE(html.find("\"title\":\"CLI check\""), std::string::npos);
  EXPECT_NE(html.find("\"name\":\"run-coupled\""), std::string::npos);
  RunResult bad = run_illume({"report", "--runs", (dir / "nope").string(), "--out", (dir / "x.html").string()});
  EXPECT_EQ(bad.status, 1);
  EXPECT_EQ(bad.err, "illume: error: " + (dir / "nope").string() + ": no such run folder\n");
  EXPECT_FALSE(fs::exists(dir / "x.html"));
  RunResult usage = run_illume({"report", "--out", (dir / "x.html").string()});
  EXPECT_NE(usage.status, 0);
  EXPECT_NE(usage.err.find("--runs"), std::string::npos) << "--runs is required: " << usage.err;
}

// Runs written before the TRL metric names (train/metric_names.h): a GRPO run's and an SFT run's
// metrics.jsonl in the old names are read in the new ones, values as logged except the one complement
// (informative_group_fraction -> frac_reward_zero_std = 1 - it).
TEST(Dashboard, OldRunsAreReadInTheNewMetricNames) {
  auto dir = test::scratch_dir();
  const Json old_grpo = {{"step", 1}, {"reward_mean", 0.4}, {"reward_std", 0.3}, {"accuracy", 0.25},
                         {"response_length_mean", 75.5}, {"response_length_max", 128}, {"truncated_fraction", 0.05},
                         {"informative_group_fraction", 0.875}, {"clip_fraction", 0.003}, {"kl_ref", 0.0},
                         {"grad_norm_mean", 0.31}, {"lr", 5e-05}, {"time_generate_seconds", 1.9},
                         {"time_score_seconds", 0.001}, {"time_old_logprobs_seconds", 1.7}, {"time_attention_seconds", 0.02},
                         {"time_train_seconds", 4.8}, {"time_step_seconds", 8.4}, {"time_eval_seconds", 3.0},
                         {"share_attention", 0.002}, {"entropy", 0.19}, {"gamma_mean", 1.0}};
  Json second = old_grpo;
  second["step"] = 2;
  second["reward_mean"] = 0.5;
  write_text(dir / "grpo" / "metrics.jsonl", old_grpo.dump() + "\n" + second.dump() + "\n");
  write_text(dir / "sft" / "metrics.jsonl",
             "{\"step\": 1, \"loss\": 2.5, \"lr\": 0.003, \"grad_norm\": 1.5, \"tokens\": 4096, \"time_train_seconds\": 1.25}\n"
             "{\"step\": 2, \"loss\": 2.0, \"lr\": 0.003, \"grad_norm\": 1.2, \"tokens\": 8192, \"time_train_seconds\": 2.5, "
             "\"eval_loss\": 2.1, \"accuracy\": 0.125, \"response_length\": 60.5}\n");
  Json data = collect_runs({dir / "grpo", dir / "sft"}, dir / "dash.html");
  const Json& grpo = data["runs"][0]["metrics"];
  const std::vector<std::pair<const char*, double>> expected = {
      {"reward/mean", 0.4}, {"reward/std", 0.3}, {"accuracy", 0.25}, {"completions/mean_length", 75.5},
      {"completions/max_length", 128}, {"completions/clipped_ratio", 0.05}, {"frac_reward_zero_std", 0.125},
      {"clip_ratio/region_mean", 0.003}, {"kl", 0.0}, {"grad_norm", 0.31}, {"learning_rate", 5e-05},
      {"timing/generate", 1.9}, {"timing/score", 0.001}, {"timing/old_logprobs", 1.7}, {"timing/attention", 0.02},
      {"timing/update", 4.8}, {"timing/step", 8.4}, {"timing/eval", 3.0}, {"share_attention", 0.002}, {"entropy", 0.19}};
  for (const auto& [key, value] : expected) {
    ASSERT_TRUE(grpo.contains(key)) << key << " in " << grpo.dump().substr(0, 400);
    EXPECT_DOUBLE_EQ(grpo[key][0].get<double>(), value) << key;
  }
  EXPECT_DOUBLE_EQ(grpo["reward/mean"][1].get<double>(), 0.5);
  for (const char* old_name : {"reward_mean", "informative_group_fraction", "clip_fraction", "kl_ref", "lr",
                               "time_step_seconds", "time_eval_seconds", "grad_norm_mean"})
    EXPECT_FALSE(grpo.contains(old_name)) << old_name;
  EXPECT_EQ(grpo.size(), expected.size() + 2) << "step and gamma_mean besides";
  const Json& sft = data["runs"][1]["metrics"];
  EXPECT_DOUBLE_EQ(sft["learning_rate"][0].get<double>(), 0.003);
  EXPECT_EQ(sft["num_tokens"][1], 8192);
  EXPECT_TRUE(sft["eval/accuracy"][0].is_null());
  EXPECT_DOUBLE_EQ(sft["eval/accuracy"][1].get<double>(), 0.125);
  EXPECT_DOUBLE_EQ(sft["eval/mean_length"][1].get<double>(), 60.5);
  EXPECT_DOUBLE_EQ(sft["time_train_seconds"][1].get<double>(), 2.5) << "SFT's cumulative seconds keep their name";
  for (const char* old_name : {"lr", "tokens", "accuracy", "response_length"}) EXPECT_FALSE(sft.contains(old_name)) << old_name;
  EXPECT_EQ(data["runs"][1]["eval_curve"]["last"], Json({{"step", 2}, {"value", 0.125}}));
}

// A change inside the noise is not coloured. Run "noisy": reward/mean alternates 0.3 / 0.5 for 30
// steps; windows of 3 steps (10%, at least 3): first 0.3 0.5 0.3, last 0.5 0.3 0.5, change +0.0667;
// each window's SE = sd / sqrt(3) = 0.0667, combined 0.0943: |change| < 2 SE, grey. Run "rising":
// 0.2 + 0.01 step, change +0.27 with SE 0.0082: green.
TEST(Dashboard, ChangesInsideTheNoiseStayGrey) {
  ILLUME_REQUIRE_CHROMIUM();
  auto dir = test::scratch_dir();
  std::string noisy, rising;
  for (int s = 1; s <= 30; ++s) {
    noisy += Json{{"step", s}, {"reward/mean", s % 2 ? 0.3 : 0.5}, {"reward/std", 0.4}}.dump() + "\n";
    rising += Json{{"step", s}, {"reward/mean", 0.2 + 0.01 * s}, {"reward/std", 0.4}}.dump() + "\n";
  }
  write_text(dir / "noisy" / "metrics.jsonl", noisy);
  write_text(dir / "rising" / "metrics.jsonl", rising);
  write_text(dir / "rising" / "config.json", Json{{"optim", {{"batch_size", 64}}}}.dump());
  fs::path html = dir / "dash.html";
  write_dashboard(html, collect_runs({dir / "noisy", dir / "rising"}, html));
  ChromiumPage run = load_in_chromium(html, "#selftest", dir, "--dump-dom", "1280,2000");
  auto problems = page_problems(run, 1);
  ASSERT_TRUE(problems.empty()) << join(problems);
  std::string table = between(run.dom, "id=\"runs\"", "</table>");
  EXPECT_NE(table.find("<td class=\"change flat\">+0.06667 <span class=\"muted\">± 0.09428</span>"), std::string::npos) << table;
  EXPECT_NE(table.find("<td class=\"change up\">+0.27"), std::string::npos) << table;
  EXPECT_EQ(count(table, "change up"), 1u) << table;
  EXPECT_NE(run.dom.find("exceeds twice its standard error"), std::string::npos) << "the caption says how";
}
