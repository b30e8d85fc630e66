// Flags and helpers shared by the subcommands.
#pragma once
#include <CLI/CLI.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "illume/attention/streaming.h"
#include "illume/infer/generate.h"
#include "illume/model/model.h"
#include "illume/text/prompt.h"
#include "illume/text/tokenizer.h"

namespace illume::cli {

// ---- one meaning, range and default per flag (docs/cli.md) -----------------------------------------

// --max-new-tokens of generate, eval, analyze and perturb: the paper's response limit (1K), also the
// default of a recipe's rollout.max_response_tokens (and so of its eval.max_new_tokens).
inline constexpr std::int64_t kDefaultMaxNewTokens = 1024;
// --max-batch-rows of generate and eval (sequences decoded together): a recipe's rollout.max_batch_rows.
inline constexpr std::int64_t kDefaultMaxBatchRows = 64;
// analyze's --max-batch-rows: its forwards keep every head's statistics per row, so fewer rows.
inline constexpr std::int64_t kDefaultAnalysisBatchRows = 4;
// The sampling temperature of generate and analyze (the paper's analysis temperature); eval is greedy.
inline constexpr double kDefaultSamplingTemperature = 0.7;

// The description of a deprecated spelling starts so; docs/cli.md shows the rest.
inline constexpr const char* kDeprecatedUse = "deprecated: use ";
// The help group of deprecated spellings: parsed, never listed (HelpFormatter leaves the group out).
inline constexpr const char* kDeprecatedGroup = "Deprecated";

// --help without the deprecated spellings. Set on the root app before subcommands are added.
class HelpFormatter : public CLI::Formatter {
 public:
  std::string make_group(std::string group, bool is_positional, std::vector<const CLI::Option*> opts) const override;
};

// Parse-time range checks (CLI11 validators); they also refuse nan and inf. The failure reads
// "--flag: must be in [lo, hi], got X".
CLI::Validator integer_range(std::int64_t lo, std::int64_t hi);
CLI::Validator number_range(double lo, double hi, bool lo_exclusive = false);
// A whole number >= 0 (seeds are unsigned: "-1" would otherwise wrap to 2^64-1).
CLI::Validator non_negative_integer();

// An older spelling of `option`, kept working: it sets the same variable with the same checks, prints
// one line "illume: warning: OLD is deprecated; use NEW" on stderr, is not listed in --help (docs/cli.md
// lists it), and giving both spellings is an error.
// (The check of add_deprecated_alias: the warning, or the error when `option` is given too.)
CLI::Validator deprecated_spelling(const std::string& old_name, const CLI::Option* option);
template <typename T>
CLI::Option* add_deprecated_alias(CLI::App* cmd, const std::string& old_name, T& variable, CLI::Option* option,
                                  const CLI::Validator& check) {
  auto* alias = cmd->add_option(old_name, variable, kDeprecatedUse + option->get_name(false, true));
  return alias->group(kDeprecatedGroup)->check(check)->check(deprecated_spelling(old_name, option));
}

// How a command samples, one definition for generate, eval and analyze: -n/--num-samples,
// --temperature, --top-p, --top-k, --greedy, --seed, --max-new-tokens, --max-batch-rows.
struct SamplingFlags {
  std::int64_t num_samples = 1;
  double temperature = kDefaultSamplingTemperature;
  double top_p = 1.0;
  std::int64_t top_k = 0;
  bool greedy = false;
  std::uint64_t seed = 0;
  std::int64_t max_new_tokens = kDefaultMaxNewTokens;
  std::int64_t max_batch_rows = kDefaultMaxBatchRows;
  // Set the defaults above first (they are shown in --help). The descriptions that differ per command:
  struct Help {
    std::string num_samples = "samples per prompt";
    std::string seed = "sampling seed (sample j of prompt i draws from a stream seeded by seed, i and j)";
    std::string max_batch_rows = "sequences (prompts x samples) decoded together at most";
  };
  void add_to(CLI::App* cmd, const Help& help);
  void add_to(CLI::App* cmd) { add_to(cmd, Help{}); }
  // --greedy is --temperature 0.
  double effective_temperature() const { return greedy ? 0.0 : temperature; }
  // Copies the flags into `options` (which keeps its stop tokens and valid ids).
  void apply(SamplingOptions& options) const;
};

struct ModelFlags {
  std::string model_dir;
  std::string device = "cpu";
  std::string dtype = "f32";
  bool allow_unused_weights = false;
  void add_to(CLI::App* cmd, bool with_compute_flags = true);
  Model load_model() const;
  Tokenizer load_tokenizer() const;
};

// --chat | --plain, --system, --no-thinking: how prompt texts become ids (text/prompt.h). Neither
// --chat nor --plain: the style the model folder records (data/model_prompt_style.h: tokenizer_config
// "illume_prompt_style", which illume's trainers write), else plain; resolve() decides.
struct PromptFlags {
  bool chat = false, plain = false;
  std::string system;
  bool no_thinking = false;
  // with_system: --system and --no-thinking too (eval has neither).
  void add_to(CLI::App* cmd, bool with_system = true);
  // Settles chat/plain for the model folder; fails on --chat with --plain or a bad recorded style.
  void resolve(const std::filesystem::path& model_dir);
  PromptFormat format() const;
  // Where the style came from: "--chat", "--plain", "model folder" or "default" (after resolve).
  std::string style_source;
};

// The attention statistics of an analysis: --layers, --window, --fai-horizon-lo, --fai-horizon-hi,
// --head-quantile, --grouping, --passes; the defaults are analysis_attention_config's.
struct AttentionFlags {
  std::string layers = "mid5", fai_horizon_hi = "end", grouping = "sequence";
  std::string local_heads, global_heads;  // "L:H,L:H" (--grouping fixed)
  std::int64_t window = 10, fai_horizon_lo = 1, passes = 1;
  double head_quantile = 0.3;
  bool all_heads = false;
  void add_to(CLI::App* cmd);
  // The config for a model of `num_layers` layers (and `num_heads` query heads per layer, when known:
  // fixed heads are checked against it); fails naming the flag on a bad value.
  AttentionStatsConfig config(int num_layers, std::int64_t num_heads = 0) const;
};

// "1,2,3" or "1 2 3" -> ids; `source` names the flag or file in errors.
std::vector<std::int32_t> parse_id_list(const std::string& text, const std::string& source);

// "all" or "0,3,5" -> layers, each below num_layers; `flag` names the flag in errors.
std::vector<int> parse_layers(const std::string& spec, std::int64_t num_layers, const std::string& flag);

using illume::check_ids_in_vocabulary;

// Stop tokens for generation (infer/generate.h).
using illume::default_stop_tokens;

}  // namespace illume::cli
