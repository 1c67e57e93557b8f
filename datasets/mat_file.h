// A small, strict reader of MATLAB v5 MAT-files (also v6/v7, whose variables may be zlib-
// compressed), as much as the ILSVRC2012 devkit's data/meta.mat needs: numeric arrays, char row
// vectors and struct arrays of them. Anything else (cells, sparse, objects, complex numbers,
// multi-row char arrays) is skipped and comes back as Kind::kOther. v4 and v7.3 (HDF5) files and
// big-endian files are refused. A damaged file is a UserError naming the file and what is wrong,
// and so is one over the limits below, refused before the memory is spent.
// Format: MathWorks, "MAT-File Format" (matfile_format.pdf), chapter 1.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace scouter {

// Bytes one compressed variable may inflate to, checked while inflating (a zlib bomb stops
// here). The devkit's meta.mat inflates to about 1.5 MB by our estimate (1,860 synsets of 8
// fields, ~800 bytes each).
constexpr size_t kMatMaxInflatedBytes = size_t{64} << 20;
// Memory one variable's arrays may take once read (nodes, numbers as doubles, text, names),
// charged from the sizes the file claims before each allocation: an empty struct field is 8
// bytes of file and ~170 bytes read. meta.mat's synsets take a few MB.
constexpr size_t kMatMaxReadBytes = size_t{128} << 20;

struct MatArray {
  enum class Kind { kNumeric, kText, kStruct, kOther };
  Kind kind = Kind::kOther;
  std::vector<int64_t> dims;
  std::vector<double> numbers;           // kNumeric: the values, column-major, as doubles
  std::string text;                      // kText: a 1 x n (or empty) char array, as UTF-8
  std::vector<std::string> field_names;  // kStruct
  std::vector<MatArray> fields;          // kStruct: element e's field f at e * #fields + f

  int64_t count() const;  // number of elements: the product of dims
  // kStruct: field `name` of element e (0-based); nullptr when the struct has no such field.
  const MatArray* field(int64_t e, const std::string& name) const;
};

// Variable `name` of the MAT-file at `path`. UserError when the file cannot be read, is not a
// MAT v5 file, is damaged, or holds no such variable.
MatArray read_mat_variable(const std::string& path, const std::string& name);
// The same for a file's bytes already in memory; `path` only names it in errors.
MatArray parse_mat_variable(const std::vector<uint8_t>& bytes, const std::string& name,
                            const std::string& path);

}  // namespace scouter
