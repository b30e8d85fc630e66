// illume analyze: the preplan-and-anchor analysis (METHOD.md §1-3) of generated or given responses.
#include <algorithm>
#include <cstdio>

#include "cli/command.h"
#include "cli/common.h"
#include "cli/prompt_input.h"
#include "illume/attention/inputs.h"
#include "illume/report/analysis_outputs.h"
#include "illume/util/error.h"

namespace {

const char* kDefaultSystem = "Please reason step by step, and put your final answer within \\boxed{}.";

void setup(CLI::App& app) {
  struct Flags {
    illume::cli::ModelFlags model;
    illume::cli::PromptInputFlags input;  // --prompts | --task --data, --chat | --plain, --system, --no-thinking
    illume::cli::SamplingFlags sampling;  // -n, --temperature, ..., --max-batch-rows
    illume::cli::AttentionFlags attention;
    std::string responses, out;
    std::int64_t limit = 0;
    illume::AnalysisSettings settings;
    illume::AttentionStatsConfig receivers;  // only receiver_horizon_lo / receiver_min_rows are read
  };
  auto f = std::make_shared<Flags>();
  f->input.format.system = kDefaultSystem;  // prompt and response files; task files use their own template
  f->sampling.max_batch_rows = illume::cli::kDefaultAnalysisBatchRows;
  auto* cmd = app.add_subcommand("analyze",
                                 "Measure the preplan-and-anchor rhythm: head spans, WAAD, FAI, preplan/anchor tokens "
                                 "and coupling statistics of responses; writes tokens_metrics.jsonl, summary.json and "
                                 "report.html");
  f->model.add_to(cmd);
  auto* p = f->input.add_to(cmd);
  auto* r = cmd->add_option("--responses", f->responses,
                            "JSONL of responses: {\"prompt\": TEXT, \"response\": TEXT} or {\"prompt_ids\": [...], "
                            "\"response_ids\": [...]}");
  p->excludes(r);
  r->excludes(cmd->get_option("--task"));
  cmd->add_option("--out", f->out, "output folder")->required();
  cmd->add_option("--limit", f->limit, "use only the first N rows (0 = all)")
      ->check(illume::cli::non_negative_integer())
      ->capture_default_str();
  illume::cli::SamplingFlags::Help help;
  help.num_samples = "responses sampled per prompt (with --prompts or --task)";
  help.seed = "seed of the sampling, the shuffled baselines and the bootstrap";
  help.max_batch_rows = "sequences per analysis forward at most (every head's statistics are kept per row); sampling "
                        "decodes max(this, 64) rows together";
  f->sampling.add_to(cmd, help);
  illume::cli::add_deprecated_alias(cmd, "--n", f->sampling.num_samples, cmd->get_option("--num-samples"),
                                    illume::cli::integer_range(1, illume::kMaxSamplesPerPrompt));
  illume::cli::add_deprecated_alias(cmd, "--batch-rows", f->sampling.max_batch_rows, cmd->get_option("--max-batch-rows"),
                                    illume::cli::integer_range(1, std::int64_t{1} << 20));
  f->attention.add_to(cmd);
  cmd->add_option("--map-begin", f->settings.map_begin, "first response position of the report's map window")
      ->capture_default_str();
  cmd->add_option("--map-size", f->settings.map_size, "positions in the report's map window")->capture_default_str();
  cmd->add_option("--receiver-horizon-lo", f->receivers.receiver_horizon_lo,
                  "receiver heads: score key j from rows t >= j + N (0: all later rows and the diagonal)")
      ->capture_default_str();
  cmd->add_option("--receiver-min-rows", f->receivers.receiver_min_rows,
                  "receiver heads: leave out keys scored from fewer rows")->capture_default_str();
  cmd->add_option("--bootstrap", f->settings.bootstrap, "resamples for the 95% intervals (0: none)")->capture_default_str();
  cmd->callback([f] {
    if (!f->input.given() && f->responses.empty())
      illume::fail("analyze: give --prompts, --task with --data, or --responses");
    f->input.validate();
    f->input.resolve(f->model.model_dir);
    auto tokenizer = f->model.load_tokenizer();
    auto model = f->model.load_model();
    auto& s = f->settings;
    s.stats = f->attention.config(static_cast<int>(model.config().num_layers),
                                  model.config().num_heads);  // before any generation
    s.stats.receiver_horizon_lo = f->receivers.receiver_horizon_lo;
    s.stats.receiver_min_rows = f->receivers.receiver_min_rows;
    illume::validate_attention_config(s.stats);  // before any generation
    illume::check(s.bootstrap >= 0, "--bootstrap {} must be >= 0", s.bootstrap);
    s.seed = f->sampling.seed;
    s.batch_rows = f->sampling.max_batch_rows;
    auto sampling = illume::sampling_options(model.config(), tokenizer);  // stop tokens, valid ids
    f->sampling.apply(sampling);
    sampling.max_batch_rows = std::max(f->sampling.max_batch_rows, illume::cli::kDefaultMaxBatchRows);
    sampling.show_progress = true;

    auto inputs = f->responses.empty()
                      ? illume::sample_response_inputs(
                            model, f->input.load(tokenizer, f->limit), sampling)
                      : illume::load_response_inputs(f->responses, tokenizer, f->input.prompt_format(),
                                                     model.config().vocab_size, f->limit);
    illume::AnalysisOutputMeta meta;
    meta.model = f->model.model_dir;
    meta.settings = {{"model", f->model.model_dir}};
    if (f->responses.empty())  // how the responses were sampled
      meta.settings.update({{"num_samples", sampling.num_samples}, {"temperature", sampling.temperature},
                            {"top_p", sampling.top_p}, {"top_k", sampling.top_k},
                            {"max_new_tokens", sampling.max_new_tokens}});
    meta.settings.update(f->input.settings_json());  // the prompt settings
    if (!f->responses.empty()) meta.settings["responses"] = f->responses;
    auto summary = illume::analyze_and_write(f->out, model, tokenizer, inputs, s, meta, /*show_progress=*/true);

    std::printf("analyze: %zu responses -> %s/{tokens_metrics.jsonl, summary.json, report.html}\n",
                inputs.responses.size(), f->out.c_str());
    for (const char* key : {"entropy_at_preplan", "receiver_global_cooccurrence", "fai_after_waad"})
      std::printf("  %-30s observed %.4f  random %.4f  lift %+.0f%%\n", key, summary[key]["observed"].get<double>(),
                  summary[key]["random"].get<double>(), 100 * summary[key]["lift"].get<double>());
  });
}
ILLUME_COMMAND(setup);

}  // namespace
