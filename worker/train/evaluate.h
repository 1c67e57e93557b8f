// Evaluation over a whole split: exact sample-weighted losses, top-1 accuracy counted over all
// samples (not a mean of per-batch accuracies), and SCOUTER's mean area size of the true class.
#pragma once

#include <cmath>
#include <vector>

#include "datasets/batch_loader.h"
#include "worker/model/scouter_model.h"

namespace scouter {

struct EvalResult {
  double loss_sum = 0, nll_sum = 0, attn_sum = 0;  // sums over samples of per-sample means
  double area_sum = 0;                              // sum of true-class area sizes
  int64_t correct = 0, count = 0;
  double seconds = 0;
  // Per class (evaluate with per_class): confusion[true * K + predicted] counts, and per true
  // class the sums of per-sample NLL and (SCOUTER) true-class area size. Empty otherwise.
  std::vector<int64_t> confusion;
  std::vector<double> class_nll_sum, class_area_sum;

  double loss() const { return count ? loss_sum / count : NAN; }
  double nll() const { return count ? nll_sum / count : NAN; }
  double attn() const { return count ? attn_sum / count : NAN; }
  double acc() const { return count ? static_cast<double>(correct) / count : NAN; }
  double area() const { return count ? area_sum / count : NAN; }
};

class DeviceInput;

// Runs the model in eval mode over every batch of `loader` (epoch 0 order), on `device`; batches
// go through `input` when given (the GPU input path; needed for a raw loader). The sums stay on
// the device until the end, so a GPU is never drained between batches.
// per_class: also the confusion matrix and per-class sums (a few more small kernels per batch).
EvalResult evaluate(ScouterModel& model, BatchLoader& loader, double lambda_value,
                    torch::Device device = torch::kCPU, const DeviceInput* input = nullptr,
                    bool per_class = false);

}  // namespace scouter
