// report.html of `scouter report --html true`: one self-contained page (inline CSS, inline SVG,
// pictures as data: URIs, no scripts, nothing fetched from a network or another file) with the
// report's tables, the training curves and a gallery of the explanation grids of the runs, its
// captions naming classes from each run's dataset.json (datasets/dataset_info.h class_label).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "launcher/report_data.h"

namespace scouter {

// Images per dataset in the gallery (the first ones by index): each image costs one grid PNG
// per run and method, so the page stays a few MB for a typical sweep.
constexpr size_t kGalleryImages = 8;

struct HtmlReport {
  std::vector<std::string> folders;
  Table settings, runs_table, metrics;
  std::vector<std::string> notes;     // shown under the metrics table
  std::vector<std::string> warnings;  // shown at the top
  std::string curves_svg;
  const std::vector<RunRow>* runs = nullptr;  // for the gallery; none without
  Table provenance;  // launcher/report_provenance.h (its notes are among `notes`)
  Table reference = {};                       // launcher/report_reference.h
  std::vector<std::string> reference_notes = {};  // shown under it
};

std::string report_html(const HtmlReport& report);


}  // namespace scouter
