// Reading .safetensors (worker/model/safetensors.h): a file written by write_safetensors reads
// back bitwise, and a header that lies is one UserError naming the file and the tensor, with the
// file's bytes shown escaped, before anything of the size it claims is allocated.
#include <gtest/gtest.h>

#include <string>

#include "common/error.h"
#include "test_util.h"
#include "worker/model/safetensors.h"

namespace scouter {
namespace {

using testing::TempDir;

// A .safetensors file of `header` (JSON text) and `data` bytes.
void write_raw(const std::string& path, const std::string& header, const std::string& data) {
  std::string bytes(8, '\0');
  for (int k = 0; k < 8; ++k) bytes[k] = static_cast<char>((header.size() >> (8 * k)) & 0xff);
  testing::write_bytes(path, bytes + header + data);
}

TEST(Safetensors, ReadsBackWhatItWrote) {
  TempDir dir;
  auto a = torch::arange(6, torch::kFloat32).view({2, 3});
  write_safetensors(dir.file("m.safetensors"), {{"a", a}, {"b.c", torch::ones({4}, torch::kInt64)}});
  auto got = read_safetensors(dir.file("m.safetensors"));
  ASSERT_EQ(got.size(), 2u);
  EXPECT_TRUE(torch::equal(got.at("a"), a));
  EXPECT_EQ(got.at("b.c").sum().item<int64_t>(), 4);
}

TEST(Safetensors, AHeaderThatLiesIsOneClearError) {
  TempDir dir;
  const std::string path = dir.file("bad.safetensors");
  const std::string data(24, '\0');
  struct Case {
    std::string header, expect;
  };
  const std::vector<Case> cases = {
      {R"({"w": [1, 2]})", "tensor 'w' is not an object with dtype (a string), shape and data_offsets"},
      {R"({"w": {"dtype": "F32", "shape": "6", "data_offsets": [0, 24]}})", "is not an object"},
      {R"({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 24]}})",
       "its shape holds something other than sizes >= 0"},
      // 10^12 x 10^12 floats claimed over 24 bytes: refused before any allocation.
      {R"({"w": {"dtype": "F32", "shape": [1000000000000, 1000000000000], "data_offsets": [0, 24]}})",
       "tensor 'w': data_offsets do not match its dtype and shape"},
      {R"({"w": {"dtype": "F32", "shape": [6], "data_offsets": [0]}})",
       "data_offsets do not match"},
      {R"({"w": {"dtype": "F32", "shape": [6], "data_offsets": [0, "24"]}})",
       "data_offsets must be two byte offsets"},
      // Not UTF-8 in a name: the JSON reader refuses it, in a line without raw bytes.
      {"{\"w\xff\": [1]}", "its header is not valid JSON: "},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.header);
    write_raw(path, c.header, data);
    const std::string msg = testing::user_error_message([&] { read_safetensors(path); });
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find(c.expect), std::string::npos) << msg;
    EXPECT_EQ(msg.find("json.exception"), std::string::npos) << msg;
  }
  write_raw(path, "{\"w\\u0001\": [1]}", data);
  const std::string msg = testing::user_error_message([&] { read_safetensors(path); });
  EXPECT_NE(msg.find("tensor 'w\\x01' is not an object"), std::string::npos) << msg;
}

}  // namespace
}  // namespace scouter
