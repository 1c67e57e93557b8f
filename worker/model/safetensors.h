// Tensors of a .safetensors file. Layout: an unsigned 64-bit little-endian header size N; N
// bytes of JSON {name: {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, and an
// optional "__metadata__": {string: string}}; then the data, little-endian and C-contiguous,
// each tensor at [begin, end) counted from the end of the header.
#pragma once

#include <torch/torch.h>

#include <map>
#include <utility>
#include <vector>
#include <string>

namespace scouter {

// Every tensor by name in its stored dtype (F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL),
// on the CPU. UserError naming the file and what is wrong when it is not a valid file.
std::map<std::string, torch::Tensor> read_safetensors(const std::string& path);

// Writes `tensors` (CPU or not; float64/32/16, bfloat16, int64/32/16/8, uint8, bool) in their
// order, with `metadata` as "__metadata__", atomically (temporary name, then rename).
void write_safetensors(const std::string& path,
                       const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace scouter
