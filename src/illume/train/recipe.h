// The recipe sections that both trainers share (`illume train`: GRPO, train_config.h; `illume sft`:
// sft.h), read through one ConfigReader so that one concept has one key, one type, one default rule
// and one message in both:
//   model:  dir (a Hugging Face folder), device (cpu | cuda | cuda:N), dtype (f32 | bf16 | f16)
//   data:   path (JSONL), prompt_style (plain | chat), limit (first N rows; 0 = all)
//   optim:  lr, weight_decay, betas [beta1, beta2], adam_eps, grad_clip (<= 0: off)
//   run:    out (folder), steps, seed, save_every (0 = at the end only), keep_checkpoints, progress,
//           tensorboard (events files beside metrics.jsonl)
// A trainer extends a section with its own keys (a struct deriving from the shared one, read from
// the same section reader before finish()); the other sections stay in the trainer's own reader.
// Enumerations are typed here, so a typo fails while the recipe is read, before any model loads.
// Paths come back absolute (ConfigReader::get_path): relative to the recipe's folder.
#pragma once
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "illume/data/tasks.h"
#include "illume/util/config.h"

namespace illume::train {

struct ModelSection {
  std::filesystem::path dir;
  c10::Device device{c10::kCPU};
  c10::ScalarType dtype = c10::kFloat;  // compute dtype; the weights convert once at load
};

struct DataSection {
  std::filesystem::path path;
  data::PromptStyle prompt_style = data::PromptStyle::Plain;
  std::int64_t limit = 0;  // 0 = all rows
};

// AdamW (the defaults are PyTorch's, with the paper's GRPO learning rate).
struct OptimSection {
  double lr = 1e-6;
  double weight_decay = 0.0;
  double beta1 = 0.9, beta2 = 0.999;
  double adam_eps = 1e-8;
  double grad_clip = 1.0;  // global gradient-norm clip; <= 0: off
};

struct RunSection {
  std::filesystem::path out;
  std::int64_t steps = 500;
  std::uint64_t seed = 0;
  std::int64_t save_every = 50;  // 0 = only at the end
  std::int64_t keep_checkpoints = 2;
  bool progress = true;
  bool tensorboard = true;  // OUT/events.out.tfevents.* beside metrics.jsonl (run_log.h)
};

// Each reads its section's shared keys into `section` (its current values are the defaults) and
// checks each value; the caller reads its own keys from the same reader, calls finish(), and then
// checks what is required (run.out, in both) and what depends on several keys, so that an unknown
// (or retired) key is reported before a missing one.
void read_model_section(ConfigReader& reader, ModelSection& section);
void read_data_section(ConfigReader& reader, DataSection& section);
void read_optim_section(ConfigReader& reader, OptimSection& section);
void read_run_section(ConfigReader& reader, RunSection& section);

// The resolved sections (absolute paths; an empty path is null), for --print-config and config.json.
Json section_json(const ModelSection& section);
Json section_json(const DataSection& section);
Json section_json(const OptimSection& section);
Json section_json(const RunSection& section);

// f32 | bf16 | f16 (model.dtype, run.export_dtype); written back with model/device.h's dtype_name.
c10::ScalarType read_dtype(ConfigReader& reader, const std::string& key, c10::ScalarType fallback);
std::string prompt_style_name(data::PromptStyle style);
Json path_json(const std::filesystem::path& path);  // null when empty

// A reader of a whole recipe: knows the keys that older recipes used, so that a retired key fails
// with where it went ("FILE: unknown key 'train.eps' (now 'optim.adam_eps')").
ConfigReader recipe_reader(ConfigTree tree);
// FILE.yaml plus "key.sub=value" overrides, in order.
ConfigTree load_recipe(const std::filesystem::path& yaml, const std::vector<std::string>& overrides);

}  // namespace illume::train
