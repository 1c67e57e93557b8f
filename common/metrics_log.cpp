#include "common/metrics_log.h"

#include <fstream>

#include "common/files.h"

namespace scouter {

void append_jsonl(const std::string& path, const nlohmann::json& record) {
  append_file_durable(path, record.dump() + "\n");
}

std::vector<nlohmann::json> read_jsonl(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line)) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!j.is_discarded()) out.push_back(std::move(j));
  }
  return out;
}

void truncate_jsonl_after_epoch(const std::string& path, int64_t epoch) {
  if (!file_exists(path)) return;
  std::string kept;
  for (const auto& j : read_jsonl(path))
    if (j.value("epoch", int64_t{0}) <= epoch) kept += j.dump() + "\n";
  write_text_file_atomic(path, kept);
}

}  // namespace scouter
