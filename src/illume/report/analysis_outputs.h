// The files of one analysis run (METHOD.md §1-3), shared by `illume analyze` and `illume demo`:
//   OUT/tokens_metrics.jsonl  one row per response (response_metrics_json + "prompt", "response")
//   OUT/summary.json          {"settings": ..., "coupling": coupling_statistics(...)}
//   OUT/report.html           the self-contained analysis report (analysis_report.h)
// and of one perturbation test (§3, `illume perturb`): OUT/perturb.json, OUT/perturb.md.
// Each file is written atomically.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "illume/attention/analysis.h"
#include "illume/attention/inputs.h"
#include "illume/attention/perturb.h"
#include "illume/model/model.h"
#include "illume/text/tokenizer.h"
#include "illume/util/json.h"

namespace illume {

struct AnalysisOutputMeta {
  std::string title = "illume analysis";
  std::string model;                      // model folder or name, shown in the report
  Json settings = Json::object();         // shown as given in the report and summary.json
                                          // (analyze_and_write adds analysis_settings_json's entries)
  std::vector<std::string> prompt_texts;  // one per response (the report's prompt line)
};

// Computes the coupling statistics, writes the three files and returns the coupling summary.
Json write_analysis_outputs(const std::filesystem::path& out_dir, const Tokenizer& tokenizer,
                            const std::vector<ResponseInput>& inputs, const std::vector<AnalyzedResponse>& analyzed,
                            const AnalysisSettings& settings, const AnalysisOutputMeta& meta);

// The whole analysis: analyze_responses over `inputs`, then the three files. Returns the coupling summary.
Json analyze_and_write(const std::filesystem::path& out_dir, const Model& model, const Tokenizer& tokenizer,
                       const ResponseInputs& inputs, const AnalysisSettings& settings, AnalysisOutputMeta meta,
                       bool show_progress = false);

// The perturbation test over `prompts` (greedy responses), then perturb.json and perturb.md.
// perturb.json's "settings" are `shown` (the prompt settings: task, data, prompt_format, system, ...)
// plus the test's own (FAI settings, positions, alternatives, continuation_tokens, max_new_tokens);
// `prompt_records[i]` (e.g. {"row", "prompt"}) joins problem i's record.
PerturbResult perturb_and_write(const std::filesystem::path& out_dir, const Model& model, const Tokenizer& tokenizer,
                                const std::vector<std::vector<std::int32_t>>& prompts, const PerturbSettings& settings,
                                const Json& shown = Json::object(), const Json& prompt_records = Json::array(),
                                bool show_progress = false);

// The settings object of summary.json / the report for `settings` (layers, window, horizon, ...).
Json analysis_settings_json(const AnalysisSettings& settings);

}  // namespace illume
