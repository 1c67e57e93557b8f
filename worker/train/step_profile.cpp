#include "worker/train/step_profile.h"

#include <ATen/record_function.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "common/error.h"
#include "common/format.h"
#include "worker/model/scouter_model.h"

namespace scouter {
namespace {

using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// The observer of this thread and where it is in the nesting of records. Other threads (OpenMP
// workers that inherited the thread-local callback, if any) see no observer and count nothing.
thread_local OpObserver* tl_observer = nullptr;
thread_local int64_t tl_depth = 0;
thread_local Clock::time_point tl_start;

std::unique_ptr<at::ObserverContext> on_record_start(const at::RecordFunction&) {
  if (tl_observer == nullptr) return nullptr;
  tl_observer->count_record();
  if (tl_depth++ == 0) tl_start = Clock::now();
  return nullptr;
}

void on_record_end(const at::RecordFunction& fn, at::ObserverContext*) {
  if (tl_observer == nullptr || tl_depth == 0) return;
  if (--tl_depth == 0) tl_observer->add(fn.name(), ms_between(tl_start, Clock::now()));
}

// The autograd engine wraps each node it runs in a record of this name plus the node's.
constexpr const char* kEnginePrefix = "autograd::engine::evaluate_function: ";

}  // namespace

void split_forward_backward(ScouterModelImpl& model, const torch::Tensor& images,
                            const torch::Tensor& labels, double lambda_value, StepPhases& phases) {
  auto t0 = Clock::now();
  torch::Tensor features = model.forward_backbone(images);
  auto t1 = Clock::now();
  torch::Tensor head_in = features.detach().requires_grad_(true);
  torch::Tensor loss =
      compute_loss(model.forward_from_features(head_in), labels, lambda_value).total;
  auto t2 = Clock::now();
  loss.backward();
  auto t3 = Clock::now();
  if (features.requires_grad()) features.backward(head_in.grad());  // else: a frozen backbone
  auto t4 = Clock::now();
  phases.backbone_forward = ms_between(t0, t1);
  phases.head_forward = ms_between(t1, t2);
  phases.head_backward = ms_between(t2, t3);
  phases.backbone_backward = ms_between(t3, t4);
}

OpObserver::OpObserver() {
  SCOUTER_CHECK(tl_observer == nullptr, "one OpObserver at a time per thread");
  tl_observer = this;
  tl_depth = 0;
  handle_ = at::addThreadLocalCallback(
      at::RecordFunctionCallback(on_record_start, on_record_end)
          .needsInputs(false)
          .scopes({at::RecordScope::FUNCTION, at::RecordScope::BACKWARD_FUNCTION}));
}

OpObserver::~OpObserver() {
  at::removeCallback(handle_);
  tl_observer = nullptr;
  tl_depth = 0;
}

void OpObserver::add(const char* name, double ms) {
  const size_t prefix = std::strlen(kEnginePrefix);
  const char* shown = std::strncmp(name, kEnginePrefix, prefix) == 0 ? name + prefix : name;
  auto it =
      std::find_if(ops_.begin(), ops_.end(), [&](const OpTime& o) { return o.name == shown; });
  if (it == ops_.end()) it = ops_.insert(ops_.end(), OpTime{shown, 0, 0});
  it->ms += ms;
  ++it->calls;
}

std::vector<OpTime> OpObserver::times() const {
  std::vector<OpTime> v = ops_;
  std::stable_sort(v.begin(), v.end(),
                   [](const OpTime& a, const OpTime& b) { return a.ms > b.ms; });
  return v;
}

namespace {

double median_of(std::vector<StepPhases> runs, double StepPhases::*field) {
  std::sort(runs.begin(), runs.end(),
            [&](const StepPhases& a, const StepPhases& b) { return a.*field < b.*field; });
  return runs[runs.size() / 2].*field;
}

}  // namespace

StepProfile profile_step(ScouterModelImpl& model, const StepOptimizer& optimizer,
                         const torch::Tensor& images, const torch::Tensor& labels,
                         double lambda_value, int64_t steps,
                         const std::function<void()>& plain_step) {
  SCOUTER_CHECK(steps > 0, "profile_step needs at least one step");
  auto split_step = [&] {
    StepPhases ph;
    auto t0 = Clock::now();
    optimizer.zero_grad();
    auto t1 = Clock::now();
    split_forward_backward(model, images, labels, lambda_value, ph);
    auto t2 = Clock::now();
    optimizer.step();
    auto t3 = Clock::now();
    ph.optimizer = ms_between(t0, t1) + ms_between(t2, t3);
    ph.total = ms_between(t0, t3);
    return ph;
  };
  split_step();  // warm-up: the split path's first allocations
  std::vector<StepPhases> runs;
  for (int64_t i = 0; i < steps; ++i) runs.push_back(split_step());

  StepProfile p;
  p.slot_head = model.use_slot();
  p.steps = steps;
  for (auto field :
       {&StepPhases::backbone_forward, &StepPhases::head_forward, &StepPhases::head_backward,
        &StepPhases::backbone_backward, &StepPhases::optimizer, &StepPhases::total})
    p.median.*field = median_of(runs, field);

  OpObserver observer;
  auto t0 = Clock::now();
  for (int64_t i = 0; i < steps; ++i) plain_step();
  p.observed_ms = ms_between(t0, Clock::now());
  p.ops = observer.times();
  p.records = observer.records();
  return p;
}

std::string step_profile_tables(const StepProfile& p) {
  const StepPhases& m = p.median;
  const std::string head = p.slot_head ? "xSlot head" : "FC head";
  const std::pair<std::string, double> phases[] = {
      {"forward: backbone", m.backbone_forward},
      {"forward: " + head + " + loss", m.head_forward},
      {"backward: " + head + " + loss", m.head_backward},
      {"backward: backbone", m.backbone_backward},
      {"optimizer: zero_grad + step", m.optimizer},
      {"total", m.total}};
  std::string s = "| phase | ms/step | % of step |\n| --- | --- | --- |\n";
  for (const auto& [name, ms] : phases)
    s += str_format("| {} | {:.2f} | {:.1f} |\n", name, ms, 100.0 * ms / m.total);
  s += str_format("\nMedians over {} steps.\n\n", p.steps);

  const auto steps = static_cast<double>(p.steps);
  double all_ms = 0;
  int64_t all_calls = 0;
  for (const auto& o : p.ops) {
    all_ms += o.ms;
    all_calls += o.calls;
  }
  auto row = [&](const std::string& name, double ms, int64_t calls) {
    return str_format("| {} | {:.2f} | {:.1f} | {:.0f} | {:.1f} |\n", name, ms / steps,
                      all_ms > 0 ? 100.0 * ms / all_ms : 0.0, static_cast<double>(calls) / steps,
                      calls > 0 ? 1000.0 * ms / static_cast<double>(calls) : 0.0);
  };
  constexpr size_t kShown = 12;
  s += "| operator | ms/step | % of operator time | calls/step | µs/call |\n"
       "| --- | --- | --- | --- | --- |\n";
  OpTime other{"", 0, 0};
  for (size_t i = 0; i < p.ops.size(); ++i) {
    if (i < kShown) {
      s += row(p.ops[i].name, p.ops[i].ms, p.ops[i].calls);
    } else {
      other.ms += p.ops[i].ms;
      other.calls += p.ops[i].calls;
    }
  }
  if (p.ops.size() > kShown)
    s += row(str_format("other ({} operators)", p.ops.size() - kShown), other.ms, other.calls);
  s += row("all operators", all_ms, all_calls);
  s += str_format(
      "\n{:.0f} top-level operators per step ({:.0f} records with the nested ones). With the "
      "observer on, a step took {:.2f} ms (mean), {:.2f} ms of it inside operators; the phases "
      "were timed without it.\n",
      static_cast<double>(all_calls) / steps, static_cast<double>(p.records) / steps,
      p.observed_ms / steps, all_ms / steps);
  return s;
}

}  // namespace scouter
