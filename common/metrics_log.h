// The per-epoch metrics file of a run (metrics.jsonl): one JSON object per line, appended and
// flushed after every epoch, so a crashed run keeps every finished epoch.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace scouter {

void append_jsonl(const std::string& path, const nlohmann::json& record);
// Every record of the file; a torn last line (a crash mid-write) is ignored.
std::vector<nlohmann::json> read_jsonl(const std::string& path);
// Keeps only records whose "epoch" is <= epoch (a resumed run rewrites what follows).
void truncate_jsonl_after_epoch(const std::string& path, int64_t epoch);

}  // namespace scouter
