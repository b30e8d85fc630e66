#include <torch/torch.h>

#include "common.h"
#include "illume/model/device.h"
#include "illume/model/model.h"
#include "illume/util/cpu.h"
#include "illume/util/json.h"
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

// Half precision on a CPU without AVX-512 computes in f32 (libtorch has no vector kernels for it there);
// asked to keep it, or on a CPU with AVX-512, the model computes in what was asked.
TEST(Device, HalfPrecisionOnACpuWithoutAvx512ComputesInF32) {
  EXPECT_FALSE(cpu_half_precision_is_fast(false));
  EXPECT_TRUE(cpu_half_precision_is_fast(true));
  const bool fast = cpu_half_precision_is_fast(simd_level(detect_cpu_features()) == SimdLevel::avx512);
  const c10::Device cpu(c10::kCPU);
  std::string note;
  EXPECT_EQ(compute_dtype(c10::kFloat, cpu, false, &note), c10::kFloat);
  EXPECT_TRUE(note.empty());
  for (auto half : {c10::kBFloat16, c10::kHalf}) {
    const auto chosen = compute_dtype(half, cpu, false, &note);
    if (fast) {
      EXPECT_EQ(chosen, half);
      EXPECT_TRUE(note.empty()) << note;
    } else {
      EXPECT_EQ(chosen, c10::kFloat);
      EXPECT_NE(note.find("no AVX-512"), std::string::npos) << note;
      EXPECT_NE(note.find("computing in f32"), std::string::npos) << note;
      EXPECT_NE(note.find("ILLUME_CPU_HALF=native"), std::string::npos) << note;
    }
    EXPECT_EQ(compute_dtype(half, cpu, /*keep=*/true, &note), half);
    EXPECT_TRUE(note.empty());
  }
  // A model asked for bf16 computes in the chosen dtype, or in bf16 when told to keep it.
  const auto config = ModelConfig::from_json({{"model_type", "qwen3"}, {"vocab_size", 32}, {"hidden_size", 16},
                                              {"intermediate_size", 32}, {"num_hidden_layers", 1},
                                              {"num_attention_heads", 2}, {"num_key_value_heads", 1}, {"head_dim", 8},
                                              {"rms_norm_eps", 1e-6}, {"rope_theta", 10000.0}},
                                             "test-config");
  LoadOptions options;
  options.dtype = c10::kBFloat16;
  EXPECT_EQ(Model::random(config, 0, options).dtype(), fast ? c10::kBFloat16 : c10::kFloat);
  EXPECT_EQ(Model::random(config, 0, options).weights().embed.scalar_type(), fast ? c10::kBFloat16 : c10::kFloat);
  options.keep_dtype = true;
  EXPECT_EQ(Model::random(config, 0, options).weights().embed.scalar_type(), c10::kBFloat16);
}
