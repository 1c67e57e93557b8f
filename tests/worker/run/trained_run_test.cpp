// Opening a trained run (worker/run/trained_run.h): one checkpoint rule for every command that
// reads a run (the newest that verifies), one error when there is none, the command line's keys
// on top of the stored config, the refusal checks, and the model with the checkpoint's weights.
#include <gtest/gtest.h>

#include "common/error.h"
#include "common/files.h"
#include "test_util.h"
#include "worker/run/checkpoint.h"
#include "worker/run/trained_run.h"
#include "worker/toy_data.h"

namespace scouter {
namespace {

using testing::TempDir;

class TrainedRunTest : public ::testing::Test {
 protected:
  // Epochs 1..3 of a toy run, each with its own weights; epoch 3 cut short (complete marker
  // kept), as a failing disk or a copy that stopped would leave it.
  void SetUp() override {
    testing::write_toy_shards(data_.path(), 64, 32);
    cfg_ = testing::toy_config(data_.path(), run_.path());
    for (int64_t e = 1; e <= 3; ++e) {
      torch::manual_seed(static_cast<uint64_t>(e));
      ScouterModel m(cfg_, 1);
      TrainState st;
      st.epoch = e;
      save_checkpoint(checkpoint_path(run_.path(), e), *m, nullptr, st, cfg_);
      mark_complete(checkpoint_path(run_.path(), e));
      if (e == 2) epoch2_ = m;
    }
    const std::string third = checkpoint_path(run_.path(), 3);
    testing::write_bytes(third, read_text_file(third).substr(0, 3000));
  }

  TempDir data_, run_;
  Config cfg_;
  ScouterModel epoch2_{nullptr};
};

TEST_F(TrainedRunTest, EveryCommandReadsTheNewestCheckpointThatVerifies) {
  ASSERT_EQ(latest_checkpoint(run_.path()), checkpoint_path(run_.path(), 3));
  for (const char* command : {"evaluate", "explain", "vis", "export"}) {
    TrainedRun run = read_trained_run(run_.path(), command);
    EXPECT_EQ(run.ckpt, checkpoint_path(run_.path(), 2)) << command;
    EXPECT_EQ(run.info.state.epoch, 2) << command;
    EXPECT_EQ(run.cfg.num_classes, cfg_.num_classes) << command;
  }
}

TEST_F(TrainedRunTest, LoadsTheModelOfThatCheckpointWithTheCommandLineOnTop) {
  Config request;
  request.eval_batch_size = 7;
  Origins origins{{"eval_batch_size", "--eval_batch_size"}};
  LoadOptions load;
  load.command = "explain";
  LoadedRun loaded(run_.path(), request, origins, load);
  EXPECT_EQ(loaded.run.ckpt, checkpoint_path(run_.path(), 2));
  EXPECT_EQ(loaded.cfg().eval_batch_size, 7);
  EXPECT_EQ(loaded.cfg().output_dir, run_.path());
  EXPECT_EQ(loaded.device, torch::Device(torch::kCPU));
  EXPECT_EQ(loaded.meta().channels, 1);
  ASSERT_TRUE(loaded.loader);
  EXPECT_FALSE(loaded.model->is_training());
  auto want = epoch2_->named_parameters();
  for (const auto& p : loaded.model->named_parameters())
    EXPECT_TRUE(torch::equal(p.value(), want[p.key()])) << p.key();
}

TEST_F(TrainedRunTest, NoCheckpointThatVerifiesIsOneErrorNamingTheCommand) {
  for (int64_t e = 1; e <= 2; ++e) {
    const std::string path = checkpoint_path(run_.path(), e);
    testing::write_bytes(path, read_text_file(path).substr(0, 3000));
  }
  std::string msg = testing::user_error_message([&] { read_trained_run(run_.path(), "vis"); });
  EXPECT_NE(msg.find("vis: no checkpoint in '" + run_.path() + "/checkpoints'"), std::string::npos)
      << msg;
  TempDir empty;
  msg = testing::user_error_message([&] { read_trained_run(empty.path(), "export"); });
  EXPECT_NE(msg.find("export: no checkpoint in"), std::string::npos) << msg;
}

TEST_F(TrainedRunTest, RefusesWhatWouldChangeTheModelOrItsInput) {
  LoadOptions load;
  load.command = "vis";
  Config request;
  request.img_size = 56;
  std::string msg = testing::user_error_message([&] {
    LoadedRun(run_.path(), request, {{"img_size", "--img_size"}}, load);
  });
  EXPECT_NE(msg.find("the run was trained at img_size = 0 (the stored size, 28 px)"),
            std::string::npos)
      << msg;
  request.hidden_dim = 32;
  msg = testing::user_error_message([&] {
    LoadedRun(run_.path(), request, {{"hidden_dim", "--hidden_dim"}}, load);
  });
  EXPECT_NE(msg.find("'hidden_dim' is fixed by the trained run"), std::string::npos) << msg;
}

}  // namespace
}  // namespace scouter
