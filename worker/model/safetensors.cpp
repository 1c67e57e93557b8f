#include "worker/model/safetensors.h"

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/files.h"
#include "common/format.h"
#include "common/text.h"

namespace scouter {
namespace {

// The header is JSON read into memory whole: a larger one is not a weights file.
constexpr uint64_t kMaxHeader = 100u << 20;

torch::ScalarType dtype_of(const std::string& name) {
  static const std::map<std::string, torch::ScalarType> kTypes = {
      {"F64", torch::kDouble},    {"F32", torch::kFloat}, {"F16", torch::kHalf},
      {"BF16", torch::kBFloat16}, {"I64", torch::kLong},  {"I32", torch::kInt},
      {"I16", torch::kShort},     {"I8", torch::kChar},   {"U8", torch::kByte},
      {"BOOL", torch::kBool}};
  auto it = kTypes.find(name);
  if (it == kTypes.end()) throw std::runtime_error("unsupported dtype " + name);
  return it->second;
}

std::string name_of(torch::ScalarType dtype) {
  switch (dtype) {
    case torch::kDouble: return "F64";
    case torch::kFloat: return "F32";
    case torch::kHalf: return "F16";
    case torch::kBFloat16: return "BF16";
    case torch::kLong: return "I64";
    case torch::kInt: return "I32";
    case torch::kShort: return "I16";
    case torch::kChar: return "I8";
    case torch::kByte: return "U8";
    case torch::kBool: return "BOOL";
    default: throw std::runtime_error(str_format("safetensors has no dtype for {}", c10::toString(dtype)));
  }
}

}  // namespace

void write_safetensors(const std::string& path,
                       const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  // nlohmann's ordered_json keeps the tensors in the order given (readers do not care; people do).
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<torch::Tensor> data;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    torch::Tensor c = t.detach().to(torch::kCPU).contiguous();
    const auto bytes = static_cast<uint64_t>(c.nbytes());
    header[name] = {{"dtype", name_of(c.scalar_type())},
                    {"shape", c.sizes().vec()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    data.push_back(c);
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // the data starts 8-byte aligned
  std::string out(8, '\0');
  for (int k = 0; k < 8; ++k) out[k] = static_cast<char>((uint64_t{text.size()} >> (8 * k)) & 0xff);
  out += text;
  out.reserve(out.size() + offset);
  for (const auto& c : data) out.append(static_cast<const char*>(c.data_ptr()), c.nbytes());
  write_file_atomic(path, out.data(), out.size());
}

std::map<std::string, torch::Tensor> read_safetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UserError(str_format("cannot open '{}'", path), "check the path of `pretrained`");
  std::map<std::string, torch::Tensor> out;
  try {
    in.seekg(0, std::ios::end);
    const auto file_size = static_cast<uint64_t>(in.tellg());
    in.seekg(0);
    uint8_t size_bytes[8] = {};
    if (!in.read(reinterpret_cast<char*>(size_bytes), 8))
      throw std::runtime_error("shorter than 8 bytes");
    uint64_t header_size = 0;
    for (int k = 0; k < 8; ++k) header_size |= uint64_t{size_bytes[k]} << (8 * k);
    if (header_size > kMaxHeader || header_size > file_size - 8)
      throw std::runtime_error(
          str_format("header size {} does not fit a file of {} bytes", header_size, file_size));
    std::string text(header_size, '\0');
    in.read(text.data(), static_cast<std::streamsize>(header_size));
    const uint64_t data_start = 8 + header_size, data_size = file_size - data_start;
    nlohmann::json header;
    try {
      header = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
      std::string why = e.what();  // "[json.exception.parse_error.101] parse error at ..."
      const size_t k = why.find("] ");
      throw std::runtime_error("its header is not valid JSON: " +
                               printable(k == std::string::npos ? why : why.substr(k + 2), 200));
    }
    if (!header.is_object()) throw std::runtime_error("the header is not a JSON object");
    for (const auto& [raw_name, info] : header.items()) {
      if (raw_name == "__metadata__") continue;
      // A name is the file's bytes: shown escaped and cut short in messages.
      const std::string name = "tensor '" + printable(raw_name, 80) + "'";
      if (!info.is_object() || !info.contains("dtype") || !info["dtype"].is_string() ||
          !info.contains("shape") || !info["shape"].is_array() || !info.contains("data_offsets") ||
          !info["data_offsets"].is_array())
        throw std::runtime_error(name + " is not an object with dtype (a string), shape and "
                                        "data_offsets (arrays)");
      const torch::ScalarType dtype = dtype_of(info["dtype"].get<std::string>());
      std::vector<int64_t> shape;
      uint64_t elements = 1;
      for (const auto& d : info["shape"]) {
        if (!d.is_number_integer() || d.get<int64_t>() < 0)
          throw std::runtime_error(name + ": its shape holds something other than sizes >= 0");
        shape.push_back(d.get<int64_t>());
        const auto n = static_cast<uint64_t>(shape.back());
        // Bounded by the data the file holds before anything is allocated.
        elements = n == 0 ? 0 : (elements > data_size / n ? data_size + 1 : elements * n);
      }
      std::vector<uint64_t> offsets;
      for (const auto& o : info["data_offsets"]) {
        if (!o.is_number_unsigned() && !(o.is_number_integer() && o.get<int64_t>() >= 0))
          throw std::runtime_error(name + ": data_offsets must be two byte offsets");
        offsets.push_back(o.get<uint64_t>());
      }
      const uint64_t item = c10::elementSize(dtype);
      if (offsets.size() != 2 || offsets[0] > offsets[1] || offsets[1] > data_size ||
          elements > data_size || offsets[1] - offsets[0] != elements * item)
        throw std::runtime_error(
            str_format("{}: data_offsets do not match its dtype and shape", name));
      torch::Tensor t = torch::empty(shape, dtype);
      in.seekg(static_cast<std::streamoff>(data_start + offsets[0]));
      if (!in.read(static_cast<char*>(t.data_ptr()), static_cast<std::streamsize>(t.nbytes())))
        throw std::runtime_error(name + ": cannot read its data");
      out[raw_name] = t;
    }
  } catch (const std::exception& e) {
    throw UserError(str_format("'{}' is not a valid .safetensors file: {}", path, e.what()),
                    "give a file written by torch.save (PyTorch >= 1.6) or a .safetensors file");
  }
  if (out.empty())
    throw UserError(str_format("'{}' holds no tensors", path), "check the path of `pretrained`");
  return out;
}

}  // namespace scouter
