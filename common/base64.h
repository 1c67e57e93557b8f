// Base64 (RFC 4648, with padding) for embedding files in self-contained text, e.g. PNGs as
// data: URIs in an HTML report.
#pragma once

#include <string>

namespace scouter {

std::string base64_encode(const std::string& bytes);

}  // namespace scouter
