#include "illume/train/batch.h"

#include <torch/torch.h>

#include <algorithm>

namespace illume::train {

PackedBatch pack_batch(const std::vector<const TokenSequence*>& rows, std::int32_t pad_id) {
  const auto B = static_cast<std::int64_t>(rows.size());
  std::int64_t T = 0;
  for (const auto* row : rows) T = std::max<std::int64_t>(T, static_cast<std::int64_t>(row->ids.size()));
  auto ids = torch::full({B, T}, static_cast<std::int64_t>(pad_id), torch::kInt64);
  auto mask = torch::zeros({B, T}, torch::kInt64);
  auto loss_mask = torch::zeros({B, T}, torch::kFloat);
  auto ia = ids.accessor<std::int64_t, 2>();
  auto ma = mask.accessor<std::int64_t, 2>();
  auto la = loss_mask.accessor<float, 2>();
  PackedBatch batch;
  for (std::int64_t b = 0; b < B; ++b) {
    const auto& row = *rows[b];
    for (std::size_t t = 0; t < row.ids.size(); ++t) {
      ia[b][t] = row.ids[t];
      ma[b][t] = 1;
      // Position 0 is never a target: nothing precedes it.
      if (static_cast<std::int64_t>(t) >= row.prompt_length && t > 0) {
        la[b][t] = 1;
        ++batch.target_tokens;
      }
    }
    batch.prompt_lengths.push_back(row.prompt_length);
    batch.response_lengths.push_back(row.response_length());
  }
  batch.ids = ids;
  batch.mask = mask;
  batch.loss_mask = loss_mask;
  return batch;
}

}  // namespace illume::train
