#include "illume/report/dashboard.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <system_error>

#include "illume/eval/statistics.h"
#include "illume/report/page_assets.h"
#include "illume/train/metric_names.h"
#include "illume/util/jsonl.h"
#include "illume/util/error.h"
#include "illume/util/file.h"
#include "illume/util/json.h"

namespace illume {
namespace {

namespace fs = std::filesystem;
constexpr const char* kSource = "dashboard data";

// The settings shown in the run table, as dotted paths into config.json.
constexpr const char* kSettingKeys[] = {"model.dir", "optim.lr", "rollout.group_size", "optim.batch_size",
                                        "run.steps", "run.seed"};
// The eval summary keys copied into the data (pass@k is handled apart: eval writes "pass@K").
constexpr const char* kEvalKeys[] = {"task", "problems", "k", "temperature", "pass@1", "avg@k", "pass@k",
                                     "response_length_mean"};
// The coupling statistics of an analysis (its summary.json "coupling": paper Table 2's rows) and the
// keys of each row copied into the data.
constexpr const char* kCouplingRows[] = {"entropy_at_preplan", "receiver_global_cooccurrence", "fai_after_waad"};
constexpr const char* kCouplingKeys[] = {"observed", "random", "lift", "lift_ci", "verdict", "count"};
// Sample completions embedded per run: those of the last few steps that logged any, and at most this
// many tokens of each (the page is meant to open quickly; samples.jsonl holds them all).
constexpr std::size_t kSampleSteps = 3;
constexpr std::size_t kSampleTokens = 1500;

// ---------- reading run folders ----------

std::string run_name(const fs::path& dir) {
  fs::path p = fs::absolute(dir).lexically_normal();
  if (p.filename().empty() && p.has_parent_path()) p = p.parent_path();
  std::string name = p.filename().string();
  return name.empty() ? p.string() : name;
}

const Json* dotted(const Json& object, const std::string& path) {
  const Json* at = &object;
  std::size_t start = 0;
  while (true) {
    std::size_t dot = path.find('.', start);
    std::string key = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!at->is_object()) return nullptr;
    auto it = at->find(key);
    if (it == at->end() || it->is_null()) return nullptr;
    at = &*it;
    if (dot == std::string::npos) return at;
    start = dot + 1;
  }
}

// metrics.jsonl -> {"step": [...], key: [...]} (columns of the numeric keys; null where a row lacks one).
// Rows of runs written before the TRL metric names are read in the new names (train/metric_names.h).
// The resume records (resumed_from_step) go to `resumes` (the steps, ascending, once each), not into
// a column.
Json read_metrics(const fs::path& path, std::size_t& rows_out, Json& resumes) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec))
    fail("{}: missing (a run folder holds the metrics.jsonl that illume train writes)", path.string());
  std::vector<JsonlRow> rows = read_jsonl_rows(path);
  if (rows.empty()) fail("{}: no training steps (the file is empty)", path.string());
  std::set<std::string> keys;
  std::set<double> resumed;
  for (auto& row : rows) {
    if (!row.value.is_object())
      fail("{}: expected a JSON object (one per training step), found {}", row_source(path, row),
           row.value.type_name());
    train::upgrade_metrics_row(row.value);
    if (auto it = row.value.find(train::kResumedFromStep); it != row.value.end()) {
      if (it->is_number()) resumed.insert(it->get<double>());
      row.value.erase(it);
    }
    for (const auto& [key, value] : row.value.items())
      if (value.is_number()) keys.insert(key);
  }
  keys.erase("step");
  resumes = Json::array();
  for (double step : resumed) resumes.push_back(step);
  Json metrics = Json::object();
  Json steps = Json::array();
  for (std::size_t i = 0; i < rows.size(); ++i) {
    auto it = rows[i].value.find("step");
    steps.push_back(it != rows[i].value.end() && it->is_number() ? *it : Json(i + 1));
  }
  metrics["step"] = std::move(steps);
  for (const auto& key : keys) {
    Json column = Json::array();
    for (const auto& row : rows) {
      auto it = row.value.find(key);
      column.push_back(it != row.value.end() && it->is_number() ? *it : Json(nullptr));
    }
    metrics[key] = std::move(column);
  }
  rows_out = rows.size();
  return metrics;
}

// The in-training evaluation's last, peak and peak-EMA accuracy (eval/statistics.h, the numbers
// eval_summary.json holds), from the eval/accuracy column; null when the run has none.
Json eval_curve(const Json& metrics, const fs::path& path) {
  auto column = metrics.find("eval/accuracy");
  if (column == metrics.end()) return nullptr;
  const Json& steps = metrics.at("step");
  std::vector<eval::CurvePoint> points;
  for (std::size_t i = 0; i < column->size(); ++i)
    if ((*column)[i].is_number() && steps[i].is_number())
      points.push_back({steps[i].get<std::int64_t>(), (*column)[i].get<double>()});
  if (points.empty()) return nullptr;
  try {
    return eval::curve_summary_json(eval::summarize_curve(points));
  } catch (const Error& e) {
    fail("{}: {}", path.string(), e.what());
  }
}

Json read_object_file(const fs::path& path) {
  Json value = read_json_file(path);
  if (!value.is_object()) fail("{}: expected a JSON object, found {}", path.string(), value.type_name());
  return value;
}

Json eval_summary(const fs::path& path) {
  Json summary = read_object_file(path);
  Json out = Json::object();
  for (const char* key : kEvalKeys) {
    auto it = summary.find(key);
    if (it != summary.end() && !it->is_null()) out[key] = *it;
  }
  if (!out.contains("pass@k")) {
    auto k = summary.find("k");
    if (k != summary.end() && k->is_number_integer()) {
      auto it = summary.find("pass@" + std::to_string(k->get<long long>()));
      if (it != summary.end() && !it->is_null()) out["pass@k"] = *it;
    }
  }
  return out;
}

// A relative path as a URL: every byte but unreserved characters and '/' percent-encoded.
std::string url_path(const std::string& path) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : path) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '/') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

fs::path canonical_or_absolute(const fs::path& p) {
  std::error_code ec;
  fs::path out = fs::weakly_canonical(fs::absolute(p), ec);
  return ec ? fs::absolute(p).lexically_normal() : out;
}

// The coupling statistics of the analysis in `folder` (its summary.json, `illume analyze`), the keys
// the page shows; null when there is none.
Json analysis_coupling(const fs::path& folder) {
  const fs::path path = folder / "summary.json";
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return nullptr;
  Json summary = read_object_file(path);
  auto coupling = summary.find("coupling");
  if (coupling == summary.end() || !coupling->is_object()) return nullptr;
  Json out = Json::object();
  for (const char* row : kCouplingRows) {
    auto it = coupling->find(row);
    if (it == coupling->end() || !it->is_object()) continue;
    Json entry = Json::object();
    for (const char* key : kCouplingKeys)
      if (auto v = it->find(key); v != it->end() && !v->is_null()) entry[key] = *v;
    out[row] = std::move(entry);
  }
  for (const char* key : {"responses", "response_tokens"})
    if (auto v = coupling->find(key); v != coupling->end() && v->is_number()) out[key] = *v;
  return out.empty() ? Json(nullptr) : out;
}

Json find_reports(const fs::path& dir, const fs::path& out_html) {
  std::vector<fs::path> found;
  const fs::path self = canonical_or_absolute(out_html);
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end;
  if (ec) fail("{}: cannot list the folder ({})", dir.string(), ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) fail("{}: cannot list the folder ({})", dir.string(), ec.message());
    std::error_code file_ec;
    if (it->path().filename() == "report.html" && it->is_regular_file(file_ec) &&
        canonical_or_absolute(it->path()) != self)
      found.push_back(it->path());
  }
  if (ec) fail("{}: cannot list the folder ({})", dir.string(), ec.message());
  std::sort(found.begin(), found.end());
  fs::path out_dir = out_html.parent_path().empty() ? fs::path(".") : out_html.parent_path();
  const fs::path base = canonical_or_absolute(out_dir);
  const fs::path root = canonical_or_absolute(dir);
  Json reports = Json::array();
  for (const auto& path : found) {
    std::string folder = canonical_or_absolute(path.parent_path()).lexically_relative(root).generic_string();
    fs::path target = canonical_or_absolute(path);
    fs::path rel = target.lexically_relative(base);
    std::string href = rel.empty() ? "file://" + url_path(target.generic_string()) : url_path(rel.generic_string());
    Json report = {{"label", folder.empty() || folder == "." ? std::string("report") : folder},
                   {"path", path.generic_string()},
                   {"href", href}};
    if (Json coupling = analysis_coupling(path.parent_path()); !coupling.is_null()) report["coupling"] = std::move(coupling);
    reports.push_back(std::move(report));
  }
  return reports;
}

// The last kSampleSteps steps of OUT/samples.jsonl (the trainer's sample completions, grpo_trainer.h),
// latest step first; tokens past kSampleTokens are cut (the row says how many there were). Only the
// file's tail is parsed, so a long run's file costs little. A half last line (a run killed mid-write)
// is skipped, as the trainer's resume drops it.
Json read_samples(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return nullptr;
  const std::string text = read_file(path);
  // Where each complete line starts (a last line without its newline is a half line).
  std::vector<std::size_t> starts;
  for (std::size_t at = 0; at < text.size();) {
    const std::size_t newline = text.find('\n', at);
    if (newline == std::string::npos) break;
    starts.push_back(at);
    at = newline + 1;
  }
  Json samples = Json::array();
  std::set<std::int64_t> steps;
  for (std::size_t i = starts.size(); i-- > 0;) {
    const std::size_t begin = starts[i], end = text.find('\n', begin);
    const std::string_view row_text(text.data() + begin, end - begin);
    if (row_text.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    const std::string source = path.string() + ":" + std::to_string(i + 1);
    Json row = parse_json(row_text, source);
    if (!row.is_object()) fail("{}: expected a JSON object (one sample completion), found {}", source, row.type_name());
    const auto step = json_get_or<std::int64_t>(row, "step", 0, source);
    if (!steps.count(step) && steps.size() == kSampleSteps) break;
    steps.insert(step);
    for (const char* key : {"tokens", "gamma"})
      if (auto it = row.find(key); it != row.end() && it->is_array() && it->size() > kSampleTokens) {
        row["token_count"] = it->size();
        it->erase(it->begin() + static_cast<std::ptrdiff_t>(kSampleTokens), it->end());
      }
    samples.push_back(std::move(row));
  }
  // Latest step first; within a step, the file's order.
  std::reverse(samples.begin(), samples.end());
  std::stable_sort(samples.begin(), samples.end(), [](const Json& a, const Json& b) {
    return a.value("step", 0LL) > b.value("step", 0LL);
  });
  return samples;
}

Json collect_run(const fs::path& dir, const fs::path& out_html) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) fail("{}: no such run folder", dir.string());
  if (!fs::is_directory(dir, ec)) fail("{}: not a folder (a run folder holds metrics.jsonl)", dir.string());
  Json run = {{"name", run_name(dir)}, {"dir", dir.generic_string()}};
  std::size_t rows = 0;
  Json resumes;
  run["metrics"] = read_metrics(dir / "metrics.jsonl", rows, resumes);
  run["steps"] = rows;
  if (!resumes.empty()) run["resumes"] = std::move(resumes);
  if (Json samples = read_samples(dir / "samples.jsonl"); !samples.is_null() && !samples.empty())
    run["samples"] = std::move(samples);
  if (Json curve = eval_curve(run["metrics"], dir / "metrics.jsonl"); !curve.is_null()) run["eval_curve"] = std::move(curve);

  fs::path config_path = dir / "config.json";
  if (fs::is_regular_file(config_path, ec)) {
    Json config = read_object_file(config_path);
    if (const Json* strategy = dotted(config, "credit.strategy"); strategy != nullptr && strategy->is_string())
      run["label"] = *strategy;
    Json settings = Json::object();
    for (const char* key : kSettingKeys)
      if (const Json* v = dotted(config, key); v != nullptr && !v->is_object()) settings[key] = *v;
    // Insertion order is lost in nlohmann's std::map; the page shows kSettingKeys' order.
    run["settings"] = std::move(settings);
  }

  Json evals = Json::object();
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::string folder = it->path().filename().string();
    std::error_code entry_ec;
    if (folder.rfind("eval-", 0) != 0 || !it->is_directory(entry_ec)) continue;
    fs::path summary = it->path() / "summary.json";
    if (!fs::is_regular_file(summary, entry_ec)) continue;  // an eval still running, or never finished
    std::string label = folder.size() > 5 ? folder.substr(5) : folder;
    evals[label] = eval_summary(summary);
  }
  if (ec) fail("{}: cannot list the folder ({})", dir.string(), ec.message());
  if (!evals.empty()) run["evals"] = std::move(evals);

  Json reports = find_reports(dir, out_html);
  if (!reports.empty()) run["reports"] = std::move(reports);
  return run;
}

// ---------- checking and preparing the data ----------

using report_detail::round_significant;

Json prepared(const Json& data) {
  check(data.is_object(), "{}: expected a JSON object", kSource);
  Json out = data;
  if (auto t = out.find("title"); t != out.end() && !t->is_null())
    check(t->is_string(), "{}: title must be a string", kSource);
  auto runs = out.find("runs");
  check(runs != out.end() && runs->is_array(), "{}: missing key 'runs' (an array)", kSource);
  for (std::size_t i = 0; i < runs->size(); ++i) {
    Json& run = (*runs)[i];
    check(run.is_object(), "{}: runs[{}] must be an object", kSource, i);
    auto name = run.find("name");
    check(name != run.end() && name->is_string(), "{}: runs[{}]: missing key 'name' (a string)", kSource, i);
    auto metrics = run.find("metrics");
    check(metrics != run.end() && metrics->is_object(), "{}: runs[{}]: missing key 'metrics' (an object of columns)",
          kSource, i);
    auto step = metrics->find("step");
    check(step != metrics->end() && step->is_array(), "{}: runs[{}].metrics: missing key 'step' (an array)", kSource,
          i);
    const std::size_t n = step->size();
    for (auto& [key, column] : metrics->items()) {
      check(column.is_array(), "{}: runs[{}].metrics.{} must be an array", kSource, i, key);
      check(column.size() == n, "{}: runs[{}].metrics.{} has {} values for {} steps", kSource, i, key, column.size(),
            n);
      for (auto& v : column) {
        check(v.is_number() || v.is_null(), "{}: runs[{}].metrics.{} must hold numbers (found {})", kSource, i, key,
              v.type_name());
        if (v.is_number_float()) {
          double d = v.get<double>();
          v = std::isfinite(d) ? Json(round_significant(d, 5)) : Json(nullptr);
        }
      }
    }
    if (auto evals = run.find("evals"); evals != run.end() && !evals->is_null()) {
      check(evals->is_object(), "{}: runs[{}].evals must be an object (label -> summary)", kSource, i);
      for (const auto& [label, summary] : evals->items())
        check(summary.is_object(), "{}: runs[{}].evals.{} must be an object", kSource, i, label);
    }
    if (auto resumes = run.find("resumes"); resumes != run.end() && !resumes->is_null()) {
      check(resumes->is_array(), "{}: runs[{}].resumes must be an array of steps", kSource, i);
      for (const auto& v : *resumes) check(v.is_number(), "{}: runs[{}].resumes must hold numbers", kSource, i);
    }
    if (auto samples = run.find("samples"); samples != run.end() && !samples->is_null()) {
      check(samples->is_array(), "{}: runs[{}].samples must be an array", kSource, i);
      for (const auto& sample : *samples) check(sample.is_object(), "{}: runs[{}].samples must hold objects", kSource, i);
    }
    if (auto curve = run.find("eval_curve"); curve != run.end() && !curve->is_null())
      check(curve->is_object(), "{}: runs[{}].eval_curve must be an object", kSource, i);
    if (auto reports = run.find("reports"); reports != run.end() && !reports->is_null()) {
      check(reports->is_array(), "{}: runs[{}].reports must be an array", kSource, i);
      for (const auto& r : *reports) {
        auto href = r.is_object() ? r.find("href") : r.end();
        check(r.is_object() && href != r.end() && href->is_string(),
              "{}: runs[{}].reports must hold objects with an 'href' string", kSource, i);
      }
    }
  }
  return out;
}

}  // namespace

Json collect_runs(const std::vector<fs::path>& run_dirs, const fs::path& out_html) {
  if (run_dirs.empty()) fail("dashboard: no run folders given");
  Json runs = Json::array();
  std::map<std::string, int> seen;
  for (const auto& dir : run_dirs) {
    Json run = collect_run(dir, out_html);
    // Two folders of the same name (runs/a/seed1, runs/b/seed1) are told apart by the path as given.
    if (seen[run["name"].get<std::string>()]++ > 0) run["name"] = dir.generic_string();
    runs.push_back(std::move(run));
  }
  return {{"runs", std::move(runs)}};
}

std::string render_dashboard(const Json& data) {
  return report_detail::render_page("dashboard.html", prepared(data));
}

void write_dashboard(const fs::path& out_html, const Json& data) {
  write_file_atomic(out_html, render_dashboard(data));  // creates the parent folder
}

}  // namespace illume
