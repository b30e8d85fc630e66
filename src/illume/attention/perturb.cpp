#include "illume/attention/perturb.h"

#include <torch/torch.h>

#include <algorithm>
#include <cctype>
#include <numeric>

#include "illume/infer/generate.h"
#include "illume/infer/vocabulary.h"
#include "illume/util/error.h"
#include "illume/util/progress.h"

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

PerturbResult perturbation_test(const Model& model, const std::vector<std::vector<std::int32_t>>& prompts,
                                const PerturbSettings& settings, const TextDecoder& decode, bool show_progress) {
  check(settings.positions >= 1, "perturbation: positions must be >= 1 (got {})", settings.positions);
  check(settings.alternatives >= 1, "perturbation: alternatives must be >= 1 (got {})", settings.alternatives);
  check(settings.continuation_tokens >= 1, "perturbation: continuation tokens must be >= 1");
  check(settings.max_new_tokens >= 2, "perturbation: max new tokens must be >= 2");
  check(!settings.valid_ids.empty(), "perturbation: settings have no valid_ids (the ids the tokenizer can decode)");
  torch::NoGradGuard no_grad;
  const auto invalid = invalid_id_mask(settings.valid_ids, model.config().vocab_size, model.device());
  SamplingOptions greedy;
  greedy.valid_ids = settings.valid_ids;
  greedy.temperature = 0;
  greedy.max_new_tokens = settings.max_new_tokens;
  greedy.stop_token_ids = settings.stop_token_ids;
  auto responses = generate(model, prompts, greedy);
  PerturbResult result;
  Progress progress("perturb", static_cast<std::int64_t>(prompts.size()), "prompt", show_progress);
  for (std::size_t p = 0; p < prompts.size(); ++p) {
    const auto& response = responses[p].ids;
    const auto R = static_cast<std::int64_t>(response.size());
    progress.advance(1);
    if (R < 3) continue;  // nothing to perturb with a continuation after it
    auto analyzed = analyze_responses(model, {{prompts[p], response}}, settings.analysis);
    auto fai = analyzed[0].stats.fai.contiguous();
    auto f = fai.accessor<double, 1>();
    // Candidates: positions with at least one token after them; ranked by FAI (stable, ties by position).
    std::vector<std::int64_t> order(R - 1);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](auto a, auto b) { return f[a] > f[b]; });
    const auto k = std::min<std::int64_t>(settings.positions, (R - 1) / 2);
    std::vector<std::pair<std::int64_t, bool>> chosen;
    for (std::int64_t i = 0; i < k; ++i) chosen.push_back({order[i], true});
    for (std::int64_t i = 0; i < k; ++i) chosen.push_back({order[R - 2 - i], false});
    // Alternatives at each chosen position: the most likely next tokens other than the greedy one.
    std::vector<std::vector<std::int32_t>> forced_prompts;
    std::vector<PerturbTrial> trials;
    for (auto [pos, high] : chosen) {
      std::vector<std::int32_t> prefix = prompts[p];
      prefix.insert(prefix.end(), response.begin(), response.begin() + pos);
      auto ids = torch::tensor(std::vector<std::int64_t>(prefix.begin(), prefix.end()), torch::kLong).view({1, -1});
      auto logits = mask_invalid_ids(
          model.forward(ids.to(model.device()), torch::ones_like(ids).to(model.device()))[0][-1], invalid);
      auto top = std::get<1>(logits.topk(settings.alternatives + 1)).to(torch::kCPU);
      std::int64_t taken = 0;
      for (std::int64_t i = 0; i < top.size(0) && taken < settings.alternatives; ++i) {
        auto token = static_cast<std::int32_t>(top[i].item<std::int64_t>());
        if (token == response[pos]) continue;
        auto forced = prefix;
        forced.push_back(token);
        forced_prompts.push_back(std::move(forced));
        trials.push_back({p, pos, high, f[pos], response[pos], token, 0.0});
        ++taken;
      }
    }
    SamplingOptions cont = greedy;
    cont.max_new_tokens = settings.continuation_tokens;
    auto continuations = generate(model, forced_prompts, cont);
    for (std::size_t i = 0; i < trials.size(); ++i) {
      auto& t = trials[i];
      const auto begin = response.begin() + t.position + 1;
      const auto end = response.begin() + std::min<std::int64_t>(R, t.position + 1 + settings.continuation_tokens);
      std::vector<std::int32_t> original(begin, end);
      t.jaccard = jaccard(content_words(decode(original)), content_words(decode(continuations[i].ids)));
    }
    // Pairs within this prompt.
    for (const auto& a : trials)
      for (const auto& b : trials)
        if (a.high_fai && !b.high_fai) {
          result.top_below_bottom += a.jaccard < b.jaccard ? 1.0 : a.jaccard == b.jaccard ? 0.5 : 0.0;
          ++result.pairs;
        }
    result.trials.insert(result.trials.end(), trials.begin(), trials.end());
  }
  progress.finish();
  double high = 0, low = 0;
  std::int64_t nh = 0, nl = 0;
  for (const auto& t : result.trials) {
    if (t.high_fai) {
      high += t.jaccard;
      ++nh;
    } else {
      low += t.jaccard;
      ++nl;
    }
  }
  result.mean_high = nh ? high / double(nh) : 0.0;
  result.mean_low = nl ? low / double(nl) : 0.0;
  result.top_below_bottom = result.pairs ? result.top_below_bottom / double(result.pairs) : 0.0;
  return result;
}

Json PerturbResult::to_json() const {
  Json list = Json::array();
  for (const auto& t : trials)
    list.push_back({{"prompt_index", t.prompt_index}, {"position", t.position}, {"group", t.high_fai ? "high_fai" : "low_fai"},
                    {"fai", t.fai}, {"original_token", t.original}, {"forced_token", t.forced}, {"jaccard", t.jaccard}});
  return {{"jaccard_high_fai", mean_high}, {"jaccard_low_fai", mean_low}, {"top_below_bottom", top_below_bottom},
          {"pairs", pairs}, {"trials", list},
          {"paper", {{"jaccard_high_fai", 0.534}, {"jaccard_low_fai", 0.631}, {"top_below_bottom", 0.8714}}}};
}

std::string PerturbResult::to_markdown() const {
  std::int64_t nh = 0, nl = 0;
  for (const auto& t : trials) {
    if (t.high_fai) ++nh;
    else ++nl;
  }
  return fmt::format(
      "| group | trials | mean Jaccard (content words) | paper |\n|---|---|---|---|\n"
      "| high-FAI positions | {} | {:.4f} | 0.534 |\n| low-FAI positions | {} | {:.4f} | 0.631 |\n\n"
      "Pr(high-FAI Jaccard < low-FAI Jaccard) over {} pairs: {:.4f} (paper: 0.8714)\n",
      nh, mean_high, nl, mean_low, pairs, top_below_bottom);
}

}  // namespace illume
