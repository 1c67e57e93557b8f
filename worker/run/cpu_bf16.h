// Whether this CPU does bfloat16 matrix work in hardware, as oneDNN (LibTorch's convolution and
// matmul library on a CPU) would use it: AVX512-BF16 (dot products of bf16 pairs; Intel Cooper
// Lake and Sapphire Rapids on, AMD Zen 4 on) or AMX-BF16 (tile matrix multiply; Intel Sapphire
// Rapids on). Without either, oneDNN still computes bf16 by converting to float, which is slower
// than float32. precision = "auto" (worker/model/precision.h) and `scouter bench` read this.
#pragma once

#include <string>

namespace scouter {

struct CpuBf16 {
  bool avx512_bf16 = false;  // CPUID and the OS saving AVX-512 state (XCR0)
  bool amx_bf16 = false;     // CPUID and the OS saving AMX tile state (XCR0)
  // Set when ONEDNN_MAX_CPU_ISA (or DNNL_MAX_CPU_ISA) caps oneDNN below the bf16 instructions:
  // "ONEDNN_MAX_CPU_ISA=AVX2". The hardware is then there but unused.
  std::string capped_by;
  // Set ("ONEDNN_MAX_CPU_ISA=AVX2") when bf16 cannot run at all: on a CPU with AVX-512, LibTorch
  // 1.13 sends bf16 convolutions to oneDNN, which has none below AVX512_CORE, so a cap below it
  // fails at the first convolution ("could not create a primitive descriptor iterator").
  std::string breaks_bf16;

  // Whether oneDNN can run bf16 convolutions and matrix products in hardware here.
  bool native() const { return (avx512_bf16 || amx_bf16) && capped_by.empty(); }
  // One phrase for logs and the bench header: "native bf16: AMX-BF16, AVX512-BF16",
  // "no native bf16 (AVX2 at most)", "native bf16 hardware (AVX512-BF16) unused: ...".
  std::string describe() const;
};

// This machine's answer (CPUID once; the environment each call).
CpuBf16 detect_cpu_bf16();

// Whether a ONEDNN_MAX_CPU_ISA value (case-insensitive; oneDNN's names, e.g. AVX2,
// AVX512_CORE, AVX512_CORE_BF16, AVX512_CORE_AMX, ALL) still allows the given bf16 hardware.
bool onednn_isa_allows_bf16(const std::string& isa, bool avx512_bf16, bool amx_bf16);
// Whether a ONEDNN_MAX_CPU_ISA value allows oneDNN's AVX-512 kernels (AVX512_CORE or above).
bool onednn_isa_allows_avx512_core(const std::string& isa);

}  // namespace scouter
