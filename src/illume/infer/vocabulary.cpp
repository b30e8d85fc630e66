#include "illume/infer/vocabulary.h"

#include <torch/torch.h>

#include <limits>

#include "illume/util/error.h"

namespace illume {

std::vector<std::uint8_t> valid_token_ids(const Tokenizer& tokenizer) {
  std::vector<std::uint8_t> valid(static_cast<std::size_t>(tokenizer.vocab_size()), 0);
  for (std::int32_t id = 0; id < tokenizer.vocab_size(); ++id) valid[id] = tokenizer.has_id(id) ? 1 : 0;
  return valid;
}

void check_tokenizer_fits(const ModelConfig& config, const Tokenizer& tokenizer, const std::string& model_source) {
  if (tokenizer.vocab_size() > config.vocab_size)
    fail("{}: the tokenizer has ids up to {}, but {} has vocab_size {}: this tokenizer does not belong to the model",
         tokenizer.source(), tokenizer.vocab_size() - 1, model_source, config.vocab_size);
}

at::Tensor invalid_id_mask(const std::vector<std::uint8_t>& valid_ids, std::int64_t vocab, c10::Device device) {
  auto invalid = torch::ones({vocab}, torch::kBool);
  auto* flags = invalid.data_ptr<bool>();
  bool any = false;
  for (std::int64_t id = 0; id < vocab; ++id) {
    flags[id] = id >= static_cast<std::int64_t>(valid_ids.size()) || valid_ids[id] == 0;
    any = any || flags[id];
  }
  if (!any) return {};
  return invalid.to(device);
}

at::Tensor mask_invalid_ids(const at::Tensor& logits, const at::Tensor& invalid) {
  if (!invalid.defined()) return logits;
  check(invalid.size(0) == logits.size(-1), "mask_invalid_ids: mask has {} ids, logits {}", invalid.size(0),
        logits.size(-1));
  // -1e30 rather than -inf: exp() still gives exactly 0, and entropy sums (p * log p) stay 0 instead of
  // 0 * -inf = NaN. Half-precision logits cannot hold it and take -inf.
  const bool wide = logits.scalar_type() == at::kFloat || logits.scalar_type() == at::kDouble;
  return logits.masked_fill(invalid, wide ? -1e30 : -std::numeric_limits<double>::infinity());
}

}  // namespace illume
