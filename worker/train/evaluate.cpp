#include "worker/train/evaluate.h"

#include "common/error.h"
#include "common/log.h"
#include "common/progress.h"
#include "worker/model/attention_maps.h"
#include "worker/train/device_input.h"
#include "worker/run/tensor_batch.h"

namespace scouter {

EvalResult evaluate(ScouterModel& model, BatchLoader& loader, double lambda_value,
                    torch::Device device, const DeviceInput* input, bool per_class) {
  SCOUTER_CHECK(input || !loader.raw(), "a raw loader needs the GPU input path");
  torch::NoGradGuard no_grad;
  model->eval();
  EvalResult r;
  Progress progress("eval", loader.num_samples(), "img", false);
  // loss, nll, attn (each times the batch size), correct, count, area: float64, summed in batch
  // order exactly as host doubles would be.
  auto sums = torch::zeros({6}, torch::TensorOptions().dtype(torch::kFloat64).device(device));
  const int64_t K = model->num_classes();
  torch::Tensor confusion, class_nll, class_area;
  if (per_class) {
    confusion = torch::zeros({K * K}, sums.options().dtype(torch::kLong));
    class_nll = torch::zeros({K}, sums.options());
    class_area = torch::zeros({K}, sums.options());
  }
  loader.start_epoch(0);
  while (auto batch = loader.next()) {
    torch::Tensor images, labels;
    if (input) {
      DeviceInput::Prepared p = input->prepare(std::move(*batch));
      images = p.images;
      labels = p.labels;
    } else {
      TensorBatch tb = to_tensors(std::move(*batch));
      images = tb.images.to(device);
      labels = tb.labels.to(device);
    }
    const int64_t n = labels.size(0);
    const double dn = static_cast<double>(n);
    ModelOutput out = model->forward(images);
    LossParts loss = compute_loss(out, labels, lambda_value);
    auto area = torch::zeros({}, sums.options());
    torch::Tensor sample_areas;
    if (model->use_slot()) {
      auto maps = class_attention_maps(out, model->num_classes(), model->slots_per_class());
      sample_areas = area_sizes(normalized_maps_u8(maps), labels).to(torch::kFloat64);
      area = sample_areas.sum();
    }
    auto predicted = out.logits.argmax(1);
    auto correct = predicted.eq(labels).sum().to(torch::kFloat64);
    if (per_class) {
      confusion.index_add_(0, labels * K + predicted, torch::ones_like(labels));
      auto nll = torch::nll_loss(torch::log_softmax(out.logits.to(torch::kFloat), 1), labels, {},
                                 at::Reduction::None);
      class_nll.index_add_(0, labels, nll.to(torch::kFloat64));
      if (sample_areas.defined()) class_area.index_add_(0, labels, sample_areas);
    }
    sums += torch::stack({loss.total.to(torch::kFloat64) * dn, loss.nll.to(torch::kFloat64) * dn,
                          loss.attn.to(torch::kFloat64) * dn, correct,
                          torch::full({}, dn, sums.options()), area});
    progress.advance(n);
  }
  auto host = sums.cpu();
  const double* v = host.data_ptr<double>();
  r.loss_sum = v[0];
  r.nll_sum = v[1];
  r.attn_sum = v[2];
  r.correct = static_cast<int64_t>(v[3]);
  r.count = static_cast<int64_t>(v[4]);
  r.area_sum = model->use_slot() ? v[5] : NAN;
  r.seconds = progress.elapsed_s();
  if (per_class) {
    auto c = confusion.cpu();
    r.confusion.assign(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + K * K);
    auto nll = class_nll.cpu(), ar = class_area.cpu();
    r.class_nll_sum.assign(nll.data_ptr<double>(), nll.data_ptr<double>() + K);
    r.class_area_sum.assign(ar.data_ptr<double>(), ar.data_ptr<double>() + K);
  }
  return r;
}

}  // namespace scouter
