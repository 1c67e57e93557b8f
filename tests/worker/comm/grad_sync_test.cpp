// Runs under `mpirun -np N` (N = 1, 2, ...): collectives with closed-form results, bucketed
// gradient averaging, equivalence with one process on the whole batch, bitwise-identical
// parameters on every rank, and the overlap of averaging with backward (from one step's trace).
#include "worker/comm/grad_sync.h"
#include "worker/comm/flat_params.h"
#include "worker/train/state_sync.h"

#include <gtest/gtest.h>
#include <torch/csrc/autograd/function.h>

#include <algorithm>
#include <torch/csrc/autograd/variable.h>

#include "common/communicator.h"
#include "common/error.h"
#include "common/mpi_env.h"
#include "worker/model/scouter_model.h"

namespace scouter {
namespace {

std::shared_ptr<Communicator> world_comm() {
  return std::make_shared<Communicator>(MPI_COMM_WORLD, 60.0);
}

TEST(Communicator, AllreduceOfKnownValues) {
  auto comm = world_comm();
  const int n = comm->size(), r = comm->rank();
  for (int64_t count : {1, 7, 1000003}) {
    std::vector<double> v(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) v[static_cast<size_t>(i)] = (r + 1) * (i % 5 + 1);
    comm->allreduce(v.data(), count, MPI_DOUBLE, MPI_SUM, "test");
    for (int64_t i = 0; i < count; ++i) {  // sum over ranks of (r + 1) = n (n + 1) / 2
      ASSERT_DOUBLE_EQ(v[static_cast<size_t>(i)], n * (n + 1) / 2.0 * (i % 5 + 1)) << i;
    }
  }
  int64_t root_value = r == 0 ? 42 : -1;
  comm->broadcast(&root_value, sizeof root_value, 0, "test");
  EXPECT_EQ(root_value, 42);
  std::vector<int32_t> all(static_cast<size_t>(n));
  int32_t mine = 10 * r;
  comm->gather(&mine, sizeof mine, all.data(), 0, "test");
  if (r == 0) {
    for (int k = 0; k < n; ++k) EXPECT_EQ(all[static_cast<size_t>(k)], 10 * k);
  }
  comm->barrier("test");
}

// Parameters of odd sizes; loss = sum_i (r + 1) * sum(p_i) gives every gradient element r + 1,
// so the average is (n + 1) / 2 exactly.
struct OddModule : torch::nn::Module {
  std::vector<torch::Tensor> ps;
  torch::Tensor unused;
  OddModule() {
    int64_t sizes[] = {1, 3, 1000, 17, 4099, 2};
    for (size_t i = 0; i < 6; ++i)
      ps.push_back(register_parameter("p" + std::to_string(i), torch::zeros({sizes[i]})));
    unused = register_parameter("unused", torch::zeros({5}));
  }
};

std::vector<std::pair<std::string, torch::Tensor>> used_parameters(OddModule& m) {
  std::vector<std::pair<std::string, torch::Tensor>> params;
  for (auto& p : m.named_parameters())
    if (p.key() != "unused") params.emplace_back(p.key(), p.value());
  return params;
}

// Gradient rank + 1 for every element: the average over ranks is (size + 1) / 2.
void rank_weighted_backward(OddModule& m, int rank) {
  torch::Tensor loss = torch::zeros({});
  for (auto& p : m.ps) loss = loss + (rank + 1) * p.sum();
  loss.backward();
}

void check_average(int64_t bucket_bytes, bool overlap) {
  auto comm = world_comm();
  OddModule m;
  auto backend = make_mpi_backend(comm);
  std::vector<std::pair<std::string, torch::Tensor>> params;
  for (auto& p : m.named_parameters()) params.emplace_back(p.key(), p.value());
  GradSync sync(params, backend, bucket_bytes, overlap);
  for (int step = 0; step < 2; ++step) {
    for (auto& p : m.parameters())
      if (p.grad().defined()) p.mutable_grad().zero_();
    sync.begin_step();
    rank_weighted_backward(m, comm->rank());
    sync.finish_step();
    const double expected = (comm->size() + 1) / 2.0;
    for (auto& p : m.ps) {
      ASSERT_TRUE(p.grad().defined());
      EXPECT_TRUE(torch::all(p.grad() == expected).item<bool>()) << p.grad().mean().item<double>();
    }
    EXPECT_FALSE(m.unused.grad().defined());  // no rank gave it a gradient
  }
}

TEST(GradSync, AveragesOddSizedParametersInManySmallBuckets) { check_average(64, true); }
TEST(GradSync, AveragesInOneBigBucketWithoutOverlap) { check_average(int64_t{25} << 20, false); }

// Flat mode: the gradients are views of one buffer that backward accumulates into; the average
// lands in place (no copy out), over many small buckets or one big one.
void check_flat_average(int64_t bucket_bytes, bool overlap) {
  auto comm = world_comm();
  OddModule m;
  FlatParams flat(used_parameters(m));
  GradSync sync(flat, make_mpi_backend(comm), bucket_bytes, overlap);
  EXPECT_GE(sync.num_buckets(), bucket_bytes < 1000 ? 2u : 1u);
  const void* grads = flat.grads().data_ptr();
  for (int step = 0; step < 2; ++step) {
    sync.begin_step();
    rank_weighted_backward(m, comm->rank());
    sync.finish_step();
    const double expected = (comm->size() + 1) / 2.0;
    EXPECT_TRUE(torch::all(flat.grads() == expected).item<bool>()) << flat.grads().mean().item<double>();
    for (auto& p : m.ps) {
      // Still a view of the flat buffer: nothing was copied out.
      EXPECT_GE(p.grad().data_ptr<float>(), static_cast<const float*>(grads));
      EXPECT_LT(p.grad().data_ptr<float>(), static_cast<const float*>(grads) + flat.numel());
      EXPECT_TRUE(torch::all(p.grad() == expected).item<bool>());
    }
  }
}

TEST(GradSync, FlatModeAveragesInPlaceInManySmallBuckets) { check_flat_average(64, true); }
TEST(GradSync, FlatModeAveragesInPlaceInOneBucketWithoutOverlap) {
  check_flat_average(int64_t{25} << 20, false);
}

// Gradient accumulation as StepRunner drives it: K = 3 micro-batches a step, the hooks armed
// (keep_gradients) only for the last one. Micro-batch k on rank r gives every element the
// gradient (r + 1)(k + 1); the step's average over ranks and micro-batches is
// (1 + 2 + 3) (n (n + 1) / 2) / (3 n) = n + 1, exactly, in copy and flat mode.
void check_accumulated_average(bool flat_mode, int64_t bucket_bytes) {
  auto comm = world_comm();
  OddModule m;
  std::unique_ptr<FlatParams> flat;
  std::unique_ptr<GradSync> sync;
  if (flat_mode) {
    flat = std::make_unique<FlatParams>(used_parameters(m));
    sync = std::make_unique<GradSync>(*flat, make_mpi_backend(comm), bucket_bytes, true);
  } else {
    sync = std::make_unique<GradSync>(used_parameters(m), make_mpi_backend(comm), bucket_bytes, true);
  }
  constexpr int64_t kMicro = 3;
  sync->set_micro_batches(kMicro);
  for (int step = 0; step < 2; ++step) {
    if (flat) flat->zero_grad();
    for (auto& p : m.ps)
      if (p.grad().defined()) p.mutable_grad().zero_();
    for (int64_t k = 0; k < kMicro; ++k) {
      if (k + 1 == kMicro) sync->begin_step(/*keep_gradients=*/true);
      torch::Tensor loss = torch::zeros({});
      for (auto& p : m.ps) loss = loss + static_cast<double>((comm->rank() + 1) * (k + 1)) * p.sum();
      loss.backward();
    }
    sync->finish_step();
    const double expected = comm->size() + 1.0;
    for (auto& p : m.ps)
      EXPECT_TRUE(torch::all(p.grad() == expected).item<bool>())
          << (flat_mode ? "flat" : "copy") << " mode, step " << step << ": " << p.grad().mean().item<double>();
  }
}

TEST(GradSync, AccumulatedMicroBatchesAverageOverRanksAndMicroBatches) {
  check_accumulated_average(false, 64);
  check_accumulated_average(false, int64_t{25} << 20);
}
TEST(GradSync, FlatModeAccumulatedMicroBatchesAverageInPlace) {
  check_accumulated_average(true, 64);
  check_accumulated_average(true, int64_t{25} << 20);
}

// recreate_accumulators(), which StepRunner calls inside a CUDA graph capture so that backward
// accumulates on the capture stream: the parameters get new AccumulateGrad nodes carrying the
// hooks (the old ones are gone), and averaging goes on as before. While a live autograd graph
// still holds the old nodes it refuses, changing nothing.
TEST(GradSync, FlatModeRecreatedAccumulatorsCarryTheHooks) {
  auto comm = world_comm();
  OddModule m;
  FlatParams flat(used_parameters(m));
  GradSync sync(flat, make_mpi_backend(comm), 64, true);
  const double expected = (comm->size() + 1) / 2.0;
  auto step = [&] {
    sync.begin_step();
    rank_weighted_backward(m, comm->rank());
    sync.finish_step();
    EXPECT_TRUE(torch::all(flat.grads() == expected).item<bool>()) << flat.grads().mean().item<double>();
  };
  step();
  {
    torch::Tensor held = m.ps[0].sum() + m.ps[1].sum();  // an autograd graph holding p0's and p1's nodes
    EXPECT_THROW(sync.recreate_accumulators(), Error);
  }
  std::vector<std::weak_ptr<torch::autograd::Node>> old;
  for (auto& p : m.ps) old.push_back(torch::autograd::impl::grad_accumulator(p));
  sync.recreate_accumulators();
  for (size_t i = 0; i < m.ps.size(); ++i) {
    EXPECT_TRUE(old[i].expired()) << "p" << i;
    auto now = torch::autograd::impl::grad_accumulator(m.ps[i]);
    EXPECT_EQ(now->post_hooks().size(), 1u) << "p" << i;
  }
  step();
  step();
}

TEST(GradSync, BucketsAreInReverseModelOrderAndBounded) {
  auto comm = world_comm();
  OddModule m;
  std::vector<std::pair<std::string, torch::Tensor>> params;
  for (auto& p : m.named_parameters()) params.emplace_back(p.key(), p.value());
  GradSync sync(params, make_mpi_backend(comm), 4096 * 4, true);
  auto layout = sync.bucket_layout();
  ASSERT_GE(layout.size(), 2u);
  EXPECT_EQ(layout.front().front(), "unused");
  EXPECT_EQ(layout.back().back(), "p0");
}

Config tiny_scouter() {
  Config c;
  c.model = "smallcnn";
  c.num_classes = 3;
  c.slots_per_class = 2;
  c.to_k_layer = 3;
  return c;
}

// The same global batch split over the ranks gives what one process computes on all of it (BN
// in eval mode, so no per-rank batch statistics), and every rank ends bitwise identical.
TEST(GradSync, RanksMatchOneProcessOnTheWholeBatch) {
  auto comm = world_comm();
  const int n = comm->size(), r = comm->rank();
  const int64_t per_rank = 4, steps = 3;
  Config cfg = tiny_scouter();
  torch::manual_seed(1000 + r);  // different initial weights: the broadcast must fix that
  ScouterModel dist(cfg, 1);
  ScouterModel ref(cfg, 1);  // the one-process reference, on the whole batch
  auto backend = make_mpi_backend(comm);
  broadcast_module(*dist, *backend, 0);
  {
    torch::NoGradGuard no_grad;  // the reference starts from rank 0's weights too
    auto from = dist->named_parameters();
    for (auto& p : ref->named_parameters()) p.value().copy_(from[p.key()]);
    auto bufs = dist->named_buffers();
    for (auto& b : ref->named_buffers()) b.value().copy_(bufs[b.key()]);
  }
  dist->eval();
  ref->eval();
  std::vector<std::pair<std::string, torch::Tensor>> params;
  for (auto& p : dist->named_parameters()) params.emplace_back(p.key(), p.value());
  GradSync sync(params, backend, 2048, true);
  // SGD: the update is linear in the gradient, so float rounding in the sums stays rounding
  // (AdamW divides by sqrt(v) and magnifies differences of near-zero gradients).
  torch::optim::SGD opt_d(dist->parameters(), torch::optim::SGDOptions(0.05));
  torch::optim::SGD opt_r(ref->parameters(), torch::optim::SGDOptions(0.05));
  for (int64_t s = 0; s < steps; ++s) {
    torch::manual_seed(77 + s);  // the same global batch on every rank
    auto x = torch::randn({per_rank * n, 1, 28, 28});
    auto y = torch::randint(0, 3, {per_rank * n}, torch::kLong);
    opt_d.zero_grad();
    sync.begin_step();
    auto mine = torch::indexing::Slice(r * per_rank, (r + 1) * per_rank);
    compute_loss(dist->forward(x.index({mine})), y.index({mine}), 1.0).total.backward();
    sync.finish_step();
    opt_r.zero_grad();
    compute_loss(ref->forward(x), y, 1.0).total.backward();
    auto gr = ref->named_parameters();
    // Float32 sums over 4 samples n times vs 4n once (oneDNN reduces in another order), and from
    // step 1 on weights that differ by that rounding. Backpropagation's rounding scales with the
    // gradients flowing through the model, not with one tensor's own, which may nearly cancel
    // (the stem's are ~1e-3 of the largest), so the bound is relative to the largest gradient of
    // the model: measured up to 2.2e-5 of it at step 1 with 3 ranks (1e-4 leaves 4.5x). Averaging
    // over a wrong rank count would miss by a fraction 1/n of the largest, ~1e3 times the bound.
    double scale = 0;
    for (auto& p : ref->parameters())
      if (p.grad().defined()) scale = std::max(scale, p.grad().abs().max().item<double>());
    for (auto& p : dist->named_parameters()) {
      if (!p.value().grad().defined()) {
        EXPECT_FALSE(gr[p.key()].grad().defined()) << p.key();
        continue;
      }
      const auto& want = gr[p.key()].grad();
      EXPECT_LE((p.value().grad() - want).abs().max().item<double>(), 1e-4 * scale)
          << "gradient of " << p.key() << " at step " << s << " (largest gradient " << scale << ")";
    }
    opt_d.step();
    opt_r.step();
  }
  auto pr = ref->named_parameters();
  for (auto& p : dist->named_parameters()) {
    // float32 sums in another order: the weights agree to 1e-5 relative after the steps.
    EXPECT_TRUE(torch::allclose(p.value(), pr[p.key()], 1e-5, 1e-6))
        << p.key() << " max diff " << (p.value() - pr[p.key()]).abs().max().item<double>();
    // Bitwise identical across ranks: rank 0's copy broadcast and compared.
    torch::Tensor theirs = p.value().detach().clone();
    backend->broadcast(theirs, 0, "test");
    EXPECT_TRUE(torch::equal(theirs, p.value())) << p.key() << " differs from rank 0";
  }
}

// The MPI backend with each start() written into a trace (what one step did, in order).
class TracedBackend : public ReduceBackend {
 public:
  TracedBackend(std::shared_ptr<ReduceBackend> inner, std::vector<std::string>& trace)
      : inner_(std::move(inner)), trace_(trace) {}
  std::string name() const override { return inner_->name(); }
  int world() const override { return inner_->world(); }
  void start(size_t id, torch::Tensor flat, const std::string& what) override {
    trace_.push_back("allreduce " + std::to_string(id));
    inner_->start(id, std::move(flat), what);
  }
  void progress() override { inner_->progress(); }
  void wait(size_t id) override { inner_->wait(id); }
  void broadcast(torch::Tensor t, int root, const std::string& what) override { inner_->broadcast(t, root, what); }
  void min_max(torch::Tensor& mins, torch::Tensor& maxs, const std::string& what) override {
    inner_->min_max(mins, maxs, what);
  }

 private:
  std::shared_ptr<ReduceBackend> inner_;
  std::vector<std::string>& trace_;
};

// The trace of one training step of the SCOUTER model (smallcnn) with buckets of 2 KB: each
// bucket's allreduce start, each gradient backward computes ("gradient NAME", from a hook of the
// test on every parameter) and "backward returned". A CPU backward runs its hooks on the calling
// thread, so the trace's order is the order of events.
std::vector<std::string> one_step_trace(bool flat_mode, bool overlap) {
  auto comm = world_comm();
  std::vector<std::string> trace;
  Config cfg = tiny_scouter();
  torch::manual_seed(5);
  ScouterModel model(cfg, 1);
  std::vector<std::pair<std::string, torch::Tensor>> params;
  for (auto& p : model->named_parameters()) params.emplace_back(p.key(), p.value());
  auto backend = std::make_shared<TracedBackend>(make_mpi_backend(comm), trace);
  std::unique_ptr<FlatParams> flat;
  std::unique_ptr<GradSync> sync;
  if (flat_mode) {
    flat = std::make_unique<FlatParams>(params);
    sync = std::make_unique<GradSync>(*flat, backend, 2048, overlap);
  } else {
    sync = std::make_unique<GradSync>(params, backend, 2048, overlap);
  }
  EXPECT_GE(sync->num_buckets(), 2u);
  for (auto& [name, p] : params)
    p.register_hook([&trace, name = name](torch::Tensor) { trace.push_back("gradient " + name); });
  auto x = torch::randn({4, 1, 28, 28});
  auto y = torch::randint(0, 3, {4}, torch::kLong);
  sync->begin_step();
  compute_loss(model->forward(x), y, 1.0).total.backward();
  trace.push_back("backward returned");
  sync->finish_step();
  return trace;
}

size_t position(const std::vector<std::string>& trace, const std::string& event) {
  return static_cast<size_t>(std::find(trace.begin(), trace.end(), event) - trace.begin());
}

// Gradient averaging overlaps backward: with overlap = true, bucket 0 (the last layers, whose
// gradients come first) starts its allreduce while backward still has gradients to compute, in
// copy and in flat mode. Without overlap nothing starts before backward returns, so the trace
// tells the two apart.
TEST(GradSync, BucketAllreduceStartsWhileBackwardRuns) {
  for (bool flat_mode : {false, true}) {
    SCOPED_TRACE(flat_mode ? "flat mode" : "copy mode");
    const std::vector<std::string> trace = one_step_trace(flat_mode, true);
    const size_t started = position(trace, "allreduce 0"), returned = position(trace, "backward returned");
    ASSERT_LT(returned, trace.size());
    ASSERT_LT(started, trace.size()) << "bucket 0 never started";
    size_t last_gradient = 0;
    for (size_t i = 0; i < trace.size(); ++i)
      if (trace[i].rfind("gradient ", 0) == 0) last_gradient = i;
    EXPECT_LT(started, last_gradient) << "bucket 0 started only after backward's last gradient, "
                                      << trace[last_gradient];
    EXPECT_LT(started, returned);

    const std::vector<std::string> serial = one_step_trace(flat_mode, false);
    const size_t serial_started = position(serial, "allreduce 0");
    ASSERT_LT(serial_started, serial.size());
    EXPECT_GT(serial_started, position(serial, "backward returned")) << "overlap = false started during backward";
  }
}

}  // namespace
}  // namespace scouter
