#include "illume/train/checkpoint.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <string_view>
#include <system_error>

#include "illume/model/model.h"
#include "illume/train/adamw.h"
#include "illume/util/error.h"
#include "illume/util/file.h"

namespace illume::train {
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kStatePrefix = "step-";
constexpr const char* kStateFile = "trainer_state.json";

// The files illume writes into model folders and checkpoints (and older illume versions wrote).
constexpr std::array<std::string_view, 8> kOwnFiles = {
    "config.json",     "model.safetensors", "tokenizer.json",    "tokenizer_config.json",
    "optimizer.safetensors", "optimizer.json", "trainer_state.json", "generation_config.json"};

bool is_own_file(const fs::directory_entry& entry) {
  const auto name = entry.path().filename().string();
  return entry.is_regular_file() && std::find(kOwnFiles.begin(), kOwnFiles.end(), name) != kOwnFiles.end();
}

fs::path sibling(const fs::path& dir, const char* suffix) {
  return dir.parent_path() / ("." + dir.filename().string() + suffix);
}

void remove_or_fail(const fs::path& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
  if (ec) fail("{}: cannot remove ({})", path.string(), ec.message());
}

void rename_or_fail(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::rename(from, to, ec);
  if (ec) fail("{}: cannot rename to {} ({})", from.string(), to.string(), ec.message());
}

}  // namespace

const char* trainer_kind_name(TrainerKind kind) { return kind == TrainerKind::Sft ? "sft" : "grpo"; }

Json trainer_state_to_json(const TrainerState& s) {
  return {{"trainer", trainer_kind_name(s.trainer)},
          {"step", s.step},
          {"data_position", s.data_position},
          {"seed", s.seed},
          {"rng", "every random stream is derived from (seed, step) or (seed, epoch); nothing else to store"},
          {"details", s.details}};
}

TrainerState read_trainer_state(const fs::path& checkpoint_dir) {
  const auto path = checkpoint_dir / kStateFile;
  const auto source = path.string();
  auto j = read_json_file(path);
  if (!j.is_object()) fail("{}: not a JSON object", source);
  TrainerState s;
  const auto trainer = json_get<std::string>(j, "trainer", source);
  if (trainer == "sft") s.trainer = TrainerKind::Sft;
  else if (trainer == "grpo") s.trainer = TrainerKind::Grpo;
  else fail("{}: unknown trainer '{}' (sft or grpo)", source, trainer);
  s.step = json_get<std::int64_t>(j, "step", source);
  s.data_position = json_get<std::int64_t>(j, "data_position", source);
  s.seed = json_get<std::uint64_t>(j, "seed", source);
  if (s.step < 0 || s.data_position < 0) fail("{}: step and data_position must be >= 0", source);
  if (j.contains("details")) s.details = j.at("details");
  return s;
}

std::string checkpoint_name(std::int64_t step) { return fmt::format("{}{:06d}", kStatePrefix, step); }

std::vector<fs::path> list_checkpoints(const fs::path& out_dir) {
  std::vector<fs::path> out;
  const auto root = out_dir / "checkpoints";
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return out;
  for (const auto& entry : fs::directory_iterator(root)) {
    const auto name = entry.path().filename().string();
    if (entry.is_directory() && name.rfind(kStatePrefix, 0) == 0 && fs::exists(entry.path() / kStateFile))
      out.push_back(entry.path());
  }
  // Zero-padded steps sort as numbers (a step past 999999 has more digits: compare lengths first).
  std::sort(out.begin(), out.end(), [](const fs::path& a, const fs::path& b) {
    const auto x = a.filename().string(), y = b.filename().string();
    return x.size() != y.size() ? x.size() < y.size() : x < y;
  });
  return out;
}

std::optional<fs::path> newest_checkpoint(const fs::path& out_dir) {
  auto all = list_checkpoints(out_dir);
  if (all.empty()) return std::nullopt;
  return all.back();
}

std::string last_checkpoint_note(const fs::path& out_dir) {
  const auto newest = newest_checkpoint(out_dir);
  if (!newest) return "no checkpoint was written";
  return fmt::format("the last checkpoint is {} (rerun with --resume)", newest->string());
}

void prune_checkpoints(const fs::path& out_dir, std::int64_t keep) {
  auto all = list_checkpoints(out_dir);
  const auto kept = static_cast<std::size_t>(std::max<std::int64_t>(keep, 1));
  for (std::size_t i = 0; i + kept < all.size(); ++i) remove_or_fail(all[i]);
}

void copy_tokenizer_files(const fs::path& from, const fs::path& to) {
  for (const char* name : {"tokenizer.json", "tokenizer_config.json"})
    if (fs::exists(from / name)) write_file_atomic(to / name, read_file(from / name));
}

void write_folder_atomic(const fs::path& dir, const std::function<void(const fs::path&)>& fill) {
  std::error_code ec;
  const bool exists = fs::exists(dir, ec);
  if (exists) {
    if (!fs::is_directory(dir, ec)) fail("{}: exists and is not a folder; refusing to replace it", dir.string());
    for (const auto& entry : fs::directory_iterator(dir))
      if (!is_own_file(entry))
        fail("{}: holds '{}', which illume did not write; refusing to replace the folder (choose another path)",
             dir.string(), entry.path().filename().string());
  }
  const auto tmp = sibling(dir, ".tmp");
  remove_or_fail(tmp);
  ensure_directory(tmp);
  fill(tmp);
  if (exists) {
    // Move the old folder aside first, so that a crash leaves one of the two complete folders.
    const auto old = sibling(dir, ".old");
    remove_or_fail(old);
    rename_or_fail(dir, old);
    rename_or_fail(tmp, dir);
    remove_or_fail(old);
  } else {
    rename_or_fail(tmp, dir);
  }
}

void save_model_folder(const fs::path& dir, const Model& model, c10::ScalarType dtype, const fs::path& tokenizer_dir) {
  write_folder_atomic(dir, [&](const fs::path& tmp) {
    model.save(tmp, dtype);
    copy_tokenizer_files(tokenizer_dir, tmp);
  });
}

fs::path save_checkpoint(const fs::path& out_dir, const Model& model, const AdamW& optimizer, const fs::path& tokenizer_dir,
                         const TrainerState& state, std::int64_t keep) {
  const auto root = out_dir / "checkpoints";
  ensure_directory(root);
  const auto dir = root / checkpoint_name(state.step);
  write_folder_atomic(dir, [&](const fs::path& tmp) {
    model.save(tmp, c10::kFloat);
    copy_tokenizer_files(tokenizer_dir, tmp);
    optimizer.save(tmp / "optimizer.safetensors");
    // Last: its presence marks the folder complete.
    write_file_atomic(tmp / kStateFile, trainer_state_to_json(state).dump(2) + "\n");
  });
  prune_checkpoints(out_dir, keep);
  return dir;
}

fs::path best_checkpoint_dir(const fs::path& out_dir) { return out_dir / "checkpoints" / "best"; }

fs::path save_best_checkpoint(const fs::path& out_dir, const Model& model, const fs::path& tokenizer_dir,
                              const TrainerState& state) {
  ensure_directory(out_dir / "checkpoints");
  const auto dir = best_checkpoint_dir(out_dir);
  write_folder_atomic(dir, [&](const fs::path& tmp) {
    model.save(tmp, c10::kFloat);
    copy_tokenizer_files(tokenizer_dir, tmp);
    write_file_atomic(tmp / kStateFile, trainer_state_to_json(state).dump(2) + "\n");
  });
  return dir;
}

std::optional<TrainerState> read_best_checkpoint_state(const fs::path& out_dir) {
  const auto dir = best_checkpoint_dir(out_dir);
  std::error_code ec;
  if (!fs::is_regular_file(dir / kStateFile, ec)) return std::nullopt;
  return read_trainer_state(dir);
}

std::string load_optimizer_state(AdamW& optimizer, const fs::path& checkpoint_dir) {
  const auto path = checkpoint_dir / "optimizer.safetensors";
  if (!fs::exists(path)) return fmt::format("{}: missing; the optimiser starts fresh", path.string());
  auto why = optimizer.load(path);
  if (why.empty()) return fmt::format("optimiser state loaded ({} steps)", optimizer.steps());
  return fmt::format("{}: {}; the optimiser starts fresh", path.string(), why);
}

}  // namespace illume::train
