#include "worker/train/step_runner.h"

#include <algorithm>
#include <cmath>

#include "common/error.h"
#include "common/format.h"
#include "common/log.h"
#include "worker/run/tensor_batch.h"

namespace scouter {
namespace {

// Eager steps before a capture: lazy initialisation, cuDNN's autotuning and the first
// gradient-presence check across ranks all happen outside the graph.
constexpr int64_t kEagerStepsBeforeCapture = 3;

}  // namespace

std::vector<std::string> unused_parameters(const ScouterModel& model) {
  std::vector<std::string> names;
  if (!model->use_slot()) return names;
  for (const auto& p : model->named_parameters())
    if (p.key().rfind("slot.to_q.", 0) == 0) names.push_back(p.key());
  return names;
}

std::vector<std::pair<std::string, torch::Tensor>> trained_parameters(const ScouterModel& model,
                                                                      bool leave_out_unused) {
  const std::vector<std::string> unused = leave_out_unused ? unused_parameters(model) : std::vector<std::string>{};
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& p : model->named_parameters())
    if (p.value().requires_grad() && std::find(unused.begin(), unused.end(), p.key()) == unused.end())
      out.emplace_back(p.key(), p.value());
  return out;
}

void to_channels_last(ScouterModel& model) {
  torch::NoGradGuard no_grad;
  for (auto& p : model->parameters())
    if (p.dim() == 4) p.set_data(p.contiguous(torch::MemoryFormat::ChannelsLast));
}

StepRunner::StepRunner(const Config& cfg, ScouterModel& model, torch::Device device,
                       Distributed& dist, const ShardMeta& meta, int64_t out_h, int64_t out_w,
                       StepOptions options)
    : cfg_(cfg), model_(model), device_(device), dist_(dist), opt_(options),
      precision_(pick_precision(cfg.precision, device)), cuda_(device.is_cuda()), accum_(cfg.accum_steps) {
  model_->set_bf16(precision_.bf16);
  // cuDNN autotuning, unless the process asked LibTorch for deterministic algorithms (the GPU
  // tests do, to compare runs exactly): timing may pick other algorithms in another run.
  if (cuda_ && !at::globalContext().deterministicCuDNN() && !at::globalContext().deterministicAlgorithms())
    at::globalContext().setBenchmarkCuDNN(true);
  if (opt_.channels_last) to_channels_last(model_);
  // The CPU path keeps LibTorch's AdamW over every trained parameter (to_q just never gets a
  // gradient there); the flat path leaves the unused ones out.
  trained_ = trained_parameters(model_, opt_.flat);
  std::vector<torch::Tensor> params;
  for (const auto& [name, p] : trained_) params.push_back(p);
  optimizer_ = std::make_unique<torch::optim::AdamW>(
      params, torch::optim::AdamWOptions(cfg.lr).weight_decay(cfg.weight_decay));
  if (opt_.flat) {
    flat_ = std::make_unique<FlatParams>(trained_);
    flat_opt_ = std::make_unique<FlatAdamW>(*flat_, cfg.lr, cfg.weight_decay);
  }
  if (opt_.gpu_input)
    input_ = std::make_unique<DeviceInput>(meta, out_h, out_w, device_, opt_.channels_last);
  if (cuda_) fence_ = std::make_unique<StepFence>(device_);
  sums_ = torch::zeros({6}, torch::TensorOptions().dtype(torch::kFloat64).device(device_));
}

void StepRunner::state_changed() {
  if (flat_opt_) flat_opt_->import_from(*optimizer_);
}

void StepRunner::sync_state_out() {
  if (flat_opt_) flat_opt_->export_to(*optimizer_);
}

void StepRunner::start_gradient_sync() {
  auto backend = dist_.backend();
  if (!backend) return;
  const auto bucket_bytes = static_cast<int64_t>(cfg_.bucket_mb * 1e6);
  if (flat_)
    sync_ = std::make_unique<GradSync>(*flat_, backend, bucket_bytes, cfg_.overlap);
  else
    sync_ = std::make_unique<GradSync>(trained_, backend, bucket_bytes, cfg_.overlap);
  sync_->set_micro_batches(accum_);
}

void StepRunner::set_lr(double lr) {
  for (auto& g : optimizer_->param_groups()) g.options().set_lr(lr);
  if (flat_opt_) flat_opt_->set_lr(lr);
}

bool StepRunner::graphs_allowed() const {
  return cuda_ && cfg_.cuda_graphs && StepGraph::supported() && accum_ == 1 &&
         (!sync_ || dist_.backend()->completes_on_stream());
}

void StepRunner::step_body(const torch::Tensor& images, const torch::Tensor& labels) {
  if (flat_) {
    if (sync_) sync_->begin_step();  // zeroes the flat gradients
    else flat_->zero_grad();
  } else {
    optimizer_->zero_grad();
    if (sync_) sync_->begin_step();
  }
  ModelOutput out = model_->forward(images);
  LossParts loss = compute_loss(out, labels, cfg_.lambda_value);
  loss.total.backward();
  if (sync_) sync_->finish_step();
  torch::Tensor grads_finite = gradients_finite();
  optimizer_step();
  add_sums(out, loss, labels, grads_finite);
}

void StepRunner::micro_step(const torch::Tensor& images, const torch::Tensor& labels) {
  const bool first = micro_ == 0, last = micro_ + 1 == accum_;
  if (first) {
    if (flat_) flat_->zero_grad();
    else optimizer_->zero_grad();
  }
  if (last && sync_) sync_->begin_step(/*keep_gradients=*/true);  // averages the step's sum
  std::vector<torch::Tensor> running;  // BatchNorm statistics as the first micro-batch left them
  if (!first)
    for (const auto& b : model_->buffers()) running.push_back(b.clone());
  ModelOutput out = model_->forward(images);
  LossParts loss = compute_loss(out, labels, cfg_.lambda_value);
  loss.total.backward();
  if (!first) {  // after backward: BatchNorm's backward checks that its saved buffers are unchanged
    torch::NoGradGuard no_grad;
    size_t i = 0;
    for (auto& b : model_->buffers()) b.copy_(running[i++]);
  }
  torch::Tensor grads_finite;
  if (last) {
    if (sync_) {
      sync_->finish_step();
    } else {  // one rank: the mean of the micro-batches' gradients, as GradSync divides
      torch::NoGradGuard no_grad;
      const double inv = 1.0 / static_cast<double>(accum_);
      if (flat_) flat_->grads().mul_(inv);
      else
        for (const auto& [name, p] : trained_)
          if (p.grad().defined()) p.mutable_grad().mul_(inv);
    }
    grads_finite = gradients_finite();
    optimizer_step();
  }
  add_sums(out, loss, labels, grads_finite);
  micro_ = last ? 0 : micro_ + 1;
}

// After averaging, so every rank sees the same answer. One pass over the gradients: a sum is
// finite exactly when no element is NaN or infinite (barring overflow of huge finite ones).
torch::Tensor StepRunner::gradients_finite() {
  torch::NoGradGuard no_grad;
  if (flat_) return flat_->grads().sum().isfinite();
  std::vector<torch::Tensor> parts;
  for (const auto& [name, p] : trained_)
    if (p.grad().defined()) parts.push_back(p.grad().sum().to(torch::kFloat64));
  return parts.empty() ? torch::ones({}, torch::kBool).to(device_) : torch::stack(parts).sum().isfinite();
}

void StepRunner::optimizer_step() {
  if (flat_opt_) flat_opt_->step();
  else optimizer_->step();
}

// grads_finite undefined: a micro-batch that ended no step (its gradients are not final yet).
void StepRunner::add_sums(const ModelOutput& out, const LossParts& loss, const torch::Tensor& labels,
                          const torch::Tensor& grads_finite) {
  torch::NoGradGuard no_grad;
  const double n = static_cast<double>(labels.size(0));
  sums_ += torch::stack({loss.total.detach().to(torch::kFloat64) * n,
                         loss.nll.detach().to(torch::kFloat64) * n,
                         loss.attn.detach().to(torch::kFloat64) * n,
                         out.logits.argmax(1).eq(labels).sum().to(torch::kFloat64),
                         torch::full({}, n, sums_.options()),
                         grads_finite.defined() ? grads_finite.logical_not().to(torch::kFloat64)
                                                : torch::zeros({}, sums_.options())});
}

bool StepRunner::run(Batch&& batch) {
  torch::Tensor images, labels;
  if (input_) {
    DeviceInput::Prepared p = input_->prepare(std::move(batch));
    images = std::move(p.images);
    labels = std::move(p.labels);
  } else {
    TensorBatch tb = to_tensors(std::move(batch));
    images = tb.images.to(device_);
    labels = tb.labels.to(device_);
    if (opt_.channels_last) images = images.contiguous(torch::MemoryFormat::ChannelsLast);
  }
  if (accum_ > 1) {
    micro_step(images, labels);
    if (sync_ && micro_ == 0) dist_.backend()->fence("training step");
    if (fence_) fence_->step();
    return micro_ == 0;
  }
  if (graph_) {
    static_images_.copy_(images);
    static_labels_.copy_(labels);
    graph_->replay();
  } else if (graphs_allowed() && eager_steps_ >= kEagerStepsBeforeCapture) {
    static_images_ = images.clone(images.suggest_memory_format());
    static_labels_ = labels.clone();
    auto graph = std::make_unique<StepGraph>(device_);
    try {
      graph->capture([this] {
        // The gradient accumulators GradSync keeps were made on the eager steps' (default)
        // stream; remade here on the capture stream, or backward would join the default stream
        // to the capturing one (grad_sync.h).
        if (sync_) sync_->recreate_accumulators();
        step_body(static_images_, static_labels_);
      });
    } catch (const std::exception& e) {
      throw UserError(str_format("capturing the training step as a CUDA graph failed: {}", e.what()),
                      "train with cuda_graphs = false (eager steps)");
    }
    graph_ = std::move(graph);
    if (dist_.rank0())
      log::info("training step captured as a CUDA graph after {} eager steps{}", eager_steps_,
                sync_ ? str_format(" ({} averaging inside)", dist_.backend()->name()) : std::string());
    graph_->replay();  // capture recorded the step; this runs it
  } else {
    step_body(images, labels);
    ++eager_steps_;
  }
  if (sync_) dist_.backend()->fence("training step");
  if (fence_) fence_->step();
  return true;
}

StepSums StepRunner::sums() const {
  auto h = sums_.cpu();
  const double* v = h.data_ptr<double>();
  return {v[0], v[1], v[2], v[3], v[4], v[5]};
}

bool StepSums::finite() const {
  return std::isfinite(loss) && std::isfinite(nll) && std::isfinite(attn) && bad_grad_steps == 0;
}

std::string StepSums::non_finite_terms() const {
  std::vector<std::string> terms;
  if (!std::isfinite(nll)) terms.push_back("the nll loss term");
  if (!std::isfinite(attn)) terms.push_back("the attention loss term");
  if (bad_grad_steps != 0 || (terms.empty() && !std::isfinite(loss))) terms.push_back("the gradients");
  std::string s;
  for (size_t i = 0; i < terms.size(); ++i) s += (i == 0 ? "" : i + 1 == terms.size() ? " and " : ", ") + terms[i];
  return s;
}

void StepRunner::reset_sums() { sums_.zero_(); }

void StepRunner::set_sums(const std::vector<double>& values) {
  SCOUTER_CHECK(static_cast<int64_t>(values.size()) == sums_.numel(), "sums of another layout");
  sums_.copy_(torch::tensor(values, torch::kFloat64));
}

std::vector<double> StepSums::values() const { return {loss, nll, attn, correct, count, bad_grad_steps}; }

std::string StepRunner::describe() const {
  std::string s = opt_.flat ? "flat AdamW" : "LibTorch AdamW";
  if (opt_.gpu_input) s += ", GPU input path";
  if (opt_.channels_last) s += ", channels_last";
  s += precision_.bf16 ? ", bf16 autocast" : ", fp32";
  s += " (" + precision_.why + ")";
  if (graph_) s += ", CUDA graph after " + std::to_string(eager_steps_) + " eager steps";
  else if (graphs_allowed()) s += ", CUDA graph after " + std::to_string(kEagerStepsBeforeCapture) + " eager steps";
  else if (cuda_) s += ", eager steps (no CUDA graph: " +
                       std::string(!cfg_.cuda_graphs ? "cuda_graphs = false"
                                   : !StepGraph::supported() ? "not in this build"
                                   : accum_ > 1              ? "accum_steps > 1"
                                                             : "gradients over MPI") + ")";
  if (accum_ > 1) s += str_format(", {} micro-batches per step", accum_);
  return s;
}

}  // namespace scouter
