// str_format against fmt itself: every format spec the code base uses, over values of every
// accepted type, must give fmt's exact text (this test, unlike the code it checks, may include
// fmt: it never sees LibTorch).
#include "common/format.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace scouter {
namespace {

// Every spec found in common/, datasets/, worker/, launcher/ and tests/ (grep '{:...}').
const std::vector<std::string> kIntSpecs = {"{}",     "{:05d}", "{:02d}", "{:04d}", "{:07d}",
                                            "{:08X}", "{:02x}", "{:02X}", "{:04x}", "{:>8}",
                                            "{:<17}", "{:<16}"};
const std::vector<std::string> kFloatSpecs = {"{}",     "{:.4f}", "{:.1f}", "{:.6g}", "{:.0f}",
                                              "{:.2f}", "{:.4g}", "{:.3f}", "{:.17g}", "{:.2g}",
                                              "{:>8}",  "{:<17}", "{:<16}"};
const std::vector<std::string> kTextSpecs = {"{}", "{:>8}", "{:<17}", "{:<16}"};

template <typename T>
void expect_like_fmt(const std::vector<std::string>& specs, const std::vector<T>& values) {
  for (const auto& spec : specs)
    for (const T& v : values) {
      // Each spec alone, and inside text with a second argument around it.
      EXPECT_EQ(str_format(spec, v), fmt::format(fmt::runtime(spec), v)) << spec;
      std::string text = "a " + spec + " b {} c";
      EXPECT_EQ(str_format(text, v, 7), fmt::format(fmt::runtime(text), v, 7)) << text;
    }
}

TEST(Format, IntegersLikeFmt) {
  expect_like_fmt<int>(kIntSpecs, {0, 1, -1, 7, 42, -42, 99999, 123456789,
                                   std::numeric_limits<int>::min(), std::numeric_limits<int>::max()});
  expect_like_fmt<long>(kIntSpecs, {0L, -3L, 1L << 40, std::numeric_limits<long>::min()});
  expect_like_fmt<int64_t>(kIntSpecs, {0, 12, -12, std::numeric_limits<int64_t>::max()});
  expect_like_fmt<size_t>(kIntSpecs, {0u, 5u, 65535u, std::numeric_limits<size_t>::max()});
  expect_like_fmt<unsigned>(kIntSpecs, {0u, 0x08u, 0x803u, 0xDEADBEEFu});
  expect_like_fmt<uint64_t>(kIntSpecs, {0u, 1u << 31, std::numeric_limits<uint64_t>::max()});
}

TEST(Format, FloatingPointLikeFmt) {
  const std::vector<double> doubles = {0.0, -0.0, 1.0, -1.5, 0.5, 2.5, 0.12345, 0.98765, 1e-7,
                                       1.0 / 3, 2.0 / 3, 123456.789, 1e21, 9.99995, 0.000123456,
                                       90.77, 1e300, std::numeric_limits<double>::infinity(),
                                       -std::numeric_limits<double>::infinity(), std::nan("")};
  expect_like_fmt<double>(kFloatSpecs, doubles);
  std::vector<float> floats;
  for (double d : doubles) floats.push_back(static_cast<float>(d));
  floats.push_back(0.1f);
  floats.push_back(3.4028235e38f);
  expect_like_fmt<float>(kFloatSpecs, floats);
}

TEST(Format, TextBoolAndCharLikeFmt) {
  expect_like_fmt<std::string>(kTextSpecs, {"", "x", "resnet18", "a much longer text than 17"});
  expect_like_fmt<std::string_view>(kTextSpecs, {"", "pos_seed2"});
  expect_like_fmt<const char*>(kTextSpecs, {"", "cuda"});
  expect_like_fmt<bool>({"{}", "{:>8}", "{:<16}"}, {true, false});
  expect_like_fmt<char>({"{}", "{:>8}", "{:<16}"}, {'a', ' ', '{'});
  char buf[] = "mutable";
  EXPECT_EQ(str_format("[{}]", buf), "[mutable]");  // char[] and char* as text
  EXPECT_EQ(str_format("[{}]", static_cast<char*>(buf)), "[mutable]");
}

TEST(Format, KnownTexts) {
  // What the specs mean, written out (also documents fmt's rules the code relies on).
  EXPECT_EQ(str_format("{:.4f}", 0.12345), "0.1235");
  EXPECT_EQ(str_format("{:.1f} MB", 2.25), "2.2 MB");  // the double nearest 2.25 is 2.25: ties to even
  EXPECT_EQ(str_format("{:05d}", 42), "00042");
  EXPECT_EQ(str_format("{:05d}", -42), "-0042");
  EXPECT_EQ(str_format("{:>8}", "ab"), "      ab");
  EXPECT_EQ(str_format("{:>8}", 3.5), "     3.5");
  EXPECT_EQ(str_format("{:<4}|", 7), "7   |");
  EXPECT_EQ(str_format("0x{:08X}", 0x803u), "0x00000803");
  EXPECT_EQ(str_format("{:.6g}", 90.7654321), "90.7654");
  EXPECT_EQ(str_format("{:.2g}", 0.001), "0.001");
  EXPECT_EQ(str_format("{}", 0.1f), "0.1");  // a float's own shortest text, not the double's
  EXPECT_EQ(str_format("{}", 0.1), "0.1");
  EXPECT_EQ(str_format("{}", 1e21), "1e+21");
  EXPECT_EQ(str_format("{}", true), "true");
  EXPECT_EQ(str_format("{}", 'c'), "c");
  EXPECT_EQ(str_format("{:d}", 'c'), "99");
  EXPECT_EQ(str_format("{}", std::numeric_limits<uint64_t>::max()), "18446744073709551615");
  EXPECT_EQ(str_format("{}", std::numeric_limits<int64_t>::min()), "-9223372036854775808");
}

TEST(Format, StringsArgumentsAndBraces) {
  EXPECT_EQ(str_format("no arguments"), "no arguments");
  EXPECT_EQ(str_format("{{\"index\": {}}}", 3), "{\"index\": 3}");
  EXPECT_EQ(str_format("{1}-{0}-{1}", "a", "b"), "b-a-b");
  EXPECT_EQ(str_format("| {:<{}} |", "key", 6), fmt::format("| {:<{}} |", "key", 6));
  EXPECT_EQ(str_format(std::string("{:.2f} ± ") + "{:.2f}", 1.0, 0.25), "1.00 ± 0.25");
  std::string big(5000, 'x');
  EXPECT_EQ(str_format("<{}>", big), "<" + big + ">");
  const std::string kept = "abc";
  EXPECT_EQ(str_format("{}{}{}{}{}{}{}{}{}{}{}{}{}", 1, 2u, 3L, 4.5, 5.5f, true, 'c', "d", kept,
                       std::string_view(kept), size_t{9}, int64_t{-1}, static_cast<short>(3)),
            "1234.55.5truecdabcabc9-13");
}

TEST(Format, BadFormatStringsThrowScouterErrors) {
  auto message = [](auto&& f) {
    try {
      f();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no exception");
  };
  std::string m = message([] { str_format("{:d}", "text"); });
  EXPECT_NE(m.find("bad format string \"{:d}\""), std::string::npos) << m;
  m = message([] { str_format("{} and {}", 1); });
  EXPECT_NE(m.find("bad format string \"{} and {}\" (1 argument(s))"), std::string::npos) << m;
  m = message([] { str_format("unclosed {", 1); });
  EXPECT_NE(m.find("bad format string"), std::string::npos) << m;
  m = message([] { str_format("{:.2f}", 3); });  // fmt refuses a precision for integers
  EXPECT_NE(m.find("bad format string"), std::string::npos) << m;
  m = message([] { str_format("{}", static_cast<const char*>(nullptr)); });
  EXPECT_NE(m.find("null string pointer"), std::string::npos) << m;
}

}  // namespace
}  // namespace scouter
