// The BLAS kernel decision of util/blas_kernel.h (issue 12 item 1): CPU features + OpenBLAS's core +
// environment -> keep, re-exec with a core, or warn. Pure; the CPUs are written out by hand.
#include <gtest/gtest.h>

#include "illume/util/blas_kernel.h"

using namespace illume;

namespace {

CpuFeatures sse_only_cpu() {
  CpuFeatures cpu;
  cpu.vendor = "GenuineIntel";
  cpu.sse3 = cpu.ssse3 = cpu.sse4_1 = cpu.sse4_2 = true;
  return cpu;
}

CpuFeatures avx2_cpu(const std::string& vendor) {
  CpuFeatures cpu = sse_only_cpu();
  cpu.vendor = vendor;
  cpu.avx = cpu.fma = cpu.avx2 = true;
  return cpu;
}

// The machine of the issue: Intel family 6 model 207, AVX-512 with bf16, no AMX exposed.
CpuFeatures avx512_bf16_cpu() {
  CpuFeatures cpu = avx2_cpu("GenuineIntel");
  cpu.family = 6;
  cpu.model = 207;
  cpu.avx512f = cpu.avx512bw = cpu.avx512vl = cpu.avx512_bf16 = true;
  return cpu;
}

// Debian 12's libopenblas0 0.3.21, as detect_blas_library sees it.
BlasLibrary debian_openblas(const std::string& core) {
  BlasLibrary blas;
  blas.name = "OpenBLAS";
  blas.version = "0.3.21";
  blas.core = core;
  blas.dynamic_arch = true;
  blas.known_cores = {"Sandybridge", "Haswell", "Zen", "SkylakeX", "Cooperlake"};
  return blas;
}

BlasEnvironment unset_environment() { return BlasEnvironment{}; }

BlasEnvironment user_coretype(const std::string& core) {
  BlasEnvironment environment;
  environment.coretype = core;
  return environment;
}

// What a re-exec'd process sees: illume's OPENBLAS_CORETYPE and its marker.
BlasEnvironment after_reexec(const std::string& from, const std::string& to) {
  BlasEnvironment environment;
  environment.coretype = to;
  environment.corrected_marker = from + ":" + to;
  return environment;
}

}  // namespace

TEST(BlasKernel, CoreLevelsFollowOpenblasNamesCaseInsensitively) {
  SimdLevel level;
  ASSERT_TRUE(openblas_core_level("Prescott", level));
  EXPECT_EQ(level, SimdLevel::sse);
  ASSERT_TRUE(openblas_core_level("nehalem", level));
  EXPECT_EQ(level, SimdLevel::sse);
  ASSERT_TRUE(openblas_core_level("Sandybridge", level));
  EXPECT_EQ(level, SimdLevel::avx);
  ASSERT_TRUE(openblas_core_level("ZEN", level));
  EXPECT_EQ(level, SimdLevel::avx2);
  ASSERT_TRUE(openblas_core_level("skylakex", level));
  EXPECT_EQ(level, SimdLevel::avx512);
  EXPECT_FALSE(openblas_core_level("NEOVERSEN1", level));
  EXPECT_FALSE(openblas_core_level("", level));
}

TEST(BlasKernel, SimdLevelNeedsFmaWithAvx2AndBwVlWithAvx512) {
  EXPECT_EQ(simd_level(sse_only_cpu()), SimdLevel::sse);
  auto cpu = avx2_cpu("GenuineIntel");
  EXPECT_EQ(simd_level(cpu), SimdLevel::avx2);
  cpu.fma = false;
  EXPECT_EQ(simd_level(cpu), SimdLevel::avx);
  auto avx512 = avx512_bf16_cpu();
  EXPECT_EQ(simd_level(avx512), SimdLevel::avx512);
  avx512.avx512bw = false;  // AVX-512F alone (Knights Landing): OpenBLAS's SkylakeX kernels need BW
  EXPECT_EQ(simd_level(avx512), SimdLevel::avx2);
}

TEST(BlasKernel, BestCoreFollowsCpuAndWhatTheBuildKnows) {
  const std::vector<std::string> all = {"Sandybridge", "Haswell", "Zen", "SkylakeX", "Cooperlake"};
  EXPECT_EQ(best_openblas_core(avx512_bf16_cpu(), all), "Cooperlake");
  EXPECT_EQ(best_openblas_core(avx512_bf16_cpu(), {"Haswell", "Zen", "SkylakeX"}), "SkylakeX");
  auto no_bf16 = avx512_bf16_cpu();
  no_bf16.avx512_bf16 = false;
  EXPECT_EQ(best_openblas_core(no_bf16, all), "SkylakeX");
  EXPECT_EQ(best_openblas_core(avx2_cpu("GenuineIntel"), all), "Haswell");
  EXPECT_EQ(best_openblas_core(avx2_cpu("AuthenticAMD"), all), "Zen");
  EXPECT_EQ(best_openblas_core(avx2_cpu("HygonGenuine"), all), "Zen");
  EXPECT_EQ(best_openblas_core(avx2_cpu("AuthenticAMD"), {"Haswell"}), "Haswell");
  EXPECT_EQ(best_openblas_core(sse_only_cpu(), all), "");
}

TEST(BlasKernel, GenericFallbackOnAvx512CpuReexecsWithCooperlake) {
  // The case: Debian's OpenBLAS does not know family 6 model 207 and falls back to Prescott.
  auto decision = decide_blas_kernel(avx512_bf16_cpu(), debian_openblas("Prescott"), unset_environment());
  EXPECT_EQ(decision.verdict, BlasVerdict::reexec);
  EXPECT_EQ(decision.coretype, "Cooperlake");
  EXPECT_TRUE(decision.warning.empty());
}

TEST(BlasKernel, GenericFallbackOnAvx2CpusReexecsWithZenOrHaswell) {
  for (const char* core : {"Prescott", "Core2", "Nehalem", "Barcelona", "Katmai", "Sandybridge"}) {
    auto amd = decide_blas_kernel(avx2_cpu("AuthenticAMD"), debian_openblas(core), unset_environment());
    EXPECT_EQ(amd.verdict, BlasVerdict::reexec) << core;
    EXPECT_EQ(amd.coretype, "Zen") << core;
    auto intel = decide_blas_kernel(avx2_cpu("GenuineIntel"), debian_openblas(core), unset_environment());
    EXPECT_EQ(intel.verdict, BlasVerdict::reexec) << core;
    EXPECT_EQ(intel.coretype, "Haswell") << core;
  }
}

TEST(BlasKernel, GoodOrUnknownCoresAndOldCpusAreLeftAlone) {
  auto zen = decide_blas_kernel(avx2_cpu("AuthenticAMD"), debian_openblas("Zen"), unset_environment());
  EXPECT_EQ(zen.verdict, BlasVerdict::fine);
  EXPECT_TRUE(zen.warning.empty());
  EXPECT_EQ(zen.core_description, "Zen (AVX2 kernels), chosen by OpenBLAS");
  // Haswell kernels on an AVX-512 CPU are not generic: OpenBLAS's own choice stands.
  EXPECT_EQ(decide_blas_kernel(avx512_bf16_cpu(), debian_openblas("Haswell"), unset_environment()).verdict,
            BlasVerdict::fine);
  // A core illume does not know (newer OpenBLAS, other architecture) is never second-guessed.
  EXPECT_EQ(decide_blas_kernel(avx2_cpu("GenuineIntel"), debian_openblas("Zen5"), unset_environment()).verdict,
            BlasVerdict::fine);
  // On an SSE-only CPU the generic kernels are the right ones.
  auto old = decide_blas_kernel(sse_only_cpu(), debian_openblas("Prescott"), unset_environment());
  EXPECT_EQ(old.verdict, BlasVerdict::fine);
  EXPECT_TRUE(old.warning.empty());
}

TEST(BlasKernel, OtherLibrariesAreReportedNotTouched) {
  BlasLibrary mkl;
  mkl.name = "MKL";
  auto decision = decide_blas_kernel(avx512_bf16_cpu(), mkl, user_coretype("Prescott"));
  EXPECT_EQ(decision.verdict, BlasVerdict::not_openblas);
  EXPECT_TRUE(decision.warning.empty());
  BlasLibrary unknown;
  unknown.name = "unknown";
  EXPECT_EQ(decide_blas_kernel(avx2_cpu("AuthenticAMD"), unknown, unset_environment()).core_description, "unknown");
}

TEST(BlasKernel, UsersCoretypeIsKeptWithAWarningWhenSlower) {
  auto slow = decide_blas_kernel(avx2_cpu("AuthenticAMD"), debian_openblas("Prescott"), user_coretype("Prescott"));
  EXPECT_EQ(slow.verdict, BlasVerdict::user_choice_slow);
  EXPECT_NE(slow.warning.find("OPENBLAS_CORETYPE=Prescott"), std::string::npos) << slow.warning;
  EXPECT_NE(slow.warning.find("(Zen)"), std::string::npos) << slow.warning;
  EXPECT_EQ(slow.warning.find('\n'), std::string::npos);
  EXPECT_NE(slow.core_description.find("Prescott (generic SSE kernels)"), std::string::npos) << slow.core_description;

  // Haswell on an AVX-512 CPU: not generic, but slower than the CPU allows.
  auto haswell = decide_blas_kernel(avx512_bf16_cpu(), debian_openblas("Haswell"), user_coretype("haswell"));
  EXPECT_EQ(haswell.verdict, BlasVerdict::user_choice_slow);
  EXPECT_NE(haswell.warning.find("Cooperlake"), std::string::npos) << haswell.warning;

  // Haswell kernels on an AVX2 AMD CPU are as good as Zen's (same level): no warning.
  auto fine = decide_blas_kernel(avx2_cpu("AuthenticAMD"), debian_openblas("Haswell"), user_coretype("Haswell"));
  EXPECT_EQ(fine.verdict, BlasVerdict::user_choice);
  EXPECT_TRUE(fine.warning.empty());

  auto too_wide = decide_blas_kernel(avx2_cpu("AuthenticAMD"), debian_openblas("SkylakeX"), user_coretype("SkylakeX"));
  EXPECT_EQ(too_wide.verdict, BlasVerdict::user_choice_unsupported);
  EXPECT_NE(too_wide.warning.find("cannot run"), std::string::npos) << too_wide.warning;
}

TEST(BlasKernel, TheReexecutedProcessReportsTheCorrection) {
  auto corrected = decide_blas_kernel(avx512_bf16_cpu(), debian_openblas("Cooperlake"),
                                      after_reexec("Prescott", "Cooperlake"));
  EXPECT_EQ(corrected.verdict, BlasVerdict::corrected);
  EXPECT_TRUE(corrected.warning.empty());
  EXPECT_EQ(corrected.core_description,
            "Cooperlake (AVX-512 kernels), corrected by illume: OpenBLAS chose its generic Prescott kernels, so illume "
            "re-ran itself with OPENBLAS_CORETYPE=Cooperlake");

  // OpenBLAS ignored illume's core: warn, and never re-exec a second time.
  auto ignored = decide_blas_kernel(avx2_cpu("AuthenticAMD"), debian_openblas("Prescott"), after_reexec("Prescott", "Zen"));
  EXPECT_EQ(ignored.verdict, BlasVerdict::correction_failed);
  EXPECT_FALSE(ignored.warning.empty());

  // The marker without OPENBLAS_CORETYPE (unset by hand after the re-exec): still no second re-exec.
  BlasEnvironment marker_only;
  marker_only.corrected_marker = "Prescott:Zen";
  EXPECT_EQ(decide_blas_kernel(avx2_cpu("AuthenticAMD"), debian_openblas("Prescott"), marker_only).verdict,
            BlasVerdict::correction_failed);

  // The user replaced illume's core by another: it is the user's choice now.
  auto replaced = after_reexec("Prescott", "Zen");
  replaced.coretype = "Nehalem";
  EXPECT_EQ(decide_blas_kernel(avx2_cpu("AuthenticAMD"), debian_openblas("Nehalem"), replaced).verdict,
            BlasVerdict::user_choice_slow);
}

TEST(BlasKernel, FixCanBeDisabledAndIsNotTriedWithoutDynamicArch) {
  BlasEnvironment disabled;
  disabled.fix_disabled = true;
  auto kept = decide_blas_kernel(avx2_cpu("AuthenticAMD"), debian_openblas("Prescott"), disabled);
  EXPECT_EQ(kept.verdict, BlasVerdict::fix_disabled);
  EXPECT_NE(kept.warning.find("ILLUME_NO_BLAS_FIX=1"), std::string::npos) << kept.warning;
  EXPECT_NE(kept.warning.find("OPENBLAS_CORETYPE=Zen"), std::string::npos) << kept.warning;

  auto single_target = debian_openblas("Prescott");
  single_target.dynamic_arch = false;
  auto cannot = decide_blas_kernel(avx2_cpu("AuthenticAMD"), single_target, unset_environment());
  EXPECT_EQ(cannot.verdict, BlasVerdict::cannot_fix);
  EXPECT_NE(cannot.warning.find("DYNAMIC_ARCH"), std::string::npos) << cannot.warning;
}

TEST(BlasKernel, IsaFlagsListWhatIsUsable) {
  EXPECT_EQ(isa_flags(CpuFeatures{}), "none detected");
  EXPECT_EQ(isa_flags(avx2_cpu("AuthenticAMD")), "sse3 ssse3 sse4.1 sse4.2 avx fma avx2");
  EXPECT_EQ(isa_flags(avx512_bf16_cpu()),
            "sse3 ssse3 sse4.1 sse4.2 avx fma avx2 avx512f avx512bw avx512vl avx512_bf16");
}
