#include "illume/report/dashboard.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <system_error>

#include "illume/eval/statistics.h"
#include "illume/util/jsonl.h"
#include "illume/report/page_assets.h"
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
Json read_metrics(const fs::path& path, std::size_t& rows_out) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec))
    fail("{}: missing (a run folder holds the metrics.jsonl that illume train writes)", path.string());
  std::vector<JsonlRow> rows = read_jsonl_rows(path);
  if (rows.empty()) fail("{}: no training steps (the file is empty)", path.string());
  std::set<std::string> keys;
  for (const auto& row : rows) {
    if (!row.value.is_object())
      fail("{}: expected a JSON object (one per training step), found {}", row_source(path, row),
           row.value.type_name());
    for (const auto& [key, value] : row.value.items())
      if (value.is_number()) keys.insert(key);
  }
  keys.erase("step");
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
    reports.push_back({{"label", folder.empty() || folder == "." ? std::string("report") : folder},
                       {"path", path.generic_string()},
                       {"href", href}});
  }
  return reports;
}

Json collect_run(const fs::path& dir, const fs::path& out_html) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) fail("{}: no such run folder", dir.string());
  if (!fs::is_directory(dir, ec)) fail("{}: not a folder (a run folder holds metrics.jsonl)", dir.string());
  Json run = {{"name", run_name(dir)}, {"dir", dir.generic_string()}};
  std::size_t rows = 0;
  run["metrics"] = read_metrics(dir / "metrics.jsonl", rows);
  run["steps"] = rows;
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
