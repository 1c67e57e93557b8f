// The report's view of RUN/provenance.json (worker/train/provenance.h): what produced each run,
// a table of it, and the mark on a table row whose pooled runs differ in what produced them.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace scouter {

struct RunRow;
struct Table;

// A field of the provenance table. `compared`: runs pooled in one row (the seeds of a setting)
// that differ in it get the row marked. Host names, use_pre's source checkpoint and an imported
// file are shown, not compared: a sweep's seeds land on whichever nodes are free, and each seed
// of a SCOUTER setting starts from its own FC seed's checkpoint.
struct ProvenanceField {
  const char* name;   // key in RunProvenance::values, CSV column
  const char* title;  // table column
  bool compared;
};
const std::vector<ProvenanceField>& provenance_fields();

struct RunProvenance {
  std::string state = "unrecorded";  // "recorded", "unrecorded" (no file), "malformed"
  int attempts = 0;
  // Field name -> its value; the distinct values of the run's attempts joined by " + " (a run
  // resumed with another build or on other hosts); fields no attempt records are absent.
  std::map<std::string, std::string> values;
  // "unrecorded" for a run without a readable record; "-" for a field its record lacks.
  std::string value(const std::string& field) const;
};

// Reads run/provenance.json. No file: "unrecorded". A file that is not a provenance record:
// "malformed" and one line in `warnings` naming it.
RunProvenance read_provenance(const std::string& run, std::vector<std::string>& warnings);

// For the runs pooled in one table row: "" when they agree in every compared field, else the
// fields with each value and its runs: "libtorch 1.13.1 (a_seed1, a_seed2), 2.1.0 (a_seed3)".
// Runs without a record are left out of the comparison (the provenance table shows them).
std::string provenance_differences(const std::vector<const RunRow*>& pooled);

// The mark on a row whose pooled runs differ, and the note naming the fields; the note is added
// to `notes` once per setting.
constexpr const char* kProvenanceMark = " [provenance differs]";
void mark_provenance(const std::vector<const RunRow*>& pooled, std::string& setting_cell,
                     std::vector<std::string>& notes);

// One row per run (its provenance, digests shortened to 12 hex digits); csv: the same with
// whole digests (report_provenance.csv).
Table provenance_table(const std::vector<RunRow>& rows, std::string& csv);

}  // namespace scouter
