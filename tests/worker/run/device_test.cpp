// pick_precision: what precision = fp32 | bf16 | auto means on a device. The rule is tested with
// the hardware answer given (so it holds on any machine); the CPU overload against this
// machine's own answer (cpu_bf16.h, tested in cpu_bf16_test.cpp).
#include "worker/run/device.h"

#include <gtest/gtest.h>

#include "common/error.h"
#include "worker/run/cpu_bf16.h"

namespace scouter {
namespace {

const std::string kNative = "native bf16: AVX512-BF16";
const std::string kNone = "no native bf16 (AVX2 without BF16: bf16 would be emulated, slower than fp32)";

TEST(PickPrecision, Fp32AndBf16AreWhatTheySayOnAnyHardware) {
  for (bool hardware : {false, true}) {
    SCOPED_TRACE(hardware);
    const std::string what = hardware ? kNative : kNone;
    PrecisionChoice fp32 = pick_precision("fp32", hardware, what);
    EXPECT_FALSE(fp32.bf16);
    EXPECT_EQ(fp32.name(), "fp32");
    EXPECT_EQ(fp32.why, "precision = fp32");
    PrecisionChoice bf16 = pick_precision("bf16", hardware, what);
    EXPECT_TRUE(bf16.bf16);
    EXPECT_EQ(bf16.name(), "bf16");
  }
  // bf16 asked for where it is emulated: the log says so.
  EXPECT_EQ(pick_precision("bf16", true, kNative).why, "precision = bf16");
  EXPECT_EQ(pick_precision("bf16", false, kNone).why, "precision = bf16 (" + kNone + ")");
}

TEST(PickPrecision, AutoFollowsTheHardwareAndSaysWhy) {
  PrecisionChoice yes = pick_precision("auto", true, kNative);
  EXPECT_TRUE(yes.bf16);
  EXPECT_EQ(yes.why, "precision = auto: " + kNative);
  PrecisionChoice no = pick_precision("auto", false, kNone);
  EXPECT_FALSE(no.bf16);
  EXPECT_EQ(no.why, "precision = auto: " + kNone);
}

TEST(PickPrecision, AnythingElseIsOneLineNamingTheValidValues) {
  for (const char* bad : {"fp16", "", "BF16", "Auto", "float32"}) {
    SCOPED_TRACE(bad);
    try {
      pick_precision(bad, true, kNative);
      ADD_FAILURE() << "accepted";
    } catch (const UserError& e) {
      EXPECT_NE(std::string(e.what()).find("\"" + std::string(bad) + "\""), std::string::npos) << e.what();
      EXPECT_EQ(e.hint(), "valid: fp32, bf16, auto");
    }
    EXPECT_THROW(pick_precision(bad, torch::kCPU), UserError);
  }
}

// On the CPU, auto is this machine's answer (native and uncapped), and the log's reason is the
// detection's own description.
TEST(PickPrecision, CpuAutoIsThisMachinesAnswer) {
  const CpuBf16 cpu = detect_cpu_bf16();
  PrecisionChoice c = pick_precision("auto", torch::kCPU);
  EXPECT_EQ(c.bf16, cpu.native()) << cpu.describe();
  EXPECT_EQ(c.why, "precision = auto: " + cpu.describe());
  EXPECT_FALSE(pick_precision("fp32", torch::kCPU).bf16);
  EXPECT_TRUE(pick_precision("bf16", torch::kCPU).bf16);
}

}  // namespace
}  // namespace scouter
