// Devices and dtypes by name, and the process-wide torch set-up (threads).
#pragma once
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <string>

namespace illume {

// "cpu", "cuda", "cuda:1"; fails with a clear message if CUDA is asked for but absent.
c10::Device parse_device(const std::string& name);
// The canonical names "f32", "bf16", "f16" (what dtype_name returns, what --dtype and recipes use);
// the Hugging Face spellings "float32", "bfloat16", "float16" (and fp32, fp16) are accepted too.
c10::ScalarType parse_dtype(const std::string& name);
std::string dtype_name(c10::ScalarType dtype);

// The dtype a model on `device` computes in when `requested` is asked for. libtorch's CPU matrix
// products in bf16 and f16 have vector kernels (oneDNN) only with AVX-512; without it they run a
// scalar loop, ~1.4 GFLOP/s at n = 1024 against ~20-60 in f32 on the project's Zen 2 machine, so a
// bf16 model was 10-16x slower than an f32 one (docs/performance.md). There half precision computes in
// f32 (the weights convert exactly, once, at load; what is saved or exported keeps its own dtype),
// unless `keep` (LoadOptions::keep_dtype) or ILLUME_CPU_HALF=native asks for the requested dtype.
// `note`, when given, receives one line saying what changed and why (empty when nothing did).
c10::ScalarType compute_dtype(c10::ScalarType requested, c10::Device device, bool keep, std::string* note = nullptr);
// The rule, for a CPU with or without AVX-512 (F, BW and VL): true when bf16/f16 GEMM has fast kernels.
bool cpu_half_precision_is_fast(bool has_avx512);

// Sets torch's intra-op threads to the core count (libtorch starts with one here), once.
void init_torch_runtime();

}  // namespace illume
