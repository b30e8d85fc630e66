#include "illume/infer/generate.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>

#include "illume/infer/vocabulary.h"
#include "illume/util/error.h"
#include "illume/util/progress.h"

namespace illume {

namespace {

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

struct Row {
  std::size_t completion;  // index into the output
  std::mt19937_64 rng;
  bool done = false;
};

// Filters logits [B, V] (fp32) into sampling probabilities: temperature, top-k, top-p.
at::Tensor sampling_probabilities(const at::Tensor& logits, const SamplingOptions& o) {
  auto scaled = logits / o.temperature;
  const auto V = scaled.size(-1);
  if (o.top_k > 0 && o.top_k < V) {
    auto kth = std::get<0>(scaled.topk(o.top_k, -1)).select(-1, o.top_k - 1).unsqueeze(-1);
    scaled = scaled.masked_fill(scaled < kth, -std::numeric_limits<float>::infinity());
  }
  auto probs = torch::softmax(scaled, -1);
  if (o.top_p < 1.0) {
    auto [sorted, order] = probs.sort(-1, /*descending=*/true);
    auto before = sorted.cumsum(-1) - sorted;  // mass strictly before each entry
    auto drop_sorted = before >= o.top_p;       // keeps the smallest prefix reaching top_p (at least one)
    auto drop = torch::zeros_like(drop_sorted).scatter(-1, order, drop_sorted);
    probs = probs.masked_fill(drop, 0.0);
    probs = probs / probs.sum(-1, true);
  }
  return probs;
}

}  // namespace

std::int64_t sample_from_cdf(const float* probs, std::int64_t vocab, double u) {
  double total = 0;
  for (std::int64_t i = 0; i < vocab; ++i) total += probs[i];
  double target = u * total, acc = 0;
  std::int64_t last_nonzero = -1;
  for (std::int64_t i = 0; i < vocab; ++i) {
    if (probs[i] <= 0) continue;
    last_nonzero = i;
    acc += probs[i];
    if (acc > target) return i;
  }
  return last_nonzero >= 0 ? last_nonzero : 0;
}

std::vector<Completion> generate(const Model& model, const std::vector<std::vector<std::int32_t>>& prompts,
                                 const SamplingOptions& o, const Detokenizer& detokenize) {
  torch::NoGradGuard no_grad;
  const auto max_positions = model.config().max_position_embeddings;
  // Bounds first: -n near 2^62 used to overflow prompts x samples; -1 temperature decoded greedily.
  check(o.num_samples >= 1 && o.num_samples <= kMaxSamplesPerPrompt, "generate: num_samples {} must be in [1, {}]",
        o.num_samples, kMaxSamplesPerPrompt);
  check(prompts.size() <= static_cast<std::size_t>(kMaxCompletions / o.num_samples),
        "generate: {} prompts x {} samples exceed {} completions in one call", prompts.size(), o.num_samples,
        kMaxCompletions);
  // Beyond the model's positions a response is cut anyway (below); this bound only catches nonsense.
  check(o.max_new_tokens >= 0 && o.max_new_tokens <= (std::int64_t{1} << 24), "generate: max_new_tokens {} must be in [0, {}]",
        o.max_new_tokens, std::int64_t{1} << 24);
  check(std::isfinite(o.temperature) && o.temperature >= 0, "generate: temperature {} must be >= 0 (0 = greedy)",
        o.temperature);
  check(o.top_p > 0 && o.top_p <= 1.0, "generate: top_p {} must be in (0, 1]", o.top_p);
  check(o.top_k >= 0, "generate: top_k {} must be >= 0 (0 = off)", o.top_k);
  check(o.max_batch_rows >= 1, "generate: max_batch_rows {} must be at least 1", o.max_batch_rows);
  check(o.stop_strings.empty() || detokenize, "generate: stop strings need a detokenizer");
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    check(!prompts[i].empty(), "generate: prompt {} is empty", i);
    check(static_cast<std::int64_t>(prompts[i].size()) < max_positions,
          "generate: prompt {} has {} tokens; the model takes at most {} positions (max_position_embeddings)", i,
          prompts[i].size(), max_positions);
  }
  check(!o.valid_ids.empty(),
        "generate: the sampling options have no valid_ids (build them with sampling_options(config, tokenizer), "
        "so that ids the tokenizer cannot decode are never sampled)");

  const auto vocab = model.config().vocab_size;
  const auto device = model.device();
  const auto invalid = invalid_id_mask(o.valid_ids, vocab, device);  // undefined when nothing to mask
  check(!invalid.defined() || !invalid.all().item<bool>(), "generate: no id below the model's vocab_size {} is valid",
        vocab);
  std::vector<Completion> out(prompts.size() * o.num_samples);
  for (std::size_t p = 0; p < prompts.size(); ++p)
    for (std::int64_t s = 0; s < o.num_samples; ++s) {
      auto& c = out[p * o.num_samples + s];
      c.prompt_index = p;
      c.sample_index = s;
      c.finish_reason = "length";
    }
  if (o.max_new_tokens == 0 || prompts.empty()) {
    for (auto& c : out) c.text = "";
    return out;
  }
  std::vector<bool> is_stop(vocab, false);
  for (auto id : o.stop_token_ids)
    if (id >= 0 && id < vocab) is_stop[id] = true;
  std::size_t max_stop_len = 0;
  for (auto& s : o.stop_strings) max_stop_len = std::max(max_stop_len, s.size());

  // Prompts per chunk so that chunk rows (prompts x samples) stay within max_batch_rows.
  const std::int64_t prompts_per_chunk = std::max<std::int64_t>(1, o.max_batch_rows / o.num_samples);
  bool warned_positions = false;
  Progress progress("generate", static_cast<std::int64_t>(out.size()), "seq", o.show_progress);

  for (std::size_t chunk_begin = 0; chunk_begin < prompts.size(); chunk_begin += prompts_per_chunk) {
    const std::size_t chunk_end = std::min(prompts.size(), chunk_begin + prompts_per_chunk);
    const auto P = static_cast<std::int64_t>(chunk_end - chunk_begin);
    std::int64_t max_len = 0;
    for (auto p = chunk_begin; p < chunk_end; ++p) max_len = std::max<std::int64_t>(max_len, prompts[p].size());
    // Left-padded prompt batch.
    auto ids = torch::zeros({P, max_len}, torch::kLong);
    auto mask = torch::zeros({P, max_len}, torch::kLong);
    for (std::int64_t r = 0; r < P; ++r) {
      const auto& pr = prompts[chunk_begin + r];
      auto pad = max_len - static_cast<std::int64_t>(pr.size());
      auto ia = ids.accessor<std::int64_t, 2>();
      auto ma = mask.accessor<std::int64_t, 2>();
      for (std::size_t t = 0; t < pr.size(); ++t) {
        ia[r][pad + t] = pr[t];
        ma[r][pad + t] = 1;
      }
    }
    // A response stops at the model's last position (finish_reason "length"), as vLLM caps max_tokens at
    // max_model_len: positions past max_position_embeddings were never trained.
    const std::int64_t new_tokens = std::min(o.max_new_tokens, max_positions - max_len);
    if (new_tokens < o.max_new_tokens && !warned_positions) {
      std::fprintf(stderr, "generate: responses after prompts of %lld tokens stop at %lld new tokens (max_position_embeddings %lld)\n",
                   static_cast<long long>(max_len), static_cast<long long>(new_tokens), static_cast<long long>(max_positions));
      warned_positions = true;
    }
    auto cache = model.new_cache(P, max_len + new_tokens);
    auto logits = model.prefill(cache, ids, mask);  // [P, V]
    // Samples share the prompt's prefill: repeat cache rows and logits.
    if (o.num_samples > 1) {
      auto rep = torch::arange(P, torch::TensorOptions().dtype(torch::kLong).device(device))
                     .repeat_interleave(o.num_samples);
      cache.select_rows(rep);
      logits = logits.index_select(0, rep);
    }
    std::vector<Row> rows;
    for (std::int64_t r = 0; r < P * o.num_samples; ++r) {
      std::size_t completion = chunk_begin * o.num_samples + r;
      const auto& c = out[completion];
      std::uint64_t stream = splitmix64(o.seed ^ splitmix64((o.first_prompt_index + c.prompt_index) * 0x100000001B3ULL + c.sample_index));
      rows.push_back(Row{completion, std::mt19937_64(stream)});
    }
    std::uniform_real_distribution<double> uniform(0.0, 1.0);
    for (std::int64_t step = 0; step < new_tokens; ++step) {
      // logits [active, V] for the active rows in `rows` order; ids without text can never be chosen.
      logits = mask_invalid_ids(logits, invalid);
      auto log_probs = torch::log_softmax(logits, -1);
      auto entropy = -(log_probs.exp() * log_probs).nan_to_num(0.0).sum(-1);
      at::Tensor chosen;
      if (o.greedy()) {
        chosen = logits.argmax(-1).cpu();
      } else {
        auto probs = sampling_probabilities(logits, o).to(torch::kCPU).contiguous();
        chosen = torch::empty({probs.size(0)}, torch::kLong);
        const float* base = probs.data_ptr<float>();
        auto ch = chosen.accessor<std::int64_t, 1>();
        for (std::int64_t r = 0; r < probs.size(0); ++r) ch[r] = sample_from_cdf(base + r * vocab, vocab, uniform(rows[r].rng));
      }
      auto chosen_d = chosen.to(device);
      auto token_logprob = log_probs.gather(1, chosen_d.unsqueeze(1)).squeeze(1).cpu();
      auto entropy_cpu = entropy.cpu();
      auto ch = chosen.accessor<std::int64_t, 1>();
      auto lp = token_logprob.accessor<float, 1>();
      auto en = entropy_cpu.accessor<float, 1>();
      std::int64_t finished_now = 0;
      for (std::size_t r = 0; r < rows.size(); ++r) {
        auto& row = rows[r];
        if (row.done) continue;
        auto& c = out[row.completion];
        auto token = static_cast<std::int32_t>(ch[r]);
        c.ids.push_back(token);
        c.logprobs.push_back(lp[r]);
        c.entropies.push_back(en[r]);
        if (is_stop[token]) {
          c.finish_reason = "stop_token";
          row.done = true;
        } else if (max_stop_len > 0) {
          // Only the tail can complete a stop string: decode the last few tokens.
          std::size_t tail_tokens = std::min<std::size_t>(c.ids.size(), max_stop_len + 2);
          std::vector<std::int32_t> tail(c.ids.end() - tail_tokens, c.ids.end());
          auto text = detokenize(tail);
          for (auto& s : o.stop_strings)
            if (!s.empty() && text.find(s) != std::string::npos) {
              c.finish_reason = "stop_string";
              row.done = true;
              break;
            }
        }
        if (row.done) {
          ++finished_now;
          progress.advance(1);
        }
      }
      std::int64_t active = 0;
      for (auto& row : rows) active += row.done ? 0 : 1;
      if (active == 0 || step + 1 == new_tokens) break;
      // Drop finished rows from the batch when enough have finished to pay for the copy.
      std::int64_t finished_in_batch = static_cast<std::int64_t>(rows.size()) - active;
      at::Tensor next_ids = chosen_d;
      if (finished_in_batch > 0 && finished_in_batch * 4 >= static_cast<std::int64_t>(rows.size())) {
        std::vector<std::int64_t> keep;
        std::vector<Row> kept;
        for (std::size_t r = 0; r < rows.size(); ++r)
          if (!rows[r].done) {
            keep.push_back(static_cast<std::int64_t>(r));
            kept.push_back(std::move(rows[r]));
          }
        auto index = torch::tensor(keep, torch::kLong).to(device);
        cache.select_rows(index);
        next_ids = chosen_d.index_select(0, index);
        rows = std::move(kept);
      }
      logits = model.decode(cache, next_ids);
    }
    for (auto& row : rows)
      if (!row.done) progress.advance(1);
  }
  progress.finish();
  if (detokenize) {
    for (auto& c : out) {
      c.text = detokenize(c.ids);
      if (c.finish_reason == "stop_string") {
        std::size_t cut = std::string::npos;
        for (auto& s : o.stop_strings) {
          auto pos = c.text.find(s);
          if (pos != std::string::npos) cut = std::min(cut, pos);
        }
        if (cut != std::string::npos) c.text.resize(cut);
      }
    }
  }
  return out;
}

SamplingOptions sampling_options(const ModelConfig& config, const Tokenizer& tokenizer) {
  check_tokenizer_fits(config, tokenizer);
  SamplingOptions options;
  options.valid_ids = valid_token_ids(tokenizer);
  options.stop_token_ids = default_stop_tokens(config, tokenizer);
  return options;
}

std::vector<std::int32_t> default_stop_tokens(const ModelConfig& config, const Tokenizer& tokenizer) {
  std::vector<std::int32_t> stops;
  for (auto id : config.eos_token_ids) stops.push_back(static_cast<std::int32_t>(id));
  if (auto eos = tokenizer.eos_token_id()) stops.push_back(*eos);
  for (const char* name : {"<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|end_of_text|>"})
    if (auto id = tokenizer.token_to_id(name)) stops.push_back(*id);
  std::sort(stops.begin(), stops.end());
  stops.erase(std::unique(stops.begin(), stops.end()), stops.end());
  return stops;
}

}  // namespace illume
