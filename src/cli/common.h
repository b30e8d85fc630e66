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

struct ModelFlags {
  std::string model_dir;
  std::string device = "cpu";
  std::string dtype = "f32";
  bool allow_unused_weights = false;
  void add_to(CLI::App* cmd, bool with_compute_flags = true);
  Model load_model() const;
  Tokenizer load_tokenizer() const;
};

// --chat, --system [, --no-thinking]: how prompt texts become ids (text/prompt.h).
struct PromptFlags {
  bool chat = false;
  std::string system;
  bool no_thinking = false;
  void add_to(CLI::App* cmd, bool with_thinking_flag = false);
  PromptFormat format() const;
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
