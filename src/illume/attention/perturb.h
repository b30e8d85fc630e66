// The perturbation test of METHOD.md §3 (paper Table 1): are high-FAI (anchor) positions more
// consequential for what follows than low-FAI ones? For each prompt: the greedy response; its FAI;
// the top-k and bottom-k positions by FAI; at each position the greedy token is replaced by each of
// the next `alternatives` most likely tokens and the text is continued greedily for M tokens; the
// continuation is compared with the original greedy continuation by the Jaccard similarity of their
// content-word sets. Lower similarity = the position mattered more.
#pragma once
#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "illume/attention/analysis.h"
#include "illume/model/model.h"
#include "illume/text/prompt.h"
#include "illume/util/json.h"

namespace illume {

struct PerturbSettings {
  AnalysisSettings analysis;                 // FAI settings (layers, horizon, head groups)
  std::int64_t positions = 3;                // k: top-k and bottom-k positions per response
  std::int64_t alternatives = 3;             // forced tokens per position ([ours] k = 3)
  std::int64_t continuation_tokens = 32;     // M: greedy tokens after the forced token
  std::int64_t max_new_tokens = 128;         // greedy response length
  std::vector<std::int32_t> stop_token_ids;  // for the greedy response and continuations
  // Ids the tokenizer can decode (SamplingOptions::valid_ids); the others are never chosen, neither
  // greedily nor as forced alternatives. Required.
  std::vector<std::uint8_t> valid_ids;
};

struct PerturbTrial {
  std::size_t prompt_index = 0;
  std::int64_t position = 0;     // response position whose token was replaced
  bool high_fai = false;         // top-k (true) or bottom-k (false)
  double fai = 0;
  std::int32_t original = 0, forced = 0;
  double jaccard = 0;
};

struct PerturbResult {
  std::vector<PerturbTrial> trials;
  double mean_high = 0, mean_low = 0;  // mean Jaccard of the high-FAI and low-FAI trials
  double top_below_bottom = 0;          // Pr(J_high < J_low) over (high, low) trial pairs of one prompt; ties 1/2
  std::int64_t pairs = 0;
  Json to_json() const;
  std::string to_markdown() const;
};

// Lowercase ASCII-alphanumeric words (other bytes separate words) minus a fixed English stop-word list.
std::set<std::string> content_words(const std::string& text);
// |a ∩ b| / |a ∪ b|; 1 when both are empty.
double jaccard(const std::set<std::string>& a, const std::set<std::string>& b);

using TextDecoder = std::function<std::string(const std::vector<std::int32_t>&)>;

PerturbResult perturbation_test(const Model& model, const std::vector<std::vector<std::int32_t>>& prompts,
                                const PerturbSettings& settings, const TextDecoder& decode, bool show_progress = false);

}  // namespace illume
