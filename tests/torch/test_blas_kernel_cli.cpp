// `illume info` and the start-up BLAS kernel fix (issue 12 item 1), end to end: a forced generic core
// is noticed and reported, the core chosen with OPENBLAS_CORETYPE unset is not generic on a CPU with
// AVX2, and a simulated generic fallback makes illume re-exec itself with OPENBLAS_CORETYPE set.
// Expectations follow this machine's cpuid, not a fixed core name.
#include <cstdlib>
#include <map>
#include <optional>
#include <string>

#include "common.h"
#include "illume/util/blas_kernel.h"

using namespace illume;
using namespace illume::test;

namespace {

// Sets (or, with nullopt, unsets) environment variables for its lifetime; the illume child inherits them.
class ScopedEnvironment {
 public:
  explicit ScopedEnvironment(const std::map<std::string, std::optional<std::string>>& values) {
    for (const auto& [name, value] : values) {
      const char* old = std::getenv(name.c_str());
      saved_[name] = old != nullptr ? std::optional<std::string>(old) : std::nullopt;
      if (value) ::setenv(name.c_str(), value->c_str(), 1);
      else ::unsetenv(name.c_str());
    }
  }
  ~ScopedEnvironment() {
    for (const auto& [name, value] : saved_) {
      if (value) ::setenv(name.c_str(), value->c_str(), 1);
      else ::unsetenv(name.c_str());
    }
  }

 private:
  std::map<std::string, std::optional<std::string>> saved_;
};

// `illume info` with OPENBLAS_CORETYPE and illume's own variables unset, then `overrides` applied.
RunResult run_info(std::map<std::string, std::optional<std::string>> overrides) {
  std::map<std::string, std::optional<std::string>> values = {{kOpenblasCoretypeVariable, std::nullopt},
                                                              {kBlasCorrectedVariable, std::nullopt},
                                                              {kNoBlasFixVariable, std::nullopt},
                                                              {kFakeBlasCoreVariable, std::nullopt},
                                                              {"OPENBLAS_VERBOSE", std::nullopt}};
  for (const auto& [name, value] : overrides) values[name] = value;
  ScopedEnvironment environment(values);
  return run_illume({"info"});
}

// The value of "label: VALUE" in info's output; empty when absent.
std::string line_value(const std::string& out, const std::string& label) {
  const auto start = out.find("\n" + label + ": ");
  if (start == std::string::npos) return "";
  const auto value = start + label.size() + 3;
  return out.substr(value, out.find('\n', value) - value);
}

std::size_t count(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

// The test process links the same libtorch and BLAS as illume: what it sees, the child sees.
struct Machine {
  CpuFeatures cpu = detect_cpu_features();
  BlasLibrary blas = detect_blas_library();
  std::string best = best_openblas_core(cpu, blas.known_cores);
};

// Skips unless the BLAS is a DYNAMIC_ARCH OpenBLAS on a CPU with AVX2 (where a generic core is wrong).
#define REQUIRE_OPENBLAS_ON_AVX2(machine)                                                                  \
  do {                                                                                                   \
    if ((machine).blas.name != "OpenBLAS" || !(machine).blas.dynamic_arch)                               \
      GTEST_SKIP() << "libtorch's BLAS here is " << (machine).blas.name << ", not a DYNAMIC_ARCH OpenBLAS"; \
    if (simd_level((machine).cpu) < SimdLevel::avx2)                                                      \
      GTEST_SKIP() << "this CPU has no AVX2: generic kernels are the right ones here";                   \
  } while (0)

}  // namespace

TEST(BlasKernelCli, InfoPrintsCpuIsaAmxBlasAndThreads) {
  auto r = run_info({});
  ASSERT_EQ(r.status, 0) << r.err;
  for (const char* label : {"cpu", "isa", "amx usable", "blas", "blas core", "threads"})
    EXPECT_FALSE(line_value(r.out, label).empty()) << "no '" << label << ":' line in\n" << r.out;
  const Machine machine;
  EXPECT_EQ(line_value(r.out, "isa").rfind(isa_flags(machine.cpu), 0), 0u) << r.out;
  EXPECT_EQ(line_value(r.out, "amx usable").rfind(machine.cpu.amx_usable ? "yes" : "no", 0), 0u) << r.out;
  EXPECT_EQ(line_value(r.out, "blas").rfind(machine.blas.name, 0), 0u) << r.out;
}

TEST(BlasKernelCli, CoreChosenWithCoretypeUnsetIsNotGeneric) {
  const Machine machine;
  REQUIRE_OPENBLAS_ON_AVX2(machine);
  auto r = run_info({});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err, "") << "no warning expected";
  const std::string core_line = line_value(r.out, "blas core");
  const std::string core = core_line.substr(0, core_line.find(' '));
  SimdLevel level;
  ASSERT_TRUE(openblas_core_level(core, level)) << "core '" << core << "' unknown to illume: " << core_line;
  EXPECT_GE(static_cast<int>(level), static_cast<int>(SimdLevel::avx2))
      << "CPU " << isa_flags(machine.cpu) << " runs " << core_line;
  EXPECT_EQ(core_line.find("generic"), std::string::npos) << core_line;
}

TEST(BlasKernelCli, ForcedPrescottIsNoticedAndReported) {
  const Machine machine;
  REQUIRE_OPENBLAS_ON_AVX2(machine);
  auto r = run_info({{kOpenblasCoretypeVariable, "Prescott"}});
  ASSERT_EQ(r.status, 0) << r.err;
  // One warning line naming the setting and the better core; the user's choice is kept.
  EXPECT_EQ(count(r.err, "\n"), 1u) << r.err;
  EXPECT_EQ(r.err.rfind("illume: warning: OPENBLAS_CORETYPE=Prescott selects Prescott (generic SSE kernels), slower "
                        "than this CPU allows (" + machine.best + ")", 0), 0u)
      << r.err;
  const std::string core_line = line_value(r.out, "blas core");
  EXPECT_EQ(core_line.rfind("Prescott (generic SSE kernels), set by OPENBLAS_CORETYPE=Prescott", 0), 0u) << core_line;
  EXPECT_EQ(core_line.find("corrected by illume"), std::string::npos) << core_line;
}

TEST(BlasKernelCli, SimulatedGenericFallbackReexecsWithTheCpusCore) {
  const Machine machine;
  REQUIRE_OPENBLAS_ON_AVX2(machine);
  ASSERT_FALSE(machine.best.empty());
  // OPENBLAS_VERBOSE=2: OpenBLAS prints "Core: NAME" each time it loads, so two lines mean two
  // process images (the re-exec), and the second one's core is illume's.
  auto r = run_info({{kFakeBlasCoreVariable, "Prescott"}, {"OPENBLAS_VERBOSE", "2"}});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(count(r.err, "Core: "), 2u) << r.err;
  EXPECT_NE(r.err.find("Core: " + machine.best), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("illume: warning"), std::string::npos) << r.err;
  // The child saw OPENBLAS_CORETYPE (its description is built from it) and says it was corrected.
  EXPECT_EQ(line_value(r.out, "blas core"),
            machine.best + " (" + (machine.best == "SkylakeX" || machine.best == "Cooperlake" ? "AVX-512" : "AVX2") +
                " kernels), corrected by illume: OpenBLAS chose its generic Prescott kernels, so illume re-ran itself "
                "with OPENBLAS_CORETYPE=" + machine.best)
      << r.out;
}

TEST(BlasKernelCli, NoBlasFixKeepsTheGenericCoreWithAWarning) {
  const Machine machine;
  REQUIRE_OPENBLAS_ON_AVX2(machine);
  auto r = run_info({{kFakeBlasCoreVariable, "Prescott"}, {kNoBlasFixVariable, "1"}, {"OPENBLAS_VERBOSE", "2"}});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(count(r.err, "Core: "), 1u) << "no re-exec expected: " << r.err;
  EXPECT_NE(r.err.find("illume: warning: OpenBLAS chose Prescott (generic SSE kernels)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("ILLUME_NO_BLAS_FIX=1"), std::string::npos) << r.err;
  EXPECT_NE(line_value(r.out, "blas core").find("not corrected"), std::string::npos) << r.out;
}
