// Never run on a wrong BLAS kernel (issue 12). A DYNAMIC_ARCH OpenBLAS picks its kernel set ("core")
// from cpuid when it loads; one that does not know the CPU falls back to its generic SSE kernels
// (Debian's 0.3.21 on recent Intel: "Prescott"), and fp32 GEMM runs ~6x slower. It reads
// OPENBLAS_CORETYPE only in its load-time constructor, before main(), so the fix is to set the
// variable and exec the program again. select_blas_kernel_at_startup does that, first thing in main().
//
// Torch-free: the BLAS is found with dlsym, so the code builds and runs whatever BLAS libtorch uses.
#pragma once
#include <cstdio>
#include <string>
#include <vector>

#include "illume/util/cpu.h"

namespace illume {

// The environment variables that bear on the choice.
inline constexpr const char* kOpenblasCoretypeVariable = "OPENBLAS_CORETYPE";
inline constexpr const char* kNoBlasFixVariable = "ILLUME_NO_BLAS_FIX";  // "1": never re-exec
// Set by illume's re-exec to "FROM:TO" (OpenBLAS's own choice, the core illume set): tells the new
// process that OPENBLAS_CORETYPE is illume's, not the user's, and guards against a second re-exec.
inline constexpr const char* kBlasCorrectedVariable = "ILLUME_BLAS_CORRECTED";
// Tests only: pretend OpenBLAS chose this core by itself (read when OPENBLAS_CORETYPE is unset).
inline constexpr const char* kFakeBlasCoreVariable = "ILLUME_TEST_FAKE_BLAS_CORE";

struct BlasLibrary {
  std::string name;     // "OpenBLAS", "MKL", "BLIS", or "unknown"
  std::string version;  // "0.3.21"; empty when unknown
  std::string config;   // openblas_get_config(): "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH ... Zen MAX_THREADS=64"
  std::string core;     // OpenBLAS's kernel set in use ("Zen"); empty for other libraries
  bool dynamic_arch = false;  // OpenBLAS chooses its core at load time, so OPENBLAS_CORETYPE works
  std::vector<std::string> known_cores;  // of the cores illume may choose, those this build has
};

// The library libtorch's GEMMs call, found among the loaded libraries' symbols.
BlasLibrary detect_blas_library();

struct BlasEnvironment {
  std::string coretype;  // OPENBLAS_CORETYPE; empty when unset
  std::string corrected_marker;  // ILLUME_BLAS_CORRECTED; empty when unset
  bool fix_disabled = false;     // ILLUME_NO_BLAS_FIX=1
};
BlasEnvironment read_blas_environment();

enum class BlasVerdict {
  not_openblas,            // MKL, BLIS or an unknown BLAS: they choose their kernels from cpuid themselves
  fine,                    // OpenBLAS's own choice is not generic (or the CPU has no AVX2 to do better)
  reexec,                  // generic kernels on an AVX2/AVX-512 CPU: re-run with OPENBLAS_CORETYPE=coretype
  corrected,               // this process is that re-run, and OpenBLAS took illume's core
  correction_failed,       // the re-run still has generic kernels (warning)
  user_choice,             // OPENBLAS_CORETYPE set by the user, as fast as the CPU allows
  user_choice_slow,        // ... slower than the CPU allows (warning)
  user_choice_unsupported, // ... needs instructions this CPU lacks (warning: GEMMs may fault)
  fix_disabled,            // generic kernels kept because ILLUME_NO_BLAS_FIX=1 (warning)
  cannot_fix,              // generic kernels in an OpenBLAS built for one CPU only (warning)
};

struct BlasDecision {
  BlasVerdict verdict = BlasVerdict::fine;
  std::string coretype;  // reexec: the OPENBLAS_CORETYPE to set; otherwise the best core for this CPU (or "")
  std::string warning;   // one line for stderr (without "illume: warning: "), empty when all is well
  std::string core_description;  // the `blas core:` line of `illume info` (without the label)
};

// The SIMD class of an OpenBLAS core's kernels ("Prescott" -> SSE, "Zen" -> AVX2, case-insensitive);
// false for a name illume does not know (a newer or non-x86 core), which it then leaves alone.
bool openblas_core_level(const std::string& core, SimdLevel& level);

// The OpenBLAS core matching the CPU: AVX-512 -> Cooperlake (with avx512_bf16, when the build has
// it) or SkylakeX; AVX2+FMA -> Zen on AMD (Hygon), Haswell otherwise; AVX -> Sandybridge; "" on an
// SSE-only CPU (generic is then the right choice). Only cores in known_cores are returned.
std::string best_openblas_core(const CpuFeatures& cpu, const std::vector<std::string>& known_cores);

// Pure: what to do about the BLAS kernel, and how to describe it. Generic means a core without AVX2
// kernels; only a generic core on a CPU with AVX2 or AVX-512 is corrected, only when OPENBLAS_CORETYPE
// is unset (a user's setting is kept, with a warning when it is slower than the CPU allows) and only
// once (the marker stops a second re-exec).
BlasDecision decide_blas_kernel(const CpuFeatures& cpu, const BlasLibrary& blas, const BlasEnvironment& environment);

// Detects, decides, and on BlasVerdict::reexec sets OPENBLAS_CORETYPE and the marker and execs
// /proc/self/exe with the same argv (it does not return then). Prints a decision's warning as one
// line on stderr. Call first thing in main() of the CLI and of every benchmark, before any BLAS work.
void select_blas_kernel_at_startup(char** argv);

// The lines every benchmark prints first and `illume info` shows: "cpu: ...", "isa: ...", "amx usable:
// ...", "blas: ...", "blas core: ..." (from the start-up decision, or detected now if there was none).
std::vector<std::string> machine_description();
// machine_description() and "threads: N", one per line.
void print_machine_header(std::FILE* out, int threads);

}  // namespace illume
