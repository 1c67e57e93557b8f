#include "datasets/mat_file.h"

#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>

#include "common/error.h"
#include "common/text.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "mat_file.cpp reads little-endian MAT-files with memcpy");

namespace scouter {
namespace {

// Data types (mi*) and array classes (mx*) of the format's tables 1-1 and 1-3.
enum : uint32_t {
  miINT8 = 1,
  miUINT8 = 2,
  miINT16 = 3,
  miUINT16 = 4,
  miINT32 = 5,
  miUINT32 = 6,
  miSINGLE = 7,
  miDOUBLE = 9,
  miINT64 = 12,
  miUINT64 = 13,
  miMATRIX = 14,
  miCOMPRESSED = 15,
  miUTF8 = 16,
  miUTF16 = 17,
  miUTF32 = 18
};
enum : uint32_t { mxSTRUCT = 2, mxCHAR = 4, mxDOUBLE = 6, mxUINT64 = 15 };
constexpr uint32_t kComplexFlag = 0x800;
constexpr int kMaxDepth = 16;  // nested structs: far more than meta.mat has
constexpr const char* kHint =
    "expected a MATLAB v5/v7 MAT-file as scipy.io.loadmat reads it (the ILSVRC2012 devkit's "
    "data/meta.mat); re-extract ILSVRC2012_devkit_t12.tar.gz";

[[noreturn]] void fail(const std::string& path, const std::string& why) {
  throw UserError(fmt::format("'{}' is not a MAT-file this reader understands: {}", path, why),
                  kHint);
}

struct Element {
  uint32_t type = 0;
  const uint8_t* data = nullptr;
  size_t size = 0;
};

// What reading one variable may still allocate, charged before each allocation that sizes in the
// file decide.
class Budget {
 public:
  explicit Budget(const std::string& path) : path_(path) {}
  const std::string& path() const { return path_; }
  void charge(size_t bytes) {
    if (bytes > left_)
      fail(path_, fmt::format("a variable whose arrays take over {} bytes ({} MiB, the limit) once "
                              "read",
                              kMatMaxReadBytes, kMatMaxReadBytes >> 20));
    left_ -= bytes;
  }

 private:
  const std::string& path_;
  size_t left_ = kMatMaxReadBytes;
};

// Data elements one after another in a byte range; every read is bounds-checked. Elements start
// on 8-byte boundaries relative to the range's start, except after compressed ones.
class Cursor {
 public:
  Cursor(const uint8_t* data, size_t size, const std::string& path)
      : p_(data), n_(size), path_(path) {}
  bool done() const { return pos_ >= n_; }

  Element next(const char* what) {
    uint32_t tag = u32(what);
    Element e;
    if (tag >> 16) {  // small data element: size in the upper half, data in the next 4 bytes
      e.type = tag & 0xFFFF;
      e.size = tag >> 16;
      if (e.size > 4) fail(path_, fmt::format("{}: a small element of {} bytes", what, e.size));
      need(4, what);
      e.data = p_ + pos_;
      pos_ += 4;
      return e;
    }
    e.type = tag;
    e.size = u32(what);
    need(e.size, what);
    e.data = p_ + pos_;
    pos_ += e.size;
    if (e.type != miCOMPRESSED) pos_ = std::min(n_, (pos_ + 7) / 8 * 8);
    return e;
  }

  Element next(const char* what, uint32_t type) {
    Element e = next(what);
    if (e.type != type)
      fail(path_, fmt::format("{}: data type {}, expected {}", what, e.type, type));
    return e;
  }

 private:
  void need(size_t bytes, const char* what) const {
    if (bytes > n_ - pos_)
      fail(path_, fmt::format("{}: {} bytes needed, {} left (truncated?)", what, bytes, n_ - pos_));
  }
  uint32_t u32(const char* what) {
    need(4, what);
    uint32_t v;
    std::memcpy(&v, p_ + pos_, 4);
    pos_ += 4;
    return v;
  }

  const uint8_t* p_;
  size_t n_, pos_ = 0;
  const std::string& path_;
};

// The `count` numbers the array's dimensions give, checked against the bytes there before
// anything is allocated.
template <typename T>
void append_as_double(const Element& e, int64_t count, Budget& b, std::vector<double>* out) {
  if (e.size / sizeof(T) != static_cast<size_t>(count))
    fail(b.path(),
         fmt::format("an array of {} elements holds {} numbers", count, e.size / sizeof(T)));
  b.charge(static_cast<size_t>(count) * sizeof(double));
  out->reserve(static_cast<size_t>(count));
  for (size_t i = 0; i + sizeof(T) <= e.size; i += sizeof(T)) {
    T v;
    std::memcpy(&v, e.data + i, sizeof(T));
    out->push_back(static_cast<double>(v));
  }
}

// MATLAB stores a double array in the smallest integer type that holds its values, so the
// element's type, not the array's class, says how to read the bytes.
std::vector<double> numbers_of(const Element& e, int64_t count, Budget& b) {
  std::vector<double> out;
  switch (e.type) {
    case miINT8:
      append_as_double<int8_t>(e, count, b, &out);
      break;
    case miUINT8:
      append_as_double<uint8_t>(e, count, b, &out);
      break;
    case miINT16:
      append_as_double<int16_t>(e, count, b, &out);
      break;
    case miUINT16:
      append_as_double<uint16_t>(e, count, b, &out);
      break;
    case miINT32:
      append_as_double<int32_t>(e, count, b, &out);
      break;
    case miUINT32:
      append_as_double<uint32_t>(e, count, b, &out);
      break;
    case miSINGLE:
      append_as_double<float>(e, count, b, &out);
      break;
    case miDOUBLE:
      append_as_double<double>(e, count, b, &out);
      break;
    case miINT64:
      append_as_double<int64_t>(e, count, b, &out);
      break;
    case miUINT64:
      append_as_double<uint64_t>(e, count, b, &out);
      break;
    default:
      fail(b.path(), fmt::format("numeric data of data type {}", e.type));
  }
  return out;
}

void append_utf8(uint32_t c, std::string* s) {
  if (c < 0x80) {
    s->push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    s->push_back(static_cast<char>(0xC0 | (c >> 6)));
    s->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    s->push_back(static_cast<char>(0xE0 | (c >> 12)));
    s->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    s->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    s->push_back(static_cast<char>(0xF0 | (c >> 18)));
    s->push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    s->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    s->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

// Char data as UTF-8: MATLAB writes UTF-16 code units (miUINT16/miUTF16), scipy UTF-8.
std::string text_of(const Element& e, const std::string& path) {
  if (e.type == miUTF8) return std::string(reinterpret_cast<const char*>(e.data), e.size);
  std::string s;
  if (e.type == miINT8 || e.type == miUINT8) {
    for (size_t i = 0; i < e.size; ++i) append_utf8(e.data[i], &s);
  } else if (e.type == miUINT16 || e.type == miUTF16) {
    std::vector<uint16_t> u(e.size / 2);
    if (!u.empty()) std::memcpy(u.data(), e.data, u.size() * 2);  // no memcpy from/to null
    for (size_t i = 0; i < u.size(); ++i) {
      uint32_t c = u[i];
      if (c >= 0xD800 && c < 0xDC00 && i + 1 < u.size() && u[i + 1] >= 0xDC00 && u[i + 1] < 0xE000)
        c = 0x10000 + ((c - 0xD800) << 10) + (u[++i] - 0xDC00);
      append_utf8(c, &s);
    }
  } else if (e.type == miUTF32) {
    for (size_t i = 0; i + 4 <= e.size; i += 4) {
      uint32_t c;
      std::memcpy(&c, e.data + i, 4);
      append_utf8(c, &s);
    }
  } else {
    fail(path, fmt::format("char data of data type {}", e.type));
  }
  return s;
}

std::string name_of(const Element& e) {
  std::string s(reinterpret_cast<const char*>(e.data), e.size);
  return s.substr(0, s.find('\0'));
}

// The array flags, dimensions and name that open every miMATRIX element.
struct MatrixHeader {
  uint32_t array_class = 0;
  bool complex = false;
  std::vector<int64_t> dims;
  int64_t count = 1;
  std::string name;
};

MatrixHeader read_header(Cursor& c, const std::string& path) {
  MatrixHeader h;
  Element flags = c.next("array flags", miUINT32);
  if (flags.size != 8) fail(path, fmt::format("array flags of {} bytes, expected 8", flags.size));
  uint32_t f;
  std::memcpy(&f, flags.data, 4);
  h.array_class = f & 0xFF;
  h.complex = (f & kComplexFlag) != 0;
  Element dims = c.next("dimensions", miINT32);
  if (dims.size < 8 || dims.size % 4 != 0)
    fail(path, fmt::format("dimensions of {} bytes, expected 2 or more int32", dims.size));
  for (size_t i = 0; i < dims.size; i += 4) {
    int32_t d;
    std::memcpy(&d, dims.data + i, 4);
    if (d < 0) fail(path, fmt::format("a negative dimension {}", d));
    if (d > 0 && h.count > std::numeric_limits<int32_t>::max() / d)
      fail(path, "an array of more than 2^31 elements");
    h.dims.push_back(d);
    h.count *= d;
  }
  h.name = name_of(c.next("array name", miINT8));
  return h;
}

MatArray parse_matrix(const Element& e, int depth, Budget& b);

void parse_struct(Cursor& c, const MatrixHeader& h, int depth, size_t bytes, MatArray* a,
                  Budget& b) {
  const std::string& path = b.path();
  Element len = c.next("field name length", miINT32);
  int32_t width = 0;
  if (len.size == 4) std::memcpy(&width, len.data, 4);
  if (width <= 0) fail(path, "a struct with a field name length that is not positive");
  Element names = c.next("field names", miINT8);
  if (names.size % static_cast<size_t>(width) != 0)
    fail(path, fmt::format("{} bytes of field names, not a multiple of {}", names.size, width));
  b.charge(names.size / static_cast<size_t>(width) * (sizeof(std::string) + width));
  for (size_t i = 0; i < names.size; i += static_cast<size_t>(width))
    a->field_names.push_back(name_of(Element{miINT8, names.data + i, static_cast<size_t>(width)}));
  // Every field value is an element of 8 bytes or more: a count the bytes cannot hold is damage
  // (and would otherwise allocate without bound).
  const auto values = static_cast<size_t>(h.count) * a->field_names.size();
  if (values > bytes / 8)
    fail(path, fmt::format("a struct of {} values in {} bytes", values, bytes));
  b.charge(values * sizeof(MatArray));
  a->fields.reserve(values);
  for (size_t v = 0; v < values; ++v)
    a->fields.push_back(parse_matrix(c.next("struct field", miMATRIX), depth + 1, b));
}

MatArray parse_matrix(const Element& e, int depth, Budget& b) {
  const std::string& path = b.path();
  MatArray a;
  if (e.size == 0) {  // an empty array ([]), as MATLAB writes empty struct fields
    b.charge(2 * sizeof(int64_t));
    a.kind = MatArray::Kind::kNumeric;
    a.dims = {0, 0};
    return a;
  }
  if (depth > kMaxDepth) fail(path, fmt::format("structs nested deeper than {}", kMaxDepth));
  Cursor c(e.data, e.size, path);
  MatrixHeader h = read_header(c, path);
  b.charge(h.dims.size() * sizeof(int64_t));
  a.dims = h.dims;
  const bool row = h.dims.size() == 2 && (h.dims[0] == 1 || h.count == 0);
  if (h.array_class == mxSTRUCT) {
    a.kind = MatArray::Kind::kStruct;
    parse_struct(c, h, depth, e.size, &a, b);
  } else if (h.array_class == mxCHAR && row) {
    a.kind = MatArray::Kind::kText;
    if (h.count > 0) {
      Element text = c.next("char data");
      b.charge(2 * text.size);  // as UTF-8 at most twice its bytes (a Latin-1 int8 char: 2)
      a.text = text_of(text, path);
    }
  } else if (h.array_class >= mxDOUBLE && h.array_class <= mxUINT64 && !h.complex) {
    a.kind = MatArray::Kind::kNumeric;
    if (h.count > 0) a.numbers = numbers_of(c.next("numeric data"), h.count, b);
  }  // anything else: kOther, its bytes skipped
  return a;
}

// zlib's inflate state over one element's bytes, ended on every path.
class Inflater {
 public:
  explicit Inflater(const Element& e) {
    if (inflateInit(&z_) != Z_OK) throw Error("zlib inflateInit failed");
    z_.next_in = const_cast<Bytef*>(e.data);
    z_.avail_in = static_cast<uInt>(e.size);
  }
  ~Inflater() { inflateEnd(&z_); }
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;

  // Inflates into [dst, dst + n): zlib's last code, Z_OK when all n bytes came.
  int fill(uint8_t* dst, size_t n) {
    z_.next_out = dst;
    z_.avail_out = static_cast<uInt>(n);
    int rc = Z_OK;
    while (z_.avail_out > 0 && rc == Z_OK) rc = inflate(&z_, Z_NO_FLUSH);
    return rc;
  }
  size_t total_out() const { return z_.total_out; }
  const char* message() const { return z_.msg ? z_.msg : "truncated"; }

 private:
  z_stream z_{};
};

// The element a compressed variable wraps. Its tag gives its size, refused over the limit before
// it is allocated; the rest of the stream (MATLAB and scipy write none) is inflated a chunk at a
// time for zlib's checksum, and refused once the whole is over the limit.
std::vector<uint8_t> inflate_element(const Element& e, const std::string& path) {
  Inflater z(e);
  uint8_t tag[8];
  int rc = z.fill(tag, sizeof tag);
  size_t size = z.total_out();
  if (size == sizeof tag) {
    uint32_t word, bytes;
    std::memcpy(&word, tag, 4);
    std::memcpy(&bytes, tag + 4, 4);
    if (!(word >> 16)) size += bytes;  // not a small element, whose data is in the tag
  }
  if (size > kMatMaxInflatedBytes)
    fail(path, fmt::format("a compressed variable whose tag claims {} bytes, over the limit of {} "
                           "({} MiB)",
                           size, kMatMaxInflatedBytes, kMatMaxInflatedBytes >> 20));
  std::vector<uint8_t> out(size);
  if (size > 0) std::memcpy(out.data(), tag, std::min(size, sizeof tag));  // no memcpy to null
  if (rc == Z_OK && size > sizeof tag) rc = z.fill(out.data() + sizeof tag, size - sizeof tag);
  out.resize(std::min(size, z.total_out()));  // short: the Cursor reports what is missing
  std::vector<uint8_t> rest(size_t{64} << 10);
  while (rc == Z_OK && z.total_out() <= kMatMaxInflatedBytes) rc = z.fill(rest.data(), rest.size());
  if (z.total_out() > kMatMaxInflatedBytes)
    fail(path, fmt::format("a compressed variable that inflates to over {} bytes ({} MiB, the "
                           "limit)",
                           kMatMaxInflatedBytes, kMatMaxInflatedBytes >> 20));
  if (rc != Z_STREAM_END)
    fail(path, fmt::format("a compressed variable that does not inflate ({})", z.message()));
  return out;
}

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UserError(fmt::format("cannot open '{}' for reading", path), "check the path");
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  if (in.bad()) throw UserError(fmt::format("cannot read '{}'", path), "check the file");
  return bytes;
}

void check_header(const std::vector<uint8_t>& b, const std::string& path) {
  if (b.size() < 128)
    fail(path, fmt::format("{} bytes, shorter than the 128-byte header", b.size()));
  std::string text(b.begin(), b.begin() + 116);
  if (starts_with(text, "MATLAB 7.3"))
    fail(path, "a v7.3 MAT-file (HDF5); save it with -v7 instead");
  if (!starts_with(text, "MATLAB 5.0 MAT-file"))
    fail(path, "no 'MATLAB 5.0 MAT-file' header text (a v4 file, or not a MAT-file)");
  if (b[126] == 'M' && b[127] == 'I') fail(path, "a big-endian MAT-file");
  if (b[126] != 'I' || b[127] != 'M' || b[124] != 0x00 || b[125] != 0x01)
    fail(path, "no version 0x0100 and endian mark 'IM' at bytes 124..127");
}

}  // namespace

int64_t MatArray::count() const {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

const MatArray* MatArray::field(int64_t e, const std::string& name) const {
  auto it = std::find(field_names.begin(), field_names.end(), name);
  if (kind != Kind::kStruct || it == field_names.end() || e < 0 || e >= count()) return nullptr;
  return &fields[static_cast<size_t>(e) * field_names.size() +
                 static_cast<size_t>(it - field_names.begin())];
}

MatArray read_mat_variable(const std::string& path, const std::string& name) {
  return parse_mat_variable(read_bytes(path), name, path);
}

MatArray parse_mat_variable(const std::vector<uint8_t>& bytes, const std::string& name,
                            const std::string& path) {
  check_header(bytes, path);
  Cursor top(bytes.data() + 128, bytes.size() - 128, path);
  std::vector<std::string> seen;
  while (!top.done()) {
    Element e = top.next("variable");
    std::vector<uint8_t> inflated;
    if (e.type == miCOMPRESSED) {
      inflated = inflate_element(e, path);
      e = Cursor(inflated.data(), inflated.size(), path).next("compressed variable", miMATRIX);
    }
    if (e.type != miMATRIX) fail(path, fmt::format("a variable of data type {}", e.type));
    if (e.size == 0) continue;
    Cursor c(e.data, e.size, path);
    seen.push_back(read_header(c, path).name);
    if (seen.back() == name) {
      Budget budget(path);
      return parse_matrix(e, 0, budget);
    }
  }
  throw UserError(fmt::format("'{}' holds no variable '{}' (it holds: {})", path, name,
                              seen.empty() ? "none" : join(seen, ", ")),
                  kHint);
}

}  // namespace scouter
