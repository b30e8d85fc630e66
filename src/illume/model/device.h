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

// Sets torch's intra-op threads to the core count (libtorch starts with one here), once.
void init_torch_runtime();

}  // namespace illume
