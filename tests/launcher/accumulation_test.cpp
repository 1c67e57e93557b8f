// Gradient accumulation (accum_steps, worker/train/step_runner.h) as users run it, through
// `scouter train` under mpirun: R ranks x K micro-batches train the weights of R x K ranks x 1
// (the same samples in the same steps, the same BatchNorm statistics, the mean of the same
// gradients), and a stop that arrives inside a step's micro-batches checkpoints that step's end,
// from which a resumed run ends with the uninterrupted weights bitwise.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <regex>

#include "common/files.h"
#include "common/format.h"
#include "common/metrics_log.h"
#include "test_util.h"
#include "worker/run/checkpoint.h"
#include "worker/toy_data.h"

namespace scouter {
namespace {

using testing::BackgroundCommand;
using testing::TempDir;

constexpr double kLr = 3e-4;

class AccumulationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    data_ = new TempDir;
    // 256 training images: 8 steps an epoch of 4 x 8 images.
    testing::write_toy_shards(data_->path(), 256, 64, 1, 64);
  }
  static void TearDownTestSuite() { delete data_; }

  std::string train(int ranks, int64_t accum, const std::string& out, const std::string& extra = "") const {
    return testing::mpirun() + " -np " + std::to_string(ranks) + " " + testing::scouter_bin() +
           " train --model smallcnn --num_classes 4 --img_size 28 --batch_size 8 --threads 1 --lr " +
           str_format("{}", kLr) + " --slots_per_class 2 --aug true --epochs 2 --accum_steps " +
           std::to_string(accum) + " --dataset_dir " + data_->path() + " --output_dir " + out + " " + extra;
  }
  // Trains to the end; the final checkpoint.
  std::string trained(int ranks, int64_t accum, const std::string& name) {
    const std::string out = dir_.file(name);
    BackgroundCommand job(train(ranks, accum, out), dir_.file(name + ".log"));
    EXPECT_EQ(job.wait(300), 0) << job.log();
    return latest_checkpoint(out);
  }

  static TempDir* data_;
  TempDir dir_;
};
TempDir* AccumulationTest::data_ = nullptr;

// Every tensor of two checkpoints, weights and BatchNorm buffers, and AdamW's moments.
using Tensors = std::map<std::string, std::vector<float>>;
Tensors everything(const std::string& ckpt) {
  Tensors t = testing::checkpoint_weights(ckpt);
  for (auto& [name, m] : testing::checkpoint_moments(ckpt)) t["optimizer/" + name] = std::move(m);
  return t;
}

// The largest |a - b| over tensors whose names pass `which`.
double max_difference(const Tensors& a, const Tensors& b, bool (*which)(const std::string&)) {
  double worst = 0;
  for (const auto& [name, x] : a) {
    if (!which(name)) continue;
    const std::vector<float>& y = b.at(name);
    EXPECT_EQ(x.size(), y.size()) << name;
    for (size_t i = 0; i < std::min(x.size(), y.size()); ++i)
      worst = std::max(worst, std::abs(static_cast<double>(x[i]) - y[i]));
  }
  return worst;
}
bool is_weight(const std::string& name) { return name.rfind("optimizer/", 0) != 0; }
bool is_first_moment(const std::string& name) {
  return name.rfind("optimizer/", 0) == 0 && name.find("/exp_avg_sq") == std::string::npos;
}

// Two micro-batches on one rank sum the same two gradients that two ranks' allreduce sums (one
// IEEE addition, which is commutative) and divide alike: bitwise the 2-rank run, BatchNorm
// buffers, AdamW's moments and the validation figures included.
TEST_F(AccumulationTest, TwoMicroBatchesOnOneRankAreTwoRanksBitwise) {
  const std::string ranks = trained(2, 1, "ranks2"), accum = trained(1, 2, "accum2");
  ASSERT_EQ(ranks, checkpoint_path(dir_.file("ranks2"), 2));
  ASSERT_EQ(accum, checkpoint_path(dir_.file("accum2"), 2));
  const Tensors a = everything(ranks), b = everything(accum);
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, x] : a) EXPECT_EQ(x, b.at(name)) << name;
  EXPECT_EQ(read_checkpoint_info(ranks).state.global_step, 16);
  EXPECT_EQ(read_checkpoint_info(accum).state.global_step, 16);
  auto ma = read_jsonl(dir_.file("ranks2") + "/metrics.jsonl");
  auto mb = read_jsonl(dir_.file("accum2") + "/metrics.jsonl");
  ASSERT_EQ(ma.size(), 2u);
  ASSERT_EQ(mb.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    for (const char* key : {"val_acc", "train_acc"})  // counts
      EXPECT_EQ(ma[i][key], mb[i][key]) << "epoch " << i + 1 << " " << key;
    // The same float values, summed in double in another order (per rank, then across ranks).
    for (const char* key : {"train_loss", "val_loss", "val_area"})
      EXPECT_NEAR(ma[i][key].get<double>(), mb[i][key].get<double>(), 1e-9) << "epoch " << i + 1 << " " << key;
  }
}

// Four micro-batches: 1 rank x 4 and 2 ranks x 2 against 4 ranks x 1. The gradient sums
// associate differently (((g0 + g1) + g2) + g3 on one rank, (g0 + g1) + (g2 + g3) for the
// others), a difference of a few float32 roundings of the gradient. AdamW turns a gradient g into
// a step of about lr * m / sqrt(v): for elements whose gradient is far above that rounding
// the step changes by a few ulps, but an element whose gradient is itself rounding noise (a sum
// that cancels to ~1e-9) may step the other way, by up to 2 lr. So the bound on a weight after
// S steps is 2 lr S, and what a correct implementation shows is far below it; a wrong sample
// order, BatchNorm or scaling moves every weight by O(lr) per step. The test asserts both: the
// weights within a hundredth of one step's size, lr / 100 (and, like the first moments, the
// BatchNorm buffers and the validation figures close), and their measured difference printed.
TEST_F(AccumulationTest, FourMicroBatchesMatchFourRanksWithinRounding) {
  const Tensors ref = everything(trained(4, 1, "ranks4"));
  for (const auto& [ranks, accum] : {std::pair<int, int64_t>{1, 4}, std::pair<int, int64_t>{2, 2}}) {
    const std::string name = str_format("r{}k{}", ranks, accum);
    const Tensors got = everything(trained(ranks, accum, name));
    ASSERT_EQ(ref.size(), got.size());
    const double dw = max_difference(ref, got, is_weight), dm = max_difference(ref, got, is_first_moment);
    std::printf("%d rank(s) x %lld micro-batches vs 4 ranks: max |weight difference| %.3g (%.3g lr), "
                "max |first moment difference| %.3g\n",
                ranks, static_cast<long long>(accum), dw, dw / kLr, dm);
    EXPECT_LT(dw, kLr / 100) << name;
    EXPECT_LT(dm, 1e-4) << name;
    auto ma = read_jsonl(dir_.file("ranks4") + "/metrics.jsonl"), mb = read_jsonl(dir_.file(name) + "/metrics.jsonl");
    ASSERT_EQ(ma.size(), mb.size());
    for (size_t i = 0; i < ma.size(); ++i) {
      EXPECT_EQ(ma[i]["val_acc"], mb[i]["val_acc"]) << name << " epoch " << i + 1;
      EXPECT_NEAR(ma[i]["val_loss"].get<double>(), mb[i]["val_loss"].get<double>(), 1e-4) << name;
      EXPECT_NEAR(ma[i]["train_loss"].get<double>(), mb[i]["train_loss"].get<double>(), 1e-4) << name;
    }
  }
}

// SCOUTER_FAULT_HOLD=0:STEP.1 holds rank 0 before its second micro-batch of STEP; SIGTERM comes
// there. The step's remaining micro-batches still run and the run stops at its end (the stop is
// deferred to the accumulation boundary, so a checkpoint never holds a partial gradient): the
// checkpoint is that of STEP + 1 steps, and the resumed run ends with the uninterrupted
// weights, moments and metrics bitwise. Resuming it mid-epoch with other accum_steps is refused.
TEST_F(AccumulationTest, StopInsideAStepCheckpointsItsEndAndResumesExactly) {
  const std::string full = dir_.file("full"), part = dir_.file("part");
  {
    BackgroundCommand a(train(2, 2, full), dir_.file("full.log"));
    ASSERT_EQ(a.wait(300), 0) << a.log();
    EXPECT_NE(a.log().find("4 steps/epoch of 8 x 2 ranks x 2 micro-batches (effective batch 32)"),
              std::string::npos) << a.log();
  }
  const int64_t spe = 4, step = spe + 1;  // epoch 2's second step
  const std::string release = dir_.file("release");
  BackgroundCommand b("env SCOUTER_FAULT_HOLD=0:" + std::to_string(step) + ".1:" + release + " " +
                          train(2, 2, part),
                      dir_.file("part.log"));
  ASSERT_TRUE(testing::wait_for_file(release + ".held", 300)) << b.log();
  EXPECT_NE(read_text_file(release + ".held").find("\nmicro=1\n"), std::string::npos);
  for (int rank : {0, 1})
    for (int pid : testing::rank_pids(part, rank)) kill(pid, SIGTERM);
  EXPECT_EQ(b.wait(120), 3) << b.log();
  EXPECT_NE(b.log().find(str_format("held before step {}, micro-batch 1", step)), std::string::npos) << b.log();
  const std::string stopped = latest_checkpoint(part);
  ASSERT_EQ(stopped, checkpoint_path(part, 1, step - spe + 1)) << b.log();
  EXPECT_EQ(read_checkpoint_info(stopped).state.global_step, step + 1);

  BackgroundCommand refused(train(2, 1, part, "--resume true"), dir_.file("refused.log"));
  EXPECT_NE(refused.wait(120), 0) << refused.log();
  EXPECT_NE(refused.log().find("stopped mid-epoch in a run of 2 ranks x 2 micro-batches; this run has 2 ranks"),
            std::string::npos) << refused.log();

  BackgroundCommand c(train(2, 2, part, "--resume true"), dir_.file("resume.log"));
  ASSERT_EQ(c.wait(300), 0) << c.log();
  const Tensors a = everything(latest_checkpoint(full)), r = everything(latest_checkpoint(part));
  ASSERT_EQ(a.size(), r.size());
  for (const auto& [name, x] : a) EXPECT_EQ(x, r.at(name)) << name;  // bitwise
  auto ma = read_jsonl(full + "/metrics.jsonl"), mb = read_jsonl(part + "/metrics.jsonl");
  ASSERT_EQ(ma.size(), 2u);
  ASSERT_EQ(mb.size(), 2u);
  for (size_t i = 0; i < ma.size(); ++i)
    for (const char* key : {"train_loss", "train_acc", "val_loss", "val_acc", "val_area"})
      EXPECT_EQ(ma[i][key], mb[i][key]) << "epoch " << i + 1 << " " << key;
}

}  // namespace
}  // namespace scouter
