#include "worker/run/cpu_bf16.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define SCOUTER_X86 1
#endif

namespace scouter {
namespace {

struct Hardware {
  bool avx512_bf16 = false, amx_bf16 = false, avx2 = false, avx512 = false;
};

#ifdef SCOUTER_X86
uint64_t xcr0() {
  uint32_t lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

Hardware probe() {
  Hardware h;
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid_max(0, nullptr) < 7) return h;
  __cpuid(1, a, b, c, d);
  const bool osxsave = (c >> 27) & 1;
  if (!osxsave) return h;
  const uint64_t x = xcr0();
  const bool ymm = (x & 0x6) == 0x6;        // SSE and AVX state
  const bool zmm = (x & 0xe6) == 0xe6;      // + opmask, ZMM0-15 upper halves, ZMM16-31
  const bool tiles = (x & 0x60000) == 0x60000;  // XTILECFG and XTILEDATA
  __cpuid_count(7, 0, a, b, c, d);
  h.avx2 = ymm && ((b >> 5) & 1);
  h.avx512 = zmm && ((b >> 16) & 1);  // AVX512F
  h.amx_bf16 = tiles && ((d >> 22) & 1) && ((d >> 24) & 1);  // AMX-BF16 and AMX-TILE
  __cpuid_count(7, 1, a, b, c, d);
  h.avx512_bf16 = h.avx512 && ((a >> 5) & 1);
  return h;
}
#else
Hardware probe() { return {}; }
#endif

const Hardware& hardware() {
  static const Hardware h = probe();
  return h;
}

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char ch) { return std::toupper(ch); });
  return s;
}

}  // namespace

bool onednn_isa_allows_bf16(const std::string& isa, bool avx512_bf16, bool amx_bf16) {
  const std::string v = upper(isa);
  if (v.empty() || v == "ALL") return avx512_bf16 || amx_bf16;
  // oneDNN's ISA names from the widest down; a cap allows what is at or below it.
  if (v.rfind("AVX512_CORE_AMX", 0) == 0) return avx512_bf16 || amx_bf16;
  if (v == "AVX512_CORE_BF16" || v == "AVX512_CORE_FP16" || v == "AVX2_VNNI_2") return avx512_bf16;
  return false;  // AVX512_CORE_VNNI, AVX512_CORE, AVX2_VNNI, AVX2, AVX, SSE41, ...
}

bool onednn_isa_allows_avx512_core(const std::string& isa) {
  const std::string v = upper(isa);
  return v.empty() || v == "ALL" || v.rfind("AVX512_CORE", 0) == 0 || v == "AVX2_VNNI_2" ||
         v.rfind("AVX10", 0) == 0;
}

CpuBf16 detect_cpu_bf16() {
  CpuBf16 r;
  r.avx512_bf16 = hardware().avx512_bf16;
  r.amx_bf16 = hardware().amx_bf16;
  for (const char* name : {"ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"}) {
    const char* v = std::getenv(name);
    if (v == nullptr || *v == '\0') continue;
    if ((r.avx512_bf16 || r.amx_bf16) && !onednn_isa_allows_bf16(v, r.avx512_bf16, r.amx_bf16))
      r.capped_by = std::string(name) + "=" + v;
    if (hardware().avx512 && !onednn_isa_allows_avx512_core(v)) r.breaks_bf16 = std::string(name) + "=" + v;
    break;  // oneDNN reads ONEDNN_ first
  }
  return r;
}

std::string CpuBf16::describe() const {
  std::vector<std::string> have;
  if (amx_bf16) have.push_back("AMX-BF16");
  if (avx512_bf16) have.push_back("AVX512-BF16");
  std::string list;
  for (size_t i = 0; i < have.size(); ++i) list += (i ? ", " : "") + have[i];
  if (have.empty()) {
    const Hardware& h = hardware();
    return std::string("no native bf16 (") + (h.avx512 ? "AVX-512" : h.avx2 ? "AVX2" : "no AVX2") +
           " without BF16: bf16 would be emulated, slower than fp32)";
  }
  if (!capped_by.empty()) return "native bf16 hardware (" + list + ") unused: " + capped_by;
  return "native bf16: " + list;
}

}  // namespace scouter
