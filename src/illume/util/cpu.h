// What the processor can run: cpuid, checked against the register state the OS saves (xgetbv) and,
// for AMX, the permission Linux grants per process. Torch-free; blas_kernel.h builds on it.
#pragma once
#include <string>

namespace illume {

struct CpuFeatures {
  std::string vendor;      // "GenuineIntel", "AuthenticAMD", ...; empty off x86
  std::string model_name;  // the brand string, "AMD EPYC 7B12"; empty when the CPU gives none
  int family = 0;          // display family and model (base + extended), as /proc/cpuinfo gives them
  int model = 0;
  // Each flag is true only when the CPU has the feature *and* the OS saves its registers: a VM or a
  // kernel that leaves AVX-512 state off makes those instructions fault, whatever cpuid says.
  bool sse3 = false, ssse3 = false, sse4_1 = false, sse4_2 = false;
  bool avx = false, fma = false, avx2 = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512_bf16 = false;
  bool amx_tile = false, amx_bf16 = false, amx_int8 = false;  // the CPU reports AMX and the OS enables its state
  // AMX also needs a per-process grant on Linux (arch_prctl ARCH_REQ_XCOMP_PERM for XTILEDATA, kernel
  // 5.16+); true once granted. Requesting it is what oneDNN does before using AMX, so asking early is harmless.
  bool amx_usable = false;
  std::string amx_note;  // why AMX is not usable, for `illume info` ("the CPU reports no AMX", ...)
};

// Reads cpuid and xgetbv (and asks Linux for AMX permission) on x86; elsewhere all flags stay false.
CpuFeatures detect_cpu_features();

// The vector instruction sets, widest last: "sse4.2 avx fma avx2 avx512f avx512bw avx512vl avx512_bf16
// amx-tile amx-bf16"; "none detected" when there are none (or off x86).
std::string isa_flags(const CpuFeatures& cpu);

// The widest class of BLAS kernels the CPU runs, in the order OpenBLAS's kernel sets are built for.
enum class SimdLevel { sse = 0, avx = 1, avx2 = 2, avx512 = 3 };

// AVX-512 needs F, BW and VL (what OpenBLAS's SkylakeX kernels use); AVX2 needs FMA as well.
SimdLevel simd_level(const CpuFeatures& cpu);
const char* simd_level_name(SimdLevel level);  // "SSE", "AVX", "AVX2", "AVX-512"

}  // namespace illume
