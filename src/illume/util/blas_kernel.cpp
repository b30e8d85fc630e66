#include "illume/util/blas_kernel.h"

#include <dlfcn.h>
#include <strings.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <utility>

namespace illume {

namespace {

bool same_name(const std::string& a, const std::string& b) { return ::strcasecmp(a.c_str(), b.c_str()) == 0; }

bool contains_name(const std::vector<std::string>& names, const std::string& name) {
  for (const auto& n : names)
    if (same_name(n, name)) return true;
  return false;
}

// The cores illume may choose, with the symbol of their kernel table in a DYNAMIC_ARCH build.
constexpr std::pair<const char*, const char*> kChoosableCores[] = {
    {"Sandybridge", "gotoblas_SANDYBRIDGE"}, {"Haswell", "gotoblas_HASWELL"},       {"Zen", "gotoblas_ZEN"},
    {"SkylakeX", "gotoblas_SKYLAKEX"},       {"Cooperlake", "gotoblas_COOPERLAKE"},
};

void* find_symbol(const char* name) { return ::dlsym(RTLD_DEFAULT, name); }

std::string environment_value(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? value : "";
}

const char* kernel_class(const std::string& core) {
  SimdLevel level;
  if (!openblas_core_level(core, level)) return "kernels unknown to illume";
  switch (level) {
    case SimdLevel::sse: return "generic SSE kernels";
    case SimdLevel::avx: return "generic AVX kernels without AVX2";
    case SimdLevel::avx2: return "AVX2 kernels";
    case SimdLevel::avx512: return "AVX-512 kernels";
  }
  return "?";
}

// "FROM:TO" of the marker; nullopt when it is malformed.
std::optional<std::pair<std::string, std::string>> parse_marker(const std::string& marker) {
  const auto colon = marker.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == marker.size()) return std::nullopt;
  return std::make_pair(marker.substr(0, colon), marker.substr(colon + 1));
}

}  // namespace

bool openblas_core_level(const std::string& core, SimdLevel& level) {
  // OpenBLAS's x86 core names (driver/others/dynamic.c) by the widest instructions of their GEMM kernels.
  static const std::pair<const char*, SimdLevel> table[] = {
      {"Katmai", SimdLevel::sse},      {"Coppermine", SimdLevel::sse},    {"Northwood", SimdLevel::sse},
      {"Prescott", SimdLevel::sse},    {"Banias", SimdLevel::sse},        {"Atom", SimdLevel::sse},
      {"Core2", SimdLevel::sse},       {"Penryn", SimdLevel::sse},        {"Dunnington", SimdLevel::sse},
      {"Nehalem", SimdLevel::sse},     {"Athlon", SimdLevel::sse},        {"Opteron", SimdLevel::sse},
      {"Opteron_SSE3", SimdLevel::sse}, {"Opteron(SSE3)", SimdLevel::sse}, {"Barcelona", SimdLevel::sse},
      {"Nano", SimdLevel::sse},        {"Bobcat", SimdLevel::sse},        {"Sandybridge", SimdLevel::avx},
      {"Bulldozer", SimdLevel::avx},   {"Piledriver", SimdLevel::avx},    {"Steamroller", SimdLevel::avx},
      {"Excavator", SimdLevel::avx},   {"Haswell", SimdLevel::avx2},      {"Zen", SimdLevel::avx2},
      {"SkylakeX", SimdLevel::avx512}, {"Cooperlake", SimdLevel::avx512}, {"SapphireRapids", SimdLevel::avx512},
  };
  for (const auto& [name, name_level] : table) {
    if (same_name(core, name)) {
      level = name_level;
      return true;
    }
  }
  return false;
}

std::string best_openblas_core(const CpuFeatures& cpu, const std::vector<std::string>& known_cores) {
  const SimdLevel level = simd_level(cpu);
  auto known = [&](const char* core) { return contains_name(known_cores, core); };
  if (level >= SimdLevel::avx512) {
    if (cpu.avx512_bf16 && known("Cooperlake")) return "Cooperlake";
    if (known("SkylakeX")) return "SkylakeX";
  }
  if (level >= SimdLevel::avx2) {
    const bool amd = cpu.vendor == "AuthenticAMD" || cpu.vendor == "HygonGenuine";
    if (amd && known("Zen")) return "Zen";
    if (known("Haswell")) return "Haswell";
  }
  if (level >= SimdLevel::avx && known("Sandybridge")) return "Sandybridge";
  return "";
}

BlasDecision decide_blas_kernel(const CpuFeatures& cpu, const BlasLibrary& blas, const BlasEnvironment& environment) {
  BlasDecision decision;
  if (blas.name != "OpenBLAS") {
    decision.verdict = BlasVerdict::not_openblas;
    decision.core_description = blas.name == "unknown" ? "unknown" : "chosen by " + blas.name + " itself";
    return decision;
  }
  const std::string best = best_openblas_core(cpu, blas.known_cores);
  decision.coretype = best;
  SimdLevel best_level = SimdLevel::sse;
  if (!best.empty()) openblas_core_level(best, best_level);
  SimdLevel core_level = SimdLevel::sse;
  const bool core_known = openblas_core_level(blas.core, core_level);
  const bool cpu_has_avx2 = simd_level(cpu) >= SimdLevel::avx2;
  // Generic: no AVX2 kernels, on a CPU whose AVX2 (or AVX-512) a known core would use.
  const bool generic = core_known && core_level < SimdLevel::avx2 && cpu_has_avx2 && best_level >= SimdLevel::avx2;
  const std::string described = blas.core + " (" + kernel_class(blas.core) + ")";
  const auto marker = parse_marker(environment.corrected_marker);

  if (!environment.coretype.empty()) {
    if (marker && same_name(environment.coretype, marker->second)) {
      if (generic) {
        decision.verdict = BlasVerdict::correction_failed;
        decision.warning = "OpenBLAS still runs " + described + " after illume set " + kOpenblasCoretypeVariable + "=" +
                           environment.coretype + "; matrix products run several times slower than this CPU allows";
        decision.core_description = described + ", not corrected: OpenBLAS ignored " + kOpenblasCoretypeVariable + "=" +
                                    environment.coretype;
      } else {
        decision.verdict = BlasVerdict::corrected;
        decision.core_description = described + ", corrected by illume: OpenBLAS chose its generic " + marker->first +
                                    " kernels, so illume re-ran itself with " + kOpenblasCoretypeVariable + "=" +
                                    environment.coretype;
      }
      return decision;
    }
    const std::string set_by = std::string(", set by ") + kOpenblasCoretypeVariable + "=" + environment.coretype;
    if (core_known && !cpu.vendor.empty() && core_level > simd_level(cpu)) {
      decision.verdict = BlasVerdict::user_choice_unsupported;
      decision.warning = std::string(kOpenblasCoretypeVariable) + "=" + environment.coretype + " selects " + described +
                         ", which this CPU cannot run (it has " + simd_level_name(simd_level(cpu)) +
                         "); matrix products may stop with an illegal instruction";
      decision.core_description = described + set_by + "; this CPU lacks " + simd_level_name(core_level);
    } else if (core_known && !best.empty() && core_level < best_level) {
      decision.verdict = BlasVerdict::user_choice_slow;
      decision.warning = std::string(kOpenblasCoretypeVariable) + "=" + environment.coretype + " selects " + described +
                         ", slower than this CPU allows (" + best + "); unset it and illume chooses";
      decision.core_description = described + set_by + "; slower than this CPU allows (" + best + ")";
    } else {
      decision.verdict = BlasVerdict::user_choice;
      decision.core_description = described + set_by;
    }
    return decision;
  }

  if (!generic) {
    decision.verdict = BlasVerdict::fine;
    decision.core_description = described + ", chosen by OpenBLAS";
    return decision;
  }
  const std::string slow = "OpenBLAS chose " + described + " on a CPU with " + simd_level_name(simd_level(cpu));
  if (!environment.corrected_marker.empty()) {
    // A marker without illume's OPENBLAS_CORETYPE: someone unset the variable after the re-exec.
    // Never re-exec twice.
    decision.verdict = BlasVerdict::correction_failed;
    decision.warning = slow + "; " + kBlasCorrectedVariable + " is set, so illume does not re-run itself again";
    decision.core_description = described + ", chosen by OpenBLAS; not corrected (" + kBlasCorrectedVariable + " is set)";
  } else if (environment.fix_disabled) {
    decision.verdict = BlasVerdict::fix_disabled;
    decision.warning = slow + "; " + kNoBlasFixVariable + "=1 keeps it (" + kOpenblasCoretypeVariable + "=" + best +
                       " would be faster)";
    decision.core_description = described + ", chosen by OpenBLAS; not corrected (" + kNoBlasFixVariable + "=1)";
  } else if (!blas.dynamic_arch) {
    decision.verdict = BlasVerdict::cannot_fix;
    decision.warning = slow + "; this OpenBLAS is built for that core only (no DYNAMIC_ARCH), so " +
                       kOpenblasCoretypeVariable + " cannot change it: install an OpenBLAS built with DYNAMIC_ARCH";
    decision.core_description = described + ", built in; not corrected (OpenBLAS without DYNAMIC_ARCH)";
  } else {
    decision.verdict = BlasVerdict::reexec;
    decision.core_description = described + ", chosen by OpenBLAS; illume re-runs itself with " +
                                kOpenblasCoretypeVariable + "=" + best;
  }
  return decision;
}

BlasLibrary detect_blas_library() {
  BlasLibrary blas;
  using StringFunction = char* (*)();
  if (auto get_config = reinterpret_cast<StringFunction>(find_symbol("openblas_get_config"))) {
    blas.name = "OpenBLAS";
    const char* config = get_config();
    blas.config = config != nullptr ? config : "";
    // "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH NO_AFFINITY USE_OPENMP Zen MAX_THREADS=64"
    if (blas.config.rfind("OpenBLAS ", 0) == 0) {
      const auto end = blas.config.find(' ', 9);
      blas.version = blas.config.substr(9, end == std::string::npos ? std::string::npos : end - 9);
    }
    blas.dynamic_arch = blas.config.find(" DYNAMIC_ARCH") != std::string::npos;
    if (auto get_core = reinterpret_cast<StringFunction>(find_symbol("openblas_get_corename"))) {
      const char* core = get_core();
      blas.core = core != nullptr ? core : "";
    }
  } else if (auto mkl_version = reinterpret_cast<void (*)(char*, int)>(find_symbol("MKL_Get_Version_String"))) {
    blas.name = "MKL";
    char buffer[256] = {};
    mkl_version(buffer, sizeof buffer - 1);
    blas.version = buffer;
    while (!blas.version.empty() && blas.version.back() == ' ') blas.version.pop_back();
  } else if (auto blis_version = reinterpret_cast<const char* (*)()>(find_symbol("bli_info_get_version_str"))) {
    blas.name = "BLIS";
    blas.version = blis_version();
  } else {
    blas.name = "unknown";
  }

  // Tests: pretend OpenBLAS chose this core itself (only where it chose on its own).
  const std::string fake = environment_value(kFakeBlasCoreVariable);
  if (!fake.empty() && environment_value(kOpenblasCoretypeVariable).empty()) {
    if (blas.name != "OpenBLAS") blas = BlasLibrary{"OpenBLAS", "", "", "", true, {}};
    blas.core = fake;
  }

  if (blas.name == "OpenBLAS" && blas.dynamic_arch) {
    for (const auto& [core, symbol] : kChoosableCores)
      if (find_symbol(symbol) != nullptr) blas.known_cores.push_back(core);
    // A build that hides its kernel tables: every DYNAMIC_ARCH OpenBLAS of the last years has these
    // (one built without AVX-512 maps SkylakeX to Haswell itself).
    if (blas.known_cores.empty()) blas.known_cores = {"Sandybridge", "Haswell", "Zen", "SkylakeX"};
  }
  return blas;
}

BlasEnvironment read_blas_environment() {
  BlasEnvironment environment;
  environment.coretype = environment_value(kOpenblasCoretypeVariable);
  environment.corrected_marker = environment_value(kBlasCorrectedVariable);
  environment.fix_disabled = environment_value(kNoBlasFixVariable) == "1";
  return environment;
}

namespace {

struct StartupState {
  bool done = false;
  CpuFeatures cpu;
  BlasLibrary blas;
  BlasDecision decision;
};

StartupState& startup_state() {
  static StartupState state;
  return state;
}

const StartupState& detected_state() {
  auto& state = startup_state();
  if (!state.done) {
    state.cpu = detect_cpu_features();
    state.blas = detect_blas_library();
    state.decision = decide_blas_kernel(state.cpu, state.blas, read_blas_environment());
    state.done = true;
  }
  return state;
}

}  // namespace

void select_blas_kernel_at_startup(char** argv) {
  auto& state = startup_state();
  state.done = false;
  detected_state();
  if (state.decision.verdict == BlasVerdict::reexec) {
    const std::string marker = state.blas.core + ":" + state.decision.coretype;
    ::setenv(kOpenblasCoretypeVariable, state.decision.coretype.c_str(), 1);
    ::setenv(kBlasCorrectedVariable, marker.c_str(), 1);
    std::fflush(nullptr);
    ::execv("/proc/self/exe", argv);
    // Still here: the exec failed (no /proc?). Run on, slowly, and say so.
    const int error = errno;
    ::unsetenv(kOpenblasCoretypeVariable);
    ::unsetenv(kBlasCorrectedVariable);
    state.decision.verdict = BlasVerdict::correction_failed;
    state.decision.warning = "OpenBLAS chose its " + state.blas.core + " (" + kernel_class(state.blas.core) +
                             ") and illume could not re-run itself with " + kOpenblasCoretypeVariable + "=" +
                             state.decision.coretype + " (exec /proc/self/exe: " + std::strerror(error) +
                             "); set it by hand";
    state.decision.core_description = state.blas.core + " (" + kernel_class(state.blas.core) +
                                      "), chosen by OpenBLAS; not corrected (the re-exec failed)";
  }
  if (!state.decision.warning.empty()) std::fprintf(stderr, "illume: warning: %s\n", state.decision.warning.c_str());
}

std::vector<std::string> machine_description() {
  const auto& state = detected_state();
  const auto& cpu = state.cpu;
  std::vector<std::string> lines;
  std::string cpu_line = "cpu: " + (cpu.model_name.empty() ? std::string("unknown model") : cpu.model_name);
  if (!cpu.vendor.empty())
    cpu_line += " (" + cpu.vendor + " family " + std::to_string(cpu.family) + " model " + std::to_string(cpu.model) + ")";
  lines.push_back(cpu_line);
  lines.push_back("isa: " + isa_flags(cpu) + " (BLAS class " + simd_level_name(simd_level(cpu)) + ")");
  lines.push_back(std::string("amx usable: ") + (cpu.amx_usable ? "yes" : "no (" + cpu.amx_note + ")"));
  std::string blas_line = "blas: " + state.blas.name;
  if (!state.blas.version.empty()) blas_line += " " + state.blas.version;
  if (state.blas.name == "OpenBLAS") blas_line += state.blas.dynamic_arch ? " (DYNAMIC_ARCH)" : " (built for one core)";
  if (state.blas.name == "unknown") blas_line += " (no OpenBLAS, MKL or BLIS symbols visible; libtorch may carry its own)";
  lines.push_back(blas_line);
  lines.push_back("blas core: " + state.decision.core_description);
  return lines;
}

void print_machine_header(std::FILE* out, int threads) {
  for (const auto& line : machine_description()) std::fprintf(out, "%s\n", line.c_str());
  std::fprintf(out, "threads: %d\n", threads);
  std::fflush(out);
}

}  // namespace illume
