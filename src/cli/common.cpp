#include "cli/common.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <optional>
#include <type_traits>
#include <utility>

#include <fmt/ranges.h>

#include "illume/attention/metrics.h"
#include "illume/data/model_prompt_style.h"
#include "illume/model/device.h"
#include "illume/util/error.h"

namespace illume::cli {

std::string HelpFormatter::make_group(std::string group, bool is_positional, std::vector<const CLI::Option*> opts) const {
  if (group == kDeprecatedGroup) return {};
  return CLI::Formatter::make_group(std::move(group), is_positional, std::move(opts));
}

namespace {

// The value of a flag as a number: nullopt when it is not one (or is nan / inf).
template <typename T>
std::optional<T> parse_number(const std::string& text) {
  T value{};
  const auto* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end) return std::nullopt;
  if constexpr (std::is_floating_point_v<T>)
    if (!std::isfinite(value)) return std::nullopt;
  return value;
}

}  // namespace

CLI::Validator integer_range(std::int64_t lo, std::int64_t hi) {
  return CLI::Validator(
      [lo, hi](std::string& text) -> std::string {
        auto v = parse_number<std::int64_t>(text);
        if (!v || *v < lo || *v > hi) return fmt::format("must be a whole number in [{}, {}], got {}", lo, hi, text);
        return {};
      },
      fmt::format("in [{}, {}]", lo, hi));
}

CLI::Validator number_range(double lo, double hi, bool lo_exclusive) {
  return CLI::Validator(
      [lo, hi, lo_exclusive](std::string& text) -> std::string {
        auto v = parse_number<double>(text);
        if (!v || *v < lo || (lo_exclusive && *v == lo) || *v > hi)
          return fmt::format("must be a number in {}{}, {}], got {}", lo_exclusive ? "(" : "[", lo, hi, text);
        return {};
      },
      fmt::format("in {}{}, {}]", lo_exclusive ? "(" : "[", lo, hi));
}

CLI::Validator non_negative_integer() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        if (!parse_number<std::uint64_t>(text)) return fmt::format("must be a whole number >= 0, got {}", text);
        return {};
      },
      ">= 0");
}

CLI::Validator deprecated_spelling(const std::string& old_name, const CLI::Option* option) {
  return CLI::Validator(
      [old_name, option](std::string&) -> std::string {
        // Validators run once the whole command line is parsed, so `option` has its final count here.
        if (option->count() > 0) return "the deprecated spelling of " + option->get_name() + ", given too";
        std::fprintf(stderr, "illume: warning: %s is deprecated; use %s\n", old_name.c_str(),
                     option->get_name(false, true).c_str());
        return {};
      },
      "");
}

void SamplingFlags::add_to(CLI::App* cmd, const Help& help) {
  const auto samples = integer_range(1, kMaxSamplesPerPrompt);
  cmd->add_option("-n,--num-samples", num_samples, help.num_samples)->check(samples)->capture_default_str();
  cmd->add_option("--temperature", temperature, "sampling temperature (0 = greedy)")
      ->check(number_range(0.0, 100.0))
      ->capture_default_str();
  cmd->add_option("--top-p", top_p, "nucleus sampling: the smallest set of tokens with this much probability")
      ->check(number_range(0.0, 1.0, /*lo_exclusive=*/true))
      ->capture_default_str();
  cmd->add_option("--top-k", top_k, "sample among the k likeliest tokens (0 = all)")
      ->check(integer_range(0, std::int64_t{1} << 30))
      ->capture_default_str();
  cmd->add_flag("--greedy", greedy, "argmax decoding (the same as --temperature 0)");
  cmd->add_option("--seed", seed, help.seed)->check(non_negative_integer())->capture_default_str();
  cmd->add_option("--max-new-tokens", max_new_tokens, "response length limit in tokens (a response also stops at the "
                                                      "model's last position)")
      ->check(integer_range(1, std::int64_t{1} << 24))
      ->capture_default_str();
  cmd->add_option("--max-batch-rows", max_batch_rows, help.max_batch_rows)
      ->check(integer_range(1, std::int64_t{1} << 20))
      ->capture_default_str();
}

void SamplingFlags::apply(SamplingOptions& options) const {
  options.num_samples = num_samples;
  options.temperature = effective_temperature();
  options.top_p = top_p;
  options.top_k = top_k;
  options.seed = seed;
  options.max_new_tokens = max_new_tokens;
  options.max_batch_rows = max_batch_rows;
}

void ModelFlags::add_to(CLI::App* cmd, bool with_compute_flags) {
  cmd->add_option("--model", model_dir, "Hugging Face model folder (config.json, *.safetensors, tokenizer.json)")
      ->required();
  if (with_compute_flags) {
    cmd->add_option("--device", device, "cpu | cuda | cuda:N")->capture_default_str();
    cmd->add_option("--dtype", dtype, "compute dtype: f32 | bf16 | f16")->capture_default_str();
    cmd->add_flag("--allow-unused-weights", allow_unused_weights,
                  "load even when the checkpoint has tensors the model does not read (default: an error)");
  }
}

Model ModelFlags::load_model() const {
  LoadOptions options;
  options.device = parse_device(device);
  options.dtype = parse_dtype(dtype);
  options.allow_unused_weights = allow_unused_weights;
  return Model::load(model_dir, options);
}

Tokenizer ModelFlags::load_tokenizer() const { return Tokenizer::from_dir(model_dir); }

std::vector<std::int32_t> parse_id_list(const std::string& text, const std::string& source) {
  std::vector<std::int32_t> ids;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ',' || std::isspace(static_cast<unsigned char>(text[i])) || text[i] == '[' ||
                               text[i] == ']'))
      ++i;
    if (i >= text.size()) break;
    std::size_t j = i;
    while (j < text.size() && text[j] != ',' && !std::isspace(static_cast<unsigned char>(text[j])) && text[j] != ']') ++j;
    std::int64_t value = 0;
    auto [ptr, ec] = std::from_chars(text.data() + i, text.data() + j, value);
    if (ec != std::errc() || ptr != text.data() + j || value < 0 || value > INT32_MAX)
      fail("{}: '{}' is not a token id", source, text.substr(i, j - i));
    ids.push_back(static_cast<std::int32_t>(value));
    i = j;
  }
  if (ids.empty()) fail("{}: no token ids given", source);
  return ids;
}

std::vector<int> parse_layers(const std::string& spec, std::int64_t num_layers, const std::string& flag) {
  std::vector<int> layers;
  if (spec == "all") {
    for (int l = 0; l < num_layers; ++l) layers.push_back(l);
    return layers;
  }
  for (auto id : parse_id_list(spec, flag)) {
    if (id >= num_layers) fail("{}: layer {} is beyond the model ({} layers)", flag, id, num_layers);
    layers.push_back(id);
  }
  return layers;
}

void PromptFlags::add_to(CLI::App* cmd, bool with_system) {
  auto* chat_flag = cmd->add_flag("--chat", chat, "wrap prompts in the model's chat format (Qwen ChatML) with the "
                                                  "generation prompt (default: the style the model folder records "
                                                  "as illume_prompt_style, else plain)");
  auto* plain_flag = cmd->add_flag("--plain", plain, "the plain base-model prompt (default: as --chat says)");
  chat_flag->excludes(plain_flag);
  if (!with_system) return;
  cmd->add_option("--system", system, "system message (with --chat; otherwise a first paragraph before each prompt)")
      ->capture_default_str();
  cmd->add_flag("--no-thinking", no_thinking, "with --chat: add the empty think block (enable_thinking=false)");
}

void PromptFlags::resolve(const std::filesystem::path& model_dir) {
  const auto style = data::resolve_prompt_style(model_dir, chat, plain);  // fails on --chat with --plain
  style_source = chat ? "--chat" : plain ? "--plain" : data::recorded_prompt_style(model_dir) ? "model folder" : "default";
  chat = style == data::PromptStyle::Chat;
}

PromptFormat PromptFlags::format() const { return {chat, system, !no_thinking}; }

void AttentionFlags::add_to(CLI::App* cmd) {
  cmd->add_option("--layers", layers, "mid5 (5 layers of the middle third) | all | 0,3,5")->capture_default_str();
  cmd->add_option("--window", window, "W of WAAD (tokens)")
      ->check(integer_range(1, kMaxAttentionWindow))
      ->capture_default_str();
  cmd->add_option("--fai-horizon-lo", fai_horizon_lo, "FAI horizon start H_lo")->capture_default_str();
  cmd->add_option("--fai-horizon-hi", fai_horizon_hi, "FAI horizon end H_hi: N or end")->capture_default_str();
  cmd->add_option("--head-quantile", head_quantile, "fraction of heads in each group (local: lowest span)")
      ->capture_default_str();
  cmd->add_option("--grouping", grouping,
                  "head groups: sequence (ranked per response) | batch (ranked once over all responses) | fixed "
                  "(--local-heads, --global-heads)")
      ->capture_default_str();
  cmd->add_option("--local-heads", local_heads, "with --grouping fixed: the local heads, layer:head,... (e.g. 12:3,15:0)");
  cmd->add_option("--global-heads", global_heads, "with --grouping fixed: the global heads, layer:head,...");
  cmd->add_flag("--all-heads", all_heads, "WAAD and FAI from the mean of every head of the layers (the paper's ablation)");
  cmd->add_option("--passes", passes, "1 (keep all heads' sums) or 2 (group heads first)")->capture_default_str();
}

AttentionStatsConfig AttentionFlags::config(int num_layers, std::int64_t num_heads) const {
  auto c = analysis_attention_config(num_layers);
  if (layers != "mid5") c.layers = parse_layers(layers, num_layers, "--layers");
  if (window < 1 || window > kMaxAttentionWindow)
    fail("--window {}: the WAAD window must be in [1, {}]", window, kMaxAttentionWindow);
  c.window = window;
  if (fai_horizon_lo < 0) fail("--fai-horizon-lo {}: the FAI horizon start must be >= 0", fai_horizon_lo);
  c.fai_horizon_lo = fai_horizon_lo;
  if (fai_horizon_hi == "end") {
    c.fai_horizon_hi = kHorizonToEnd;
  } else {
    auto v = parse_id_list(fai_horizon_hi, "--fai-horizon-hi");
    if (v.size() != 1) fail("--fai-horizon-hi: give one number or 'end'");
    c.fai_horizon_hi = v[0];
  }
  if (c.fai_horizon_hi < c.fai_horizon_lo)
    fail("--fai-horizon-hi {} is below --fai-horizon-lo {}", fai_horizon_hi, fai_horizon_lo);
  if (!(head_quantile > 0 && head_quantile <= 0.5)) fail("--head-quantile {} must be in (0, 0.5]", head_quantile);
  c.group_fraction = head_quantile;
  if (grouping != "sequence" && grouping != "batch" && grouping != "fixed")
    fail("--grouping {}: unknown (sequence, batch, fixed)", grouping);
  c.grouping = parse_grouping(grouping);
  auto heads = [](const std::string& text, const char* flag) {
    try {
      return parse_head_list(text);
    } catch (const Error& e) {
      fail("{}: {}", flag, e.what());
    }
  };
  const bool fixed = c.grouping == HeadGroupingScope::fixed;
  if (fixed && (local_heads.empty() || global_heads.empty()))
    fail("--grouping fixed needs --local-heads and --global-heads");
  if (!fixed && !(local_heads.empty() && global_heads.empty()))
    fail("--local-heads and --global-heads need --grouping fixed (got --grouping {})", grouping);
  if (fixed && all_heads) fail("--all-heads averages every head; it excludes --grouping fixed");
  if (fixed) {
    c.fixed_local = heads(local_heads, "--local-heads");
    c.fixed_global = heads(global_heads, "--global-heads");
    for (const auto& [flag, list] : {std::pair{"--local-heads", &c.fixed_local}, std::pair{"--global-heads", &c.fixed_global}})
      for (const auto& h : *list)
        if (std::find(c.layers.begin(), c.layers.end(), h.layer) == c.layers.end())
          fail("{}: head {} is not in an observed layer (--layers: {})", flag, head_name(h), fmt::join(c.layers, ","));
        else if (num_heads > 0 && h.head >= num_heads)
          fail("{}: head {} is beyond the model ({} heads per layer)", flag, head_name(h), num_heads);
  }
  c.all_heads = all_heads;
  c.passes = static_cast<int>(passes);
  validate_attention_config(c);  // the remaining checks (passes), before any model work
  validate_layers(c, num_layers);
  return c;
}


}  // namespace illume::cli
