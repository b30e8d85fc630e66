// The SFT recipe (sft.h): the shared sections through recipe.h, then SFT's own keys.
//
//   model:    {config: {model_type: qwen3, hidden_size: 192, ...}, tokenizer: ../models/x}
//             (or dir: an HF folder to fine-tune)
//   data:     {generate: {n: 20000, seed: 1, difficulty: standard}, prompt_style: chat,
//              eval_size: 256, max_length: 384}                 (or path: FILE.jsonl)
//   optim:    {batch_size, lr, min_lr_ratio, warmup_steps, weight_decay, betas, adam_eps, grad_clip}
//   run:      {out, steps, seed, threads, log_every, eval_every, save_every, keep_checkpoints,
//              progress, export_dtype, export_dir}
//   accuracy: {path: test.jsonl, n: 128, max_new_tokens: 160}
#include <fmt/format.h>

#include <algorithm>

#include "illume/model/device.h"
#include "illume/train/sft.h"
#include "illume/util/error.h"

namespace illume::train {
namespace fs = std::filesystem;

namespace {

void read_model(ConfigReader& model, SftModelSection& m) {
  read_model_section(model, m);
  if (m.device != c10::Device(c10::kCPU)) model.invalid("device", "must be cpu (sft trains on the CPU)");
  if (m.dtype != c10::kFloat) model.invalid("dtype", "must be f32 (sft trains in f32; run.export_dtype sets the saved dtype)");
  m.config = model.get_json("config");
  if (!m.config.is_null() && !m.config.is_object()) model.invalid("config", "must be a mapping of config.json fields");
  m.tokenizer = model.get_path("tokenizer", m.dir);
  model.finish();
  if (m.dir.empty() && m.config.is_null())
    fail("{}: missing key 'model.dir' (a folder to fine-tune) or 'model.config' (a shape to initialise at random)",
         model.source());
  if (!m.dir.empty() && !m.config.is_null())
    model.invalid("dir", "and model.config are both given: give one (a folder to fine-tune, or a shape to initialise)");
  if (m.tokenizer.empty()) fail("{}: missing key 'model.tokenizer' (a folder with tokenizer.json)", model.source());
}

void read_generator(ConfigReader& generate, SftDataSection& d) {
  d.generate_n = generate.get_int("n", d.generate_n);
  if (d.generate_n < 0) generate.invalid("n", "must be >= 0");
  auto seed = generate.get_int("seed", static_cast<long long>(d.generate_seed));
  if (seed < 0) generate.invalid("seed", "must be >= 0");
  d.generate_seed = static_cast<std::uint64_t>(seed);
  auto& o = d.generate_options;
  o = data::countdown_difficulty(generate.get_choice("difficulty", "standard", {"easy", "standard", "hard"}));
  Json numbers = generate.get_json("numbers");
  if (numbers.is_number_integer()) {
    o.min_numbers = o.max_numbers = numbers.get<int>();
  } else if (numbers.is_array() && numbers.size() == 2 && numbers[0].is_number_integer() &&
             numbers[1].is_number_integer()) {
    o.min_numbers = numbers[0].get<int>();
    o.max_numbers = numbers[1].get<int>();
  } else if (!numbers.is_null()) {
    generate.invalid("numbers", "must be K or [MIN, MAX]");
  }
  o.max_number = generate.get_int("max_number", o.max_number);
  o.max_target = generate.get_int("max_target", o.max_target);
  o.max_false_starts = static_cast<int>(generate.get_int("false_starts", o.max_false_starts));
  o.allow_mul_div = generate.get_bool("mul_div", o.allow_mul_div);
  generate.finish();
  try {
    data::validate(o);
  } catch (const Error& e) {
    fail("{}: data.generate: {}", generate.source(), e.what());
  }
}

void read_data(ConfigReader& data, SftDataSection& d) {
  read_data_section(data, d);
  d.eval_size = data.get_int("eval_size", d.eval_size);
  if (d.eval_size < 0) data.invalid("eval_size", "must be >= 0");
  d.max_length = data.get_int("max_length", d.max_length);
  if (d.max_length < 2) data.invalid("max_length", "must be >= 2");
  auto generate = data.section("generate");
  data.finish();
  read_generator(generate, d);
  if (d.path.empty() == (d.generate_n == 0))
    fail("{}: give exactly one of data.path (a JSONL file) and data.generate.n (puzzles made on the fly)", data.source());
}

void read_optim(ConfigReader& optim, SftOptimSection& o) {
  read_optim_section(optim, o);
  o.batch_size = optim.get_int("batch_size", o.batch_size);
  if (o.batch_size < 1) optim.invalid("batch_size", "must be positive");
  o.min_lr_ratio = optim.get_double("min_lr_ratio", o.min_lr_ratio);
  if (o.min_lr_ratio < 0 || o.min_lr_ratio > 1) optim.invalid("min_lr_ratio", "must be in [0, 1]");
  o.warmup_steps = optim.get_int("warmup_steps", o.warmup_steps);
  if (o.warmup_steps < 0) optim.invalid("warmup_steps", "must be >= 0");
  optim.finish();
}

void read_run(ConfigReader& run, SftRunSection& r) {
  read_run_section(run, r);
  r.threads = static_cast<int>(run.get_int("threads", r.threads));
  if (r.threads < 0) run.invalid("threads", "must be >= 0 (0: torch's default)");
  r.log_every = run.get_int("log_every", r.log_every);
  if (r.log_every < 1) run.invalid("log_every", "must be positive");
  r.eval_every = run.get_int("eval_every", r.eval_every);
  if (r.eval_every < 0) run.invalid("eval_every", "must be >= 0 (0: never)");
  r.export_dtype = read_dtype(run, "export_dtype", r.export_dtype);
  r.export_dir = run.get_path("export_dir", r.export_dir);
  run.finish();
  run.require("out");
  if (!r.export_dir.empty()) {
    // The export replaces its folder: it must be neither the run's folder nor around or inside it.
    const auto out = fs::weakly_canonical(fs::absolute(r.out)), exp = fs::weakly_canonical(fs::absolute(r.export_dir));
    const auto inside = [](const fs::path& a, const fs::path& b) {  // a == b or a inside b
      auto [end_b, end_a] = std::mismatch(b.begin(), b.end(), a.begin(), a.end());
      return end_b == b.end();
    };
    if (inside(exp, out) || inside(out, exp))
      run.invalid("export_dir", fmt::format("({}) must be outside run.out ({}) and not contain it", exp.string(),
                                            out.string()));
  }
}

void read_accuracy(ConfigReader& accuracy, AccuracySection& a) {
  a.path = accuracy.get_path("path", a.path);
  a.n = accuracy.get_int("n", a.n);
  if (a.n < 0) accuracy.invalid("n", "must be >= 0 (0: off)");
  a.max_new_tokens = accuracy.get_int("max_new_tokens", a.max_new_tokens);
  if (a.max_new_tokens < 1) accuracy.invalid("max_new_tokens", "must be positive");
  accuracy.finish();
  if (a.n > 0 && a.path.empty()) fail("{}: missing key 'accuracy.path' (accuracy.n is {})", accuracy.source(), a.n);
}

}  // namespace

SftConfig read_sft_config(const ConfigTree& tree) {
  SftConfig c;
  auto top = recipe_reader(tree);
  auto model = top.section("model"), data = top.section("data"), optim = top.section("optim"),
       run = top.section("run"), accuracy = top.section("accuracy");
  // Unknown sections first, and in each section unknown keys before missing ones: a key of an older
  // recipe is reported where it went, not as a missing key of the new one.
  top.finish();
  read_model(model, c.model);
  read_data(data, c.data);
  read_optim(optim, c.optim);
  read_run(run, c.run);
  read_accuracy(accuracy, c.accuracy);
  return c;
}

SftConfig load_sft_config(const std::filesystem::path& yaml, const std::vector<std::string>& overrides) {
  return read_sft_config(load_recipe(yaml, overrides));
}

Json sft_config_to_json(const SftConfig& c) {
  Json model = section_json(static_cast<const ModelSection&>(c.model));
  model["config"] = c.model.config;
  model["tokenizer"] = path_json(c.model.tokenizer);
  const auto& g = c.data.generate_options;
  Json data = section_json(static_cast<const DataSection&>(c.data));
  data["eval_size"] = c.data.eval_size;
  data["max_length"] = c.data.max_length;
  // The generator's options as numbers (the difficulty name only picks their defaults).
  data["generate"] = {{"n", c.data.generate_n}, {"seed", c.data.generate_seed},
                      {"numbers", {g.min_numbers, g.max_numbers}}, {"max_number", g.max_number},
                      {"max_target", g.max_target}, {"false_starts", g.max_false_starts},
                      {"mul_div", g.allow_mul_div}};
  Json optim = section_json(static_cast<const OptimSection&>(c.optim));
  optim["batch_size"] = c.optim.batch_size;
  optim["min_lr_ratio"] = c.optim.min_lr_ratio;
  optim["warmup_steps"] = c.optim.warmup_steps;
  Json run = section_json(static_cast<const RunSection&>(c.run));
  run["threads"] = c.run.threads;
  run["log_every"] = c.run.log_every;
  run["eval_every"] = c.run.eval_every;
  run["export_dtype"] = dtype_name(c.run.export_dtype);
  run["export_dir"] = path_json(c.run.export_dir);
  return {{"model", model},
          {"data", data},
          {"optim", optim},
          {"run", run},
          {"accuracy", {{"path", path_json(c.accuracy.path)}, {"n", c.accuracy.n},
                        {"max_new_tokens", c.accuracy.max_new_tokens}}}};
}

}  // namespace illume::train
