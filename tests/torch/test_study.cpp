// `illume study` end to end (src/illume/study/study.h): a 2 x 2 grid (none and coupled x seeds 0 and
// 1, two steps each) on the default model, through the CLI as a user runs it. The report's numbers
// (study.json) are checked against the runs' own metrics.jsonl and against the t interval and paired
// differences computed here by hand; an interrupted run is resumed without redoing the finished ones;
// the page renders in headless Chromium at 1280 px; bad configs fail in one line naming the file.
#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <map>

#include "chromium_page.h"
#include "common.h"
#include "illume/study/study_config.h"
#include "illume/study/study_report.h"
#include "illume/util/build_paths.h"
#include "illume/util/config.h"
#include "illume/util/file.h"
#include "illume/util/json.h"

using namespace illume;
namespace fs = std::filesystem;

namespace {

fs::path source_path(const char* relative) { return fs::path(::illume::build::source_dir()) / relative; }

// A study config of the CI-sized grid: JSON text, which is YAML.
Json quick_study(const fs::path& out) {
  const auto shared = test::shared_dir() / "data" / "countdown";
  return {{"study", {{"strategies", {"none", "coupled"}}, {"seeds", {0, 1}}, {"out", out.string()},
                     {"analysis", {{"policies", "first-seed"}, {"responses", 2}}}}},
          {"model", {{"dir", source_path("models/illume-countdown-tiny").string()}}},
          {"data", {{"task", "countdown"}, {"path", (shared / "train.jsonl").string()}, {"prompt_style", "chat"}}},
          {"rollout", {{"group_size", 2}, {"max_response_tokens", 48}}},
          {"optim", {{"batch_size", 4}, {"micro_batch_size", 4}, {"lr", 5e-5}}},
          {"credit", {{"strategy", "none"}}},
          {"run", {{"out", (out / "unused").string()}, {"steps", 2}, {"save_every", 1}, {"keep_checkpoints", 2},
                   {"progress", false}, {"tensorboard", false}, {"log_samples", 2}}},
          {"eval", {{"every", 2}, {"data", (shared / "test.jsonl").string()}, {"limit", 6}, {"max_new_tokens", 48}}}};
}

fs::path write_config(const fs::path& path, const Json& config) {
  write_file_atomic(path, config.dump(2) + "\n");
  return path;
}

// The eval/accuracy rows of a run's metrics.jsonl, by step.
std::map<std::int64_t, double> eval_rows(const fs::path& run) {
  std::map<std::int64_t, double> out;
  for (const auto& row : read_jsonl_file(run / "metrics.jsonl"))
    if (row.contains("eval/accuracy")) out[row["step"].get<std::int64_t>()] = row["eval/accuracy"].get<double>();
  return out;
}

const Json& find_named(const Json& list, const std::string& name) {
  for (const auto& item : list)
    if (item["name"] == name) return item;
  static const Json none;
  return none;
}

std::vector<std::string> first_step_problems(const fs::path& run) {
  std::vector<std::string> ids;
  for (const auto& row : read_jsonl_file(run / "samples.jsonl"))
    if (row["step"] == 1) ids.push_back(row["problem"].dump());
  return ids;
}

bool one_line(const std::string& err) {
  auto trimmed = err.substr(0, err.find_last_not_of('\n') + 1);
  return !trimmed.empty() && trimmed.find('\n') == std::string::npos;
}

}  // namespace

TEST(Study, QuickGridMatchesTheRunsAndResumes) {
  ILLUME_REQUIRE_SHARED_PATH("data/countdown/test.jsonl");
  const auto dir = test::scratch_dir();
  const auto out = dir / "study";
  const auto config = write_config(dir / "study.yaml", quick_study(out));

  auto r = test::run_illume({"study", "--config", config.string()});
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  for (const char* line : {"study: run 1/4 none-s0", "study: run 4/4 coupled-s1 done", "ETA", "study: done"})
    EXPECT_NE(r.out.find(line), std::string::npos) << line << "\n" << r.out;

  // Each run's numbers are its metrics.jsonl's.
  const auto study = read_json_file(out / "study.json");
  EXPECT_EQ(study["state"], "done");
  std::map<std::string, double> final_accuracy, peak_accuracy;
  for (const char* name : {"none-s0", "coupled-s0", "none-s1", "coupled-s1"}) {
    const auto& run = find_named(study["runs"], name);
    ASSERT_TRUE(run.is_object()) << name;
    EXPECT_EQ(run["status"], "done");
    const auto rows = eval_rows(out / "runs" / name);
    ASSERT_EQ(rows.size(), 2u) << name;  // steps 0 and 2
    double peak = -1;
    for (const auto& [step, value] : rows) peak = std::max(peak, value);
    EXPECT_EQ(run["final"]["step"], 2);
    EXPECT_DOUBLE_EQ(run["final"]["value"].get<double>(), rows.at(2)) << name;
    EXPECT_DOUBLE_EQ(run["peak"]["value"].get<double>(), peak) << name;
    final_accuracy[name] = rows.at(2);
    peak_accuracy[name] = peak;
    // The trainer's own summary agrees.
    EXPECT_DOUBLE_EQ(read_json_file(out / "runs" / name / "eval_summary.json")["last"]["value"].get<double>(), rows.at(2));
  }
  // Per strategy: the mean over seeds and the t interval with t(0.975, 1) = 12.7062 (n = 2).
  const double t1 = 12.706204736174698;
  for (const char* strategy : {"none", "coupled"}) {
    const auto& s = find_named(study["strategies"], strategy);
    const double a = final_accuracy[std::string(strategy) + "-s0"], b = final_accuracy[std::string(strategy) + "-s1"];
    const double mean = (a + b) / 2, sd = std::abs(a - b) / std::sqrt(2.0);
    EXPECT_NEAR(s["final"]["mean"].get<double>(), mean, 1e-12) << strategy;
    EXPECT_EQ(s["final"]["n"], 2);
    EXPECT_NEAR(s["final"]["lo"].get<double>(), mean - t1 * sd / std::sqrt(2.0), 1e-9) << strategy;
    EXPECT_NEAR(s["final"]["hi"].get<double>(), mean + t1 * sd / std::sqrt(2.0), 1e-9) << strategy;
    EXPECT_NEAR(s["peak"]["mean"].get<double>(),
                (peak_accuracy[std::string(strategy) + "-s0"] + peak_accuracy[std::string(strategy) + "-s1"]) / 2, 1e-12);
  }
  // The paired differences to none, seed by seed.
  const auto& vs = find_named(study["strategies"], "coupled")["vs_none"]["final"];
  ASSERT_TRUE(vs.is_object());
  EXPECT_EQ(vs["seeds"], Json({0, 1}));
  EXPECT_NEAR(vs["differences"][0].get<double>(), final_accuracy["coupled-s0"] - final_accuracy["none-s0"], 1e-12);
  EXPECT_NEAR(vs["differences"][1].get<double>(), final_accuracy["coupled-s1"] - final_accuracy["none-s1"], 1e-12);
  EXPECT_EQ(vs["positive"].get<int>() + vs["negative"].get<int>() + vs["ties"].get<int>(), 2);
  EXPECT_FALSE(find_named(study["strategies"], "none").contains("vs_none"));
  EXPECT_NE(study["verdict"]["text"].get<std::string>().find("coupled 63.1"), std::string::npos);
  // The attention pass runs for coupled only.
  EXPECT_GT(find_named(study["strategies"], "coupled")["share_attention"].get<double>(), 0.0);
  EXPECT_LT(find_named(study["strategies"], "none")["share_attention"].get<double>(), 1e-3);
  // Curves: eval/accuracy at steps 0 and 2, mean over the two seeds.
  const auto& curve = study["curves"]["eval/accuracy"]["none"];
  EXPECT_EQ(curve["step"], Json({0, 2}));
  EXPECT_NEAR(curve["mean"][1].get<double>(), (final_accuracy["none-s0"] + final_accuracy["none-s1"]) / 2, 1e-5);
  // Table 2 of the start and each strategy's first-seed policy.
  ASSERT_EQ(study["analysis"].size(), 3u);
  EXPECT_EQ(study["analysis"][0]["policy"], "start");
  for (const auto& a : study["analysis"]) {
    EXPECT_TRUE(a["coupling"].contains("entropy_at_preplan")) << a.dump();
    EXPECT_TRUE(fs::exists(out / a["href"].get<std::string>())) << a["href"];
  }
  // The same prompts per seed across strategies, other prompts for another seed.
  EXPECT_EQ(first_step_problems(out / "runs" / "none-s0"), first_step_problems(out / "runs" / "coupled-s0"));
  EXPECT_NE(first_step_problems(out / "runs" / "none-s0"), first_step_problems(out / "runs" / "none-s1"));

  // The page: every curve panel drawn, no script error, nothing wider than a 1280-pixel window.
  {
    if (!fs::exists(test::chromium_path())) FAIL() << "chromium is not installed (make deps installs it)";
    auto page = test::load_in_chromium(out / "index.html", "", dir, "--dump-dom", "1280,2000");
    EXPECT_TRUE(test::page_problems(page, 5).empty()) << test::join(test::page_problems(page, 5));
    EXPECT_EQ(test::dom_attribute(page.dom, "<body", "data-overflow-x"), "0");
    EXPECT_NE(page.dom.find("coupled-s1"), std::string::npos);
  }

  // A second fresh start refuses the folder, in one line.
  auto again = test::run_illume({"study", "--config", config.string()});
  EXPECT_EQ(again.status, 1);
  EXPECT_NE(again.err.find("--resume"), std::string::npos) << again.err;
  EXPECT_TRUE(one_line(again.err)) << again.err;

  // An interrupted study: coupled-s1 lost its last step (its final checkpoint and the study's record).
  std::map<std::string, fs::file_time_type> mtimes;
  for (const char* name : {"none-s0", "coupled-s0", "none-s1"}) mtimes[name] = fs::last_write_time(out / "runs" / name / "metrics.jsonl");
  const auto interrupted = out / "runs" / "coupled-s1";
  ASSERT_TRUE(fs::exists(interrupted / "checkpoints" / "step-000001"));
  fs::remove_all(interrupted / "checkpoints" / "step-000002");
  auto resumed = test::run_illume({"study", "--config", config.string(), "--resume"});
  ASSERT_EQ(resumed.status, 0) << resumed.out << resumed.err;
  EXPECT_NE(resumed.out.find("3 of 4 runs finished earlier"), std::string::npos) << resumed.out;
  EXPECT_NE(resumed.out.find("coupled-s1 (credit coupled, seed 1) resumes at step 1"), std::string::npos) << resumed.out;
  EXPECT_EQ(resumed.out.find("run 1/4 none-s0 (credit"), std::string::npos) << resumed.out;
  for (const auto& [name, time] : mtimes)
    EXPECT_EQ(fs::last_write_time(out / "runs" / name / "metrics.jsonl"), time) << name << " was redone";
  // The resumed run continued from step 1 and ends where the uninterrupted one ended.
  const auto rows = read_jsonl_file(interrupted / "metrics.jsonl");
  bool resume_marked = false;
  for (const auto& row : rows) resume_marked |= row.value("resumed_from_step", -1) == 1;
  EXPECT_TRUE(resume_marked);
  EXPECT_DOUBLE_EQ(eval_rows(interrupted).at(2), final_accuracy["coupled-s1"]);
  const auto after = read_json_file(out / "study.json");
  EXPECT_EQ(after["state"], "done");
  EXPECT_DOUBLE_EQ(find_named(after["runs"], "coupled-s1")["final"]["value"].get<double>(), final_accuracy["coupled-s1"]);

  // Resuming with another recipe would mix experiments: refused, naming the run's config and the key.
  auto changed = test::run_illume({"study", "--config", config.string(), "--resume", "optim.lr=1e-4"});
  EXPECT_EQ(changed.status, 1);
  EXPECT_NE(changed.err.find("none-s0/config.json: the run was made with other settings"), std::string::npos) << changed.err;
  EXPECT_NE(changed.err.find("optim.lr"), std::string::npos) << changed.err;
  EXPECT_TRUE(one_line(changed.err)) << changed.err;
  fs::remove_all(dir);
}

TEST(Study, BadConfigsFailInOneLineNamingTheFile) {
  ILLUME_REQUIRE_SHARED_PATH("data/countdown/test.jsonl");
  const auto dir = test::scratch_dir();
  const auto base = quick_study(dir / "study");
  auto expect_failure = [&](const std::string& name, Json config, const std::string& needle,
                            std::vector<std::string> extra = {}) {
    const auto path = write_config(dir / (name + ".yaml"), config);
    std::vector<std::string> args = {"study", "--config", path.string()};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = test::run_illume(args);
    EXPECT_EQ(r.status, 1) << name << ": " << r.out << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << name << ": " << r.err;
    EXPECT_TRUE(one_line(r.err)) << name << ": " << r.err;
    return r.err;
  };
  auto config = base;
  config["study"]["colour"] = "blue";
  auto err = expect_failure("unknown-key", config, "unknown key 'study.colour'");
  EXPECT_NE(err.find("unknown-key.yaml"), std::string::npos) << err;
  config = base;
  config["rollout"]["groupsize"] = 4;
  expect_failure("unknown-recipe-key", config, "unknown key 'rollout.groupsize'");
  config = base;
  config["study"]["strategies"] = {"none", "copuled"};
  err = expect_failure("unknown-strategy", config, "unknown credit strategy 'copuled'");
  EXPECT_NE(err.find("unknown-strategy.yaml: key 'study.strategies'"), std::string::npos) << err;
  config = base;
  config["study"]["strategies"] = Json::array();
  expect_failure("no-strategies", config, "key 'study.strategies' is empty");
  config = base;
  config["study"]["seeds"] = Json::array();
  expect_failure("no-seeds", config, "key 'study.seeds' is empty");
  config = base;
  config["study"]["seeds"] = {0, 0};
  expect_failure("repeated-seed", config, "lists 0 twice");
  config = base;
  config["eval"]["every"] = 0;
  expect_failure("no-eval", config, "key 'eval.every' must be > 0");
  config = base;
  config.erase("study");
  expect_failure("no-study", config, "missing key 'study'");
  expect_failure("no-quick", base, "--quick needs a 'study.quick' section", {"--quick"});
  expect_failure("bad-override", base, "override 'study.seeds=[-1]'", {"study.seeds=[-1]"});
  // --overwrite removes only a study's own files.
  fs::create_directories(dir / "study");
  write_file_atomic(dir / "study" / "notes.txt", "mine\n");
  expect_failure("foreign-file", base, "holds 'notes.txt', which illume study did not write", {"--overwrite"});
  EXPECT_TRUE(fs::exists(dir / "study" / "notes.txt"));
  // Inside a run folder too: the study removes run folders whole, so a file no run writes there is
  // refused before anything is removed (another run's files stay as well).
  fs::remove(dir / "study" / "notes.txt");
  fs::create_directories(dir / "study" / "runs" / "none-s0");
  fs::create_directories(dir / "study" / "runs" / "coupled-s0");
  write_file_atomic(dir / "study" / "runs" / "none-s0" / "metrics.jsonl", "{}\n");
  write_file_atomic(dir / "study" / "runs" / "coupled-s0" / "notes.txt", "mine\n");
  expect_failure("foreign-run-file", base, "holds 'notes.txt', which illume did not write", {"--overwrite"});
  EXPECT_TRUE(fs::exists(dir / "study" / "runs" / "coupled-s0" / "notes.txt"));
  EXPECT_TRUE(fs::exists(dir / "study" / "runs" / "none-s0" / "metrics.jsonl"));
  fs::remove_all(dir);
}

TEST(Study, QuickFlagAppliesTheConfigsQuickGrid) {
  auto r = test::run_illume({"study", "--config", source_path("configs/study-countdown.yaml").string(), "--quick",
                             "--print-config", "study.seeds=[3]"});
  ASSERT_EQ(r.status, 0) << r.err;
  const auto printed = Json::parse(r.out);
  EXPECT_EQ(printed["study"]["strategies"], Json({"none", "coupled"}));
  EXPECT_EQ(printed["study"]["seeds"], Json({3}));  // the command line wins over study.quick
  EXPECT_EQ(printed["recipe"]["run"]["steps"], 2);
  EXPECT_EQ(printed["runs"], Json({"none-s3", "coupled-s3"}));
  // study.quick's relative paths resolve against the config's folder, like the file's own.
  EXPECT_EQ(fs::weakly_canonical(printed["study"]["out"].get<std::string>()), fs::weakly_canonical(source_path("runs/study-quick")));
  auto full = test::run_illume({"study", "--print-config"});
  ASSERT_EQ(full.status, 0) << full.err;
  EXPECT_EQ(Json::parse(full.out)["runs"].size(), 18u);  // the default grid: 6 strategies x 3 seeds
}

// The report's statistics and verdict from hand-written run folders (no training): 3 seeds where
// coupled ends 9-11 points above none and random within a point or two of it.
//   coupled - none = {0.10, 0.09, 0.11}: mean 0.10, sd 0.01, se 0.01/sqrt(3); t = 17.3205,
//     p = 2 (1 - F_2(t)) = 1 - t / sqrt(t^2 + 2) = 0.0033168; 95% interval 0.10 -+ 4.302653 se
//     = [0.075159, 0.124841]: above 0, so coupled beats none.
//   random - none = {0.01, -0.02, 0.01}: mean 0, p = 1, 2 above and 1 below: within the noise.
TEST(Study, ReportStatisticsAndVerdictFromHandWrittenRuns) {
  ILLUME_REQUIRE_SHARED_PATH("data/countdown/test.jsonl");
  const auto dir = test::scratch_dir();
  auto json = quick_study(dir / "study");
  json["study"]["strategies"] = {"none", "random", "coupled"};
  json["study"]["seeds"] = {0, 1, 2};
  const auto config = study::read_study_config(config_tree(json, "hand.yaml"));
  const std::map<std::string, std::vector<double>> finals = {
      {"none", {0.30, 0.32, 0.28}}, {"random", {0.31, 0.30, 0.29}}, {"coupled", {0.40, 0.41, 0.39}}};
  std::vector<study::RunState> states;
  for (const auto& run : config.runs) {
    const double final_accuracy = finals.at(run.strategy)[run.seed];
    std::string rows = dump_line(Json{{"step", 0}, {"eval/accuracy", 0.25}}) + "\n";
    rows += dump_line(Json{{"step", 1}, {"reward/mean", 0.2}, {"timing/step", 2.0}, {"timing/attention", 0.1},
                           {"share_attention", 0.05}}) + "\n";
    rows += dump_line(Json{{"step", 2}, {"reward/mean", 0.3}, {"timing/step", 4.0}, {"timing/attention", 0.1},
                           {"share_attention", 0.025}, {"eval/accuracy", final_accuracy}}) + "\n";
    fs::create_directories(run.config.run.out);
    write_file_atomic(run.config.run.out / "metrics.jsonl", rows);
    states.push_back({"done", 10.0});
  }
  const auto data = study::summarize_study(config, states, {}, 1.0);
  EXPECT_EQ(data["state"], "done");
  const auto& coupled = find_named(data["strategies"], "coupled");
  EXPECT_NEAR(coupled["final"]["mean"].get<double>(), 0.40, 1e-12);
  EXPECT_NEAR(coupled["final"]["sd"].get<double>(), 0.01, 1e-12);
  EXPECT_NEAR(coupled["peak"]["mean"].get<double>(), 0.40, 1e-12);  // above the step-0 0.25
  const auto& vs = coupled["vs_none"]["final"];
  EXPECT_NEAR(vs["mean"].get<double>(), 0.10, 1e-12);
  EXPECT_NEAR(vs["t"].get<double>(), 17.320508075688767, 1e-6);
  EXPECT_NEAR(vs["p"].get<double>(), 0.0033167587223568162, 1e-9);
  EXPECT_NEAR(vs["lo"].get<double>(), 0.07515862288249668, 1e-9);
  EXPECT_NEAR(vs["hi"].get<double>(), 0.1248413771175033, 1e-9);
  EXPECT_EQ(vs["positive"], 3);
  EXPECT_DOUBLE_EQ(vs["sign_p"].get<double>(), 0.25);
  EXPECT_EQ(vs["verdict"], "above none beyond the noise");
  const auto& random = find_named(data["strategies"], "random")["vs_none"]["final"];
  EXPECT_NEAR(random["mean"].get<double>(), 0.0, 1e-12);
  EXPECT_NEAR(random["p"].get<double>(), 1.0, 1e-9);
  EXPECT_EQ(random["positive"], 2);
  EXPECT_EQ(random["negative"], 1);
  EXPECT_EQ(random["verdict"], "within the noise (the interval includes 0)");
  EXPECT_EQ(data["verdict"]["beats_none"], Json({"coupled"}));
  const auto text = data["verdict"]["text"].get<std::string>();
  EXPECT_NE(text.find("Beyond the noise of 3 seeds, coupled beats `none`"), std::string::npos) << text;
  EXPECT_NE(text.find("coupled +10.0 points (95% interval +7.5 to +12.5"), std::string::npos) << text;
  // Time: the mean step and the attention share over the training rows.
  EXPECT_NEAR(coupled["step_seconds"].get<double>(), 3.0, 1e-12);
  EXPECT_NEAR(coupled["share_attention"].get<double>(), 0.0375, 1e-12);
  // Curves: reward/mean at steps 1 and 2, mean over seeds, standard error 0 (equal seeds).
  EXPECT_EQ(data["curves"]["reward/mean"]["none"]["step"], Json({1, 2}));
  EXPECT_NEAR(data["curves"]["eval/accuracy"]["coupled"]["mean"][1].get<double>(), 0.40, 1e-9);
  EXPECT_NEAR(data["curves"]["eval/accuracy"]["coupled"]["se"][1].get<double>(), 0.01 / std::sqrt(3.0), 1e-5);
  // One seed: a mean and no interval, said as n=1.
  auto one = json;
  one["study"]["seeds"] = {0};
  const auto single = study::read_study_config(config_tree(one, "one.yaml"));
  const auto one_data = study::summarize_study(single, std::vector<study::RunState>(single.runs.size(), {"done", 1.0}), {}, 1.0);
  const auto& single_coupled = find_named(one_data["strategies"], "coupled");
  EXPECT_TRUE(single_coupled["final"]["lo"].is_null());
  EXPECT_EQ(single_coupled["vs_none"]["final"]["verdict"], "n=1: no interval");
  EXPECT_NE(one_data["verdict"]["text"].get<std::string>().find("With one seed there is no interval"), std::string::npos);
  fs::remove_all(dir);
}
