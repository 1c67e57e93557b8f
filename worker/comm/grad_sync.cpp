#include "worker/comm/grad_sync.h"

#include <chrono>

#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>

#include "common/error.h"
#include "common/format.h"
#include "common/text.h"
#include "worker/comm/flat_params.h"

namespace scouter {
namespace {
using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Runs after a parameter's AccumulateGrad node has added this backward's gradient into .grad.
struct AfterAccumulation : torch::autograd::FunctionPostHook {
  explicit AfterAccumulation(std::function<void()> fn) : fn_(std::move(fn)) {}
  torch::autograd::variable_list operator()(const torch::autograd::variable_list& outputs,
                                            const torch::autograd::variable_list& /*inputs*/) override {
    fn_();
    return outputs;
  }
  std::function<void()> fn_;
};
}  // namespace

GradSync::GradSync(FlatParams& flat, std::shared_ptr<ReduceBackend> backend, int64_t bucket_bytes,
                   bool overlap)
    : flat_params_(&flat), backend_(std::move(backend)), overlap_(overlap) {
  SCOUTER_CHECK(bucket_bytes > 0, "bucket size must be positive");
  const int64_t elem = flat.grads().element_size();
  // Slots in the flat layout (already reverse model order); a bucket closes at bucket_bytes.
  int64_t bucket_begin = 0;
  for (const auto& fs : flat.slots()) {
    Slot s;
    s.name = fs.name;
    s.param = fs.param;
    s.numel = fs.numel;
    s.offset = fs.offset;  // offset in the flat buffer for now; made bucket-relative below
    if (buckets_.empty() || (s.offset - bucket_begin) * elem >= bucket_bytes) {
      buckets_.emplace_back();
      bucket_begin = s.offset;
    }
    s.bucket = buckets_.size() - 1;
    buckets_.back().slots.push_back(slots_.size());
    slots_.push_back(std::move(s));
  }
  for (auto& b : buckets_) {
    const Slot& first = slots_[b.slots.front()];
    const Slot& last = slots_[b.slots.back()];
    b.flat = flat.grads().narrow(0, first.offset, last.offset + last.numel - first.offset);
    for (size_t k : b.slots) slots_[k].offset -= first.offset;
    stats_.bytes_per_step += b.flat.numel() * elem;
  }
  attach_accumulator_hooks();
}

// Gets (or makes, on the current stream) each parameter's AccumulateGrad node and hooks it.
void GradSync::attach_accumulator_hooks() {
  for (size_t i = 0; i < slots_.size(); ++i) {
    auto acc = torch::autograd::impl::grad_accumulator(slots_[i].param);
    SCOUTER_CHECK(acc != nullptr, "GradSync: no gradient accumulator for " + slots_[i].name);
    post_hooks_.push_back(acc->add_post_hook(std::make_unique<AfterAccumulation>([this, i] { on_accumulated(i); })));
    accumulators_.push_back(std::move(acc));
  }
}

void GradSync::recreate_accumulators() {
  if (!flat_params_) return;
  std::vector<std::string> held;
  for (size_t i = 0; i < accumulators_.size(); ++i)
    if (accumulators_[i].use_count() != 1) held.push_back(slots_[i].name);
  if (!held.empty())
    throw Error(str_format("GradSync: the gradient accumulators of [{}] are still held elsewhere (a live "
                           "autograd graph?), so they cannot be remade on the current stream",
                           join(held, ", ")));
  for (size_t i = 0; i < accumulators_.size(); ++i) accumulators_[i]->del_post_hook(post_hooks_[i]);
  post_hooks_.clear();
  accumulators_.clear();  // the last references: the nodes go, the parameters' weak links expire
  attach_accumulator_hooks();
}

void GradSync::on_accumulated(size_t i) {
  if (!armed_) return;
  Slot& s = slots_[i];
  Bucket& b = buckets_[s.bucket];
  if (!s.ready) {
    s.ready = true;
    --b.pending;
  }
  if (overlap_ && b.pending == 0) start(s.bucket);
  if (overlap_) backend_->progress();
}

void GradSync::finish_flat() {
  for (size_t bi = 0; bi < buckets_.size(); ++bi) start(bi);  // parameters without a gradient add zeros
  auto tw = Clock::now();
  if (!backend_->completes_on_stream())
    for (size_t bi = 0; bi < buckets_.size(); ++bi) backend_->wait(bi);
  stats_.wait_s += since(tw);
  if (backend_->world() * micro_batches_ > 1) {
    torch::NoGradGuard no_grad;
    flat_params_->grads().mul_(1.0 / static_cast<double>(backend_->world() * micro_batches_));
  }
}

GradSync::GradSync(std::vector<std::pair<std::string, torch::Tensor>> params,
                   std::shared_ptr<ReduceBackend> backend, int64_t bucket_bytes, bool overlap)
    : backend_(std::move(backend)), overlap_(overlap) {
  SCOUTER_CHECK(bucket_bytes > 0, "bucket size must be positive");
  // Reverse model order: backward reaches the last layers first, so their bucket fills first.
  for (auto it = params.rbegin(); it != params.rend(); ++it) {
    SCOUTER_CHECK(it->second.requires_grad(), "GradSync given a frozen parameter: " + it->first);
    Slot s;
    s.name = it->first;
    s.param = it->second;
    s.numel = it->second.numel();
    slots_.push_back(std::move(s));
  }
  // Fill buckets in that order; a bucket closes once it holds bucket_bytes (one large parameter
  // may exceed it alone). Parameters of one bucket share dtype and device.
  for (size_t i = 0; i < slots_.size(); ++i) {
    Slot& s = slots_[i];
    bool fresh = buckets_.empty();
    if (!fresh) {
      const Bucket& b = buckets_.back();
      const Slot& first = slots_[b.slots.front()];
      int64_t bytes = 0;
      for (size_t k : b.slots) bytes += slots_[k].numel * slots_[k].param.element_size();
      fresh = bytes >= bucket_bytes || first.param.scalar_type() != s.param.scalar_type() ||
              first.param.device() != s.param.device();
    }
    if (fresh) buckets_.emplace_back();
    Bucket& b = buckets_.back();
    s.bucket = buckets_.size() - 1;
    s.offset = 0;
    for (size_t k : b.slots) s.offset += slots_[k].numel;
    b.slots.push_back(i);
  }
  for (auto& b : buckets_) {
    const Slot& last = slots_[b.slots.back()];
    b.flat = torch::zeros({last.offset + last.numel}, last.param.options().requires_grad(false));
    stats_.bytes_per_step += b.flat.numel() * b.flat.element_size();
  }
  for (size_t i = 0; i < slots_.size(); ++i)
    slots_[i].hook = slots_[i].param.register_hook([this, i](torch::Tensor grad) { on_grad(i, grad); });
}

GradSync::~GradSync() {
  if (flat_params_) {
    for (size_t i = 0; i < accumulators_.size(); ++i) accumulators_[i]->del_post_hook(post_hooks_[i]);
    return;
  }
  for (auto& s : slots_) s.param.remove_hook(s.hook);
}

std::vector<std::vector<std::string>> GradSync::bucket_layout() const {
  std::vector<std::vector<std::string>> out;
  for (const auto& b : buckets_) {
    out.emplace_back();
    for (size_t k : b.slots) out.back().push_back(slots_[k].name);
  }
  return out;
}

void GradSync::begin_step(bool keep_gradients) {
  keep_gradients_ = keep_gradients;
  if (flat_params_ && !keep_gradients) flat_params_->zero_grad();
  for (auto& s : slots_) s.ready = false;
  for (auto& b : buckets_) {
    b.pending = b.slots.size();
    b.started = false;
  }
  armed_ = true;
}

void GradSync::on_grad(size_t i, const torch::Tensor& grad) {
  if (!armed_) return;  // a backward outside training (e.g. a test's own)
  Slot& s = slots_[i];
  Bucket& b = buckets_[s.bucket];
  torch::NoGradGuard no_grad;
  torch::Tensor into = b.flat.narrow(0, s.offset, s.numel);
  into.copy_(grad.reshape({-1}));
  // The hook runs before backward adds `grad` into param.grad: add what is there already.
  if (keep_gradients_ && s.param.grad().defined()) into.add_(s.param.grad().reshape({-1}));
  if (!s.ready) {
    s.ready = true;
    --b.pending;
  }
  if (overlap_) {
    if (b.pending == 0) start(s.bucket);
    backend_->progress();
  }
}

void GradSync::start(size_t bi) {
  Bucket& b = buckets_[bi];
  if (b.started) return;
  b.started = true;
  backend_->start(bi, b.flat, str_format("gradient allreduce, bucket {}/{}", bi + 1, buckets_.size()));
}

void GradSync::check_same_parameters_everywhere() {
  // Every rank must send the same buckets; a parameter with a gradient on some ranks only
  // would silently average with zeros. Checked once: SCOUTER's graph is the same every step.
  auto n = static_cast<int64_t>(slots_.size());
  auto mins = torch::empty({n}, torch::kInt), maxs = torch::empty({n}, torch::kInt);
  for (int64_t i = 0; i < n; ++i) mins[i] = maxs[i] = slots_[static_cast<size_t>(i)].ready ? 1 : 0;
  backend_->min_max(mins, maxs, "gradient presence check");
  std::vector<std::string> mixed;
  for (int64_t i = 0; i < n; ++i)
    if (mins[i].item<int>() != maxs[i].item<int>()) mixed.push_back(slots_[static_cast<size_t>(i)].name);
  if (!mixed.empty())
    throw Error(str_format("parameters [{}] got gradients on some ranks but not on others",
                           join(mixed, ", ")));
  checked_ = true;
}

void GradSync::finish_step() {
  SCOUTER_CHECK(armed_, "finish_step() without begin_step()");
  armed_ = false;
  auto t0 = Clock::now();
  if (!checked_) check_same_parameters_everywhere();
  if (flat_params_) {
    finish_flat();
    stats_.finish_s += since(t0);
    ++stats_.steps;
    return;
  }
  for (size_t bi = 0; bi < buckets_.size(); ++bi) {
    Bucket& b = buckets_[bi];
    if (b.started) continue;
    torch::NoGradGuard no_grad;
    for (size_t k : b.slots)  // no gradient this step: contribute zeros
      if (!slots_[k].ready) b.flat.narrow(0, slots_[k].offset, slots_[k].numel).zero_();
    start(bi);
  }
  auto tw = Clock::now();
  for (size_t bi = 0; bi < buckets_.size(); ++bi) backend_->wait(bi);
  stats_.wait_s += since(tw);
  torch::NoGradGuard no_grad;
  const double inv = 1.0 / static_cast<double>(backend_->world() * micro_batches_);
  for (auto& b : buckets_) b.flat.mul_(inv);
  for (auto& s : slots_) {
    if (!s.ready) continue;
    auto avg = buckets_[s.bucket].flat.narrow(0, s.offset, s.numel).view(s.param.sizes());
    torch::Tensor& g = s.param.mutable_grad();
    if (g.defined()) g.copy_(avg);
    else g = avg.clone();
  }
  stats_.finish_s += since(t0);
  ++stats_.steps;
}

}  // namespace scouter
