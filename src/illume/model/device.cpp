#include "illume/model/device.h"

#include <torch/torch.h>

#include <cstdlib>
#include <thread>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "illume/util/cpu.h"
#include "illume/util/error.h"

namespace illume {

c10::Device parse_device(const std::string& name) {
  if (name == "cpu") return c10::Device(c10::kCPU);
  if (name.rfind("cuda", 0) == 0) {
    if (!torch::cuda::is_available())
      fail("--device {}: this build of illume has no CUDA (or no GPU is visible); use --device cpu", name);
    try {
      return c10::Device(name);
    } catch (const std::exception&) {
      fail("--device {}: not a device name (cpu, cuda, cuda:N)", name);
    }
  }
  fail("--device {}: unknown device (cpu, cuda, cuda:N)", name);
}

c10::ScalarType parse_dtype(const std::string& name) {
  if (name == "f32" || name == "float32" || name == "fp32" || name == "float") return c10::kFloat;
  if (name == "bf16" || name == "bfloat16") return c10::kBFloat16;
  if (name == "f16" || name == "float16" || name == "fp16" || name == "half") return c10::kHalf;
  fail("dtype '{}': unknown (f32, bf16, f16)", name);
}

std::string dtype_name(c10::ScalarType dtype) {
  switch (dtype) {
    case c10::kFloat: return "f32";
    case c10::kBFloat16: return "bf16";
    case c10::kHalf: return "f16";
    case c10::kDouble: return "f64";
    default: return c10::toString(dtype);
  }
}

bool cpu_half_precision_is_fast(bool has_avx512) { return has_avx512; }

c10::ScalarType compute_dtype(c10::ScalarType requested, c10::Device device, bool keep, std::string* note) {
  if (note) note->clear();
  if (!device.is_cpu() || (requested != c10::kBFloat16 && requested != c10::kHalf)) return requested;
  if (keep) return requested;
  if (const char* env = std::getenv("ILLUME_CPU_HALF"); env && std::string(env) == "native") return requested;
  static const bool fast = cpu_half_precision_is_fast(simd_level(detect_cpu_features()) == SimdLevel::avx512);
  if (fast) return requested;
  if (note)
    *note = fmt::format("dtype {0}: this CPU has no AVX-512, where libtorch's {0} matrix products have no vector kernels "
                        "(10-16x slower than f32); computing in f32 (ILLUME_CPU_HALF=native keeps {0})",
                        dtype_name(requested));
  return c10::kFloat;
}

void init_torch_runtime() {
  static bool done = false;
  if (done) return;
  done = true;
  // ILLUME_THREADS overrides the core count (e.g. 1 for a background job that leaves a core free:
  // OpenBLAS's spinning threads slow down many-fold when another process holds the cores).
  int threads = static_cast<int>(std::thread::hardware_concurrency());
  if (const char* env = std::getenv("ILLUME_THREADS")) threads = std::atoi(env);
  if (threads <= 0) threads = 2;
  torch::set_num_threads(threads);
#if defined(__GLIBC__)
  // Activations of a few hundred KiB to tens of MiB are allocated and freed by every op. By default
  // glibc serves large ones with mmap and trims the heap behind freed ones, so the next op faults in
  // and zeroes fresh pages: 7% of the CPU time of a GRPO step of the default model went to page
  // faults (perf, docs/performance.md). Kept in the heap, a freed block is reused as it is.
  // Tensors above 256 MiB (a 0.6B model's embedding) still get their own mapping.
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
#endif
}

}  // namespace illume
