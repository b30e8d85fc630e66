// The perturbation test of METHOD.md §3 (paper Table 1): are high-FAI (anchor) positions more
// consequential for what follows than low-FAI ones? For each prompt: the greedy response; its FAI;
// the top-k and bottom-k positions by FAI; at each position the greedy token is replaced by each of
// the next `alternatives` most likely tokens and the text is continued greedily for M tokens; the
// continuation is compared with the reference continuation (the original token kept, continued the
// same way) by the Jaccard similarity of their content-word sets. Lower similarity = the position
// mattered more.
//
// The paper's statistic is per problem: the fraction of problems whose mean high-FAI Jaccard is below
// their mean low-FAI Jaccard (87.14% = 61/70). The pairwise figure (over all (high, low) trial pairs
// of one problem) is kept as an extra.
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
  std::size_t prompt_index = 0;  // index into the prompts given to perturbation_test
  std::int64_t position = 0;     // response position whose token was replaced
  bool high_fai = false;         // top-k (true) or bottom-k (false)
  double fai = 0;
  std::int32_t original = 0, forced = 0;
  double jaccard = 0;
  // The M greedy tokens after the position (fewer when a stop token ends them), with the original
  // token kept (reference) and with the forced one; and their text.
  std::vector<std::int32_t> reference_continuation, forced_continuation;
  std::string reference_text, forced_text;
};

// One prompt's greedy response and its trials' means.
struct PerturbProblem {
  std::size_t prompt_index = 0;
  std::string response_text;
  std::int64_t response_tokens = 0;
  std::int64_t high_trials = 0, low_trials = 0;
  double mean_high = 0, mean_low = 0;  // mean Jaccard of its high-FAI / low-FAI trials (0 without any)
};

struct PerturbSummary {
  // The paper's statistic: over problems with both high- and low-FAI trials, the fraction whose mean
  // high-FAI Jaccard is strictly below their mean low-FAI Jaccard (ties count as not below).
  std::int64_t problems = 0, problems_high_below_low = 0, problems_tied = 0;
  double fraction_high_below_low = 0;
  // Means over trials (pooled across problems).
  std::int64_t high_trials = 0, low_trials = 0;
  double mean_high = 0, mean_low = 0;
  // Extra: Pr(J_high < J_low) over (high, low) trial pairs of one problem; ties 1/2.
  std::int64_t pairs = 0;
  double pairwise_high_below_low = 0;
};

// The statistics of a set of trials (pure; problems are told apart by prompt_index).
PerturbSummary summarize_perturbation(const std::vector<PerturbTrial>& trials);

struct PerturbResult {
  std::vector<PerturbTrial> trials;
  std::vector<PerturbProblem> problems;  // one per prompt given, in order
  PerturbSummary summary;
  // `settings` (prompt settings, knobs) and `prompts` (the rows and texts of the prompts given, for
  // the per-problem records; may be empty) go into the file as given.
  Json to_json(const Json& settings = Json::object(), const Json& prompts = Json::array()) const;
  std::string to_markdown() const;
};

// Lowercase ASCII-alphanumeric words (other bytes separate words) minus a fixed English stop-word list.
std::set<std::string> content_words(const std::string& text);
// |a ∩ b| / |a ∪ b|; 1 when both are empty.
double jaccard(const std::set<std::string>& a, const std::set<std::string>& b);

// `count` distinct indices below `available`, drawn uniformly at random (util/random.h's portable
// seeded permutation, so the same on every platform), in ascending order. count >= available: all.
std::vector<std::size_t> sample_prompt_indices(std::size_t available, std::size_t count, std::uint64_t seed);

using TextDecoder = std::function<std::string(const std::vector<std::int32_t>&)>;

// Fails when no prompt yields a trial (every greedy response too short to have a position with a
// token and a FAI horizon after it).
PerturbResult perturbation_test(const Model& model, const std::vector<std::vector<std::int32_t>>& prompts,
                                const PerturbSettings& settings, const TextDecoder& decode, bool show_progress = false);

}  // namespace illume
