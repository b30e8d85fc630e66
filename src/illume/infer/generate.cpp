#include "illume/infer/generate.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>

#include "illume/infer/vocabulary.h"
#include "illume/util/error.h"
#include "illume/util/random.h"
#include "illume/util/progress.h"

namespace illume {

namespace {

// One row of the decoding batch (one row of the KV cache).
struct Row {
  std::size_t completion = 0;  // index into the output
  std::mt19937_64 rng;
  bool active = false;          // false: free (finished, or never filled)
  std::int64_t max_tokens = 0;  // this row's new-token limit (max_new_tokens, or the model's last position)
  std::int64_t input = 0;       // the token the next decode feeds
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

  // A response stops at the model's last position (finish_reason "length"), as vLLM caps max_tokens at
  // max_model_len: positions past max_position_embeddings were never trained. The limit is per row.
  auto token_limit = [&](std::size_t prompt) {
    return std::min(o.max_new_tokens, max_positions - static_cast<std::int64_t>(prompts[prompt].size()));
  };
  std::size_t longest = 0;
  for (std::size_t p = 1; p < prompts.size(); ++p)
    if (prompts[p].size() > prompts[longest].size()) longest = p;
  if (token_limit(longest) < o.max_new_tokens)
    std::fprintf(stderr, "generate: responses after prompts of %lld tokens stop at %lld new tokens (max_position_embeddings %lld)\n",
                 static_cast<long long>(prompts[longest].size()), static_cast<long long>(token_limit(longest)),
                 static_cast<long long>(max_positions));

  // Continuous batching: `rows` are the slots of the decoding batch (the KV cache's rows). Work items
  // are (prompt, sample) pairs in output order; when rows finish, the next items take their slots
  // (admit), so the batch stays full while work is pending. Once none is, finished rows are dropped.
  const std::size_t work = out.size();
  Progress progress(o.progress_label, static_cast<std::int64_t>(work), "seq", o.show_progress);
  std::size_t next_work = 0;  // the first item not yet admitted
  auto cache = model.new_cache(std::min<std::int64_t>(o.max_batch_rows, static_cast<std::int64_t>(work)), 0);
  std::vector<Row> rows(static_cast<std::size_t>(cache.batch()));
  // Refill when an eighth of the rows are free (or the rest of the work fits): each admission costs a
  // prefill call, which on small models costs about as much as a decode step whatever its size.
  const auto refill_rows = static_cast<std::size_t>(std::max<std::int64_t>(1, cache.batch() / 8));
  auto long_index = [&](const std::vector<std::int64_t>& values) {
    return torch::tensor(values, torch::kLong).to(device);
  };

  // Admits pending items into the free rows: each distinct prompt is prefilled once without its last
  // token (a small batch, its own cache), its K/V copied into the rows of its samples, right-aligned
  // to end at the cache's length; the next decode feeds the last prompt token in every new row.
  auto admit = [&](const std::vector<std::int64_t>& free_rows) {
    std::vector<std::int64_t> filled_rows, filled_sources, empty_rows;
    std::vector<std::size_t> sources;  // prompt indices, in order
    std::int64_t source_length = 0, most_tokens = 0;
    for (auto r : free_rows) {
      if (next_work == work) break;
      const std::size_t completion = next_work++;
      const auto& c = out[completion];
      const auto& prompt = prompts[c.prompt_index];
      auto& row = rows[static_cast<std::size_t>(r)];
      const std::uint64_t stream =
          splitmix64(o.seed ^ splitmix64((o.first_prompt_index + c.prompt_index) * 0x100000001B3ULL + c.sample_index));
      row = Row{completion, std::mt19937_64(stream), true, token_limit(c.prompt_index), prompt.back()};
      most_tokens = std::max(most_tokens, row.max_tokens);
      if (prompt.size() < 2) {
        empty_rows.push_back(r);  // nothing before the last token
        continue;
      }
      if (sources.empty() || sources.back() != c.prompt_index) sources.push_back(c.prompt_index);
      filled_rows.push_back(r);
      filled_sources.push_back(static_cast<std::int64_t>(sources.size()) - 1);
      source_length = std::max<std::int64_t>(source_length, static_cast<std::int64_t>(prompt.size()) - 1);
    }
    cache.clear_rows(long_index(empty_rows));
    if (sources.empty()) return;
    const auto S = static_cast<std::int64_t>(sources.size());
    auto ids = torch::zeros({S, source_length}, torch::kLong);
    auto mask = torch::zeros({S, source_length}, torch::kLong);
    auto ia = ids.accessor<std::int64_t, 2>();
    auto ma = mask.accessor<std::int64_t, 2>();
    for (std::int64_t i = 0; i < S; ++i) {
      const auto& prompt = prompts[sources[static_cast<std::size_t>(i)]];
      const auto n = static_cast<std::int64_t>(prompt.size()) - 1, pad = source_length - n;
      for (std::int64_t t = 0; t < n; ++t) {
        ia[i][pad + t] = prompt[static_cast<std::size_t>(t)];
        ma[i][pad + t] = 1;
      }
    }
    auto source = model.new_cache(S, source_length);
    model.prefill(source, ids, mask);
    if (cache.length < source_length) {
      // Room in front for the longer prompt: every row moves right (the new slots are invalid). The
      // capacity keeps its room after length, and fits the new rows (the first admission sizes it).
      const auto shift = source_length - cache.length;
      cache.shift_slots(shift, std::max(cache.capacity + shift, source_length + most_tokens));
    }
    cache.insert_rows(long_index(filled_rows), source, long_index(filled_sources));
  };

  // Makes room for one decode step when the cache is full: moves every row left past the slots no row
  // uses, into storage that also fits what the live rows may still write.
  auto make_room = [&] {
    if (cache.length < cache.capacity) return;
    std::int64_t remaining = 1;
    for (const auto& row : rows)
      if (row.active) remaining = std::max(remaining, row.max_tokens - static_cast<std::int64_t>(out[row.completion].ids.size()));
    const auto unused = cache.common_invalid_prefix();
    const auto length = cache.length - unused;
    cache.shift_slots(-unused, std::max(cache.capacity, length + remaining));
  };

  std::vector<std::int64_t> all_rows(rows.size());
  for (std::size_t r = 0; r < rows.size(); ++r) all_rows[r] = static_cast<std::int64_t>(r);
  admit(all_rows);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  std::vector<std::int64_t> inputs(rows.size());
  for (;;) {
    make_room();
    for (std::size_t r = 0; r < rows.size(); ++r) inputs[r] = rows[r].input;
    auto logits = model.decode(cache, long_index(inputs));  // [B, V]; rows not active compute garbage
    // Ids without text can never be chosen.
    logits = mask_invalid_ids(logits, invalid);
    auto log_probs = torch::log_softmax(logits, -1);
    auto entropy = -(log_probs.exp() * log_probs).nan_to_num(0.0).sum(-1);
    at::Tensor chosen;
    if (o.greedy()) {
      chosen = logits.argmax(-1).cpu();
    } else {
      auto probs = sampling_probabilities(logits, o).to(torch::kCPU).contiguous();
      chosen = torch::zeros({probs.size(0)}, torch::kLong);
      const float* base = probs.data_ptr<float>();
      auto ch = chosen.accessor<std::int64_t, 1>();
      for (std::int64_t r = 0; r < probs.size(0); ++r)
        if (rows[r].active) ch[r] = sample_from_cdf(base + r * vocab, vocab, uniform(rows[r].rng));
    }
    auto token_logprob = log_probs.gather(1, chosen.to(device).unsqueeze(1)).squeeze(1).cpu();
    auto entropy_cpu = entropy.cpu();
    auto ch = chosen.accessor<std::int64_t, 1>();
    auto lp = token_logprob.accessor<float, 1>();
    auto en = entropy_cpu.accessor<float, 1>();
    std::vector<std::int64_t> free_rows, active_rows;
    for (std::size_t r = 0; r < rows.size(); ++r) {
      auto& row = rows[r];
      if (!row.active) {
        free_rows.push_back(static_cast<std::int64_t>(r));
        continue;
      }
      auto& c = out[row.completion];
      auto token = static_cast<std::int32_t>(ch[r]);
      c.ids.push_back(token);
      c.logprobs.push_back(lp[r]);
      c.entropies.push_back(en[r]);
      row.input = token;
      bool done = static_cast<std::int64_t>(c.ids.size()) >= row.max_tokens;  // finish_reason stays "length"
      if (is_stop[token]) {
        c.finish_reason = "stop_token";
        done = true;
      } else if (max_stop_len > 0) {
        // Only the tail can complete a stop string: decode the last few tokens.
        std::size_t tail_tokens = std::min<std::size_t>(c.ids.size(), max_stop_len + 2);
        std::vector<std::int32_t> tail(c.ids.end() - tail_tokens, c.ids.end());
        auto text = detokenize(tail);
        for (auto& s : o.stop_strings)
          if (!s.empty() && text.find(s) != std::string::npos) {
            c.finish_reason = "stop_string";
            done = true;
            break;
          }
      }
      if (done) {
        row.active = false;
        progress.advance(1);
        free_rows.push_back(static_cast<std::int64_t>(r));
      } else {
        active_rows.push_back(static_cast<std::int64_t>(r));
      }
    }
    // Free rows hold no tokens (so they never keep the compaction from dropping slots).
    cache.clear_rows(long_index(free_rows));
    const std::size_t pending = work - next_work;
    if (pending > 0 && (free_rows.size() >= refill_rows || free_rows.size() >= pending)) {
      admit(free_rows);
      // Attention reads every slot up to length: drop the unused ones once they are a quarter of it.
      const auto unused = cache.common_invalid_prefix();
      if (unused > 0 && unused * 4 >= cache.length) cache.shift_slots(-unused, cache.capacity);
    } else if (pending == 0) {
      if (active_rows.empty()) break;
      // Nothing left to admit: drop finished rows when enough have finished to pay for the copy.
      if (free_rows.size() * 4 >= rows.size()) {
        std::vector<Row> kept;
        for (auto r : active_rows) kept.push_back(std::move(rows[static_cast<std::size_t>(r)]));
        cache.select_rows(long_index(active_rows));
        rows = std::move(kept);
        inputs.resize(rows.size());
      }
    }
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
