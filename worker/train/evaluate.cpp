#include "worker/train/evaluate.h"

#include "common/log.h"
#include "common/progress.h"
#include "worker/model/attention_maps.h"
#include "worker/train/tensor_batch.h"

namespace scouter {

EvalResult evaluate(ScouterModel& model, BatchLoader& loader, double lambda_value,
                    torch::Device device) {
  torch::NoGradGuard no_grad;
  model->eval();
  EvalResult r;
  Progress progress("eval", loader.num_samples(), "img", false);
  loader.start_epoch(0);
  while (auto batch = loader.next()) {
    TensorBatch tb = to_tensors(std::move(*batch));
    tb.images = tb.images.to(device);
    tb.labels = tb.labels.to(device);
    int64_t n = tb.labels.size(0);
    ModelOutput out = model->forward(tb.images);
    LossParts loss = compute_loss(out, tb.labels, lambda_value);
    r.loss_sum += loss.total.item<double>() * n;
    r.nll_sum += loss.nll.item<double>() * n;
    r.attn_sum += loss.attn.item<double>() * n;
    r.correct += out.logits.argmax(1).eq(tb.labels).sum().item<int64_t>();
    r.count += n;
    if (model->use_slot()) {
      auto maps = class_attention_maps(out, model->num_classes(), model->slots_per_class());
      r.area_sum += area_sizes(normalized_maps_u8(maps), tb.labels).sum().item<double>();
    }
    progress.advance(n);
  }
  r.seconds = progress.elapsed_s();
  if (!model->use_slot()) r.area_sum = NAN;
  return r;
}

}  // namespace scouter
