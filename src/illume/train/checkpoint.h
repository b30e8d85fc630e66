// One checkpoint layout for every trainer (SFT and GRPO), so that `--resume` of either reads the other's:
//
//   OUT/checkpoints/step-NNNNNN/
//     config.json, model.safetensors          the model: a Hugging Face folder, loadable as a model
//     tokenizer.json, tokenizer_config.json   copied from the run's tokenizer folder
//     optimizer.safetensors                   AdamW moments by parameter name (adamw.h)
//     trainer_state.json                      TrainerState below
//
//   OUT/checkpoints/best/                     the policy of the best in-training evaluation so far
//     config.json, model.safetensors, tokenizer files, trainer_state.json (details.eval: which
//     evaluation); no optimiser: it is for evaluation and export. It is not a step-* folder, so
//     --resume never picks it and pruning never deletes it.
//
// Every folder is written to a hidden temporary folder beside it and then renamed, so a folder named
// step-* that holds trainer_state.json is complete. The same writer makes final/ and an export folder;
// it never replaces a folder that holds files illume does not write (a mistyped path cannot wipe
// someone's data).
#pragma once
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "illume/util/json.h"

namespace illume {
class Model;
}

namespace illume::train {

class AdamW;

enum class TrainerKind { Sft, Grpo };
const char* trainer_kind_name(TrainerKind kind);  // "sft", "grpo"

// trainer_state.json. Every random stream is derived from (seed, step) or (seed, epoch)
// (util/random.h), so the step and the data position are all a resumed run needs.
struct TrainerState {
  TrainerKind trainer = TrainerKind::Grpo;
  std::int64_t step = 0;           // trainer steps completed
  std::int64_t data_position = 0;  // training items consumed (SFT: examples; GRPO: problems)
  std::uint64_t seed = 0;
  Json details = Json::object();   // trainer-specific (SFT: tokens_seen; GRPO: the resolved config)
};
Json trainer_state_to_json(const TrainerState& state);
// Fails naming the file when it is not a trainer_state.json.
TrainerState read_trainer_state(const std::filesystem::path& checkpoint_dir);

std::string checkpoint_name(std::int64_t step);  // "step-000042"
// The complete checkpoints under OUT/checkpoints, oldest first.
std::vector<std::filesystem::path> list_checkpoints(const std::filesystem::path& out_dir);
std::optional<std::filesystem::path> newest_checkpoint(const std::filesystem::path& out_dir);
// "the last checkpoint is step-000040 (rerun with --resume)" or "no checkpoint was written", for messages.
std::string last_checkpoint_note(const std::filesystem::path& out_dir);
// Removes all but the newest `keep` (at least 1).
void prune_checkpoints(const std::filesystem::path& out_dir, std::int64_t keep);

// tokenizer.json and tokenizer_config.json, where present.
void copy_tokenizer_files(const std::filesystem::path& from, const std::filesystem::path& to);

// Fills a fresh temporary folder beside DIR, then puts it in DIR's place. An existing DIR is replaced
// only when every entry in it is a file illume writes into model folders and checkpoints; otherwise
// it fails naming DIR and the first foreign entry.
void write_folder_atomic(const std::filesystem::path& dir, const std::function<void(const std::filesystem::path&)>& fill);

// A model folder (final/, an export): config.json + model.safetensors in `dtype` + the tokenizer files.
void save_model_folder(const std::filesystem::path& dir, const Model& model, c10::ScalarType dtype,
                       const std::filesystem::path& tokenizer_dir);

// Writes OUT/checkpoints/step-NNNNNN (weights in float32) and prunes to `keep`. Returns the folder.
std::filesystem::path save_checkpoint(const std::filesystem::path& out_dir, const Model& model, const AdamW& optimizer,
                                      const std::filesystem::path& tokenizer_dir, const TrainerState& state,
                                      std::int64_t keep);

// OUT/checkpoints/best, and the writer of it (weights in float32, like the step checkpoints).
std::filesystem::path best_checkpoint_dir(const std::filesystem::path& out_dir);
std::filesystem::path save_best_checkpoint(const std::filesystem::path& out_dir, const Model& model,
                                           const std::filesystem::path& tokenizer_dir, const TrainerState& state);
// The state of OUT/checkpoints/best when there is a complete one.
std::optional<TrainerState> read_best_checkpoint_state(const std::filesystem::path& out_dir);

// Loads the optimiser moments of a checkpoint into `optimizer` when they fit its model (same parameter
// names and shapes); otherwise leaves it fresh. Returns a line for the log saying which.
std::string load_optimizer_state(AdamW& optimizer, const std::filesystem::path& checkpoint_dir);

}  // namespace illume::train
