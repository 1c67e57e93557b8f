// The MAT-file reader on files scipy.io.savemat wrote (tests/fixtures/imagenet_devkit/, from
// tests/tools/make_devkit_fixtures.py: the values below are that script's table), and on damaged
// copies of them: every damage is a UserError naming the file, never a crash; a variable over the
// limits (a zlib bomb, claims of more arrays than the file holds) is refused without the memory.
#include "datasets/mat_file.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>

#include "common/error.h"
#include "test_util.h"

namespace scouter {
namespace {

std::string fixture(const std::string& name) {
  return testing::fixtures_dir() + "/imagenet_devkit/" + name;
}

std::string bytes_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

const MatArray& field(const MatArray& s, int64_t e, const std::string& name) {
  const MatArray* f = s.field(e, name);
  if (!f) throw Error("no field " + name);
  return *f;
}

void expect_synsets(const MatArray& s) {
  ASSERT_EQ(s.kind, MatArray::Kind::kStruct);
  EXPECT_EQ(s.dims, (std::vector<int64_t>{5, 1}));
  const std::vector<std::string> names = {
      "ILSVRC2012_ID", "WNID",     "words",          "gloss",
      "num_children",  "children", "wordnet_height", "num_train_images"};
  ASSERT_GE(s.field_names.size(), names.size());
  EXPECT_EQ(std::vector<std::string>(s.field_names.begin(), s.field_names.begin() + 8), names);
  const char* wnids[] = {"n01000003", "n01000001", "n01000002", "n01000004", "n00000001"};
  for (int64_t e = 0; e < 5; ++e) {
    SCOPED_TRACE(e);
    EXPECT_EQ(field(s, e, "ILSVRC2012_ID").numbers, std::vector<double>{double(e + 1)});
    EXPECT_EQ(field(s, e, "WNID").kind, MatArray::Kind::kText);
    EXPECT_EQ(field(s, e, "WNID").text, wnids[e]);
    EXPECT_EQ(field(s, e, "gloss").text, "a gloss with a non-ASCII letter: caf\xc3\xa9");
    EXPECT_EQ(field(s, e, "num_children").numbers, std::vector<double>{e == 4 ? 4.0 : 0.0});
    EXPECT_EQ(field(s, e, "num_train_images").numbers, std::vector<double>{1300.0});
    EXPECT_EQ(field(s, e, "children").kind, MatArray::Kind::kNumeric);
    EXPECT_EQ(field(s, e, "children").numbers,
              e == 4 ? (std::vector<double>{1, 2, 3, 4}) : std::vector<double>{});
  }
  EXPECT_EQ(field(s, 1, "words").text, "tench, Tinca tinca");
  EXPECT_EQ(s.field(5, "WNID"), nullptr);
  EXPECT_EQ(s.field(0, "nope"), nullptr);
}

TEST(MatFileTest, ReadsCompressedStructArrays) {
  expect_synsets(read_mat_variable(fixture("meta.mat"), "synsets"));
}

TEST(MatFileTest, ReadsOtherStorageTypesAndSkipsWhatItDoesNotRead) {
  const std::string path = fixture("meta_uncompressed.mat");
  MatArray s = read_mat_variable(path, "synsets");
  expect_synsets(s);  // ids uint16, num_children uint8, num_train_images single
  EXPECT_EQ(field(s, 0, "notes").kind, MatArray::Kind::kOther);  // a cell array
  MatArray first = read_mat_variable(path, "aaa_first");         // numpy [[0, 1, 2], [3, 4, 5]]
  EXPECT_EQ(first.dims, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(first.numbers, (std::vector<double>{0, 3, 1, 4, 2, 5}));  // column-major
  std::string msg = testing::user_error_message([&] { read_mat_variable(path, "nope"); });
  EXPECT_NE(msg.find("holds no variable 'nope' (it holds: aaa_first, synsets)"), std::string::npos)
      << msg;
}

// Every truncation and every flipped byte either reads or fails with a UserError naming the file.
TEST(MatFileTest, DamageIsAUserError) {
  const std::string path = "damaged.mat";
  auto error_of = [&](const std::vector<uint8_t>& bytes) {
    try {
      parse_mat_variable(bytes, "synsets", path);
    } catch (const UserError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  for (const char* name : {"meta.mat", "meta_uncompressed.mat"}) {
    const std::string file = bytes_of(fixture(name));
    const std::vector<uint8_t> good(file.begin(), file.end());
    SCOPED_TRACE(name);
    EXPECT_EQ(error_of(good), "");
    for (size_t n = 0; n < good.size(); ++n) {  // every proper prefix
      std::string msg = error_of({good.begin(), good.begin() + static_cast<std::ptrdiff_t>(n)});
      EXPECT_EQ(msg.find("'" + path + "'"), 0u) << n << ": " << msg;
    }
    for (size_t i = 128; i < good.size(); ++i) {  // every byte after the header, flipped
      std::vector<uint8_t> bad = good;
      bad[i] = static_cast<uint8_t>(~bad[i]);
      std::string msg = error_of(bad);  // a flip in a name or a value may still read
      EXPECT_TRUE(msg.empty() || msg.find("'" + path + "'") == 0) << i << ": " << msg;
    }
  }
  std::string v73 = bytes_of(fixture("meta.mat"));
  v73.replace(0, 10, "MATLAB 7.3");
  std::string msg = error_of({v73.begin(), v73.end()});
  EXPECT_NE(msg.find("a v7.3 MAT-file (HDF5)"), std::string::npos) << msg;
  testing::TempDir dir;
  testing::write_bytes(dir.file("text.mat"), "ILSVRC2012_ID,WNID\n");
  msg = testing::user_error_message([&] { read_mat_variable(dir.file("text.mat"), "synsets"); });
  EXPECT_NE(msg.find("shorter than the 128-byte header"), std::string::npos) << msg;
}

// ---- Limits ----

void append_u32(std::vector<uint8_t>* b, uint32_t v) {
  const auto* p = reinterpret_cast<const uint8_t*>(&v);  // MAT-files here are little-endian
  b->insert(b->end(), p, p + 4);
}

// A data element: tag, data, padding to 8 bytes; `size` may claim more data than `data` holds.
void append_element(std::vector<uint8_t>* b, uint32_t type, const std::vector<uint8_t>& data,
                    uint32_t size) {
  append_u32(b, type);
  append_u32(b, size);
  b->insert(b->end(), data.begin(), data.end());
  b->resize((b->size() + 7) / 8 * 8);
}

// A miMATRIX element's tag and header (flags, dims, name "synsets") for an array of class
// `array_class` and the given dimensions, with room for `data_bytes` more.
std::vector<uint8_t> matrix_start(uint32_t array_class, uint32_t rows, uint32_t cols,
                                  size_t data_bytes) {
  std::vector<uint8_t> h;
  append_element(&h, 6, {static_cast<uint8_t>(array_class), 0, 0, 0, 0, 0, 0, 0}, 8);
  std::vector<uint8_t> dims;
  append_u32(&dims, rows);
  append_u32(&dims, cols);
  append_element(&h, 5, dims, 8);
  append_element(&h, 1, {'s', 'y', 'n', 's', 'e', 't', 's'}, 7);
  std::vector<uint8_t> m;
  append_element(&m, 14, {}, static_cast<uint32_t>(h.size() + data_bytes));
  m.insert(m.end(), h.begin(), h.end());
  return m;
}

// A MAT v5 file: the 128-byte header, then `body`.
std::vector<uint8_t> mat_file(const std::vector<uint8_t>& body) {
  std::string text = "MATLAB 5.0 MAT-file, written by scouter's tests";
  text.resize(116, ' ');
  std::vector<uint8_t> b(text.begin(), text.end());
  b.resize(124, 0);  // subsystem data offset
  b.insert(b.end(), {0x00, 0x01, 'I', 'M'});
  b.insert(b.end(), body.begin(), body.end());
  return b;
}

// A MAT v5 file of one compressed variable: `element`, then `zeros` zero bytes, through zlib.
// The zeros are fed a MiB at a time, so the test's memory stays small.
std::vector<uint8_t> compressed_mat(const std::vector<uint8_t>& element, size_t zeros) {
  z_stream z{};
  EXPECT_EQ(deflateInit(&z, Z_BEST_COMPRESSION), Z_OK);
  std::vector<uint8_t> out(1 << 20), compressed, zero(1 << 20, 0);
  auto feed = [&](const uint8_t* p, size_t n, int flush) {
    z.next_in = const_cast<Bytef*>(p);
    z.avail_in = static_cast<uInt>(n);
    do {
      z.next_out = out.data();
      z.avail_out = static_cast<uInt>(out.size());
      deflate(&z, flush);
      compressed.insert(compressed.end(), out.data(), z.next_out);
    } while (z.avail_out == 0 || (flush == Z_FINISH && z.avail_in > 0));
  };
  feed(element.data(), element.size(), Z_NO_FLUSH);
  for (size_t left = zeros; left > 0; left -= std::min(left, zero.size()))
    feed(zero.data(), std::min(left, zero.size()), Z_NO_FLUSH);
  feed(nullptr, 0, Z_FINISH);
  deflateEnd(&z);
  std::vector<uint8_t> body;
  append_element(&body, 15, compressed, static_cast<uint32_t>(compressed.size()));
  return mat_file(body);
}

struct Refusal {
  std::string message;  // the UserError's
  long peak_growth_kib = -1;
};

// Reads `synsets` from `bytes` in a child process: the UserError it gives, and how far the
// child's peak resident memory rose above what it started with.
Refusal refusal_of(const std::vector<uint8_t>& bytes) {
  int fds[2];
  if (::pipe(fds) != 0) throw Error("pipe failed");
  const pid_t child = ::fork();
  if (child == 0) {
    ::close(fds[0]);
    rusage before{}, after{};
    ::getrusage(RUSAGE_SELF, &before);
    std::string message = "no UserError";
    try {
      parse_mat_variable(bytes, "synsets", "bomb.mat");
    } catch (const UserError& e) {
      message = e.what();
    } catch (const std::exception& e) {
      message = std::string("not a UserError: ") + e.what();
    }
    ::getrusage(RUSAGE_SELF, &after);
    const std::string report = std::to_string(after.ru_maxrss - before.ru_maxrss) + " " + message;
    ssize_t ignored = ::write(fds[1], report.data(), report.size());
    (void)ignored;
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string report;
  char buf[4096];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;)
    report.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  Refusal r;
  const size_t space = report.find(' ');
  if (space == std::string::npos) return r;
  r.peak_growth_kib = std::stol(report.substr(0, space));
  r.message = report.substr(space + 1);
  return r;
}

// What a refusal may cost: half the inflate limit (the old reader took 200-340 MB for these).
constexpr long kBoundKib = 32 << 10;

// A mutation-fuzzing campaign's bomb: 1 MB of zlib as meta.mat peaked at 2.2 GB before the
// reader refused it. The inflate limit now holds while inflating.
TEST(MatFileTest, ZlibBombStopsAtTheInflateLimit) {
  // A 1 x 1 double, then zeros past the limit inside the same zlib stream.
  std::vector<uint8_t> element = matrix_start(6, 1, 1, 16);
  append_element(&element, 9, std::vector<uint8_t>(8, 0), 8);
  const std::vector<uint8_t> small = compressed_mat(element, 0);
  EXPECT_EQ(parse_mat_variable(small, "synsets", "small.mat").numbers, std::vector<double>{0.0});
  const std::vector<uint8_t> bomb = compressed_mat(element, kMatMaxInflatedBytes + (1 << 20));
  EXPECT_LT(bomb.size(), kMatMaxInflatedBytes / 500);  // zeros deflate ~1000:1
  Refusal r = refusal_of(bomb);
  EXPECT_EQ(r.message,
            "'bomb.mat' is not a MAT-file this reader understands: a compressed variable that "
            "inflates to over 67108864 bytes (64 MiB, the limit)");
  EXPECT_GE(r.peak_growth_kib, 0);
  EXPECT_LT(r.peak_growth_kib, kBoundKib);
}

TEST(MatFileTest, SizesTheFileClaimsAreBoundedBeforeTheyAreAllocated) {
  // A compressed variable whose tag claims 4 GB.
  std::vector<uint8_t> tag;
  append_u32(&tag, 14);
  append_u32(&tag, 0xFFFFFFF0u);
  Refusal r = refusal_of(compressed_mat(tag, 0));
  EXPECT_EQ(r.message,
            "'bomb.mat' is not a MAT-file this reader understands: a compressed variable whose tag "
            "claims 4294967288 bytes, over the limit of 67108864 (64 MiB)");
  EXPECT_LT(r.peak_growth_kib, kBoundKib);

  // 17 M uint8 zeros inflate to 17 MB, under the inflate limit, but would take 134 MB as doubles.
  const uint32_t n = kMatMaxReadBytes / sizeof(double) + 1;
  std::vector<uint8_t> numbers = matrix_start(9, 1, n, 8 + (n + 7) / 8 * 8);
  append_u32(&numbers, 2);  // miUINT8, its n bytes the zeros that follow
  append_u32(&numbers, n);
  r = refusal_of(compressed_mat(numbers, (n + 7) / 8 * 8));
  const std::string over_budget =
      "'bomb.mat' is not a MAT-file this reader understands: a variable whose arrays take over "
      "134217728 bytes (128 MiB, the limit) once read";
  EXPECT_EQ(r.message, over_budget);
  EXPECT_LT(r.peak_growth_kib, kBoundKib);

  // An uncompressed 1 x 2M struct of empty fields: 8 bytes of file each, far more read.
  const uint32_t values = 2 << 20;
  std::vector<uint8_t> fields;
  append_u32(&fields, 5 | 4u << 16);  // field name length 8, a small element
  append_u32(&fields, 8);
  append_element(&fields, 1, {'a', 0, 0, 0, 0, 0, 0, 0}, 8);
  std::vector<uint8_t> empty;
  append_element(&empty, 14, {}, 0);
  std::vector<uint8_t> s = matrix_start(2, 1, values, fields.size() + values * empty.size());
  s.insert(s.end(), fields.begin(), fields.end());
  for (uint32_t v = 0; v < values; ++v) s.insert(s.end(), empty.begin(), empty.end());
  r = refusal_of(mat_file(s));
  EXPECT_EQ(r.message, over_budget);
  EXPECT_LT(r.peak_growth_kib, kBoundKib);
}

}  // namespace
}  // namespace scouter
