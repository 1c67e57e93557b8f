// detect_cpu_bf16 against the kernel's own view of the CPU (/proc/cpuinfo), and the
// ONEDNN_MAX_CPU_ISA cap. The tests hold on CPUs with and without bf16 hardware (and under the
// fixture_tests_isa_* runs, which set the cap themselves): each checks the answer that this
// machine should give, not one answer. KernelOverride: that those runs' overrides took effect.
#include "worker/run/cpu_bf16.h"

#include <ATen/Version.h>
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <optional>
#include <set>
#include <sstream>
#include <string>

#include "common/error.h"
#include "worker/run/device.h"

namespace scouter {
namespace {

// Sets (or with nullptr unsets) an environment variable for the scope, then puts back what was
// there before.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) ::setenv(name, value, 1);
    else ::unsetenv(name);
  }
  ~ScopedEnv() {
    if (old_) ::setenv(name_.c_str(), old_->c_str(), 1);
    else ::unsetenv(name_.c_str());
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  std::optional<std::string> old_;
};

// Neither variable set, whatever the caller's environment holds.
struct NoCap {
  ScopedEnv onednn{"ONEDNN_MAX_CPU_ISA", nullptr};
  ScopedEnv dnnl{"DNNL_MAX_CPU_ISA", nullptr};
};

// The flags of the first processor in /proc/cpuinfo; nullopt where there is no such file.
std::optional<std::set<std::string>> cpuinfo_flags() {
  std::ifstream in("/proc/cpuinfo");
  if (!in) return std::nullopt;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    std::set<std::string> flags;
    for (std::string w; words >> w;) flags.insert(w);
    return flags;
  }
  return std::nullopt;
}

TEST(OnednnIsa, OnlyCapsAtOrAboveTheBf16InstructionsAllowThem) {
  // {cap, allowed with AVX512-BF16 alone, allowed with AMX-BF16 alone}
  struct Row {
    const char* isa;
    bool avx512_bf16, amx_bf16;
  };
  const Row rows[] = {
      {"SSE41", false, false},           {"AVX", false, false},
      {"AVX2", false, false},            {"AVX2_VNNI", false, false},
      {"AVX512_CORE", false, false},     {"AVX512_CORE_VNNI", false, false},
      {"AVX512_CORE_BF16", true, false}, {"AVX512_CORE_FP16", true, false},
      {"AVX512_CORE_AMX", true, true},   {"AVX512_CORE_AMX_FP16", true, true},
      {"ALL", true, true},               {"", true, true},
      {"avx512_core_bf16", true, false}, {"Avx512_Core_Amx", true, true},
      {"all", true, true},               {"avx2", false, false},
  };
  for (const Row& r : rows) {
    SCOPED_TRACE(r.isa);
    EXPECT_EQ(onednn_isa_allows_bf16(r.isa, true, false), r.avx512_bf16);
    EXPECT_EQ(onednn_isa_allows_bf16(r.isa, false, true), r.amx_bf16);
    EXPECT_EQ(onednn_isa_allows_bf16(r.isa, true, true), r.avx512_bf16 || r.amx_bf16);
    EXPECT_FALSE(onednn_isa_allows_bf16(r.isa, false, false));  // no hardware, no cap helps
  }
}

TEST(CpuBf16, AgreesWithTheKernelsCpuFlags) {
#if !defined(__x86_64__) && !defined(__i386__)
  GTEST_SKIP() << "CPUID detection is x86 only; elsewhere detect_cpu_bf16 answers no";
#endif
  auto flags = cpuinfo_flags();
  if (!flags) GTEST_SKIP() << "no flags line in /proc/cpuinfo";
  NoCap no_cap;
  const CpuBf16 cpu = detect_cpu_bf16();
  // The kernel lists a flag only where CPUID has it and the OS saves its register state: the
  // same two conditions the detection checks (CPUID and XCR0).
  EXPECT_EQ(cpu.avx512_bf16, flags->count("avx512_bf16") == 1);
  EXPECT_EQ(cpu.amx_bf16, flags->count("amx_bf16") == 1 && flags->count("amx_tile") == 1);
  EXPECT_TRUE(cpu.capped_by.empty()) << cpu.capped_by;
  EXPECT_EQ(cpu.native(), cpu.avx512_bf16 || cpu.amx_bf16);
  const std::string start = cpu.native() ? "native bf16: " : "no native bf16 (";
  EXPECT_EQ(cpu.describe().rfind(start, 0), 0u) << cpu.describe();
}

// On a CPU with AVX-512, a oneDNN cap below AVX512_CORE leaves LibTorch 1.13 sending bf16
// convolutions to a oneDNN that has none: bf16 is refused with one line before anything runs,
// while auto (which then picks fp32) and fp32 go on. Elsewhere the cap breaks nothing.
TEST(CpuBf16, ACapBelowAvx512CoreRefusesBf16OnAnAvx512Cpu) {
  auto flags = cpuinfo_flags();
  const bool avx512 = flags && flags->count("avx512f") == 1;
  NoCap no_cap;
  ScopedEnv cap("ONEDNN_MAX_CPU_ISA", "AVX2");
  const CpuBf16 cpu = detect_cpu_bf16();
  EXPECT_FALSE(cpu.native());
  EXPECT_FALSE(pick_precision("auto", torch::kCPU).bf16);
  EXPECT_FALSE(pick_precision("fp32", torch::kCPU).bf16);
  if (avx512) {
    EXPECT_EQ(cpu.breaks_bf16, "ONEDNN_MAX_CPU_ISA=AVX2");
    try {
      pick_precision("bf16", torch::kCPU);
      ADD_FAILURE() << "bf16 under the cap was not refused";
    } catch (const UserError& e) {
      EXPECT_NE(std::string(e.what()).find("ONEDNN_MAX_CPU_ISA=AVX2"), std::string::npos) << e.what();
      EXPECT_NE(e.hint().find("fp32 or auto"), std::string::npos) << e.hint();
    }
  } else {
    EXPECT_TRUE(cpu.breaks_bf16.empty()) << cpu.breaks_bf16;
    EXPECT_TRUE(pick_precision("bf16", torch::kCPU).bf16);
  }
  ScopedEnv core("ONEDNN_MAX_CPU_ISA", "AVX512_CORE");
  EXPECT_TRUE(detect_cpu_bf16().breaks_bf16.empty());
  EXPECT_TRUE(pick_precision("bf16", torch::kCPU).bf16);
}

TEST(CpuBf16, OnednnMaxCpuIsaCapsIt) {
  const bool hardware = [] {
    NoCap no_cap;
    return detect_cpu_bf16().native();
  }();
  {
    NoCap no_cap;
    ScopedEnv cap("ONEDNN_MAX_CPU_ISA", "AVX2");
    const CpuBf16 cpu = detect_cpu_bf16();
    EXPECT_FALSE(cpu.native());
    if (hardware) {  // the hardware is still reported, as unused
      EXPECT_EQ(cpu.capped_by, "ONEDNN_MAX_CPU_ISA=AVX2");
      EXPECT_NE(cpu.describe().find("unused: ONEDNN_MAX_CPU_ISA=AVX2"), std::string::npos) << cpu.describe();
    } else {  // nothing to cap
      EXPECT_EQ(cpu.capped_by, "");
    }
  }
  {  // the older name, alone
    NoCap no_cap;
    ScopedEnv cap("DNNL_MAX_CPU_ISA", "avx512_core");
    EXPECT_FALSE(detect_cpu_bf16().native());
    EXPECT_EQ(detect_cpu_bf16().capped_by, hardware ? "DNNL_MAX_CPU_ISA=avx512_core" : "");
  }
  {  // oneDNN reads ONEDNN_MAX_CPU_ISA first: DNNL_MAX_CPU_ISA does not count beside it
    NoCap no_cap;
    ScopedEnv all("ONEDNN_MAX_CPU_ISA", "ALL");
    ScopedEnv cap("DNNL_MAX_CPU_ISA", "AVX2");
    EXPECT_EQ(detect_cpu_bf16().native(), hardware);
  }
  {  // a cap at the bf16 instructions leaves them
    NoCap no_cap;
    ScopedEnv cap("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_AMX");
    EXPECT_EQ(detect_cpu_bf16().native(), hardware);
  }
  // The environment is read on each call: with the variables gone, the answer is back.
  NoCap no_cap;
  EXPECT_EQ(detect_cpu_bf16().native(), hardware);
}

// describe() from the fields (the "no native" text names this machine's vector width, so only its
// form is checked).
TEST(CpuBf16, DescribeNamesWhatIsThereAndWhatCapsIt) {
  CpuBf16 both;
  both.avx512_bf16 = both.amx_bf16 = true;
  EXPECT_EQ(both.describe(), "native bf16: AMX-BF16, AVX512-BF16");
  CpuBf16 avx;
  avx.avx512_bf16 = true;
  EXPECT_EQ(avx.describe(), "native bf16: AVX512-BF16");
  avx.capped_by = "ONEDNN_MAX_CPU_ISA=AVX2";
  EXPECT_FALSE(avx.native());
  EXPECT_EQ(avx.describe(), "native bf16 hardware (AVX512-BF16) unused: ONEDNN_MAX_CPU_ISA=AVX2");
  const std::string none = CpuBf16{}.describe();
  EXPECT_EQ(none.rfind("no native bf16 (", 0), 0u) << none;
  EXPECT_NE(none.find("emulated, slower than fp32"), std::string::npos) << none;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// The fixture_tests_isa_* runs (tests/CMakeLists.txt) repeat the numerical fixture tests with
// the kernels another CPU would run, chosen by environment variables that the libraries read
// once. These three tests, run only there (disabled elsewhere), confirm that the libraries took
// them: a misspelt value or a LibTorch that ignores it would otherwise repeat the normal run.

// ATen's kernel set, as LibTorch reports it ("CPU capability usage: AVX2") from the same
// get_cpu_capability() its DispatchStubs call (not exported by LibTorch 1.13, so read from
// show_config), against ATEN_CPU_CAPABILITY.
TEST(KernelOverride, DISABLED_AtenUsesAtenCpuCapability) {
  const char* requested = std::getenv("ATEN_CPU_CAPABILITY");
  ASSERT_TRUE(requested != nullptr) << "run by fixture_tests_isa_*, which set ATEN_CPU_CAPABILITY";
  const std::string config = at::show_config();
  const std::string key = "CPU capability usage: ";
  const auto pos = config.find(key);
  ASSERT_NE(pos, std::string::npos) << config;
  const auto from = pos + key.size();
  const std::string used = config.substr(from, config.find('\n', from) - from);
  // ATen's names for its DEFAULT, AVX2 and AVX512 kernels (aten/src/ATen/Version.cpp).
  const std::string want = lower(requested) == "default" ? "NO AVX"
                           : lower(requested) == "avx2"  ? "AVX2"
                           : lower(requested) == "avx512" ? "AVX512"
                                                          : "(no such capability)";
  EXPECT_EQ(used, want) << "ATEN_CPU_CAPABILITY=" << requested << " but ATen uses " << used;
  std::cout << "ATen CPU capability: " << used << " (ATEN_CPU_CAPABILITY=" << requested << ")\n";
}

// oneDNN's ISA in effect (the widest it dispatches to: its cap, or less on a CPU without it), from
// libdnnl's own dnnl_get_effective_cpu_isa, against ONEDNN_MAX_CPU_ISA. Debian's LibTorch links
// the shared libdnnl, whose C API is visible to dlsym; a LibTorch with oneDNN linked in and
// hidden (PyPI's) has no such symbol, and the test says so and skips.
TEST(KernelOverride, DISABLED_OnednnUsesOnednnMaxCpuIsa) {
  const char* requested = std::getenv("ONEDNN_MAX_CPU_ISA");
  ASSERT_TRUE(requested != nullptr) << "run by fixture_tests_isa_*, which set ONEDNN_MAX_CPU_ISA";
  using GetIsa = int (*)();
  using IsaName = const char* (*)(int);
  auto get = reinterpret_cast<GetIsa>(dlsym(RTLD_DEFAULT, "dnnl_get_effective_cpu_isa"));
  auto name = reinterpret_cast<IsaName>(dlsym(RTLD_DEFAULT, "dnnl_cpu_isa2str"));
  if (get == nullptr || name == nullptr)
    GTEST_SKIP() << "this LibTorch's oneDNN exports no dnnl_get_effective_cpu_isa: cannot confirm "
                 << "ONEDNN_MAX_CPU_ISA=" << requested;
  // dnnl_cpu_isa2str names the ISA as oneDNN's enum does: "cpu_isa_avx2" for the cap AVX2. The
  // machines these runs are meant for have the capped ISA (AVX2, SSE4.1), so it is in effect.
  const std::string used = name(get());
  EXPECT_EQ(used, "cpu_isa_" + lower(requested))
      << "ONEDNN_MAX_CPU_ISA=" << requested << " but oneDNN uses " << used;
  std::cout << "oneDNN ISA: " << used << " (ONEDNN_MAX_CPU_ISA=" << requested << ")\n";
}

// OpenBLAS's kernel set (the matrix products LibTorch sends to BLAS), from its own
// openblas_get_corename ("Haswell"), against OPENBLAS_CORETYPE. Skipped where no OpenBLAS is
// loaded (a LibTorch on MKL).
TEST(KernelOverride, DISABLED_OpenblasUsesOpenblasCoretype) {
  const char* requested = std::getenv("OPENBLAS_CORETYPE");
  ASSERT_TRUE(requested != nullptr) << "run by fixture_tests_isa_*, which set OPENBLAS_CORETYPE";
  using CoreName = const char* (*)();
  auto name = reinterpret_cast<CoreName>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  if (name == nullptr)
    GTEST_SKIP() << "no OpenBLAS in this process: OPENBLAS_CORETYPE=" << requested << " unused";
  const std::string used = name();
  EXPECT_EQ(lower(used), lower(requested))
      << "OPENBLAS_CORETYPE=" << requested << " but OpenBLAS uses " << used;
  std::cout << "OpenBLAS core: " << used << " (OPENBLAS_CORETYPE=" << requested << ")\n";
}

}  // namespace
}  // namespace scouter
