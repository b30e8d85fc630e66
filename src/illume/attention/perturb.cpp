#include "illume/attention/perturb.h"

#include <torch/torch.h>

#include <algorithm>
#include <cctype>
#include <numeric>

#include "illume/infer/generate.h"
#include "illume/infer/vocabulary.h"
#include "illume/util/error.h"
#include "illume/util/progress.h"
#include "illume/util/random.h"

namespace illume {

namespace {

const std::set<std::string>& stop_words() {
  static const std::set<std::string> words = {
      "a", "about", "above", "after", "again", "all", "also", "am", "an", "and", "any", "are", "as", "at", "be",
      "because", "been", "before", "being", "below", "between", "both", "but", "by", "can", "could", "did", "do",
      "does", "doing", "down", "during", "each", "few", "for", "from", "further", "had", "has", "have", "having", "he",
      "her", "here", "hers", "him", "his", "how", "i", "if", "in", "into", "is", "it", "its", "itself", "just", "let",
      "me", "more", "most", "my", "no", "nor", "not", "now", "of", "off", "on", "once", "only", "or", "other", "our",
      "ours", "out", "over", "own", "same", "she", "should", "so", "some", "such", "than", "that", "the", "their",
      "theirs", "them", "then", "there", "these", "they", "this", "those", "through", "to", "too", "under", "until",
      "up", "us", "very", "was", "we", "were", "what", "when", "where", "which", "while", "who", "whom", "why", "will",
      "with", "would", "you", "your", "yours", "s", "t"};
  return words;
}

}  // namespace

std::set<std::string> content_words(const std::string& text) {
  std::set<std::string> out;
  std::string word;
  auto flush = [&] {
    if (!word.empty() && stop_words().count(word) == 0) out.insert(word);
    word.clear();
  };
  for (unsigned char c : text) {
    if (c < 0x80 && std::isalnum(c)) word.push_back(static_cast<char>(std::tolower(c)));
    else flush();
  }
  flush();
  return out;
}

double jaccard(const std::set<std::string>& a, const std::set<std::string>& b) {
  if (a.empty() && b.empty()) return 1.0;
  std::size_t common = 0;
  for (const auto& w : a) common += b.count(w);
  return double(common) / double(a.size() + b.size() - common);
}

std::vector<std::size_t> sample_prompt_indices(std::size_t available, std::size_t count, std::uint64_t seed) {
  std::vector<std::size_t> chosen;
  if (count >= available) {
    chosen.resize(available);
    std::iota(chosen.begin(), chosen.end(), std::size_t{0});
    return chosen;
  }
  auto permutation = seeded_permutation(available, seed);
  chosen.assign(permutation.begin(), permutation.begin() + static_cast<std::ptrdiff_t>(count));
  std::sort(chosen.begin(), chosen.end());
  return chosen;
}

PerturbSummary summarize_perturbation(const std::vector<PerturbTrial>& trials) {
  PerturbSummary s;
  double high = 0, low = 0, pairwise = 0;
  for (const auto& t : trials) {
    (t.high_fai ? high : low) += t.jaccard;
    ++(t.high_fai ? s.high_trials : s.low_trials);
  }
  s.mean_high = s.high_trials ? high / double(s.high_trials) : 0.0;
  s.mean_low = s.low_trials ? low / double(s.low_trials) : 0.0;
  // Per problem, in order of first appearance.
  std::vector<std::size_t> problems;
  for (const auto& t : trials)
    if (std::find(problems.begin(), problems.end(), t.prompt_index) == problems.end()) problems.push_back(t.prompt_index);
  for (auto p : problems) {
    double sum_high = 0, sum_low = 0;
    std::int64_t n_high = 0, n_low = 0;
    for (const auto& a : trials) {
      if (a.prompt_index != p) continue;
      if (a.high_fai) {
        sum_high += a.jaccard;
        ++n_high;
        for (const auto& b : trials)
          if (b.prompt_index == p && !b.high_fai) {
            pairwise += a.jaccard < b.jaccard ? 1.0 : a.jaccard == b.jaccard ? 0.5 : 0.0;
            ++s.pairs;
          }
      } else {
        sum_low += a.jaccard;
        ++n_low;
      }
    }
    if (n_high == 0 || n_low == 0) continue;  // no comparison within this problem
    ++s.problems;
    const double mean_high = sum_high / double(n_high), mean_low = sum_low / double(n_low);
    if (mean_high < mean_low) ++s.problems_high_below_low;
    else if (mean_high == mean_low) ++s.problems_tied;
  }
  s.fraction_high_below_low = s.problems ? double(s.problems_high_below_low) / double(s.problems) : 0.0;
  s.pairwise_high_below_low = s.pairs ? pairwise / double(s.pairs) : 0.0;
  return s;
}

PerturbResult perturbation_test(const Model& model, const std::vector<std::vector<std::int32_t>>& prompts,
                                const PerturbSettings& settings, const TextDecoder& decode, bool show_progress) {
  check(settings.positions >= 1, "perturbation: positions must be >= 1 (got {})", settings.positions);
  check(settings.alternatives >= 1, "perturbation: alternatives must be >= 1 (got {})", settings.alternatives);
  check(settings.continuation_tokens >= 1, "perturbation: continuation tokens must be >= 1");
  check(settings.max_new_tokens >= 2, "perturbation: max new tokens must be >= 2");
  check(!settings.valid_ids.empty(), "perturbation: settings have no valid_ids (the ids the tokenizer can decode)");
  check(!prompts.empty(), "perturbation: no prompts");
  torch::NoGradGuard no_grad;
  const auto invalid = invalid_id_mask(settings.valid_ids, model.config().vocab_size, model.device());
  SamplingOptions greedy;
  greedy.valid_ids = settings.valid_ids;
  greedy.temperature = 0;
  greedy.max_new_tokens = settings.max_new_tokens;
  greedy.stop_token_ids = settings.stop_token_ids;
  auto responses = generate(model, prompts, greedy);
  SamplingOptions continuation = greedy;
  continuation.max_new_tokens = settings.continuation_tokens;
  // A position is a candidate when the response has a token after it (the last token may be a stop
  // token) and FAI has at least one receiver row for it (rows p + H_lo .. R-1): a position without
  // receivers has FAI := 0 by convention, not a measured low FAI, and would always rank lowest.
  const std::int64_t gap = std::max<std::int64_t>(1, settings.analysis.stats.fai_horizon_lo);
  PerturbResult result;
  std::int64_t longest = 0;
  Progress progress("perturb", static_cast<std::int64_t>(prompts.size()), "prompt", show_progress);
  for (std::size_t p = 0; p < prompts.size(); ++p) {
    const auto& response = responses[p].ids;
    const auto R = static_cast<std::int64_t>(response.size());
    longest = std::max(longest, R);
    PerturbProblem problem;
    problem.prompt_index = p;
    problem.response_text = decode(response);
    problem.response_tokens = R;
    progress.advance(1);
    const std::int64_t candidates = R - gap;  // positions 0 .. R-1-gap
    if (candidates < 2) {                      // one high and one low position at least
      result.problems.push_back(std::move(problem));
      continue;
    }
    auto analyzed = analyze_responses(model, {{prompts[p], response}}, settings.analysis);
    auto fai = analyzed[0].stats.fai.contiguous();
    auto f = fai.accessor<double, 1>();
    // Ranked by FAI (stable: ties by position).
    std::vector<std::int64_t> order(static_cast<std::size_t>(candidates));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](auto a, auto b) { return f[a] > f[b]; });
    const auto k = std::min<std::int64_t>(settings.positions, candidates / 2);
    std::vector<std::pair<std::int64_t, bool>> chosen;
    for (std::int64_t i = 0; i < k; ++i) chosen.push_back({order[i], true});
    for (std::int64_t i = 0; i < k; ++i) chosen.push_back({order[candidates - 1 - i], false});
    // One batch of continuations for this prompt: at each chosen position, the reference (the
    // original token kept) and the forced alternatives. The reference is regenerated rather than read
    // off the response: the response stops where greedy decoding stopped (max_new_tokens or a stop
    // token), so near its end the original continuation would have fewer than M tokens while a forced
    // one has M, and the smaller word set alone would lower the Jaccard of late positions whatever
    // their FAI. Truncating both to the common length would also compare equal windows, but would
    // shrink them near the end (to nothing at the last candidates); regenerating keeps M tokens on
    // both sides (fewer only where the model itself emits a stop token) and gives both sides the same
    // numerics (batch, left padding, KV cache), so a difference comes from the forced token alone.
    std::vector<std::vector<std::int32_t>> batch;
    std::vector<std::size_t> reference_slot, forced_slot;  // per trial: its rows in the batch
    std::vector<PerturbTrial> trials;
    for (auto [pos, high] : chosen) {
      std::vector<std::int32_t> prefix = prompts[p];
      prefix.insert(prefix.end(), response.begin(), response.begin() + pos);
      auto ids = torch::tensor(std::vector<std::int64_t>(prefix.begin(), prefix.end()), torch::kLong).view({1, -1});
      auto logits = mask_invalid_ids(
          model.forward(ids.to(model.device()), torch::ones_like(ids).to(model.device()))[0][-1], invalid);
      auto top = std::get<1>(logits.topk(settings.alternatives + 1)).to(torch::kCPU);
      const std::size_t reference = batch.size();
      batch.push_back(prefix);
      batch.back().push_back(response[pos]);
      std::int64_t taken = 0;
      for (std::int64_t i = 0; i < top.size(0) && taken < settings.alternatives; ++i) {
        auto token = static_cast<std::int32_t>(top[i].item<std::int64_t>());
        if (token == response[pos]) continue;
        batch.push_back(prefix);
        batch.back().push_back(token);
        PerturbTrial trial;
        trial.prompt_index = p;
        trial.position = pos;
        trial.high_fai = high;
        trial.fai = f[pos];
        trial.original = response[pos];
        trial.forced = token;
        trials.push_back(std::move(trial));
        reference_slot.push_back(reference);
        forced_slot.push_back(batch.size() - 1);
        ++taken;
      }
    }
    auto continuations = generate(model, batch, continuation);
    for (std::size_t i = 0; i < trials.size(); ++i) {
      auto& t = trials[i];
      t.reference_continuation = continuations[reference_slot[i]].ids;
      t.forced_continuation = continuations[forced_slot[i]].ids;
      t.reference_text = decode(t.reference_continuation);
      t.forced_text = decode(t.forced_continuation);
      t.jaccard = jaccard(content_words(t.reference_text), content_words(t.forced_text));
    }
    double sum_high = 0, sum_low = 0;
    for (const auto& t : trials) {
      (t.high_fai ? sum_high : sum_low) += t.jaccard;
      ++(t.high_fai ? problem.high_trials : problem.low_trials);
    }
    problem.mean_high = problem.high_trials ? sum_high / double(problem.high_trials) : 0.0;
    problem.mean_low = problem.low_trials ? sum_low / double(problem.low_trials) : 0.0;
    result.problems.push_back(std::move(problem));
    result.trials.insert(result.trials.end(), std::make_move_iterator(trials.begin()),
                         std::make_move_iterator(trials.end()));
  }
  progress.finish();
  if (result.trials.empty())
    fail("perturbation test: no trials: none of the {} greedy responses (longest {} tokens) has 2 positions with a "
         "token and a FAI receiver {} or more tokens after them; raise --max-new-tokens or check the prompts",
         prompts.size(), longest, gap);
  result.summary = summarize_perturbation(result.trials);
  return result;
}

Json PerturbResult::to_json(const Json& settings, const Json& prompts) const {
  Json trial_list = Json::array();
  for (const auto& t : trials)
    trial_list.push_back({{"prompt_index", t.prompt_index},
                          {"position", t.position},
                          {"group", t.high_fai ? "high_fai" : "low_fai"},
                          {"fai", t.fai},
                          {"original_token", t.original},
                          {"forced_token", t.forced},
                          {"jaccard", t.jaccard},
                          {"reference_continuation", t.reference_text},
                          {"forced_continuation", t.forced_text},
                          {"reference_continuation_ids", t.reference_continuation},
                          {"forced_continuation_ids", t.forced_continuation}});
  Json problem_list = Json::array();
  for (const auto& p : problems) {
    Json row = {{"prompt_index", p.prompt_index},
                {"response", p.response_text},
                {"response_tokens", p.response_tokens},
                {"trials_high_fai", p.high_trials},
                {"trials_low_fai", p.low_trials}};
    if (p.high_trials > 0 && p.low_trials > 0) {
      row["jaccard_high_fai"] = p.mean_high;
      row["jaccard_low_fai"] = p.mean_low;
      row["high_below_low"] = p.mean_high < p.mean_low;
    }
    if (prompts.is_array() && p.prompt_index < prompts.size())
      for (const auto& [key, value] : prompts[p.prompt_index].items()) row[key] = value;
    problem_list.push_back(std::move(row));
  }
  const auto& s = summary;
  return {{"statistic", "fraction of problems whose mean high-FAI Jaccard is below their mean low-FAI Jaccard"},
          {"problems_high_below_low",
           {{"fraction", s.fraction_high_below_low},
            {"below", s.problems_high_below_low},
            {"problems", s.problems},
            {"ties", s.problems_tied}}},
          {"jaccard_high_fai", s.mean_high},
          {"jaccard_low_fai", s.mean_low},
          {"trials_high_fai", s.high_trials},
          {"trials_low_fai", s.low_trials},
          {"pairwise", {{"high_below_low", s.pairwise_high_below_low}, {"pairs", s.pairs}, {"ties", "count 1/2"}}},
          {"paper",
           {{"problems_high_below_low", {{"fraction", 0.8714}, {"below", 61}, {"problems", 70}}},
            {"jaccard_high_fai", 0.534},
            {"jaccard_low_fai", 0.631}}},
          {"settings", settings},
          {"problems", problem_list},
          {"trials", trial_list}};
}

std::string PerturbResult::to_markdown() const {
  const auto& s = summary;
  return fmt::format(
      "Perturbation test (paper Table 1): {} problems with trials of both groups, {} trials\n\n"
      "| | ours | paper |\n|---|---|---|\n"
      "| problems whose mean high-FAI Jaccard < mean low-FAI Jaccard | {:.4f} ({}/{}) | 0.8714 (61/70) |\n"
      "| mean Jaccard (content words), high-FAI positions | {:.4f} ({} trials) | 0.534 |\n"
      "| mean Jaccard (content words), low-FAI positions | {:.4f} ({} trials) | 0.631 |\n\n"
      "Extra: Pr(high-FAI Jaccard < low-FAI Jaccard) over {} (high, low) trial pairs of one problem, ties 1/2: "
      "{:.4f}\n",
      s.problems, s.high_trials + s.low_trials, s.fraction_high_below_low, s.problems_high_below_low, s.problems,
      s.mean_high, s.high_trials, s.mean_low, s.low_trials, s.pairs, s.pairwise_high_below_low);
}

}  // namespace illume
