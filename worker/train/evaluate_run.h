// `scouter evaluate RUN`: a trained (or imported) run's newest verified checkpoint over a whole
// split, with per-class numbers and the confusion matrix. Under mpirun each rank evaluates a
// contiguous part of the split and the sums are added on every rank: the counts are the same as
// one process's, the float64 loss sums equal to rounding.
//
// Written by rank 0 into RUN/eval/ (each file atomically):
//   <split>.json            split, checkpoint, epoch, dataset_dir, img_size, ranks; overall
//                           loss, nll, attn, acc, area (the training log's val_* definitions),
//                           correct, count; classes[]: index, name, count, correct, acc
//                           (recall), nll, area (SCOUTER: mean true-class area size); confusion
//                           (rows: true class, columns: predicted)
//   <split>_classes.csv     the classes[] table
//   <split>_confusion.csv   the confusion matrix with class names
#pragma once

#include <string>

#include "common/config.h"
#include "worker/train/evaluate.h"

namespace scouter {

struct EvaluateReport {
  EvalResult result;
  std::vector<std::string> class_names;  // the first num_classes of the dataset
  std::string checkpoint, json_path;
  int64_t epoch = 0;
};

// split: "val" or "train". request/origins: the command line's config keys (dataset_dir,
// eval_batch_size, threads, device, ...); architecture keys and img_size are refused.
EvaluateReport evaluate_run(const std::string& run_dir, const std::string& split,
                            const Config& request, const Origins& origins);

// The report as plain text (overall line, per-class table, confusion matrix).
std::string evaluate_text(const EvaluateReport& report, bool use_slot);

}  // namespace scouter
