#include "illume/train/run_folder.h"

#include <fmt/format.h>

#include <map>
#include <set>
#include <string>
#include <system_error>
#include <vector>

#include "illume/util/error.h"

namespace illume::train {
namespace fs = std::filesystem;

namespace {

// Files a run writes at the top of run.out.
bool is_run_file(const std::string& name) {
  return name == "metrics.jsonl" || name == "samples.jsonl" || name == "config.json" || name == "eval_summary.json" ||
         name.rfind("events.out.tfevents.", 0) == 0;
}

// Files illume writes inside checkpoints/ and final/ (model folders, optimiser and trainer state).
bool is_model_folder_file(const std::string& name) {
  for (const char* own : {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                          "optimizer.safetensors", "optimizer.json", "trainer_state.json", "generation_config.json"})
    if (name == own) return true;
  return false;
}

// The first entry under `dir` that illume did not write, or empty.
fs::path foreign_entry(const fs::path& dir) {
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.is_directory()) continue;
    const auto name = entry.path().filename().string();
    // Temporary files of an interrupted atomic write (NAME.tmp.PID...) are ours too.
    const auto base = name.substr(0, name.find(".tmp."));
    if (!entry.is_regular_file() || !is_model_folder_file(base)) return entry.path();
  }
  return {};
}

// What --overwrite does with one entry of a run folder: removes it (a run file, or checkpoints/ or
// final/ holding only illume's files), refuses (`foreign` = the first file illume did not write inside
// checkpoints/ or final/), or keeps it (anything else at the top).
enum class OverwriteEntry { Remove, Foreign, Keep };
OverwriteEntry overwrite_entry(const fs::path& path, fs::path& foreign) {
  const auto name = path.filename().string();
  if (fs::is_directory(path) && (name == "checkpoints" || name == "final")) {
    foreign = foreign_entry(path);
    return foreign.empty() ? OverwriteEntry::Remove : OverwriteEntry::Foreign;
  }
  return fs::is_regular_file(path) && is_run_file(name) ? OverwriteEntry::Remove : OverwriteEntry::Keep;
}

}  // namespace

void prepare_run_folder(const fs::path& out, RunStart start) {
  std::error_code ec;
  if (!fs::exists(out, ec)) return;
  if (!fs::is_directory(out, ec)) fail("{}: run.out exists and is not a folder", out.string());
  if (start == RunStart::Resume) return;
  std::vector<fs::path> entries;
  for (const auto& entry : fs::directory_iterator(out)) entries.push_back(entry.path());
  if (entries.empty()) return;
  if (start == RunStart::Fresh)
    fail("{}: run.out is not empty (holds '{}'); pass --resume to continue that run, --overwrite to start over "
         "(removes only the run's own files), or choose another run.out",
         out.string(), entries.front().filename().string());
  // Overwrite: check everything first, then remove, so that a refusal removes nothing.
  std::vector<fs::path> remove;
  for (const auto& path : entries) {
    fs::path foreign;
    switch (overwrite_entry(path, foreign)) {
      case OverwriteEntry::Remove: remove.push_back(path); break;
      case OverwriteEntry::Foreign:
        fail("{}: holds '{}', which illume did not write; --overwrite removes only a run's own files", out.string(),
             fs::relative(foreign, out).string());
      case OverwriteEntry::Keep: break;
    }
  }
  for (const auto& path : remove) {
    fs::remove_all(path, ec);
    if (ec) fail("{}: cannot remove ({})", path.string(), ec.message());
  }
}

fs::path entry_overwrite_keeps(const fs::path& out) {
  std::error_code ec;
  if (!fs::is_directory(out, ec)) return {};
  for (const auto& entry : fs::directory_iterator(out)) {
    fs::path foreign;
    switch (overwrite_entry(entry.path(), foreign)) {
      case OverwriteEntry::Remove: break;
      case OverwriteEntry::Foreign: return foreign;
      case OverwriteEntry::Keep: return entry.path();
    }
  }
  return {};
}

namespace {

void flatten(const Json& value, const std::string& prefix, std::map<std::string, Json>& out) {
  if (value.is_object() && !value.empty()) {
    for (const auto& [key, child] : value.items()) flatten(child, prefix.empty() ? key : prefix + "." + key, out);
  } else {
    out[prefix] = value;
  }
}

bool under(const std::string& key, const std::string& prefix) {
  return key == prefix || key.rfind(prefix + ".", 0) == 0;
}

}  // namespace

std::vector<std::string> compare_resumed_config(const Json& saved, const Json& current,
                                                const std::vector<std::string>& must_match, const std::string& source) {
  std::map<std::string, Json> before, after;
  flatten(saved, "", before);
  flatten(current, "", after);
  std::set<std::string> keys;
  for (const auto& [key, value] : before) keys.insert(key);
  for (const auto& [key, value] : after) keys.insert(key);
  std::vector<std::string> changes;
  for (const auto& key : keys) {
    if (under(key, "run.out") || under(key, "model.dir")) continue;
    const auto a = before.count(key) ? before.at(key) : Json(), b = after.count(key) ? after.at(key) : Json();
    if (a == b) continue;
    for (const auto& strict : must_match)
      if (under(key, strict))
        fail("{}: the run was started with {} = {}; resuming with {} would change which data the remaining "
             "steps see (start a new run.out, or keep the value)",
             source, key, json_excerpt(a), json_excerpt(b));
    changes.push_back(fmt::format("{}: {} -> {}", key, json_excerpt(a), json_excerpt(b)));
  }
  return changes;
}

}  // namespace illume::train
