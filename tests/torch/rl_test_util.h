// Small helpers for the RL unit tests: [B, T] tensors from nested lists, masks from lengths.
#pragma once
#include <torch/torch.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "common.h"
#include "illume/util/error.h"

namespace illume::test {

using Rows = std::vector<std::vector<double>>;

// [B, T] float32 from rows of equal length.
inline at::Tensor rows(const Rows& values, at::ScalarType dtype = at::kFloat) {
  const auto B = static_cast<std::int64_t>(values.size());
  const auto T = B == 0 ? 0 : static_cast<std::int64_t>(values[0].size());
  auto out = at::empty({B, T}, at::TensorOptions().dtype(at::kDouble));
  for (std::int64_t b = 0; b < B; ++b) {
    EXPECT_EQ(static_cast<std::int64_t>(values[b].size()), T) << "ragged test rows";
    for (std::int64_t t = 0; t < T; ++t) out[b][t] = values[b][t];
  }
  return out.to(dtype);
}

// [B, T] bool: row b has lengths[b] leading response tokens (right padding).
inline at::Tensor mask_of_lengths(const std::vector<std::int64_t>& lengths, std::int64_t T) {
  auto mask = at::zeros({static_cast<std::int64_t>(lengths.size()), T}, at::kBool);
  for (std::size_t b = 0; b < lengths.size(); ++b) mask[b].narrow(0, 0, lengths[b]).fill_(true);
  return mask;
}

inline void expect_rows_near(const at::Tensor& actual, const Rows& expected, double tolerance = 1e-6) {
  ASSERT_EQ(actual.dim(), 2);
  ASSERT_EQ(actual.size(0), static_cast<std::int64_t>(expected.size()));
  auto a = actual.detach().to(at::kCPU, at::kDouble);
  for (std::int64_t b = 0; b < a.size(0); ++b) {
    ASSERT_EQ(a.size(1), static_cast<std::int64_t>(expected[b].size()));
    for (std::int64_t t = 0; t < a.size(1); ++t)
      EXPECT_NEAR(a[b][t].item<double>(), expected[b][t], tolerance) << "at [" << b << ", " << t << "]";
  }
}

inline void expect_values_near(const at::Tensor& actual, const std::vector<double>& expected,
                               double tolerance = 1e-6) {
  auto a = actual.detach().to(at::kCPU, at::kDouble).reshape({-1});
  ASSERT_EQ(a.numel(), static_cast<std::int64_t>(expected.size()));
  for (std::int64_t i = 0; i < a.numel(); ++i)
    EXPECT_NEAR(a[i].item<double>(), expected[i], tolerance) << "at [" << i << "]";
}

}  // namespace illume::test
