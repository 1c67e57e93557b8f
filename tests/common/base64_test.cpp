#include "common/base64.h"

#include <gtest/gtest.h>

namespace scouter {
namespace {

// RFC 4648 section 10 test vectors, and bytes above 0x7f.
TEST(Base64, Rfc4648Vectors) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foob"), "Zm9vYg==");
  EXPECT_EQ(base64_encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64_encode(std::string("\x89PNG\xff\xfe", 6)), "iVBOR//+");
}

}  // namespace
}  // namespace scouter
