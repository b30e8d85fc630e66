// The ids a model may emit: those its tokenizer can decode.
//
// Real checkpoints pad the embedding beyond the tokenizer (every Qwen3: 151,936 rows for 151,669 ids;
// ../shared/fixtures/tiny-qwen3 too). The padded rows have logits like any other, so a sampler can
// pick an id that has no text. As vLLM and Hugging Face do, those logits are masked out: before
// sampling (generate, perturb) and before the log-softmax of training, so that the policy's
// distribution is the one the sampler drew from.
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <cstdint>
#include <string>
#include <vector>

#include "illume/io/model_config.h"
#include "illume/text/tokenizer.h"

namespace illume {

// One flag per id, 1 where `tokenizer` can decode it; size tokenizer.vocab_size() (holes are 0).
std::vector<std::uint8_t> valid_token_ids(const Tokenizer& tokenizer);

// Fails with one line naming the tokenizer file when the tokenizer has ids the model's embedding
// lacks (they would index past its rows). `model_source` names the model's config in the message.
void check_tokenizer_fits(const ModelConfig& config, const Tokenizer& tokenizer,
                          const std::string& model_source = "the model's config.json");

// [vocab] bool on `device`, true for the ids to mask: ids >= valid_ids.size() and ids whose flag is
// 0. Undefined when every id below `vocab` is valid (nothing to mask, no cost).
at::Tensor invalid_id_mask(const std::vector<std::uint8_t>& valid_ids, std::int64_t vocab, c10::Device device);

// logits [..., V] with -1e30 (a probability of exactly 0) at the ids `invalid` ([V] bool, from invalid_id_mask) marks; returned
// unchanged when `invalid` is undefined. Differentiable (masked entries get zero gradient).
at::Tensor mask_invalid_ids(const at::Tensor& logits, const at::Tensor& invalid);

}  // namespace illume
