#include "illume/report/analysis_outputs.h"

#include "illume/report/analysis_report.h"
#include "illume/util/error.h"
#include "illume/util/file.h"

namespace illume {

namespace {

Json head_names(const std::vector<HeadId>& heads) {
  Json out = Json::array();
  for (const auto& h : heads) out.push_back(head_name(h));
  return out;
}

}  // namespace

Json analysis_settings_json(const AnalysisSettings& s) {
  Json fai_horizon_hi = s.stats.fai_horizon_hi == kHorizonToEnd ? Json("end") : Json(s.stats.fai_horizon_hi);
  return {{"layers", s.stats.layers},
          {"window", s.stats.window},
          {"fai_horizon_lo", s.stats.fai_horizon_lo},
          {"fai_horizon_hi", fai_horizon_hi},
          {"head_quantile", s.stats.group_fraction},
          {"grouping", grouping_name(s.stats.grouping)},
          {"local_heads", head_names(s.stats.fixed_local)},  // grouping fixed; [] otherwise
          {"global_heads", head_names(s.stats.fixed_global)},
          {"all_heads", s.stats.all_heads},
          {"passes", s.stats.passes},
          {"receiver_horizon_lo", s.stats.receiver_horizon_lo},
          {"receiver_min_rows", s.stats.receiver_min_rows},
          {"bootstrap", s.bootstrap},
          {"peak_radius", s.peak_radius},
          {"peak_top_fraction", s.peak_top_fraction},
          {"seed", s.seed}};
}

Json write_analysis_outputs(const std::filesystem::path& out, const Tokenizer& tokenizer,
                            const std::vector<ResponseInput>& inputs, const std::vector<AnalyzedResponse>& analyzed,
                            const AnalysisSettings& settings, const AnalysisOutputMeta& meta) {
  if (inputs.size() != analyzed.size())
    fail("{}: {} responses but {} analyses", out.string(), inputs.size(), analyzed.size());
  if (!meta.prompt_texts.empty() && meta.prompt_texts.size() != inputs.size())
    fail("{}: {} responses but {} prompt texts", out.string(), inputs.size(), meta.prompt_texts.size());
  auto summary = coupling_statistics(analyzed, settings);
  ensure_directory(out);
  std::string lines;
  Json report = {{"title", meta.title}, {"model", meta.model}, {"settings", meta.settings},
                 {"summary", summary}, {"responses", Json::array()}};
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    auto row = response_metrics_json(inputs[i], analyzed[i], settings.stats.layers);
    row["prompt"] = meta.prompt_texts.empty() ? tokenizer.decode(inputs[i].prompt_ids) : meta.prompt_texts[i];
    row["response"] = tokenizer.decode(inputs[i].response_ids);
    lines += dump_line(row) + "\n";
    Json tokens = Json::array();
    for (auto id : inputs[i].response_ids) tokens.push_back(tokenizer.decode({id}));
    Json r = row;
    r["tokens"] = tokens;
    if (!analyzed[i].maps.is_null()) r["maps"] = analyzed[i].maps;
    report["responses"].push_back(std::move(r));
  }
  write_file_atomic(out / "tokens_metrics.jsonl", lines);
  write_file_atomic(out / "summary.json",
                    Json{{"settings", meta.settings}, {"coupling", summary}}.dump(2, ' ', false, Json::error_handler_t::replace) + "\n");
  write_analysis_report(out / "report.html", report);
  return summary;
}

Json analyze_and_write(const std::filesystem::path& out_dir, const Model& model, const Tokenizer& tokenizer,
                       const ResponseInputs& inputs, const AnalysisSettings& settings, AnalysisOutputMeta meta,
                       bool show_progress) {
  auto analyzed = analyze_responses(model, inputs.responses, settings, show_progress);
  Json shown = analysis_settings_json(settings);
  shown.update(meta.settings);
  meta.settings = std::move(shown);
  meta.prompt_texts = inputs.prompt_texts;
  return write_analysis_outputs(out_dir, tokenizer, inputs.responses, analyzed, settings, meta);
}

PerturbResult perturb_and_write(const std::filesystem::path& out_dir, const Model& model, const Tokenizer& tokenizer,
                                const std::vector<std::vector<std::int32_t>>& prompts, const PerturbSettings& settings,
                                const Json& shown, const Json& prompt_records, bool show_progress) {
  auto decode = [&](const std::vector<std::int32_t>& ids) {
    return tokenizer.decode(known_ids(ids, tokenizer.vocab_size()), /*skip_special=*/true);
  };
  auto result = perturbation_test(model, prompts, settings, decode, show_progress);
  Json recorded = analysis_settings_json(settings.analysis);
  for (const char* key : {"peak_radius", "peak_top_fraction", "seed"}) recorded.erase(key);  // not used by the test
  recorded.update({{"positions", settings.positions},
                   {"alternatives", settings.alternatives},
                   {"continuation_tokens", settings.continuation_tokens},
                   {"max_new_tokens", settings.max_new_tokens}});
  recorded.update(shown);
  ensure_directory(out_dir);
  write_file_atomic(out_dir / "perturb.json",
                    result.to_json(recorded, prompt_records).dump(2, ' ', false, Json::error_handler_t::replace) + "\n");
  write_file_atomic(out_dir / "perturb.md", result.to_markdown());
  return result;
}

}  // namespace illume
