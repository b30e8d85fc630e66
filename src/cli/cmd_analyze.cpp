// illume analyze: the preplan-and-anchor analysis (METHOD.md §1-3) of generated or given responses.
#include <torch/torch.h>

#include <cstdio>

#include "cli/command.h"
#include "cli/common.h"
#include "illume/attention/analysis.h"
#include "illume/attention/metrics.h"
#include "illume/infer/generate.h"
#include "illume/report/analysis_outputs.h"
#include "illume/text/chat.h"
#include "illume/util/error.h"
#include "illume/util/file.h"
#include "illume/util/json.h"

namespace {

const char* kDefaultSystem = "Please reason step by step, and put your final answer within \\boxed{}.";

// "mid5" | "all" | "0,3,5"
std::vector<int> parse_layer_spec(const std::string& spec, int model_layers) {
  if (spec == "mid5") return illume::middle_third_layers(model_layers, 5);
  std::vector<int> layers;
  if (spec == "all") {
    for (int l = 0; l < model_layers; ++l) layers.push_back(l);
    return layers;
  }
  for (auto id : illume::cli::parse_id_list(spec, "--layers")) {
    if (id >= model_layers) illume::fail("--layers: layer {} is beyond the model ({} layers)", id, model_layers);
    layers.push_back(id);
  }
  return layers;
}

// The prompt text of a JSONL row: "prompt", else "question" (GSM8K), else "problem" (MATH).
std::string prompt_text(const illume::Json& row, const std::string& source) {
  for (const char* key : {"prompt", "question", "problem"})
    if (row.is_object() && row.contains(key) && row[key].is_string()) return row[key].get<std::string>();
  illume::fail("{}: no 'prompt' (or 'question'/'problem') string", source);
}

void setup(CLI::App& app) {
  struct Flags {
    illume::cli::ModelFlags model;
    std::string prompts, responses, out, layers = "mid5", fai_hi = "end", system = kDefaultSystem, grouping = "sequence";
    std::int64_t n = 1, limit = 0, max_new_tokens = 256, window = 10, fai_lo = 1, passes = 1;
    double temperature = 0.7, head_quantile = 0.3;
    bool chat = false;
    illume::AnalysisSettings settings;
  };
  auto f = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand("analyze",
                                 "Measure the preplan-and-anchor rhythm: head spans, WAAD, FAI, preplan/anchor tokens "
                                 "and coupling statistics of responses; writes tokens_metrics.jsonl, summary.json and "
                                 "report.html");
  f->model.add_to(cmd);
  auto* p = cmd->add_option("--prompts", f->prompts, "JSONL of prompts ({\"prompt\"|\"question\"|\"problem\": TEXT}) to answer first");
  auto* r = cmd->add_option("--responses", f->responses,
                            "JSONL of responses: {\"prompt\": TEXT, \"response\": TEXT} or {\"prompt_ids\": [...], "
                            "\"response_ids\": [...]}");
  p->excludes(r);
  cmd->add_option("--out", f->out, "output folder")->required();
  cmd->add_option("--limit", f->limit, "use only the first N rows (0 = all)")->capture_default_str();
  cmd->add_option("-n,--n", f->n, "responses per prompt (with --prompts)")->capture_default_str();
  cmd->add_option("--temperature", f->temperature, "sampling temperature (paper: 0.7)")->capture_default_str();
  cmd->add_option("--max-new-tokens", f->max_new_tokens, "response length limit")->capture_default_str();
  cmd->add_option("--seed", f->settings.seed, "sampling and shuffle seed")->capture_default_str();
  cmd->add_flag("--chat", f->chat, "wrap prompts in the chat format (default: plain base-model prompt)");
  cmd->add_option("--system", f->system, "system line before each prompt")->capture_default_str();
  cmd->add_option("--layers", f->layers, "mid5 (5 layers of the middle third) | all | 0,3,5")->capture_default_str();
  cmd->add_option("--window", f->window, "W of WAAD")->capture_default_str();
  cmd->add_option("--fai-lo", f->fai_lo, "FAI horizon start H_lo")->capture_default_str();
  cmd->add_option("--fai-hi", f->fai_hi, "FAI horizon end H_hi: N or end")->capture_default_str();
  cmd->add_option("--head-quantile", f->head_quantile, "fraction of heads in each group (local: lowest span)")
      ->capture_default_str();
  cmd->add_option("--grouping", f->grouping, "head ranking scope: sequence | batch")->capture_default_str();
  cmd->add_option("--passes", f->passes, "1 (keep all heads' sums) or 2 (group heads first)")->capture_default_str();
  cmd->add_option("--map-begin", f->settings.map_begin, "first response position of the report's map window")
      ->capture_default_str();
  cmd->add_option("--map-size", f->settings.map_size, "positions in the report's map window")->capture_default_str();
  cmd->add_option("--batch-rows", f->settings.batch_rows, "sequences per forward")->capture_default_str();
  cmd->callback([f] {
    if (f->prompts.empty() && f->responses.empty()) illume::fail("analyze: give --prompts or --responses");
    auto tokenizer = f->model.load_tokenizer();
    auto model = f->model.load_model();
    const int L = static_cast<int>(model.config().num_layers);
    auto& s = f->settings;
    s.stats = illume::analysis_attention_config(L);
    s.stats.layers = parse_layer_spec(f->layers, L);
    s.stats.window = f->window;
    s.stats.fai_horizon_lo = f->fai_lo;
    if (f->fai_hi == "end") s.stats.fai_horizon_hi = illume::kHorizonToEnd;
    else {
      auto v = illume::cli::parse_id_list(f->fai_hi, "--fai-hi");
      if (v.size() != 1) illume::fail("--fai-hi: give one number or 'end'");
      s.stats.fai_horizon_hi = v[0];
    }
    s.stats.group_fraction = f->head_quantile;
    if (f->grouping == "sequence") s.stats.grouping = illume::HeadGroupingScope::per_sequence;
    else if (f->grouping == "batch") s.stats.grouping = illume::HeadGroupingScope::per_batch;
    else illume::fail("--grouping {}: unknown (sequence, batch)", f->grouping);
    s.stats.passes = static_cast<int>(f->passes);
    if (!(f->head_quantile > 0 && f->head_quantile <= 0.5)) illume::fail("--head-quantile {} must be in (0, 0.5]", f->head_quantile);
    if (f->window < 1) illume::fail("--window {}: the WAAD window must be >= 1", f->window);
    if (f->fai_lo < 1) illume::fail("--fai-lo {}: the FAI horizon start must be >= 1", f->fai_lo);
    if (s.stats.fai_horizon_hi < s.stats.fai_horizon_lo)
      illume::fail("--fai-hi {} is below --fai-lo {}", f->fai_hi, f->fai_lo);
    illume::validate_attention_config(s.stats);  // before any generation, so bad flags fail fast
    illume::validate_layers(s.stats, L);

    auto encode_prompt = [&](const std::string& text, const std::string& source) {
      tokenizer.encode(text, false, source);  // UTF-8 check naming the source
      if (f->chat) {
        std::vector<illume::ChatMessage> m;
        if (!f->system.empty()) m.push_back({"system", f->system});
        m.push_back({"user", text});
        return tokenizer.encode(illume::format_chat(m, true, false), true, source);
      }
      return tokenizer.encode(f->system.empty() ? text : f->system + "\n\n" + text, false, source);
    };
    std::vector<illume::ResponseInput> inputs;
    std::vector<std::string> prompt_texts;
    if (!f->prompts.empty()) {
      auto rows = illume::read_jsonl_file(f->prompts);
      if (f->limit > 0 && static_cast<std::int64_t>(rows.size()) > f->limit) rows.resize(f->limit);
      if (rows.empty()) illume::fail("{}: no prompts", f->prompts);
      std::vector<std::vector<std::int32_t>> prompt_ids;
      for (std::size_t i = 0; i < rows.size(); ++i) {
        auto src = f->prompts + ":" + std::to_string(i + 1);
        prompt_texts.push_back(prompt_text(rows[i], src));
        prompt_ids.push_back(encode_prompt(prompt_texts.back(), src));
      }
      auto o = illume::sampling_options(model.config(), tokenizer);
      o.temperature = f->temperature;
      o.num_samples = f->n;
      o.max_new_tokens = f->max_new_tokens;
      o.seed = s.seed;
      o.stop_token_ids = illume::cli::default_stop_tokens(model.config(), tokenizer);
      o.show_progress = true;
      auto completions = illume::generate(model, prompt_ids, o);
      std::vector<std::string> texts;
      for (auto& c : completions) {
        if (c.ids.empty()) continue;
        inputs.push_back({prompt_ids[c.prompt_index], c.ids});
        texts.push_back(prompt_texts[c.prompt_index]);
      }
      prompt_texts = texts;
    } else {
      auto rows = illume::read_jsonl_file(f->responses);
      if (f->limit > 0 && static_cast<std::int64_t>(rows.size()) > f->limit) rows.resize(f->limit);
      if (rows.empty()) illume::fail("{}: no responses", f->responses);
      for (std::size_t i = 0; i < rows.size(); ++i) {
        auto src = f->responses + ":" + std::to_string(i + 1);
        const auto& row = rows[i];
        illume::ResponseInput in;
        if (row.is_object() && row.contains("prompt_ids")) {
          try {
            in.prompt_ids = row.at("prompt_ids").get<std::vector<std::int32_t>>();
            in.response_ids = row.at("response_ids").get<std::vector<std::int32_t>>();
          } catch (const std::exception&) {
            illume::fail("{}: 'prompt_ids' and 'response_ids' must be lists of token ids", src);
          }
          if (row.contains("prompt") && row["prompt"].is_string() && encode_prompt(row["prompt"], src) != in.prompt_ids)
            illume::fail("{}: 'prompt_ids' do not match the tokens of 'prompt'", src);
          prompt_texts.push_back(tokenizer.decode(in.prompt_ids));
        } else {
          auto prompt = illume::json_get<std::string>(row, "prompt", src);
          auto response = illume::json_get<std::string>(row, "response", src);
          in.prompt_ids = encode_prompt(prompt, src);
          in.response_ids = tokenizer.encode(response, false, src);
          prompt_texts.push_back(prompt);
        }
        if (in.response_ids.empty()) illume::fail("{}: the response is empty", src);
        illume::cli::check_ids_in_vocabulary(in.prompt_ids, model.config().vocab_size, src);
        illume::cli::check_ids_in_vocabulary(in.response_ids, model.config().vocab_size, src);
        inputs.push_back(std::move(in));
      }
    }
    if (inputs.empty()) illume::fail("analyze: every generated response was empty");
    auto analyzed = illume::analyze_responses(model, inputs, s, true);
    illume::AnalysisOutputMeta meta;
    meta.model = f->model.model_dir;
    meta.settings = illume::analysis_settings_json(s);
    meta.settings["model"] = f->model.model_dir;
    meta.settings["temperature"] = f->temperature;
    meta.prompt_texts = prompt_texts;
    auto summary = illume::write_analysis_outputs(f->out, tokenizer, inputs, analyzed, s, meta);
    std::printf("analyze: %zu responses -> %s/{tokens_metrics.jsonl, summary.json, report.html}\n", inputs.size(),
                f->out.c_str());
    for (const char* key : {"entropy_at_preplan", "receiver_global_cooccurrence", "fai_after_waad"})
      std::printf("  %-30s observed %.4f  random %.4f  lift %.2f\n", key, summary[key]["observed"].get<double>(),
                  summary[key]["random"].get<double>(), summary[key]["lift"].get<double>());
  });
}
ILLUME_COMMAND(setup);

}  // namespace
