#include "illume/util/cpu.h"

#include <cstdint>
#include <cstring>
#include <utility>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define ILLUME_X86 1
#endif
#if defined(__linux__) && defined(__x86_64__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace illume {

namespace {

#ifdef ILLUME_X86
struct Registers {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
};

Registers cpuid(unsigned leaf, unsigned subleaf = 0) {
  Registers r;
  __cpuid_count(leaf, subleaf, r.eax, r.ebx, r.ecx, r.edx);
  return r;
}

bool bit(unsigned value, int index) { return (value >> index) & 1u; }

// XCR0: which register state the OS saves on a context switch. Inline assembly, so the file needs
// no -mxsave.
std::uint64_t read_xcr0() {
  unsigned low = 0, high = 0;
  __asm__ volatile("xgetbv" : "=a"(low), "=d"(high) : "c"(0));
  return (static_cast<std::uint64_t>(high) << 32) | low;
}

// Linux grants AMX's 8 KB tile state per process (kernel 5.16+); without the grant the first tile
// instruction faults. Constants from <asm/prctl.h> and the kernel's xstate numbering.
bool request_amx_permission() {
#if defined(__linux__) && defined(__x86_64__)
  constexpr int arch_get_xcomp_perm = 0x1022, arch_req_xcomp_perm = 0x1023, xfeature_xtiledata = 18;
  if (::syscall(SYS_arch_prctl, arch_req_xcomp_perm, xfeature_xtiledata) != 0) return false;
  unsigned long permitted = 0;
  if (::syscall(SYS_arch_prctl, arch_get_xcomp_perm, &permitted) != 0) return false;
  return (permitted >> xfeature_xtiledata) & 1ul;
#else
  return false;
#endif
}
#endif

}  // namespace

CpuFeatures detect_cpu_features() {
  CpuFeatures cpu;
  cpu.amx_note = "not an x86 CPU";
#ifdef ILLUME_X86
  const Registers leaf0 = cpuid(0);
  const unsigned max_leaf = leaf0.eax;
  char vendor[13] = {};
  std::memcpy(vendor, &leaf0.ebx, 4);
  std::memcpy(vendor + 4, &leaf0.edx, 4);
  std::memcpy(vendor + 8, &leaf0.ecx, 4);
  cpu.vendor = vendor;

  const unsigned max_extended = cpuid(0x80000000u).eax;
  if (max_extended >= 0x80000004u) {
    char brand[49] = {};
    for (unsigned i = 0; i < 3; ++i) {
      const Registers r = cpuid(0x80000002u + i);
      std::memcpy(brand + 16 * i, &r, 16);
    }
    std::string name = brand;
    const auto first = name.find_first_not_of(' ');
    const auto last = name.find_last_not_of(' ');
    cpu.model_name = first == std::string::npos ? "" : name.substr(first, last - first + 1);
  }
  if (max_leaf < 1) return cpu;

  const Registers leaf1 = cpuid(1);
  const int base_family = (leaf1.eax >> 8) & 0xf, base_model = (leaf1.eax >> 4) & 0xf;
  cpu.family = base_family + (base_family == 0xf ? static_cast<int>((leaf1.eax >> 20) & 0xff) : 0);
  cpu.model = base_model + (base_family == 0x6 || base_family == 0xf ? static_cast<int>((leaf1.eax >> 16) & 0xf) << 4 : 0);
  cpu.sse3 = bit(leaf1.ecx, 0);
  cpu.ssse3 = bit(leaf1.ecx, 9);
  cpu.sse4_1 = bit(leaf1.ecx, 19);
  cpu.sse4_2 = bit(leaf1.ecx, 20);

  // XCR0 bits: 1 SSE, 2 AVX (upper YMM), 5-7 AVX-512 (opmask, upper ZMM, ZMM16-31), 17-18 AMX tiles.
  const bool osxsave = bit(leaf1.ecx, 27);
  const std::uint64_t xcr0 = osxsave ? read_xcr0() : 0;
  const bool os_avx = (xcr0 & 0x6) == 0x6;
  const bool os_avx512 = os_avx && (xcr0 & 0xe0) == 0xe0;
  const bool os_amx = (xcr0 & 0x60000) == 0x60000;

  cpu.avx = os_avx && bit(leaf1.ecx, 28);
  cpu.fma = cpu.avx && bit(leaf1.ecx, 12);
  bool cpu_amx = false;
  if (max_leaf >= 7) {
    const Registers leaf7 = cpuid(7, 0);
    cpu.avx2 = cpu.avx && bit(leaf7.ebx, 5);
    cpu.avx512f = os_avx512 && bit(leaf7.ebx, 16);
    cpu.avx512bw = cpu.avx512f && bit(leaf7.ebx, 30);
    cpu.avx512vl = cpu.avx512f && bit(leaf7.ebx, 31);
    if (leaf7.eax >= 1) cpu.avx512_bf16 = cpu.avx512f && bit(cpuid(7, 1).eax, 5);
    cpu_amx = bit(leaf7.edx, 24);
    cpu.amx_tile = cpu_amx && os_amx;
    cpu.amx_bf16 = cpu.amx_tile && bit(leaf7.edx, 22);
    cpu.amx_int8 = cpu.amx_tile && bit(leaf7.edx, 25);
  }
  if (!cpu_amx) {
    cpu.amx_note = "the CPU reports no AMX";
  } else if (!os_amx) {
    cpu.amx_note = "the CPU has AMX but the OS does not enable its tile state";
  } else if (!request_amx_permission()) {
    cpu.amx_note = "Linux refused this process the AMX tile state (arch_prctl ARCH_REQ_XCOMP_PERM; kernel 5.16+ needed)";
  } else {
    cpu.amx_usable = true;
    cpu.amx_note.clear();
  }
#endif
  return cpu;
}

std::string isa_flags(const CpuFeatures& cpu) {
  const std::pair<bool, const char*> flags[] = {
      {cpu.sse3, "sse3"},          {cpu.ssse3, "ssse3"},         {cpu.sse4_1, "sse4.1"},
      {cpu.sse4_2, "sse4.2"},      {cpu.avx, "avx"},             {cpu.fma, "fma"},
      {cpu.avx2, "avx2"},          {cpu.avx512f, "avx512f"},     {cpu.avx512bw, "avx512bw"},
      {cpu.avx512vl, "avx512vl"},  {cpu.avx512_bf16, "avx512_bf16"}, {cpu.amx_tile, "amx-tile"},
      {cpu.amx_bf16, "amx-bf16"},  {cpu.amx_int8, "amx-int8"}};
  std::string out;
  for (const auto& [present, name] : flags) {
    if (!present) continue;
    if (!out.empty()) out += ' ';
    out += name;
  }
  return out.empty() ? "none detected" : out;
}

SimdLevel simd_level(const CpuFeatures& cpu) {
  if (cpu.avx512f && cpu.avx512bw && cpu.avx512vl && cpu.avx2 && cpu.fma) return SimdLevel::avx512;
  if (cpu.avx2 && cpu.fma) return SimdLevel::avx2;
  if (cpu.avx) return SimdLevel::avx;
  return SimdLevel::sse;
}

const char* simd_level_name(SimdLevel level) {
  switch (level) {
    case SimdLevel::sse: return "SSE";
    case SimdLevel::avx: return "AVX";
    case SimdLevel::avx2: return "AVX2";
    case SimdLevel::avx512: return "AVX-512";
  }
  return "?";
}

}  // namespace illume
