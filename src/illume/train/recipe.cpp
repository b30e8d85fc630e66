#include "illume/train/recipe.h"

#include <map>

#include "illume/model/device.h"
#include "illume/util/error.h"

namespace illume::train {

namespace {

// Keys of older recipes (SFT's own dialect before both trainers shared these sections) and where
// they went; `finish()` names the new place instead of only "unknown key".
const std::map<std::string, std::string>& retired_keys() {
  static const std::map<std::string, std::string> keys = {
      {"out", "'run.out'"},
      {"seed", "'run.seed'"},
      {"threads", "'run.threads'"},
      {"resume", "the --resume flag"},
      {"tokenizer", "'model.tokenizer'"},
      {"save_dtype", "'run.export_dtype' (f32|bf16|f16)"},
      {"export_dir", "'run.export_dir'"},
      {"model.init_from", "'model.dir'"},
      {"data.train", "'data.path'"},
      {"data.prompt_format", "'data.prompt_style' (plain|chat)"},
      {"optim.beta1", "'optim.betas' ([beta1, beta2])"},
      {"optim.beta2", "'optim.betas' ([beta1, beta2])"},
      {"optim.eps", "'optim.adam_eps'"},
      {"train", "sections 'optim' and 'run'"},
      {"train.steps", "'run.steps'"},
      {"train.batch_size", "'optim.batch_size'"},
      {"train.lr", "'optim.lr'"},
      {"train.min_lr_ratio", "'optim.min_lr_ratio'"},
      {"train.warmup_steps", "'optim.warmup_steps'"},
      {"train.weight_decay", "'optim.weight_decay'"},
      {"train.beta1", "'optim.betas' ([beta1, beta2])"},
      {"train.beta2", "'optim.betas' ([beta1, beta2])"},
      {"train.eps", "'optim.adam_eps'"},
      {"train.grad_clip", "'optim.grad_clip'"},
      {"train.log_every", "'run.log_every'"},
      {"train.eval_every", "'run.eval_every'"},
      {"train.save_every", "'run.save_every'"},
      {"train.keep_checkpoints", "'run.keep_checkpoints'"},
      {"accuracy.file", "'accuracy.path'"},
  };
  return keys;
}

// cpu | cuda | cuda:N. Whether CUDA is present is checked when the model loads, so that a recipe
// for a GPU still reads (and prints) on a laptop.
c10::Device read_device(ConfigReader& reader, const std::string& key, c10::Device fallback) {
  std::string name = reader.get_string(key, fallback.str());
  if (name == "cpu") return c10::Device(c10::kCPU);
  if (name == "cuda") return c10::Device(c10::kCUDA);
  if (name.rfind("cuda:", 0) == 0 && name.size() > 5 && name.size() <= 8 &&
      name.find_first_not_of("0123456789", 5) == std::string::npos)
    return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(std::stoi(name.substr(5))));
  reader.invalid(key, fmt::format("must be cpu, cuda or cuda:N, got '{}'", name));
}

}  // namespace

c10::ScalarType read_dtype(ConfigReader& reader, const std::string& key, c10::ScalarType fallback) {
  return reader.get_enum(key, fallback, {{"f32", c10::kFloat}, {"bf16", c10::kBFloat16}, {"f16", c10::kHalf}});
}

std::string prompt_style_name(data::PromptStyle style) { return style == data::PromptStyle::Chat ? "chat" : "plain"; }

Json path_json(const std::filesystem::path& path) { return path.empty() ? Json(nullptr) : Json(path.string()); }

void read_model_section(ConfigReader& reader, ModelSection& s) {
  s.dir = reader.get_path("dir", s.dir);
  s.device = read_device(reader, "device", s.device);
  s.dtype = read_dtype(reader, "dtype", s.dtype);
}

void read_data_section(ConfigReader& reader, DataSection& s) {
  s.path = reader.get_path("path", s.path);
  s.prompt_style = reader.get_enum("prompt_style", s.prompt_style,
                                   {{"plain", data::PromptStyle::Plain}, {"chat", data::PromptStyle::Chat}});
  s.limit = reader.get_int("limit", s.limit);
  if (s.limit < 0) reader.invalid("limit", "must be >= 0 (0 = all rows)");
}

void read_optim_section(ConfigReader& reader, OptimSection& s) {
  s.lr = reader.get_double("lr", s.lr);
  if (!(s.lr > 0)) reader.invalid("lr", fmt::format("must be positive, got {}", s.lr));
  s.weight_decay = reader.get_double("weight_decay", s.weight_decay);
  if (s.weight_decay < 0) reader.invalid("weight_decay", "must be >= 0");
  auto betas = reader.get_double_list("betas", {s.beta1, s.beta2});
  if (betas.size() != 2 || betas[0] < 0 || betas[0] >= 1 || betas[1] < 0 || betas[1] >= 1)
    reader.invalid("betas", "must be [beta1, beta2], each in [0, 1)");
  s.beta1 = betas[0];
  s.beta2 = betas[1];
  s.adam_eps = reader.get_double("adam_eps", s.adam_eps);
  if (!(s.adam_eps > 0)) reader.invalid("adam_eps", "must be positive");
  s.grad_clip = reader.get_double("grad_clip", s.grad_clip);
  if (s.grad_clip < 0) reader.invalid("grad_clip", "must be >= 0 (0 = no clipping)");
}

void read_run_section(ConfigReader& reader, RunSection& s) {
  s.out = reader.get_path("out", s.out);
  s.steps = reader.get_int("steps", s.steps);
  if (s.steps < 1) reader.invalid("steps", "must be positive");
  auto seed = reader.get_int("seed", static_cast<long long>(s.seed));
  if (seed < 0) reader.invalid("seed", "must be >= 0");
  s.seed = static_cast<std::uint64_t>(seed);
  s.save_every = reader.get_int("save_every", s.save_every);
  if (s.save_every < 0) reader.invalid("save_every", "must be >= 0 (0 = only at the end)");
  s.keep_checkpoints = reader.get_int("keep_checkpoints", s.keep_checkpoints);
  if (s.keep_checkpoints < 1) reader.invalid("keep_checkpoints", "must be >= 1");
  s.progress = reader.get_bool("progress", s.progress);
}

Json section_json(const ModelSection& s) {
  return {{"dir", path_json(s.dir)}, {"device", s.device.str()}, {"dtype", dtype_name(s.dtype)}};
}

Json section_json(const DataSection& s) {
  return {{"path", path_json(s.path)}, {"prompt_style", prompt_style_name(s.prompt_style)}, {"limit", s.limit}};
}

Json section_json(const OptimSection& s) {
  return {{"lr", s.lr}, {"weight_decay", s.weight_decay}, {"betas", {s.beta1, s.beta2}}, {"adam_eps", s.adam_eps},
          {"grad_clip", s.grad_clip}};
}

Json section_json(const RunSection& s) {
  return {{"out", path_json(s.out)}, {"steps", s.steps}, {"seed", s.seed}, {"save_every", s.save_every},
          {"keep_checkpoints", s.keep_checkpoints}, {"progress", s.progress}};
}

ConfigReader recipe_reader(ConfigTree tree) {
  tree.moved = retired_keys();
  return ConfigReader(std::move(tree));
}

ConfigTree load_recipe(const std::filesystem::path& yaml, const std::vector<std::string>& overrides) {
  auto tree = load_config(yaml);
  for (const auto& assignment : overrides) apply_override(tree, assignment);
  return tree;
}

}  // namespace illume::train
