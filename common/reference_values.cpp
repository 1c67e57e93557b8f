#include "common/reference_values.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <optional>

#include "common/config_toml.h"
#include "common/error.h"
#include "common/files.h"
#include "common/published_reference.h"
#include "common/text.h"

namespace scouter {
namespace {

const char* kFormatHint = "docs/sweeps.md, \"Reference numbers\", describes the file";

// A source name becomes report columns (<name>, <name>_diff, <name>_beyond): lower-case letters,
// digits and '_', starting with a letter.
bool valid_source_name(const std::string& s) {
  if (s.empty() || s.size() > kMaxSourceName || !std::islower(static_cast<unsigned char>(s[0])))
    return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::islower(static_cast<unsigned char>(c)) ||
           std::isdigit(static_cast<unsigned char>(c)) || c == '_';
  });
}

// A citation or note: a string of 1..kMaxReferenceText characters without control characters.
std::string text_value(const toml::node& n, const std::string& where, const std::string& what) {
  auto s = n.value<std::string>();
  if (!s || s->empty() || s->size() > kMaxReferenceText)
    throw UserError(fmt::format("{}: {} must be a string of 1 to {} characters", where, what,
                                kMaxReferenceText),
                    kFormatHint);
  for (char c : *s)
    if (static_cast<unsigned char>(c) < 0x20)
      throw UserError(fmt::format("{}: {} holds a control character", where, what),
                      "write it on one line, without tabs");
  return *s;
}

double number_value(const toml::node& n, const std::string& where, const std::string& what) {
  std::optional<double> v;
  if (n.is_floating_point())
    v = n.value<double>();
  else if (n.is_integer())
    v = static_cast<double>(*n.value<int64_t>());
  if (!v || !std::isfinite(*v))
    throw UserError(fmt::format("{}: {} must be a finite number", where, what),
                    "e.g. 0.8080 (fractions as the paper prints them)");
  return *v;
}

void read_tolerance(ReferenceValues& ref, const toml::node& n, const std::string& where) {
  ref.tolerance = number_value(n, where, "tolerance");
  if (ref.tolerance <= 0 || ref.tolerance > 1e6)
    throw UserError(fmt::format("{}: tolerance must be > 0, got {}", where, ref.tolerance),
                    "e.g. tolerance = 0.05 (the reproduction's criterion)");
}

void read_sources(ReferenceValues& ref, const toml::node& n, const std::string& file) {
  const std::string where = toml_where(file, n);
  if (!n.is_table() || n.as_table()->empty())
    throw UserError(fmt::format("{}: 'sources' must be a table of name = \"citation\"", where),
                    "e.g. [sources] then paper = \"Li et al., ICCV 2021\"");
  for (const auto& [k, v] : *n.as_table()) {
    const std::string name(k.str()), w = toml_where(file, v);
    if (!valid_source_name(name))
      throw UserError(fmt::format("{}: source name '{}' is not valid", w, printable(name, 60)),
                      fmt::format("1 to {} lower-case letters, digits or '_', starting with a "
                                  "letter (it names report columns)",
                                  kMaxSourceName));
    if (ref.sources.size() == kMaxReferenceSources)
      throw UserError(fmt::format("{}: more than {} sources", w, kMaxReferenceSources),
                      "keep the sources the report should show side by side");
    ref.sources.emplace_back(name, text_value(v, w, "source '" + name + "'"));
  }
}

void read_notes(ReferenceValues& ref, const toml::node& n, const std::string& file) {
  const std::string where = toml_where(file, n);
  if (!n.is_array())
    throw UserError(fmt::format("{}: 'notes' must be a list of strings", where),
                    "e.g. notes = [\"the paper's sensitivity seems normalised\"]");
  for (const auto& note : *n.as_array()) {
    if (ref.notes.size() == kMaxReferenceNotes)
      throw UserError(fmt::format("{}: more than {} notes", where, kMaxReferenceNotes),
                      "say it in fewer notes");
    ref.notes.push_back(text_value(note, toml_where(file, note), "a note"));
  }
}

const std::string* source_name(const ReferenceValues& ref, const std::string& name) {
  for (const auto& [s, cite] : ref.sources)
    if (s == name) return &s;
  return nullptr;
}

std::vector<std::string> source_names(const ReferenceValues& ref) {
  std::vector<std::string> names;
  for (const auto& [s, cite] : ref.sources) names.push_back(s);
  return names;
}

void read_setting(ReferenceEntry& e, const toml::node& n, const std::string& file,
                  const ReferenceVocabulary& vocabulary) {
  const std::string where = toml_where(file, n);
  if (!n.is_table() || n.as_table()->empty())
    throw UserError(fmt::format("{}: 'setting' must be a table of config keys", where),
                    "e.g. setting = { dataset = \"ImageNet\", num_classes = 100 }");
  Config cfg;
  Origins origins;
  for (const auto& [k, v] : *n.as_table()) {
    const std::string key(k.str());
    apply_toml_value(cfg, key, v, toml_where(file, v), &origins);
    e.setting.emplace_back(key, "");
  }
  if (!origins.count("dataset"))
    throw UserError(fmt::format("{}: the setting names no dataset", where),
                    "add dataset = \"...\" (scouter help lists the datasets)");
  if (vocabulary.check) vocabulary.check(cfg, origins);
  for (auto& [key, literal] : e.setting) literal = get_value_literal(cfg, key);
}

void read_values(ReferenceEntry& e, const std::string& source, const toml::node& n,
                 const std::string& file, const ReferenceVocabulary& vocabulary) {
  const std::string where = toml_where(file, n);
  if (!n.is_table() || n.as_table()->empty())
    throw UserError(fmt::format("{}: '{}' must be a table of measure = value", where, source),
                    "valid measures: " + join(vocabulary.measures, ", "));
  auto& out = e.values[source];
  for (const auto& [k, v] : *n.as_table()) {
    const std::string measure(k.str()), w = toml_where(file, v);
    const auto& valid = vocabulary.measures;
    if (std::find(valid.begin(), valid.end(), measure) == valid.end())
      throw unknown_name(w, "measure", measure, valid);
    out[measure] = number_value(v, w, fmt::format("{}.{}", source, measure));
  }
}

ReferenceEntry read_entry(const ReferenceValues& ref, const toml::node& n, const std::string& file,
                          const ReferenceVocabulary& vocabulary) {
  ReferenceEntry e;
  e.where = toml_where(file, n);
  if (!n.is_table())
    throw UserError(fmt::format("{}: an entry must be a table", e.where),
                    "write [[entry]] with setting = {...} and one table per source");
  const toml::node* setting = nullptr;
  for (const auto& [k, v] : *n.as_table()) {
    const std::string key(k.str());
    if (key == "setting") {
      setting = &v;
    } else if (source_name(ref, key)) {
      read_values(e, key, v, file, vocabulary);
    } else {
      std::vector<std::string> valid = source_names(ref);
      valid.insert(valid.begin(), "setting");
      throw unknown_name(toml_where(file, v), "entry key (not 'setting' or a [sources] name)", key,
                         valid);
    }
  }
  if (!setting)
    throw UserError(fmt::format("{}: the entry has no setting", e.where),
                    "add setting = { dataset = \"...\", ... }: the runs it applies to");
  read_setting(e, *setting, file, vocabulary);
  if (e.values.empty())
    throw UserError(fmt::format("{}: the entry has no values", e.where),
                    "add a table per source, e.g. " + source_names(ref)[0] + " = { ... }");
  return e;
}

using Setting = std::vector<std::pair<std::string, std::string>>;

// Two settings (sorted by key) can match one run when no key they both name has different values.
bool can_overlap(const Setting& a, const Setting& b) {
  for (auto i = a.begin(), j = b.begin(); i != a.end() && j != b.end();) {
    if (i->first < j->first)
      ++i;
    else if (j->first < i->first)
      ++j;
    else if (i->second != j->second)
      return false;
    else
      ++i, ++j;
  }
  return true;
}

// Refuses two entries that would give one run two values of the same source and measure.
void check_no_overlap(const ReferenceValues& ref) {
  const auto& es = ref.entries;
  std::vector<Setting> sorted;
  for (const auto& e : es) {
    sorted.push_back(e.setting);
    std::sort(sorted.back().begin(), sorted.back().end());
  }
  for (size_t i = 0; i < es.size(); ++i)
    for (size_t j = 0; j < i; ++j) {
      if (!can_overlap(sorted[i], sorted[j])) continue;
      for (const auto& [source, measures] : es[i].values) {
        auto other = es[j].values.find(source);
        if (other == es[j].values.end()) continue;
        for (const auto& [measure, value] : measures)
          if (other->second.count(measure))
            throw UserError(
                fmt::format("{}: {}.{} is also given by the entry at {}, whose setting can "
                            "match the same runs",
                            es[i].where, source, measure, es[j].where),
                "make the settings differ in a key (e.g. lambda_value), or drop one value");
      }
    }
}

}  // namespace

ReferenceValues parse_reference(const std::string& text, const std::string& source,
                                const ReferenceVocabulary& vocabulary) {
  if (text.size() > kMaxReferenceBytes)
    throw UserError(fmt::format("reference file {}: {} bytes, more than {}", source, text.size(),
                                kMaxReferenceBytes),
                    "a reference file is a few KB of published numbers");
  const toml::table tbl = parse_toml_text(text, source, "see https://toml.io for the syntax");
  ReferenceValues ref;
  ref.source = source;
  bool has_tolerance = false;
  // sources first: entries name them.
  if (const toml::node* s = tbl.get("sources")) read_sources(ref, *s, source);
  for (const auto& [k, n] : tbl) {
    const std::string key(k.str()), where = toml_where(source, n);
    if (key == "tolerance") {
      read_tolerance(ref, n, where);
      has_tolerance = true;
    } else if (key == "notes") {
      read_notes(ref, n, source);
    } else if (key == "entry") {
      if (!n.is_array_of_tables())
        throw UserError(fmt::format("{}: 'entry' must be written [[entry]]", where), kFormatHint);
      for (const auto& e : *n.as_array()) {
        if (ref.entries.size() == kMaxReferenceEntries)
          throw UserError(
              fmt::format("{}: more than {} entries", toml_where(source, e), kMaxReferenceEntries),
              "split the file");
        if (ref.sources.empty())
          throw UserError(fmt::format("{}: no [sources] table", source),
                          "name each source of values first: [sources] paper = \"...\"");
        ref.entries.push_back(read_entry(ref, e, source, vocabulary));
      }
    } else if (key != "sources") {
      throw unknown_name(where, "key", key, {"tolerance", "notes", "sources", "entry"});
    }
  }
  if (!has_tolerance)
    throw UserError(fmt::format("{}: no tolerance", source),
                    "add tolerance = 0.05 (the reproduction's criterion) at the top");
  if (ref.entries.empty()) throw UserError(fmt::format("{}: no [[entry]]", source), kFormatHint);
  check_no_overlap(ref);
  return ref;
}

ReferenceValues load_reference_file(const std::string& path,
                                    const ReferenceVocabulary& vocabulary) {
  std::error_code ec;
  if (std::filesystem::is_regular_file(path, ec) &&
      std::filesystem::file_size(path, ec) > kMaxReferenceBytes)
    throw UserError(fmt::format("reference file {}: more than {} bytes", path, kMaxReferenceBytes),
                    "a reference file is a few KB of published numbers");
  std::string text;
  try {
    text = read_text_file(path);
  } catch (const UserError& e) {
    throw UserError(fmt::format("reference file: {}", e.what()), "check the --reference path");
  }
  return parse_reference(text, path, vocabulary);
}

bool reference_matches(const ReferenceEntry& entry, const Config& run) {
  for (const auto& [key, literal] : entry.setting)
    if (get_value_literal(run, key) != literal) return false;
  return true;
}

std::string setting_text(const ReferenceEntry& entry) {
  std::vector<std::string> parts;
  for (const auto& [key, literal] : entry.setting) {
    bool quoted = literal.size() >= 2 && literal.front() == '"' && literal.back() == '"';
    parts.push_back(key + "=" + (quoted ? literal.substr(1, literal.size() - 2) : literal));
  }
  return join(parts, " ");
}

const char* builtin_reference_text() { return kPublishedReference; }
const char* builtin_reference_name() { return "experiments/reference/published.toml (built in)"; }

}  // namespace scouter
