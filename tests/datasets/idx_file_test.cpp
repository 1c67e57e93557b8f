// read_idx on hand-built IDX files, plain and gzipped, and on each kind of broken file.
#include "datasets/idx_file.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include "common/error.h"
#include "common/files.h"
#include "test_util.h"

namespace scouter {
namespace {

std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

// Header then `payload` bytes; the caller says what the header declares.
std::string idx_bytes(uint32_t magic, const std::vector<uint32_t>& dims,
                      const std::string& payload) {
  std::string s = be32(magic);
  for (uint32_t d : dims) s += be32(d);
  return s + payload;
}

std::string pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 7 + 3) % 256);
  return s;
}

void write_gz(const std::string& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())),
            static_cast<int>(bytes.size()));
  ASSERT_EQ(gzclose(f), Z_OK);
}

std::string read_error(const std::string& path, int ndim) {
  try {
    read_idx(path, ndim);
  } catch (const UserError& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("NOT A UserError: ") + e.what();
  }
  return "no error";
}

class IdxFileTest : public ::testing::Test {
 protected:
  testing::TempDir dir_;
};

TEST_F(IdxFileTest, ReadsPlainImagesAndLabels) {
  std::string payload = pattern(3 * 4 * 5);
  testing::write_bytes(dir_.file("img"), idx_bytes(0x00000803, {3, 4, 5}, payload));
  IdxArray a = read_idx(dir_.file("img"), 3);
  EXPECT_EQ(a.dims, (std::vector<int64_t>{3, 4, 5}));
  EXPECT_EQ(std::string(a.data.begin(), a.data.end()), payload);

  testing::write_bytes(dir_.file("lab"),
                       idx_bytes(0x00000801, {4}, std::string("\x01\x00\x09\x05", 4)));
  IdxArray l = read_idx(dir_.file("lab"), 1);
  EXPECT_EQ(l.dims, (std::vector<int64_t>{4}));
  EXPECT_EQ(l.data, (std::vector<uint8_t>{1, 0, 9, 5}));
}

TEST_F(IdxFileTest, ReadsGzippedFileWithLargeDimension) {
  // 300 rows: a dimension above 255 checks the big-endian decoding.
  std::string payload = pattern(300 * 2 * 3);
  write_gz(dir_.file("img.gz"), idx_bytes(0x00000803, {300, 2, 3}, payload));
  IdxArray a = read_idx(dir_.file("img.gz"), 3);
  EXPECT_EQ(a.dims, (std::vector<int64_t>{300, 2, 3}));
  EXPECT_EQ(std::string(a.data.begin(), a.data.end()), payload);
}

TEST_F(IdxFileTest, MissingFileNamesPath) {
  std::string msg = read_error(dir_.file("absent-idx3-ubyte"), 3);
  EXPECT_NE(msg.find(dir_.file("absent-idx3-ubyte")), std::string::npos) << msg;
}

TEST_F(IdxFileTest, WrongMagicNamesPathAndBothValues) {
  std::string path = dir_.file("bad");
  testing::write_bytes(path, idx_bytes(0x12340803, {1, 1, 1}, "x"));
  std::string msg = read_error(path, 3);
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("0x00000803"), std::string::npos) << msg;
  EXPECT_NE(msg.find("0x12340803"), std::string::npos) << msg;
}

TEST_F(IdxFileTest, WrongDimensionCountNamesPath) {
  std::string path = dir_.file("labels-as-images");
  testing::write_bytes(path, idx_bytes(0x00000801, {2}, "ab"));
  std::string msg = read_error(path, 3);
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("0x00000801"), std::string::npos) << msg;
}

TEST_F(IdxFileTest, UnsupportedElementTypeNamesPath) {
  std::string path = dir_.file("floats");
  testing::write_bytes(path, idx_bytes(0x00000D01, {1}, "abcd"));
  std::string msg = read_error(path, 1);
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("0x0D"), std::string::npos) << msg;
}

TEST_F(IdxFileTest, TruncatedDataSaysExpectedAndFound) {
  std::string path = dir_.file("short");
  testing::write_bytes(path, idx_bytes(0x00000803, {2, 3, 4}, pattern(20)));
  std::string msg = read_error(path, 3);
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("24"), std::string::npos) << msg;
  EXPECT_NE(msg.find("20"), std::string::npos) << msg;

  testing::write_bytes(path, be32(0x00000803) + be32(2));  // header cut inside the dimensions
  msg = read_error(path, 3);
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
}

// A header declaring far more than the file holds (here 2^39 bytes, more than any machine's
// memory) is a truncated file, found without allocating what the header claims.
TEST_F(IdxFileTest, HugeDeclaredSizeOfASmallFileIsTruncatedNotAnAllocation) {
  std::string path = dir_.file("huge");
  testing::write_bytes(path, idx_bytes(0x00000803, {1u << 19, 1u << 10, 1u << 10}, pattern(20)));
  std::string msg = read_error(path, 3);
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
  EXPECT_NE(msg.find("549755813888"), std::string::npos) << msg;
}

// Dimensions whose product does not fit 64 bits are refused before they are multiplied.
TEST_F(IdxFileTest, OverflowingDimensionsAreImplausible) {
  std::string path = dir_.file("overflow");
  testing::write_bytes(path, idx_bytes(0x00000803, {0xFFFFFFFFu, 0xFF000000u, 0xFFFFFFFFu}, ""));
  std::string msg = read_error(path, 3);
  EXPECT_NE(msg.find("implausible size (4294967295 x 4278190080 elements)"), std::string::npos)
      << msg;
}

TEST_F(IdxFileTest, TrailingBytesNamePath) {
  std::string path = dir_.file("long.gz");
  write_gz(path, idx_bytes(0x00000801, {3}, "abcd"));
  std::string msg = read_error(path, 1);
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("trailing"), std::string::npos) << msg;
}

TEST_F(IdxFileTest, CorruptGzipStreamNamesPath) {
  // A valid gzip header followed by bytes that are not a deflate stream.
  std::string path = dir_.file("bad.gz");
  std::string gz =
      std::string("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03", 10) + std::string(64, '\xff');
  testing::write_bytes(path, gz);
  std::string msg = read_error(path, 3);
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_EQ(msg.find("NOT A UserError"), std::string::npos) << msg;

  // A good gzip file cut in the middle of its stream.
  std::string whole_path = dir_.file("whole.gz");
  write_gz(whole_path, idx_bytes(0x00000803, {50, 10, 10}, pattern(5000)));
  std::string bytes = read_text_file(whole_path);
  std::string cut_path = dir_.file("cut.gz");
  testing::write_bytes(cut_path, bytes.substr(0, bytes.size() / 2));
  msg = read_error(cut_path, 3);
  EXPECT_NE(msg.find(cut_path), std::string::npos) << msg;
  EXPECT_EQ(msg.find("NOT A UserError"), std::string::npos) << msg;
}

}  // namespace
}  // namespace scouter
