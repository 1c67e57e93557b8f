// Published results that `scouter report` puts beside a study's own (experiments/reference/
// published.toml is the project's file; docs/sweeps.md "Reference numbers" documents the format).
// The parser refuses a wrong file with one line naming the place, what is wrong and what is valid,
// and bounds everything it keeps, so any text (tests/fuzz/reference_fuzz.cpp) is an answer or a
// UserError.
//
// Format (TOML):
//   tolerance = 0.05              a difference up to this (either sign) counts as reproduced
//   notes = ["...", ...]          optional; printed under the report's comparison
//   [sources]                     name = "citation"; a name is a column of the report
//   paper = "Li et al., ..."
//   [[entry]]                     one setting and its published values
//   setting = { dataset = "ImageNet", num_classes = 100, use_slot = true, loss_status = 1 }
//   paper = { area = 0.1561, final_val_acc = 0.7991 }     SOURCE = { MEASURE = value, ... }
// `setting` holds config keys (common/config.h, with their types and the names the layers above
// check); a run matches an entry when its config has every one of these values. `dataset` is
// required. Measures are the names the caller lists (ReferenceVocabulary). Two entries that can
// match one run may not both give the same source's value of one measure.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "common/config.h"

namespace scouter {

constexpr size_t kMaxReferenceBytes = 1 << 20;
constexpr size_t kMaxReferenceEntries = 1000;
constexpr size_t kMaxReferenceSources = 8;
constexpr size_t kMaxReferenceNotes = 32;
constexpr size_t kMaxReferenceText = 1000;  // characters of a citation or a note
constexpr size_t kMaxSourceName = 32;

struct ReferenceEntry {
  std::string where;  // "file.toml:12", for messages
  // config key -> its value as get_value_literal writes it, by key name (TOML tables are unordered)
  std::vector<std::pair<std::string, std::string>> setting;
  std::map<std::string, std::map<std::string, double>> values;  // source -> measure -> value
};

struct ReferenceValues {
  std::string source;  // the file (or "built-in ...") the values came from
  double tolerance = 0.05;
  std::vector<std::pair<std::string, std::string>> sources;  // name -> citation, by name
  std::vector<std::string> notes;
  std::vector<ReferenceEntry> entries;
};

// What the layers above common own: the measure names (the report's accuracy and the explanation
// metric table) and the check of config values whose names other layers hold (dataset, model).
struct ReferenceVocabulary {
  std::vector<std::string> measures;
  ConfigCheck check;  // may be empty
};

// Parses the text of a reference file; `source` names it in errors. Throws UserError.
ReferenceValues parse_reference(const std::string& text, const std::string& source,
                                const ReferenceVocabulary& vocabulary);
// Reads and parses the file at `path`.
ReferenceValues load_reference_file(const std::string& path, const ReferenceVocabulary& vocabulary);

// Whether the run's config has every value of the entry's setting.
bool reference_matches(const ReferenceEntry& entry, const Config& run);
// "dataset=ImageNet num_classes=100 use_slot=true" (string values without quotes).
std::string setting_text(const ReferenceEntry& entry);

// experiments/reference/published.toml as it was when the binary was built (so an installed
// `scouter` finds it wherever the source tree is), and the name the report gives it.
const char* builtin_reference_text();
const char* builtin_reference_name();

}  // namespace scouter
