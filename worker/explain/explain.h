// `scouter explain RUN_DIR`: explanations of a trained run over (part of) its validation set,
// as files in RUN_DIR/explain/ (written to temporary names, renamed when complete):
//   metrics.json   one object:
//     {"run": "<run dir>", "dataset": "...", "kind": "scouter+" | "scouter-" | "fc",
//      "images": n, "classes_shown": [..], "created_by": "scouter <version>",
//      "checkpoint": "<the checkpoint explained>", "epoch": e, "metrics_computed": bool,
//      "settings": {"images": N | "all" (as asked), "images_explained": n, "num_classes": ..,
//                   "img_size": <input size>, "dataset_dir": .., "map_postprocessing": "..",
//                   "grad_min_level": .. (null for SCOUTER), "metrics": bool,
//                   "explain_step": .., "step_pixels": .., "infidelity_sigma": ..,
//                   "infidelity_samples": .., "sensitivity_radius": .., "sensitivity_samples": ..,
//                   "seed": .., "ranks": ..},
//      "methods": {"<method>": {"<metric>": m, ..., "<count key>": k}, ...},
//      "seconds": {"maps_rank0": .., "metrics_rank0": ..}}
//     with one "<metric>" per row of the metric table (worker/explain/metric_spec.h: "area",
//     "precision", "insertion_auc", "deletion_auc", "infidelity", "sensitivity"), m its reduction
//     over the images (the mean over those that have a value; null when none has one), and
//     for a row with a count key the k images that have a value ("precision_images": the images
//     with a box). The methods are "slot" for SCOUTER runs and "cam", "gradcam", "gradcampp"
//     for FC runs. Every metric is measured on the explanation map of the true class
//     (worker/explain/explain_maps.h). `scouter report` pools runs whose "settings" agree
//     (ranks aside).
//   images.jsonl   one line per image, in split order:
//     {"index": i, "label": l, "pred": p, "box": [x, y, w, h] | null,
//      "<method>": {"<metric>": .. | null, ...}, ...}  (every row of the metric table; null: not
//                                                      measured, or no box for precision)
//   maps.h5        /indices int64 [n], /labels int64 [n], /preds int64 [n], /classes int64 [T],
//                  /<method> float32 [n, T, h, w] the raw class maps at feature resolution
//                  (SCOUTER: attention summed over a class's slots; FC: relu'd CAM maps), and
//                  /<method>_upsampled uint8 [p, T, H, W] for the p pictured images: floor(255 m)
//                  of the explanation maps m (explain_maps.h) at input resolution.
//   pictures/<NNNNN>/image.png                     the input as the model saw it
//   pictures/<NNNNN>/<method>_class<c>.png         the published picture of class c
//   grids/<NNNNN>_<method>.png                     image + one tile per shown class; frames:
//                                                  green = true class, red = predicted class
//   grids/<NNNNN>_<method>.svg                     the same grid with class names and marks
//                                                  (true, predicted, "why not" for SCOUTER-)
// NNNNN is the image's split-wide index, so runs on the same dataset picture the same images.
//   images/        `scouter explain RUN --image` (worker/explain/explain_image.h); carried over
//                  into the new folder when explain replaces RUN/explain.
#pragma once

#include <string>
#include <vector>

#include "common/config.h"

namespace scouter {

struct ExplainOptions {
  int64_t images = 100;              // first N validation images (of the first num_classes classes)
  bool all = false;                  // every validation image
  int64_t pictures = 8;              // images pictured (grids and per-class pictures)
  std::vector<std::string> classes;  // classes shown (indices or names); empty: all
  bool metrics = true;               // false: maps and pictures only (throughput of the maps)
};

// Runs on every rank of the job (the images are split over the ranks and gathered on rank 0,
// which writes the files). `request` carries the keys set on the command line (origins); keys
// that change the model or its input are refused (explain_methods.h refuse_input_changes).
void run_explain(const std::string& run_dir, const ExplainOptions& options, const Config& request,
                 const Origins& origins);

}  // namespace scouter
