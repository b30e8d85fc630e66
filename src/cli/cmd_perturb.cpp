// illume perturb: the perturbation test of METHOD.md §3 (paper Table 1).
#include <cstdio>

#include "cli/command.h"
#include "cli/common.h"
#include "illume/attention/metrics.h"
#include "illume/attention/perturb.h"
#include "illume/util/error.h"
#include "illume/util/file.h"
#include "illume/util/json.h"

namespace {

void setup(CLI::App& app) {
  struct Flags {
    illume::cli::ModelFlags model;
    std::string prompts, out, layers = "mid5", fai_hi = "end";
    std::string system = "Please reason step by step, and put your final answer within \\boxed{}.";
    std::int64_t limit = 0, fai_lo = 1;
    illume::PerturbSettings settings;
  };
  auto f = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand("perturb",
                                 "Perturbation test (paper Table 1): force alternative tokens at high- and low-FAI "
                                 "positions of greedy responses and compare the continuations; writes perturb.json "
                                 "and perturb.md");
  f->model.add_to(cmd);
  cmd->add_option("--prompts", f->prompts, "JSONL of prompts ({\"prompt\"|\"question\"|\"problem\": TEXT})")->required();
  cmd->add_option("--out", f->out, "output folder")->required();
  cmd->add_option("--limit", f->limit, "use only the first N prompts (0 = all)")->capture_default_str();
  cmd->add_option("--system", f->system, "system line before each prompt")->capture_default_str();
  cmd->add_option("--positions", f->settings.positions, "k: top-k and bottom-k FAI positions per response")
      ->capture_default_str();
  cmd->add_option("--alternatives", f->settings.alternatives, "forced alternative tokens per position")
      ->capture_default_str();
  cmd->add_option("--continuation-tokens", f->settings.continuation_tokens, "M: greedy tokens after the forced one")
      ->capture_default_str();
  cmd->add_option("--max-new-tokens", f->settings.max_new_tokens, "greedy response length")->capture_default_str();
  cmd->add_option("--layers", f->layers, "mid5 | all | 0,3,5")->capture_default_str();
  cmd->add_option("--fai-lo", f->fai_lo, "FAI horizon start")->capture_default_str();
  cmd->add_option("--fai-hi", f->fai_hi, "FAI horizon end: N or end")->capture_default_str();
  cmd->callback([f] {
    auto tokenizer = f->model.load_tokenizer();
    auto model = f->model.load_model();
    const int L = static_cast<int>(model.config().num_layers);
    auto& s = f->settings;
    s.analysis.stats = illume::analysis_attention_config(L);
    if (f->layers == "all") {
      s.analysis.stats.layers.clear();
      for (int l = 0; l < L; ++l) s.analysis.stats.layers.push_back(l);
    } else if (f->layers != "mid5") {
      s.analysis.stats.layers.clear();
      for (auto id : illume::cli::parse_id_list(f->layers, "--layers")) s.analysis.stats.layers.push_back(id);
    }
    s.analysis.stats.fai_horizon_lo = f->fai_lo;
    if (f->fai_hi == "end") s.analysis.stats.fai_horizon_hi = illume::kHorizonToEnd;
    else {
      auto v = illume::cli::parse_id_list(f->fai_hi, "--fai-hi");
      if (v.size() != 1) illume::fail("--fai-hi: give one number or 'end'");
      s.analysis.stats.fai_horizon_hi = v[0];
    }
    s.analysis.stats.find_receivers = false;
    s.analysis.map_size = 1;
    illume::validate_attention_config(s.analysis.stats);
    illume::validate_layers(s.analysis.stats, L);
    s.stop_token_ids = illume::cli::default_stop_tokens(model.config(), tokenizer);
    s.valid_ids = illume::sampling_options(model.config(), tokenizer).valid_ids;
    auto rows = illume::read_jsonl_file(f->prompts);
    if (f->limit > 0 && static_cast<std::int64_t>(rows.size()) > f->limit) rows.resize(f->limit);
    if (rows.empty()) illume::fail("{}: no prompts", f->prompts);
    std::vector<std::vector<std::int32_t>> prompts;
    for (std::size_t i = 0; i < rows.size(); ++i) {
      auto src = f->prompts + ":" + std::to_string(i + 1);
      std::string text;
      for (const char* key : {"prompt", "question", "problem"})
        if (rows[i].is_object() && rows[i].contains(key) && rows[i][key].is_string()) {
          text = rows[i][key].get<std::string>();
          break;
        }
      if (text.empty()) illume::fail("{}: no 'prompt' (or 'question'/'problem') string", src);
      prompts.push_back(tokenizer.encode(f->system.empty() ? text : f->system + "\n\n" + text, false, src));
    }
    auto result = illume::perturbation_test(
        model, prompts, s, [&](const std::vector<std::int32_t>& ids) { return tokenizer.decode(illume::known_ids(ids, tokenizer.vocab_size()), true); }, true);
    std::filesystem::path out(f->out);
    illume::ensure_directory(out);
    illume::write_file_atomic(out / "perturb.json", result.to_json().dump(2) + "\n");
    illume::write_file_atomic(out / "perturb.md", result.to_markdown());
    std::printf("%s", result.to_markdown().c_str());
  });
}
ILLUME_COMMAND(setup);

}  // namespace
