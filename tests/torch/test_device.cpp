#include <torch/torch.h>

#include "common.h"
#include "illume/model/device.h"
#include "illume/util/error.h"

using namespace illume;

TEST(Device, ParsesNamesAndRejectsUnknown) {
  EXPECT_EQ(parse_device("cpu").type(), c10::kCPU);
  EXPECT_THROW(parse_device("tpu"), Error);
  if (!torch::cuda::is_available()) EXPECT_THROW(parse_device("cuda"), Error);
  EXPECT_EQ(parse_dtype("bf16"), c10::kBFloat16);
  EXPECT_EQ(parse_dtype("float32"), c10::kFloat);
  EXPECT_THROW(parse_dtype("int4"), Error);
}
