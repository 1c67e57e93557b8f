#include "common/text.h"

#include <gtest/gtest.h>

#include <string>

namespace scouter {
namespace {

TEST(Printable, KeepsTextAndValidUtf8) {
  EXPECT_EQ(printable("run-1_a.b \\ \"x\""), "run-1_a.b \\ \"x\"");
  EXPECT_EQ(printable("caf\xc3\xa9 \xe4\xb8\xad \xf0\x9f\x98\x80"), "caf\xc3\xa9 \xe4\xb8\xad \xf0\x9f\x98\x80");
  EXPECT_EQ(printable(""), "");
}

TEST(Printable, EscapesControlBytesAndInvalidUtf8) {
  EXPECT_EQ(printable("a\x01""b\x7f\n\x1b[31m"), "a\\x01b\\x7f\\x0a\\x1b[31m");
  EXPECT_EQ(printable(std::string("\0", 1)), "\\x00");
  EXPECT_EQ(printable("\xff\xfe"), "\\xff\\xfe");                   // never valid
  EXPECT_EQ(printable("\xc0\xaf"), "\\xc0\\xaf");                   // overlong '/'
  EXPECT_EQ(printable("\xed\xa0\x80"), "\\xed\\xa0\\x80");          // a UTF-16 surrogate
  EXPECT_EQ(printable("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");  // above U+10FFFF
  EXPECT_EQ(printable("x\xe4\xb8"), "x\\xe4\\xb8");                 // cut short at the end
  EXPECT_EQ(printable("\x80z"), "\\x80z");                          // a lone continuation byte
}

TEST(Printable, CutsLongTextAtACharacterAndSaysHowLong) {
  EXPECT_EQ(printable(std::string(40000, 'a'), 10), "aaaaaaaaaa... (40000 bytes)");
  EXPECT_EQ(printable("a\xc3\xa9", 2), "a... (3 bytes)");  // not inside the two bytes of U+00E9
  EXPECT_EQ(printable("abc", 3), "abc");
  EXPECT_LT(printable(std::string(1 << 20, '\x01')).size(), 600u);  // the default cut: 120 bytes
}

}  // namespace
}  // namespace scouter
