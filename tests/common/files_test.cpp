#include "common/files.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <stdexcept>

#include "common/error.h"
#include "test_util.h"

namespace scouter {
namespace {

using testing::TempDir;

TEST(Files, AtomicOutputAppearsOnlyOnCommit) {
  TempDir dir;
  std::string target = dir.file("out.txt");
  {
    AtomicOutput out(target);
    testing::write_bytes(out.temp_path(), "half");
    EXPECT_FALSE(file_exists(target));
    // No commit: the temporary is removed and nothing looks complete.
  }
  EXPECT_FALSE(file_exists(target));
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
  {
    AtomicOutput out(target);
    testing::write_bytes(out.temp_path(), "whole");
    out.commit();
  }
  EXPECT_EQ(read_text_file(target), "whole");
}

TEST(Files, Sha256OfKnownInputs) {
  // FIPS 180-2 test vectors.
  EXPECT_EQ(sha256_bytes("abc", 3),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_bytes("", 0),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  TempDir dir;
  testing::write_bytes(dir.file("abc"), "abc");
  EXPECT_EQ(sha256_file(dir.file("abc")), sha256_bytes("abc", 3));
  EXPECT_THROW(sha256_file(dir.file("missing")), UserError);
}

TEST(Files, EnsureDirRefusesAFile) {
  TempDir dir;
  testing::write_bytes(dir.file("f"), "x");
  EXPECT_THROW(ensure_dir(dir.file("f")), UserError);
  EXPECT_NO_THROW(ensure_dir(dir.file("a/b/c")));
  EXPECT_TRUE(std::filesystem::is_directory(dir.file("a/b/c")));
}

// remove_tree: a whole tree goes, a link inside it is removed without touching its target, and a
// missing path is no error.
TEST(Files, RemoveTreeRemovesEverythingButFollowsNoLink) {
  testing::TempDir dir;
  const std::string root = dir.file("tree"), outside = dir.file("outside");
  ensure_dir(root + "/a/b");
  ensure_dir(outside);
  write_text_file_atomic(root + "/a/b/f.txt", "x");
  write_text_file_atomic(root + "/top.txt", "y");
  write_text_file_atomic(outside + "/keep.txt", "z");
  ASSERT_EQ(::symlink(outside.c_str(), (root + "/a/link").c_str()), 0);
  std::string error;
  EXPECT_TRUE(remove_tree(root, &error)) << error;
  EXPECT_FALSE(file_exists(root));
  EXPECT_TRUE(file_exists(outside + "/keep.txt"));
  EXPECT_TRUE(remove_tree(root));  // already gone
}

}  // namespace
}  // namespace scouter
