// Token sequences and the one batch packer both trainers use: rows right-padded into [B, T] tensors.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace illume::train {

// Prompt + response ids; ids[0, prompt_length) is the prompt, the rest the response (the targets).
struct TokenSequence {
  std::vector<std::int32_t> ids;
  std::int64_t prompt_length = 0;
  std::int64_t response_length() const { return static_cast<std::int64_t>(ids.size()) - prompt_length; }
};

struct PackedBatch {
  at::Tensor ids;        // [B, T] int64, right-padded with pad_id (T = the longest row)
  at::Tensor mask;       // [B, T] int64, 1 = token
  at::Tensor loss_mask;  // [B, T] float, 1 where ids[b, t] is a response token (predicted at t-1)
  std::int64_t target_tokens = 0;
  std::vector<std::int64_t> prompt_lengths, response_lengths;  // per row
};

// On the CPU; move ids and mask where the model lives.
PackedBatch pack_batch(const std::vector<const TokenSequence*>& rows, std::int32_t pad_id);

}  // namespace illume::train
