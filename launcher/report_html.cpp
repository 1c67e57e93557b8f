#include "launcher/report_html.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>
#include <regex>
#include <set>

#include "common/base64.h"
#include "common/error.h"
#include "common/files.h"
#include "common/format.h"
#include "common/metrics_log.h"
#include "common/text.h"
#include "common/version.h"
#include "datasets/dataset_info.h"

namespace fs = std::filesystem;

namespace scouter {
namespace {

const char* kStyle = R"(
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; max-width: 100%; }
h1 { margin-bottom: 0.2em; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 1.6em; }
nav a { margin-right: 1em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: left; white-space: nowrap; }
th { background: #eef; }
tr:nth-child(even) td { background: #f8f8f8; }
.scroll { overflow-x: auto; }
.note { color: #555; }
.warning { background: #fff3cd; border: 1px solid #e0c060; padding: 0.4em 0.6em; margin: 0.4em 0; }
.image-row { display: flex; flex-wrap: wrap; align-items: flex-start; gap: 0.8em;
             border-top: 1px solid #ddd; padding: 0.6em 0; }
.image-index { flex-basis: 100%; font-weight: bold; }
figure { margin: 0; }
figure img { height: 110px; width: auto; image-rendering: pixelated; border: 1px solid #ccc; }
figcaption { font-size: 0.75em; max-width: 40em; }
.why-not { color: #a00; font-style: italic; }
.wrong { color: #a00; }
table td.marked { background: #f8d7da; color: #700; font-weight: bold; }  /* over the even-row shade */
)";

std::string table_html(const Table& t, const std::string& id) {
  std::string s = str_format("<div class=\"scroll\"><table id=\"{}\">\n<thead><tr>", id);
  for (const auto& h : t.header) s += "<th>" + html_escape(h) + "</th>";
  s += "</tr></thead>\n<tbody>\n";
  for (size_t r = 0; r < t.rows.size(); ++r) {
    s += "<tr>";
    for (size_t c = 0; c < t.rows[r].size(); ++c)
      s += (t.marked.count({r, c}) ? "<td class=\"marked\">" : "<td>") +
           html_escape(t.rows[r][c]) + "</td>";
    s += "</tr>\n";
  }
  return s + "</tbody></table></div>\n";
}

// <section> with a heading (the table's title), the table (id "<id>-table") and `after`.
std::string table_section(const std::string& id, const Table& t, const std::string& after = {}) {
  std::string s = str_format("<section>\n<h2 id=\"{}\">{}</h2>\n", id, html_escape(t.title));
  s += t.rows.empty() ? "<p class=\"note\">No rows.</p>\n" : table_html(t, id + "-table");
  return s + after + "</section>\n";
}

std::string notes_html(const std::vector<std::string>& notes) {
  std::string s;
  for (const auto& n : notes) s += "<p class=\"note\">" + html_escape(n) + "</p>\n";
  return s;
}

struct Grid {
  std::string method, png;
};

// The explain output of one run as the gallery shows it.
struct PicturedRun {
  const RunRow* run = nullptr;
  std::map<int64_t, std::vector<Grid>> grids;            // image index -> grids, method order
  std::map<int64_t, std::pair<int64_t, int64_t>> truth;  // image index -> (label, pred)
  DatasetInfo dataset;  // RUN/dataset.json: the class names (none: classes by index)
  std::string dataset_error;  // why the file could not be read, where it is there
};

// "3 Dress" from the run's dataset.json, the index alone without one.
std::string class_text(const PicturedRun& p, int64_t c) {
  return p.dataset.class_names.empty() ? std::to_string(c) : class_label(p.dataset, c);
}

PicturedRun read_pictured(const RunRow& r) {
  PicturedRun p;
  p.run = &r;
  static const std::regex grid_name("([0-9]+)_([A-Za-z0-9_+-]+)\\.png");
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(fs::path(r.explain_dir) / "grids", ec)) {
    std::smatch m;
    std::string name = e.path().filename().string();
    if (std::regex_match(name, m, grid_name))
      p.grids[std::stoll(m[1].str())].push_back({m[2].str(), e.path().string()});
  }
  for (auto& [index, grids] : p.grids)
    std::sort(grids.begin(), grids.end(), [](const Grid& a, const Grid& b) {
      return std::make_pair(method_order(a.method), a.method) <
             std::make_pair(method_order(b.method), b.method);
    });
  try {
    std::optional<DatasetInfo> info = read_dataset_info(r.path);
    if (info && info->dataset != r.dataset)
      p.dataset_error = str_format("'{}/{}' describes {}, the run's config {}", r.path,
                                   kDatasetInfoFile, info->dataset, r.dataset);
    else if (info)
      p.dataset = *info;
  } catch (const UserError& e) {
    p.dataset_error = e.what();
  }
  for (const auto& j : read_jsonl(r.explain_dir + "/images.jsonl"))
    if (j.is_object() && j.contains("index") && j["index"].is_number_integer())
      p.truth[j["index"].get<int64_t>()] = {j.value("label", int64_t{-1}),
                                            j.value("pred", int64_t{-1})};
  return p;
}

std::string figure_html(const PicturedRun& p, int64_t index, const Grid& g) {
  const RunRow& r = *p.run;
  std::string caption = str_format("<b>{}</b> · {} · {}", html_escape(r.name), html_escape(r.kind),
                                   html_escape(method_label(g.method)));
  auto t = p.truth.find(index);
  if (t != p.truth.end()) {
    auto [label, pred] = t->second;
    caption += str_format("<br>true {} · <span class=\"{}\">pred {}</span>",
                          html_escape(class_text(p, label)), label == pred ? "right" : "wrong",
                          html_escape(class_text(p, pred)));
  }
  if (r.kind_order == 1)
    caption += "<br><span class=\"why-not\">maps show why NOT each class</span>";
  return str_format(
      "<figure><img src=\"data:image/png;base64,{}\" alt=\"{}\"><figcaption>{}</figcaption>"
      "</figure>\n",
      base64_encode(read_text_file(g.png)),
      html_escape(str_format("image {:05d}, {}, {}", index, r.name, g.method)), caption);
}

// One section per dataset: a row per pictured image (the first kGalleryImages by index), the
// grids of its runs side by side: SCOUTER+, SCOUTER-, then FC (Grad-CAM, CAM, Grad-CAM++).
std::string gallery_html(const std::vector<RunRow>* runs) {
  if (!runs) return {};
  std::map<std::string, std::vector<const RunRow*>> by_dataset;
  for (const auto& r : *runs)
    if (!r.explain_dir.empty()) by_dataset[r.dataset].push_back(&r);
  std::string s = "<section id=\"gallery\">\n<h2>Gallery</h2>\n";
  if (by_dataset.empty())
    return s +
           "<p class=\"note\">No run has explain output; <code>scouter explain RUN_DIR</code> "
           "writes it (RUN_DIR/explain/grids).</p>\n</section>\n";
  s += str_format(
      "<p class=\"note\">Per dataset, the first {} images pictured by <code>scouter explain</code> "
      "(by index); each grid is the image and one tile per class, framed green for the true "
      "class and red for the predicted one. SCOUTER&minus; maps show why NOT each class. "
      "Captions name the classes from each run's <code>dataset.json</code>.</p>\n",
      kGalleryImages);
  for (auto& [dataset, group] : by_dataset) {
    std::stable_sort(group.begin(), group.end(), [](const RunRow* a, const RunRow* b) {
      return std::make_pair(a->kind_order, a->path) < std::make_pair(b->kind_order, b->path);
    });
    std::vector<PicturedRun> pictured;
    std::set<int64_t> indices;
    for (const auto* r : group) {
      pictured.push_back(read_pictured(*r));
      for (const auto& [index, grids] : pictured.back().grids) indices.insert(index);
    }
    s += str_format("<h3>{}</h3>\n", html_escape(dataset.empty() ? "(unknown dataset)" : dataset));
    for (const auto& p : pictured)
      if (!p.dataset_error.empty())
        s += "<div class=\"warning\">classes by index: " + html_escape(p.dataset_error) +
             "</div>\n";
    s += "<p class=\"note\">";
    s += indices.empty()
             ? "Its runs' explain/grids folders hold no grids.</p>\n"
             : str_format("{} of {} pictured images shown, from {} run(s).</p>\n",
                          std::min(indices.size(), kGalleryImages), indices.size(), group.size());
    size_t shown = 0;
    for (int64_t index : indices) {
      if (shown++ == kGalleryImages) break;
      s += str_format("<div class=\"image-row\"><div class=\"image-index\">image {:05d}</div>\n",
                      index);
      for (const auto& p : pictured) {
        auto it = p.grids.find(index);
        if (it == p.grids.end()) continue;
        for (const auto& g : it->second) s += figure_html(p, index, g);
      }
      s += "</div>\n";
    }
  }
  return s + "</section>\n";
}

}  // namespace

std::string report_html(const HtmlReport& report) {
  std::vector<std::string> folders;
  for (const auto& f : report.folders) folders.push_back("<code>" + html_escape(f) + "</code>");
  std::string s = str_format(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<title>SCOUTER report</title>\n<style>{}</style>\n</head>\n<body>\n"
      "<h1>SCOUTER report</h1>\n<p class=\"note\">Runs under {}; written by scouter {} ({}).</p>\n"
      "<nav><a href=\"#settings\">settings</a><a href=\"#curves\">curves</a>"
      "<a href=\"#runs\">runs</a><a href=\"#provenance\">provenance</a>"
      "<a href=\"#metrics\">explanation metrics</a>"
      "<a href=\"#reference\">reference numbers</a>"
      "<a href=\"#gallery\">gallery</a></nav>\n",
      kStyle, join(folders, ", "), html_escape(SCOUTER_VERSION), html_escape(SCOUTER_GIT_VERSION));
  for (const auto& w : report.warnings)
    s += "<div class=\"warning\">warning: " + html_escape(w) + "</div>\n";
  s += table_section("settings", report.settings);
  // Inline SVG needs no namespace declaration in HTML; dropping it keeps the page free of URLs.
  std::string svg =
      std::regex_replace(report.curves_svg, std::regex(" xmlns='http://www.w3.org/2000/svg'"), "");
  s += "<section>\n<h2 id=\"curves\">Training curves</h2>\n<div class=\"scroll\">" + svg +
       "</div>\n</section>\n";
  s += table_section("runs", report.runs_table);
  if (!report.provenance.header.empty()) s += table_section("provenance", report.provenance);
  s += table_section("metrics", report.metrics, notes_html(report.notes));
  s += table_section("reference", report.reference, notes_html(report.reference_notes));
  s += gallery_html(report.runs);
  return s + "</body>\n</html>\n";
}

}  // namespace scouter
