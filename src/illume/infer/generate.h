// Batched sampling with a KV cache and continuous batching: up to max_batch_rows (prompt, sample)
// rows decode together; when rows finish, the next pending ones take their slots (each prompt
// prefilled once for its samples admitted together, its K/V written into the freed cache rows), so
// the batch stays full while work is pending; after that, finished rows are dropped as it runs. Each
// sample draws from its own random stream, seeded from (seed, prompt index, sample index), so results
// do not depend on batch composition or device.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "illume/model/model.h"
#include "illume/text/tokenizer.h"

namespace illume {

struct SamplingOptions {
  double temperature = 1.0;   // 0 = greedy
  double top_p = 1.0;         // nucleus: smallest set with mass >= top_p
  std::int64_t top_k = 0;     // 0 = off
  std::uint64_t seed = 0;
  // The index the first prompt has in the random streams: a shard of a larger batch (one rank's
  // prompts in data-parallel training) draws exactly what the whole batch would for those prompts.
  std::size_t first_prompt_index = 0;
  std::int64_t max_new_tokens = 256;
  std::int64_t num_samples = 1;            // per prompt
  std::vector<std::int32_t> stop_token_ids;  // e.g. EOS, <|im_end|>; included in ids as the last token
  std::vector<std::string> stop_strings;     // text stops; ids end with the token that completed it
  std::int64_t max_batch_rows = 64;          // prompts x samples decoded together at most
  bool show_progress = false;
  std::string progress_label = "generate";  // the progress line's label (it counts sequences)
  // One flag per id, 1 where the tokenizer can decode it (valid_token_ids in infer/vocabulary.h).
  // Every other id of the model (padded embedding rows, holes) is masked out before the choice, so
  // it is never sampled nor picked greedily. Required: generate() refuses options without it, so
  // build options with sampling_options(), which fills it.
  std::vector<std::uint8_t> valid_ids;
  bool greedy() const { return temperature <= 0.0; }
};

// Default options for sampling from a model with `tokenizer`: valid_ids and the default stop tokens
// set. Fails (one line) when the tokenizer has ids the model lacks (infer/vocabulary.h).
SamplingOptions sampling_options(const ModelConfig& config, const Tokenizer& tokenizer);

struct Completion {
  std::size_t prompt_index = 0;
  std::int64_t sample_index = 0;
  std::vector<std::int32_t> ids;       // generated tokens (a stop token, if any, is the last)
  std::vector<float> logprobs;         // log p(token) under the model's distribution over valid ids (temperature 1, unfiltered)
  std::vector<float> entropies;        // entropy (nats) of that distribution at each step
  std::string text;                    // decoded ids without special tokens, cut before a stop string
  std::string finish_reason;           // "stop_token" | "stop_string" | "length"
};

// Turns ids into text (the tokenizer's decode without special tokens). Needed for stop strings/text.
using Detokenizer = std::function<std::string(const std::vector<std::int32_t>&)>;

// Stop tokens for generation: the config's eos ids, the tokenizer's eos, and <|im_end|>,
// <|endoftext|>, <|eot_id|>, <|end_of_text|> where the vocabulary has them; sorted, unique.
std::vector<std::int32_t> default_stop_tokens(const ModelConfig& config, const Tokenizer& tokenizer);

// Bounds generate() enforces (beyond them a request is a mistake, not a workload).
inline constexpr std::int64_t kMaxSamplesPerPrompt = 1 << 20;
inline constexpr std::int64_t kMaxCompletions = std::int64_t{1} << 26;

// Returns prompts.size() * num_samples completions ordered by (prompt, sample). Fails (one line) on
// out-of-range options, an empty prompt, or a prompt of max_position_embeddings tokens or more; a
// response stops at the model's last position.
std::vector<Completion> generate(const Model& model, const std::vector<std::vector<std::int32_t>>& prompts,
                                 const SamplingOptions& options, const Detokenizer& detokenize = nullptr);

// The next-token choice for one row of probabilities (exposed for tests).
// probs: filtered, normalised distribution (float) on CPU; u in [0, 1). Returns the sampled id.
std::int64_t sample_from_cdf(const float* probs, std::int64_t vocab, double u);

}  // namespace illume
