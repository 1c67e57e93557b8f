#include "worker/train/trainer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <numeric>
#include <regex>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/files.h"
#include "common/h5.h"
#include "common/log.h"
#include "common/metrics_log.h"
#include "test_util.h"
#include "worker/explain/explain.h"
#include "worker/model/backbone.h"
#include "worker/run/checkpoint.h"
#include "worker/fixture_tensors.h"
#include "worker/toy_data.h"

namespace scouter {
namespace {

using testing::TempDir;
using testing::toy_config;

class TrainerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    data_ = new TempDir;
    testing::write_toy_shards(data_->path(), 2048, 256);
    small_ = new TempDir;
    testing::write_toy_shards(small_->path(), 512, 64);
  }
  static void TearDownTestSuite() {
    delete data_;
    delete small_;
  }
  static TempDir* data_;
  static TempDir* small_;  // for the tests of what a run does, not of how well it learns
  TempDir out_;
};
TempDir* TrainerTest::data_ = nullptr;
TempDir* TrainerTest::small_ = nullptr;


// Runs `cfg` with each seed in turn (output in OUT_DIR/seed<N>) and returns the folders of the
// runs that reach `threshold` validation accuracy; stops once `needed` have (the seeds left
// cannot change "at least `needed`").
std::vector<std::string> runs_reaching(Config cfg, const std::vector<int64_t>& seeds,
                                       double threshold, size_t needed, const std::string& out_dir) {
  std::vector<std::string> good;
  for (int64_t seed : seeds) {
    if (good.size() >= needed) break;
    cfg.seed = seed;
    cfg.output_dir = out_dir + "/seed" + std::to_string(seed);
    if (train_run(cfg).final_val_acc >= threshold) good.push_back(cfg.output_dir);
  }
  return good;
}

// Where an epoch's time went (the log's epoch line, metrics.jsonl, summary.json's epoch_times):
// every part is there, none is negative, the wait for data is part of the steps, and the parts
// fit in the epoch. How long anything took is not checked.
void expect_epoch_times_consistent(const std::string& log, const std::vector<nlohmann::json>& metrics,
                                   const nlohmann::json& summary) {
  double steps = 0, wait = 0;
  for (const auto& m : metrics) {
    const double train_s = m.at("train_time_s").get<double>(), wait_s = m.at("data_wait_s").get<double>();
    EXPECT_GE(wait_s, 0) << m;
    EXPECT_LE(wait_s, train_s) << m;
    EXPECT_GE(m.at("eval_time_s").get<double>(), 0) << m;
    steps += train_s;
    wait += wait_s;
  }
  const nlohmann::json& t = summary.at("epoch_times");
  for (const char* key : {"epochs_s", "steps_s", "data_wait_s", "val_s", "checkpoint_s"})
    EXPECT_GE(t.at(key).get<double>(), 0) << key << ": " << t;
  EXPECT_NEAR(t.at("steps_s").get<double>(), steps, 1e-9) << t;
  EXPECT_NEAR(t.at("data_wait_s").get<double>(), wait, 1e-9) << t;
  EXPECT_LE(t.at("data_wait_s").get<double>(), t.at("steps_s").get<double>()) << t;
  EXPECT_LE(t.at("steps_s").get<double>() + t.at("val_s").get<double>() + t.at("checkpoint_s").get<double>(),
            t.at("epochs_s").get<double>()) << t;
  EXPECT_LE(t.at("epochs_s").get<double>(), summary.at("total_seconds").get<double>()) << t;
  // Each epoch's line: the same parts, rounded to 0.1 s.
  const std::regex line(R"(epoch (\d+)/\d+: .* img/s, lr \S+ \| time ([0-9.]+) s: steps ([0-9.]+) s )"
                        R"(\(waiting for data ([0-9.]+) s\), val ([0-9.]+) s, checkpoint ([0-9.]+) s)");
  size_t lines = 0;
  for (auto it = std::sregex_iterator(log.begin(), log.end(), line); it != std::sregex_iterator(); ++it) {
    const std::smatch& m = *it;
    const double epoch = std::stod(m[2]), steps_s = std::stod(m[3]), wait_s = std::stod(m[4]);
    EXPECT_EQ(std::stoul(m[1]), ++lines) << m[0];
    EXPECT_LE(wait_s, steps_s) << m[0];
    EXPECT_LE(steps_s + std::stod(m[5]) + std::stod(m[6]), epoch + 0.15) << m[0];  // 3 roundings
  }
  EXPECT_EQ(lines, metrics.size()) << log;
}

// Where trained SCOUTER runs' attention puts the true class among the classes, over the first
// `images` validation images of each run in `runs`, pooled. A class's attention mass is the sum of
// its map in RUN/explain/maps.h5 (the last iteration's attention, summed over the class's slots),
// which does not depend on loss_status's sign: SCOUTER+ should give the true class the most,
// SCOUTER- the least (its maps say "why not class c": docs/model.md).
struct TrueClassAttention {
  double least = 0, most = 0;  // fraction of the images where the true class has the least / most
  double ratio = 0;  // mean over images of true-class mass / mean mass of the other classes
};

TrueClassAttention true_class_attention(const std::vector<std::string>& runs, int64_t images) {
  TrueClassAttention a;
  size_t total = 0;
  for (const std::string& run : runs) {
    ExplainOptions opt;
    opt.images = images;
    opt.pictures = 0;
    opt.metrics = false;
    run_explain(run, opt, Config{}, {});
    h5::Handle f = h5::open_file(run + "/explain/maps.h5");
    const auto maps = h5::read<float>(f.get(), "slot");
    const auto labels = h5::read<int64_t>(f.get(), "labels");
    const auto dims = h5::dataset_info(f.get(), "slot").dims;  // n x T x h x w, T: every class
    const size_t n = dims[0], classes = dims[1], hw = dims[2] * dims[3];
    for (size_t i = 0; i < n; ++i) {
      std::vector<double> mass(classes, 0.0);
      for (size_t t = 0; t < classes; ++t)
        for (size_t p = 0; p < hw; ++p) mass[t] += maps[(i * classes + t) * hw + p];
      const auto label = static_cast<size_t>(labels[i]);
      const auto [lo, hi] = std::minmax_element(mass.begin(), mass.end());
      a.least += static_cast<size_t>(lo - mass.begin()) == label;
      a.most += static_cast<size_t>(hi - mass.begin()) == label;
      const double others = (std::accumulate(mass.begin(), mass.end(), 0.0) - mass[label]) /
                            static_cast<double>(classes - 1);
      a.ratio += mass[label] / others;
    }
    total += n;
  }
  a.least /= static_cast<double>(total);
  a.most /= static_cast<double>(total);
  a.ratio /= static_cast<double>(total);
  std::printf("true class: least %.3f, most %.3f, mass ratio %.3f (%zu runs)\n", a.least, a.most,
              a.ratio, runs.size());
  return a;
}

// The SCOUTER+ run of ScouterPlusLearnsTheToyTask: two slots per class, 6 epochs, lr 3e-4.
Config scouter_plus(const std::string& data) {
  Config c = toy_config(data, "");
  c.slots_per_class = 2;
  c.epochs = 6;
  c.lr = 3e-4;
  return c;
}

// The published MNIST SCOUTER- head: two slots per class, power 2, batch 64, lr 1e-4.
Config scouter_minus(const std::string& data) {
  Config c = toy_config(data, "");
  c.loss_status = -1;
  c.slots_per_class = 2;
  c.power = 2;
  c.batch_size = 64;
  c.lr = 1e-4;
  c.epochs = 6;
  return c;
}

TEST_F(TrainerTest, FcLearnsTheToyTaskAndRecordsEveryEpoch) {
  init_logging(0, "info");
  Config c = toy_config(data_->path(), out_.file("fc"));
  c.use_slot = false;
  ::testing::internal::CaptureStderr();
  TrainResult r = train_run(c);
  log::flush();
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_GE(r.final_val_acc, 0.95);  // chance is 25%
  EXPECT_EQ(r.epochs_run, 3);
  auto metrics = read_jsonl(c.output_dir + "/metrics.jsonl");
  ASSERT_EQ(metrics.size(), 3u);
  for (const char* key : {"train_loss", "train_nll", "train_attn", "val_acc", "images_per_s"})
    EXPECT_TRUE(metrics[2].contains(key)) << key;
  EXPECT_EQ(metrics[2]["val_count"].get<int64_t>(), 256);
  ASSERT_TRUE(file_exists(c.output_dir + "/summary.json"));
  EXPECT_TRUE(file_exists(c.output_dir + "/config.toml"));
  expect_epoch_times_consistent(log, metrics,
                                nlohmann::json::parse(read_text_file(c.output_dir + "/summary.json")));
}

// SCOUTER trains less reliably than an FC head: as published, a class whose slot's attention
// saturates near zero early can stay dead. So each test trains seeds in turn until 2 have reached
// 95% validation accuracy (chance 25%); a broken model (wrong normalisation, no gradient into the
// slots) reaches it with none. Measured (these configs; seeds reaching 95% of those trained):
//   first machine, before 2026-12-07: SCOUTER+ 6 of 8 (the 2 others stall at 63-75%; with one
//     slot per class 5 of 8), SCOUTER- 8 of 8
//   2026-12-07, AMD EPYC with AVX-512 (the tests' configs and true_class_attention in a temporary
//     gtest, seeds 1-8 and 1-6): SCOUTER+ 8 of 8, SCOUTER- 6 of 6
//   the same with ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 OPENBLAS_CORETYPE=Haswell (as
//     fixture_tests_isa_avx2), seeds 1-6: SCOUTER+ 4 of 6 (seeds 2 and 3 stall at 75%: seeds
//     1-4, the list before, gave exactly the 2 needed), SCOUTER- 6 of 6
// Margin: at SCOUTER+'s worst rate seen (4 of 6), fewer than 2 of 7 seeds reach 95% with
// probability 0.7% (of 5: 4.5%; of 4, as before: 11%); SCOUTER- reached with all 20 runs, and
// gets 5 seeds for its 2 (of 3 before). The seeds after the second success are not
// trained, so spare ones cost nothing where the first seeds succeed.
// Which SCOUTER was trained is told by where the attention goes, not by accuracy: the SCOUTER-
// config trained with loss_status = +1 learns the task too (val acc 0.996 and 1.0, seeds 1, 2).
// Per run, over 64 validation images: the true class's attention mass over the mean of the
// other classes' (averaged over images), and the share of images where the true class has the
// most / the least mass; on every 2026-12-07 run above (AVX-512 and AVX2 alike), learned or not:
//   SCOUTER+  ratio 9.5-64, except 1.14 (seed 3, AVX-512); most 0.64-1.0, least 0-0.03
//   SCOUTER-  ratio 0.25-0.87; least 0.44-1.0, most 0-0.25
//   SCOUTER- config, loss_status = +1 (seeds 1, 2, AVX-512: the runs this test would check):
//             ratio 2.33 and 1.41; least 0 and 0, most 1.0 and 0.72
// So the tests ask, pooled over the two runs that learned, for the ratio on its side of 1 (no
// preference; the worst SCOUTER- run is 0.13 inside it, the flipped sign 0.41 beyond it) and for
// the true class to be the extreme of its side more often than of the other (every run above).
TEST_F(TrainerTest, ScouterPlusLearnsTheToyTask) {
  const Config c = scouter_plus(data_->path());
  const auto good = runs_reaching(c, {1, 2, 3, 4, 5, 6, 7}, 0.95, 2, out_.path());
  ASSERT_GE(good.size(), 2u);
  auto metrics = read_jsonl(out_.file("seed1/metrics.jsonl"));
  ASSERT_EQ(metrics.size(), 6u);
  const auto& last = metrics.back();
  EXPECT_NEAR(last["train_loss"].get<double>(),
              last["train_nll"].get<double>() + last["train_attn"].get<double>(), 1e-6);
  EXPECT_GT(last["val_area"].get<double>(), 0.0);
  const TrueClassAttention a = true_class_attention(good, 64);
  EXPECT_GT(a.ratio, 1.0) << "SCOUTER+ must give the true class more attention than the others";
  EXPECT_GT(a.most, a.least);
}

TEST_F(TrainerTest, ScouterMinusLearnsTheToyTask) {
  const Config c = scouter_minus(data_->path());
  const auto good = runs_reaching(c, {1, 2, 3, 4, 5}, 0.95, 2, out_.path());
  ASSERT_GE(good.size(), 2u);
  const TrueClassAttention a = true_class_attention(good, 64);
  EXPECT_LT(a.ratio, 1.0) << "SCOUTER- must give the true class less attention than the others";
  EXPECT_GT(a.least, a.most);
}

// precision = "bf16" on the CPU (worker/run/device.h): the backbone's convolutions in bfloat16
// under autocast on channels_last tensors, the head and loss in float32. The FC run of the test
// above, once in each precision from the same seed: both learn the task, and bf16 ends where fp32
// does. The "steps:" line of each run's log must name what ran, so a bf16 run that silently
// computed in fp32 fails here (on a CPU without bf16 hardware bf16 is emulated: measured below
// with oneDNN capped at AVX512_CORE).
// Measured (`scouter train` with this config; 2026-12-07, AMD EPYC Zen 4 with AVX512-BF16;
// seeds 7 (the test's), 1, 2, 3, 4 as is and with ATEN_CPU_CAPABILITY=default, seeds 7, 1, 2 with
// ATEN_CPU_CAPABILITY=avx2, seeds 7, 1 with ONEDNN_MAX_CPU_ISA=AVX512_CORE, where oneDNN emulates
// bf16 as on a CPU with AVX-512 but without BF16): val accuracy 1.0 in both precisions in all 15
// pairs; final val loss 0.0135-0.0161 in fp32 over the seeds, bf16 within 1.7% of fp32's on the
// same seed. So the accuracy may differ by 0.02 (5 of 256 images; the threshold leaves 0.05) and
// the val loss by 25% of fp32's: well above what bf16 rounding did (1.7%) and above fp32's own
// spread over seeds (19%), so what fails is a bf16 run that learns worse than any fp32 seed. (With ONEDNN_MAX_CPU_ISA below AVX512_CORE, as in the fixture_tests_isa_* runs,
// bf16 does not run at all on an AVX-512 CPU: docs/training.md#precision.)
TEST_F(TrainerTest, Bf16OnTheCpuLearnsTheToyTaskAsFp32Does) {
  init_logging(0, "info");
  struct Run {
    double acc, val_loss;
    std::string steps;  // the log's "steps: ..." line
  };
  auto train = [&](const std::string& precision) {
    Config c = toy_config(data_->path(), out_.file(precision));
    c.use_slot = false;
    c.precision = precision;
    ::testing::internal::CaptureStderr();
    TrainResult r = train_run(c);
    log::flush();
    const std::string log = ::testing::internal::GetCapturedStderr();
    const auto metrics = read_jsonl(c.output_dir + "/metrics.jsonl");
    return Run{r.final_val_acc, metrics.back()["val_loss"].get<double>(), testing::line_with(log, "steps: ")};
  };
  const Run fp32 = train("fp32"), bf16 = train("bf16");
  EXPECT_GE(fp32.acc, 0.95);
  EXPECT_GE(bf16.acc, 0.95);
  EXPECT_NEAR(bf16.acc, fp32.acc, 0.02);
  EXPECT_NEAR(bf16.val_loss, fp32.val_loss, 0.25 * fp32.val_loss);
  EXPECT_NE(fp32.steps.find(", fp32 (precision = fp32)"), std::string::npos) << fp32.steps;
  EXPECT_EQ(fp32.steps.find("channels_last"), std::string::npos) << fp32.steps;
  EXPECT_NE(bf16.steps.find(", channels_last, bf16 autocast (precision = bf16"), std::string::npos)
      << bf16.steps;
}

TEST_F(TrainerTest, ResumedRunEndsWithTheSameWeights) {
  Config full = toy_config(small_->path(), out_.file("full"));
  full.aug = true;  // augmentation randomness must resume exactly too
  full.epochs = 2;
  train_run(full);

  Config part = full;
  part.output_dir = out_.file("part");
  part.epochs = 1;
  train_run(part);
  part.epochs = 2;
  part.resume = true;
  TrainResult r = train_run(part);
  EXPECT_EQ(r.epochs_run, 1);

  auto a = testing::checkpoint_weights(latest_checkpoint(full.output_dir));
  auto b = testing::checkpoint_weights(latest_checkpoint(part.output_dir));
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, w] : a) EXPECT_EQ(w, b.at(name)) << name;  // bitwise
  EXPECT_EQ(read_jsonl(part.output_dir + "/metrics.jsonl").size(), 2u);
}

TEST_F(TrainerTest, RefusesToOverwriteAndSkipsFinishedRuns) {
  Config c = toy_config(small_->path(), out_.file("once"));
  c.epochs = 1;
  train_run(c);
  EXPECT_THROW(train_run(c), UserError);
  c.resume = true;
  TrainResult again = train_run(c);
  EXPECT_TRUE(again.already_complete);
  EXPECT_EQ(again.epochs_run, 0);
}

// pre_checkpoint is left empty: the baseline is found as the FC run beside output_dir.
TEST_F(TrainerTest, UsePreStartsFromTheBaselineAndFreezesItsStem) {
  Config fc = toy_config(small_->path(), out_.file("fc"));
  fc.use_slot = false;
  fc.epochs = 1;
  train_run(fc);
  Config pos = toy_config(small_->path(), out_.file("pos"));
  pos.epochs = 1;
  pos.lr = 3e-4;
  pos.use_pre = true;
  pos.freeze_layers = 2;  // stem, layer1 and layer2 stay as the baseline left them
  train_run(pos);
  auto base = testing::checkpoint_weights(latest_checkpoint(fc.output_dir));
  auto slot = testing::checkpoint_weights(latest_checkpoint(pos.output_dir));
  for (const char* name : {"backbone.conv1.weight", "backbone.layer1.0.conv.weight",
                           "backbone.layer2.0.conv.weight"})
    EXPECT_EQ(base.at(name), slot.at(name)) << name;
  EXPECT_NE(base.at("backbone.layer4.0.conv.weight"), slot.at("backbone.layer4.0.conv.weight"));
}

// `pretrained` weights (a torch.save state_dict of 10 classes: its fc is dropped) are loaded
// before training; freeze_layers keeps the stem, layer1 and layer2 as loaded, and the optimizer
// never holds them (the checkpoint has AdamW state only for trained parameters).
TEST_F(TrainerTest, PretrainedWeightsAreLoadedAndFrozen) {
  Config c = toy_config(small_->path(), out_.file("pre"));
  c.epochs = 1;
  c.pretrained = testing::fixtures_dir() + "/pretrained/smallcnn_state_dict.pth";
  c.freeze_layers = 2;
  train_run(c);
  const std::string ckpt = latest_checkpoint(c.output_dir);
  auto w = testing::checkpoint_weights(ckpt);
  auto bb = make_backbone("smallcnn", 1, 0);
  auto params = bb->named_parameters();
  for (const char* name : {"conv1.weight", "bn1.bias", "layer1.0.conv.weight", "layer2.0.bn.weight",
                           "layer3.0.conv.weight", "layer4.0.conv.weight"}) {
    torch::Tensor loaded = testing::deterministic_value(name, params[name].sizes().vec()).flatten();
    std::vector<float> expected(loaded.data_ptr<float>(), loaded.data_ptr<float>() + loaded.numel());
    const bool frozen = std::string(name).rfind("layer3", 0) != 0 && std::string(name).rfind("layer4", 0) != 0;
    if (frozen) EXPECT_EQ(w.at(std::string("backbone.") + name), expected) << name;
    else EXPECT_NE(w.at(std::string("backbone.") + name), expected) << name;  // loaded, then trained
  }
  auto file = h5::open_file(ckpt);
  auto opt = h5::open_group(file.get(), "optimizer");
  for (const char* name : {"backbone.conv1.weight", "backbone.bn1.weight", "backbone.layer2.0.conv.weight"})
    EXPECT_FALSE(h5::exists(opt.get(), name)) << name;
  for (const char* name : {"backbone.layer3.0.conv.weight", "backbone.layer4.0.bn.bias", "slot.gru.weight_ih_l0"})
    EXPECT_TRUE(h5::exists(opt.get(), name)) << name;
}

TEST_F(TrainerTest, NumClassesAboveTheDatasetIsRefused) {
  Config c = toy_config(data_->path(), out_.file("x"));
  c.num_classes = 10;
  try {
    train_run(c);
    FAIL() << "trained with 10 classes on a 4-class dataset";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("has 4 classes"), std::string::npos) << e.what();
  }
  // Refused at the data step: the run folder it made is gone again, its lock with it.
  EXPECT_FALSE(file_exists(out_.file("x")));
}

// A refused run leaves nothing it created: not a new folder (refused by the data), and in a
// folder that was there before, only what was there (refused as another run's folder).
TEST_F(TrainerTest, ARefusedRunLeavesNothingItCreated) {
  Config c = toy_config(small_->path(), out_.file("nested/new"));
  c.dataset_dir = out_.file("no-such-data");
  EXPECT_THROW(train_run(c), UserError);
  EXPECT_FALSE(file_exists(out_.file("nested")));

  ensure_dir(out_.file("mine"));
  testing::write_bytes(out_.file("mine/notes.txt"), "the user's\n");
  c.output_dir = out_.file("mine");
  EXPECT_THROW(train_run(c), UserError);
  EXPECT_EQ(read_text_file(out_.file("mine/notes.txt")), "the user's\n");
}

}  // namespace
}  // namespace scouter
