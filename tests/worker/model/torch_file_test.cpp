// Reading torch.save files (worker/model/torch_file.h) whatever their bytes. The pickles are built
// here opcode by opcode and zipped by LibTorch's own writer (the one torch.save uses): nesting
// beyond the limit, self-referencing containers, lengths beyond the end and storages that lie
// each give one UserError naming the file, under the default 8 MB stack; a structure nested up to
// the limit still reads.
#include <caffe2/serialize/inline_container.h>
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <string>

#include "common/error.h"
#include "common/files.h"
#include "test_util.h"
#include "worker/model/torch_file.h"

namespace scouter {
namespace {

using testing::TempDir;

// Pickle opcodes (protocol 2), as Python's pickletools names them.
const std::string kProto = "\x80\x02";
const std::string kStop = ".";
const std::string kNestingError = "nests containers deeper than 1000 levels (the limit";

std::string le(uint64_t v, int bytes) {
  std::string s;
  for (int k = 0; k < bytes; ++k) s += static_cast<char>((v >> (8 * k)) & 0xff);
  return s;
}
std::string integer(int64_t v) { return "\x8a\x08" + le(static_cast<uint64_t>(v), 8); }  // LONG1
std::string str(const std::string& s) { return "X" + le(s.size(), 4) + s; }  // BINUNICODE
std::string global(const std::string& module, const std::string& name) {
  return "c" + module + "\n" + name + "\n";
}
std::string binfloat(double v) {  // BINFLOAT: big-endian
  uint64_t u = 0;
  std::memcpy(&u, &v, 8);
  std::string s = le(u, 8);
  return "G" + std::string(s.rbegin(), s.rend());
}

// _rebuild_tensor_v2(("storage", FloatStorage, key, "cpu", numel), 0, (numel,), (1,), False,
// OrderedDict()): a 1-d float tensor over the record data/<key>.
std::string tensor(const std::string& key, int64_t numel) {
  return global("torch._utils", "_rebuild_tensor_v2") + "((" + str("storage") +
         global("torch", "FloatStorage") + str(key) + str("cpu") + integer(numel) + "tQ" +
         integer(0) + integer(numel) + "\x85" + integer(1) + "\x85" + "\x89" +
         global("collections", "OrderedDict") + ")RtR";
}
// An argparse.Namespace whose __dict__ is the dict that `state_items` (key, value, ...) fills.
std::string namespace_of(const std::string& state_items) {
  return global("argparse", "Namespace") + ")\x81}(" + state_items + "ub";
}
// [[...[]...]]: `levels` lists, each inside the next, built inner first as Python's pickler does.
std::string nested_lists(int levels) {
  return std::string(levels, ']') + std::string(levels - 1, 'a');
}

// A torch.save zip of `pickle` (data.pkl) and float records data/<key>.
void write_torch_zip(const std::string& path, const std::string& pickle,
                     const std::map<std::string, std::vector<float>>& records = {}) {
  caffe2::serialize::PyTorchStreamWriter zip(path);
  zip.writeRecord("data.pkl", pickle.data(), pickle.size());
  for (const auto& [key, values] : records)
    zip.writeRecord("data/" + key, values.data(), values.size() * sizeof(float));
  zip.writeEndOfFile();
}

// The UserError message of reading `pickle` as a torch.save file; it must name the file.
std::string error_of(const std::string& pickle, const std::map<std::string, std::vector<float>>& records = {}) {
  TempDir dir;
  const std::string path = dir.file("hostile.pth");
  write_torch_zip(path, pickle, records);
  const std::string msg = testing::user_error_message([&] { read_torch_file(path); });
  EXPECT_NE(msg.find("cannot read '" + path + "' as a torch.save file: "), std::string::npos) << msg;
  return msg;
}

TEST(TorchFile, NestingUpToTheLimitReadsAndOneLevelMoreIsRefused) {
  TempDir dir;
  const std::string path = dir.file("m.pth");
  // {"w": tensor, "x": `lists` nested lists}: `lists` + 1 levels.
  auto write = [&](int lists) {
    write_torch_zip(path, kProto + "}(" + str("w") + tensor("0", 3) + str("x") + nested_lists(lists) +
                              "u" + kStop,
                    {{"0", {1.5f, -2.0f, 3.25f}}});
  };
  write(999);
  auto got = read_torch_file(path);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(torch::equal(got.at("w"), torch::tensor({1.5f, -2.0f, 3.25f})));
  write(1000);
  const std::string msg = testing::user_error_message([&] { read_torch_file(path); });
  EXPECT_NE(msg.find(kNestingError), std::string::npos) << msg;
}

TEST(TorchFile, ACheckpointWithArgsNested900DeepImports) {
  TempDir dir;
  // {"model": {"w": tensor}, "epoch": 7, "args": Namespace(lr=0.25, model="resnet18", deep=[[...]])}
  const std::string args = namespace_of(str("lr") + binfloat(0.25) + str("model") + str("resnet18") +
                                        str("deep") + nested_lists(900));
  const std::string pickle = kProto + "}(" + str("model") + "}(" + str("w") + tensor("0", 2) + "u" +
                             str("epoch") + integer(7) + str("args") + args + "u" + kStop;
  write_torch_zip(dir.file("c.pth"), pickle, {{"0", {4.0f, 5.0f}}});
  TorchCheckpoint c = read_torch_checkpoint(dir.file("c.pth"));
  EXPECT_TRUE(torch::equal(c.tensors.at("w"), torch::tensor({4.0f, 5.0f})));
  EXPECT_EQ(c.epoch, 7);
  EXPECT_EQ(c.args.at("lr").text, "0.25");
  EXPECT_EQ(c.args.at("model").text, "resnet18");
  EXPECT_EQ(c.args.count("deep"), 0u);  // a list, not a scalar
}

// What a mutation-fuzz campaign fed `scouter import`: before the limit, each of these overflowed
// the stack (exit 139) while the objects were freed, one frame per level.
TEST(TorchFile, DeepNestingIsOneClearError) {
  const int kTuples = 1000000, kDeep = 200000;
  std::string objects;  // Namespace(a=Namespace(a=...)): each object's state dict holds the next
  for (int k = 0; k < kDeep; ++k) objects += global("argparse", "Namespace") + ")\x81}" + str("a");
  objects += "N";
  for (int k = 0; k < kDeep; ++k) objects += "sb";
  const std::map<std::string, std::string> cases = {
      {"tuples (TUPLE1)", ")" + std::string(kTuples - 1, '\x85')},
      {"tuples (MARK ... TUPLE)", std::string(kTuples, '(') + ")" + std::string(kTuples, 't')},
      {"lists", nested_lists(kDeep)},
      {"dicts", "}" + [&] {
         std::string s;
         for (int k = 1; k < kDeep; ++k) s += "K\x01}";  // {1: {1: ...}}
         return s + std::string(kDeep - 1, 's');
       }()},
      {"objects", objects},
  };
  for (const auto& [name, body] : cases) {
    SCOPED_TRACE(name);
    const std::string msg = error_of(kProto + body + kStop);
    EXPECT_NE(msg.find(kNestingError), std::string::npos) << msg;
  }
}

// Memo references (BINPUT, BINGET) can put a container into itself; none is accepted, so no
// reference cycle exists to leak or to loop over.
TEST(TorchFile, SelfReferencingContainersAreRefused) {
  const std::string put = std::string("q") + '\0', get = std::string("h") + '\0';  // memo slot 0
  const std::string kHoldsItself = "a container holds itself (a self-referencing structure";
  const std::string kChanged = "a container changes after it was put in another one";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"]" + put + get + "a", kHoldsItself},                    // l = []; l.append(l)
      {"}" + put + "K\x01" + get + "s", kHoldsItself},          // d = {}; d[1] = d
      {"]" + put + "]" + get + "aa", kChanged},                 // a = []; a.append([a])
      {"]" + put + "(]" + get + "a\x85" + "e", kChanged},       // a = []; a.extend([([a],)])
      // ns = Namespace(); ns.__dict__.update({"me": ns})
      {global("argparse", "Namespace") + ")\x81" + put + "}" + str("me") + get + "sb", kChanged},
  };
  for (const auto& [body, expect] : cases) {
    SCOPED_TRACE(::testing::PrintToString(body));
    const std::string msg = error_of(kProto + body + kStop);
    EXPECT_NE(msg.find(expect), std::string::npos) << msg;
  }
}

TEST(TorchFile, LengthsBeyondTheBytesAreRefusedBeforeAllocating) {
  const std::vector<std::pair<std::string, std::string>> pickles = {
      {"X" + le(0xffffffffu, 4) + "abc", "the pickle ends early"},         // BINUNICODE
      {"\x8d" + le(~uint64_t{0}, 8) + "abc", "the pickle ends early"},     // BINUNICODE8
      {"B" + le(1000, 4) + std::string(999, 'x'), "the pickle ends early"},  // BINBYTES
      {"c" + std::string(100, 'm'), "the pickle ends early"},              // GLOBAL, no newline
  };
  for (const auto& [body, expect] : pickles) {
    SCOPED_TRACE(expect);
    const std::string msg = error_of(kProto + body);
    EXPECT_NE(msg.find(expect), std::string::npos) << msg;
  }
  // A storage claiming 2^40 floats (4 TiB), or -1, over a 12-byte record: refused before any
  // tensor of that size is made.
  for (int64_t numel : {int64_t{1} << 40, int64_t{-1}, int64_t{4}}) {
    SCOPED_TRACE(numel);
    const std::string msg = error_of(kProto + "}(" + str("w") + tensor("0", numel) + "u" + kStop,
                                     {{"0", {1.0f, 2.0f, 3.0f}}});
    EXPECT_NE(msg.find("storage 0 has 12 bytes, expected " + std::to_string(numel) + " elements of 4 bytes"),
              std::string::npos)
        << msg;
  }
}

// A few bytes of pickle can make many bytes of objects: the memory they take is capped.
TEST(TorchFile, ObjectMemoryIsBounded) {
  const std::string put = std::string("q") + '\0', get = std::string("h") + '\0';  // memo slot 0
  std::string joins;  // a 1 MiB string joined with itself 300 times by STACK_GLOBAL: 600 MiB
  for (int k = 0; k < 300; ++k) joins += get + get + "\x93" + "0";
  const std::map<std::string, std::string> cases = {
      {"3 million None", std::string(3000000, 'N')},
      {"global names", str(std::string(1 << 20, 'm')) + put + joins},
  };
  for (const auto& [name, body] : cases) {
    SCOPED_TRACE(name);
    const std::string msg = error_of(kProto + body + "N" + kStop);
    EXPECT_NE(msg.find("its objects take more than 256 MiB (the limit)"), std::string::npos) << msg;
  }
}

// LibTorch's zip reader allocates what an entry declares and inflates compressed entries into it:
// the central directory is checked first. torch.save stores records uncompressed, so a compressed
// record (a zip bomb's way) or a size beyond the file is refused before any record is read.
TEST(TorchFile, ZipEntriesMustBeStoredAndFitTheFile) {
  testing::TempDir dir;
  const std::string path = dir.file("z.pth");
  write_torch_zip(path, kProto + "}(" + str("w") + tensor("0", 3) + "u" + kStop, {{"0", {1.0f, 2.0f, 3.0f}}});
  ASSERT_EQ(read_torch_file(path).size(), 1u);
  const std::string good = read_text_file(path);
  // The central directory entry of data.pkl: signature PK\1\2, its name 46 bytes on.
  const size_t entry = good.find(std::string("PK\x01\x02"));
  ASSERT_NE(entry, std::string::npos);
  ASSERT_NE(good.find("data.pkl", entry), std::string::npos);
  auto patched = [&](size_t at, const std::string& bytes) {
    std::string b = good;
    b.replace(at, bytes.size(), bytes);
    testing::write_bytes(path, b);
    return testing::user_error_message([&] { read_torch_file(path); });
  };
  std::string msg = patched(entry + 10, le(8, 2));  // method: deflate
  EXPECT_NE(msg.find("is compressed (zip method 8); torch.save stores records uncompressed"),
            std::string::npos) << msg;
  EXPECT_NE(msg.find("cannot read '" + path + "' as a torch.save file"), std::string::npos) << msg;
  msg = patched(entry + 20, le(0x7fffffff, 4) + le(0x7fffffff, 4));  // 2 GB claimed
  EXPECT_NE(msg.find("claims 2147483647 bytes in a file of " + std::to_string(good.size())),
            std::string::npos) << msg;
  msg = patched(good.size() - 22 + 16, le(0xfffffff0u, 4));  // central directory offset
  EXPECT_NE(msg.find("central directory lies outside the file"), std::string::npos) << msg;
}

}  // namespace
}  // namespace scouter
