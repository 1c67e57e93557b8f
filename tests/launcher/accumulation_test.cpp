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
    // 256 training images: 256 / (ranks x accum_steps x 8) steps an epoch.
    testing::write_toy_shards(data_->path(), 256, 64, 1, 64);
  }
  static void TearDownTestSuite() { delete data_; }

  std::string train(int ranks, int64_t accum, const std::string& out, const std::string& extra = "") const {
    return testing::mpirun() + " -np " + std::to_string(ranks) + " " + testing::scouter_bin() +
           " train --model smallcnn --num_classes 4 --img_size 28 --batch_size 8 --threads 1 --lr " +
           str_format("{}", kLr) + " --slots_per_class 2 --aug true --accum_steps " +
           std::to_string(accum) + " --dataset_dir " + data_->path() + " --output_dir " + out + " " + extra;
  }
  // Trains to the end; the final checkpoint.
  std::string trained(int ranks, int64_t accum, const std::string& name, const std::string& extra) {
    const std::string out = dir_.file(name);
    BackgroundCommand job(train(ranks, accum, out, extra), dir_.file(name + ".log"));
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

// Two micro-batches on one rank sum the same two gradients that two ranks' allreduce sums (one
// IEEE addition, which is commutative) and divide alike: bitwise the 2-rank run, BatchNorm
// buffers, AdamW's moments and the validation figures included.
TEST_F(AccumulationTest, TwoMicroBatchesOnOneRankAreTwoRanksBitwise) {
  const std::string ranks = trained(2, 1, "ranks2", "--epochs 2"), accum = trained(1, 2, "accum2", "--epochs 2");
  ASSERT_EQ(ranks, checkpoint_path(dir_.file("ranks2"), 2));
  ASSERT_EQ(accum, checkpoint_path(dir_.file("accum2"), 2));
  const Tensors a = everything(ranks), b = everything(accum);
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, x] : a) EXPECT_EQ(x, b.at(name)) << name;
  EXPECT_EQ(read_checkpoint_info(ranks).state.global_step, 2 * 256 / 16);  // steps of 2 x 8 images
  EXPECT_EQ(read_checkpoint_info(accum).state.global_step, 2 * 256 / 16);
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

// Four micro-batches, one epoch (8 steps of 32 images): 1 rank x 4 and 2 ranks x 2 against
// 4 ranks x 1. Only the order of each step's gradient sum differs: (g0 + g1) + (g2 + g3) for 4
// ranks (Open MPI's allreduce) and for 2 x 2, ((g0 + g1) + g2) + g3 on one rank. That is a few
// float32 roundings (~1e-7 relative) in a step's gradient, which the following steps carry on
// and amplify (AdamW divides by sqrt(v), BatchNorm renormalises), but which stay far below one
// AdamW step, about lr per element. Tolerances: every parameter and BatchNorm buffer within
// lr / 10 (measured: 3.6e-7 = 0.0012 lr for 1 x 4, 0 for 2 x 2), and each tensor of AdamW's
// first moments and of the BatchNorm buffers within 1e-3 of its largest element (measured:
// 1.2e-6). What they catch is shown by a control: the same 1 x 4 run with another sample order
// (shuffle_block 8), everything else equal, must exceed the first (it differed by 0.18).
TEST_F(AccumulationTest, FourMicroBatchesMatchFourRanksWithinRounding) {
  const Tensors ref = everything(trained(4, 1, "ranks4", "--epochs 1"));
  auto compare = [&](const Tensors& got, const std::string& name) {
    EXPECT_EQ(ref.size(), got.size()) << name;
    const double dw = max_difference(ref, got, is_weight);
    double worst_relative = 0;  // moments and buffers, per tensor relative to its largest element
    std::string worst;
    for (const auto& [tensor, x] : ref) {
      if (is_weight(tensor) && tensor.find("running_") == std::string::npos) continue;
      if (tensor.find("/exp_avg_sq") != std::string::npos) continue;  // second moments follow
      double scale = 0, diff = 0;
      for (size_t i = 0; i < x.size(); ++i) {
        scale = std::max(scale, std::abs(static_cast<double>(x[i])));
        diff = std::max(diff, std::abs(static_cast<double>(x[i]) - got.at(tensor)[i]));
      }
      if (scale > 0 && diff / scale > worst_relative) worst_relative = diff / scale, worst = tensor;
    }
    std::printf("%s vs 4 ranks x 1: max |difference| of parameters and buffers %.3g (%.3g lr); max relative "
                "difference of moments and BatchNorm buffers %.3g (%s)\n",
                name.c_str(), dw, dw / kLr, worst_relative, worst.c_str());
    return std::pair<double, double>{dw, worst_relative};
  };
  for (const auto& [ranks, accum] : {std::pair<int, int64_t>{1, 4}, std::pair<int, int64_t>{2, 2}}) {
    const std::string name = str_format("{} rank(s) x {}", ranks, accum);
    const std::string dir = str_format("r{}k{}", ranks, accum);
    const auto [dw, dr] = compare(everything(trained(ranks, accum, dir, "--epochs 1")), name);
    EXPECT_LT(dw, kLr / 10) << name;
    EXPECT_LT(dr, 1e-3) << name;
    auto ma = read_jsonl(dir_.file("ranks4") + "/metrics.jsonl"), mb = read_jsonl(dir_.file(dir) + "/metrics.jsonl");
    ASSERT_EQ(ma.size(), 1u);
    ASSERT_EQ(mb.size(), 1u);
    EXPECT_EQ(ma[0]["val_acc"], mb[0]["val_acc"]) << name;
    EXPECT_NEAR(ma[0]["val_loss"].get<double>(), mb[0]["val_loss"].get<double>(), 1e-4) << name;
    EXPECT_NEAR(ma[0]["train_loss"].get<double>(), mb[0]["train_loss"].get<double>(), 1e-4) << name;
  }
  const auto [dw, dr] = compare(everything(trained(1, 4, "reordered", "--epochs 1 --shuffle_block 8")),
                                "control: 1 rank x 4, another sample order,");
  EXPECT_GT(dw, kLr / 10) << "the tolerance would not see a different sample order";
}

// SCOUTER_FAULT_HOLD=0:STEP.1 holds rank 0 before its second micro-batch of STEP; SIGTERM comes
// there. The step's remaining micro-batches still run and the run stops at its end (the stop is
// deferred to the accumulation boundary, so a checkpoint never holds a partial gradient): the
// checkpoint is that of STEP + 1 steps, and the resumed run ends with the uninterrupted
// weights, moments and metrics bitwise. Resuming it mid-epoch with other accum_steps is refused.
TEST_F(AccumulationTest, StopInsideAStepCheckpointsItsEndAndResumesExactly) {
  const std::string full = dir_.file("full"), part = dir_.file("part");
  {
    BackgroundCommand a(train(2, 2, full, "--epochs 2"), dir_.file("full.log"));
    ASSERT_EQ(a.wait(300), 0) << a.log();
    EXPECT_NE(a.log().find("8 steps/epoch of 8 x 2 ranks x 2 micro-batches (effective batch 32)"),
              std::string::npos) << a.log();
  }
  const int64_t spe = 256 / 32, step = spe + 1;  // epoch 2's second step
  const std::string release = dir_.file("release");
  BackgroundCommand b("env SCOUTER_FAULT_HOLD=0:" + std::to_string(step) + ".1:" + release + " " +
                          train(2, 2, part, "--epochs 2"),
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

  BackgroundCommand refused(train(2, 1, part, "--epochs 2 --resume true"), dir_.file("refused.log"));
  EXPECT_NE(refused.wait(120), 0) << refused.log();
  EXPECT_NE(refused.log().find("stopped mid-epoch in a run of 2 ranks x 2 micro-batches; this run has 2 ranks"),
            std::string::npos) << refused.log();

  BackgroundCommand c(train(2, 2, part, "--epochs 2 --resume true"), dir_.file("resume.log"));
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
