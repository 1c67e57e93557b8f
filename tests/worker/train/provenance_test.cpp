// provenance.json of real (tiny) training runs (worker/train/provenance.h): every field present,
// and those a test can know checked against what it computes itself: the weights' SHA-256 by
// sha256sum, the data fingerprint from the shard files in the folder, the host name; a resumed
// run appends an attempt and keeps the first.
#include "worker/train/provenance.h"

#include <gtest/gtest.h>
#include <torch/version.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/files.h"
#include "common/version.h"
#include "datasets/shard_fingerprint.h"
#include "datasets/shard_format.h"
#include "test_util.h"
#include "worker/run/checkpoint.h"
#include "worker/toy_data.h"
#include "worker/train/trainer.h"

namespace scouter {
namespace {

using nlohmann::json;
using testing::TempDir;

json read_provenance_file(const std::string& run) {
  return json::parse(read_text_file(run + "/provenance.json"));
}

// sha256sum's digest of a file: another program than the code under test.
std::string sha256sum(const std::string& path) {
  auto r = testing::run_command("sha256sum " + path);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return r.output.substr(0, 64);
}

// The shard files of a split as the folder holds them.
std::vector<std::string> split_files(const std::string& dir, const std::string& split) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    int64_t index = 0, count = 0;
    if (parse_shard_name(e.path().filename().string(), split, &index, &count))
      out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string hostname() {
  char buf[256] = {};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

class ProvenanceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    data_ = new TempDir;
    testing::write_toy_shards(data_->path(), 256, 64, /*seed=*/1, /*shard_size=*/128);
  }
  static void TearDownTestSuite() { delete data_; }
  Config tiny(const std::string& name) const {
    Config c = testing::toy_config(data_->path(), out_.file(name));
    c.epochs = 1;
    return c;
  }
  static TempDir* data_;
  TempDir out_;
};
TempDir* ProvenanceTest::data_ = nullptr;

TEST_F(ProvenanceTest, TrainingRecordsEveryField) {
  Config c = tiny("pos");
  c.pretrained = testing::fixtures_dir() + "/pretrained/smallcnn_mixed.safetensors";
  train_run(c);
  json doc = read_provenance_file(c.output_dir);
  EXPECT_EQ(doc["format"], "scouter-provenance");
  EXPECT_EQ(doc["format_version"], 1);
  ASSERT_EQ(doc["attempts"].size(), 1u);
  const json& a = doc["attempts"][0];
  for (const char* key :
       {"command", "started", "resumed_from", "epochs_done", "scouter_version", "scouter_commit",
        "scouter_dirty", "compiler", "libtorch", "cuda_runtime", "cudnn", "nccl", "mpi", "device",
        "world_size", "hosts", "dataset", "dataset_dir", "data_fingerprint", "pretrained",
        "pretrained_sha256", "pre_checkpoint", "pre_checkpoint_sha256"})
    EXPECT_TRUE(a.contains(key)) << key;
  EXPECT_EQ(a["command"], "train");
  EXPECT_TRUE(a["resumed_from"].is_null());
  EXPECT_EQ(a["epochs_done"], 0);
  EXPECT_EQ(a["scouter_version"], SCOUTER_VERSION);
  EXPECT_EQ(a["scouter_commit"], SCOUTER_GIT_VERSION);
  EXPECT_EQ(a["scouter_dirty"], std::string(SCOUTER_GIT_VERSION).find("-dirty") != std::string::npos);
  EXPECT_EQ(a["libtorch"], TORCH_VERSION);
#ifndef SCOUTER_HAVE_NCCL
  EXPECT_EQ(a["cuda_runtime"], "none");
  EXPECT_EQ(a["nccl"], "none");
#endif
  if (!torch::cuda::is_available()) {
    EXPECT_EQ(a["cudnn"], "none");
  }
  const std::string mpi = a["mpi"];
  EXPECT_TRUE(mpi.find("Open MPI") != std::string::npos || mpi.find("MPICH") != std::string::npos)
      << mpi;
  EXPECT_EQ(mpi.find('\n'), std::string::npos);
  EXPECT_EQ(a["device"], "cpu");
  EXPECT_EQ(a["world_size"], 1);
  EXPECT_EQ(a["hosts"], json({{hostname(), 1}}));
  EXPECT_EQ(a["dataset"], "MNIST");
  EXPECT_EQ(a["dataset_dir"], data_->path());
  // The fingerprint of every shard file of both splits in the folder.
  DataFingerprint f = data_fingerprint({{"train", split_files(data_->path(), "train")},
                                        {"val", split_files(data_->path(), "val")}});
  EXPECT_EQ(f.files, 3);
  EXPECT_EQ(a["data_fingerprint"]["sha256"], f.sha256);
  EXPECT_EQ(a["data_fingerprint"]["files"], 3);
  EXPECT_EQ(a["data_fingerprint"]["whole_files_hashed"], 0);
  EXPECT_EQ(a["pretrained"], c.pretrained);
  EXPECT_EQ(a["pretrained_sha256"], sha256sum(c.pretrained));
  EXPECT_EQ(a["pre_checkpoint"], "none");
  EXPECT_EQ(a["pre_checkpoint_sha256"], "none");
}

TEST_F(ProvenanceTest, UsePreRecordsTheSourceCheckpointsDigest) {
  Config fc = tiny("fc");
  fc.use_slot = false;
  train_run(fc);
  Config pos = tiny("pos");
  pos.use_pre = true;  // pre_checkpoint empty: the FC run beside it
  train_run(pos);
  const json a = read_provenance_file(pos.output_dir)["attempts"][0];
  const std::string source = latest_checkpoint(fc.output_dir);
  EXPECT_EQ(a["pre_checkpoint"], source);
  EXPECT_EQ(a["pre_checkpoint_sha256"], sha256sum(source));
  EXPECT_EQ(a["pretrained"], "none");
  EXPECT_EQ(a["pretrained_sha256"], "none");
}

TEST_F(ProvenanceTest, ResumeAppendsAnAttemptAndKeepsTheFirst) {
  Config c = tiny("run");
  c.pretrained = testing::fixtures_dir() + "/pretrained/smallcnn_mixed.safetensors";
  train_run(c);
  const json first = read_provenance_file(c.output_dir)["attempts"][0];
  c.epochs = 2;
  c.resume = true;
  train_run(c);
  json doc = read_provenance_file(c.output_dir);
  ASSERT_EQ(doc["attempts"].size(), 2u);
  EXPECT_EQ(doc["attempts"][0], first);
  const json& second = doc["attempts"][1];
  EXPECT_EQ(second["resumed_from"], "epoch-0001.h5");
  EXPECT_EQ(second["epochs_done"], 1);
  EXPECT_EQ(second["data_fingerprint"], first["data_fingerprint"]);
  EXPECT_EQ(second["scouter_commit"], first["scouter_commit"]);
  // Its weights came from the checkpoint, not from the pretrained file.
  EXPECT_FALSE(second.contains("pretrained_sha256"));

  // An already complete run starts nothing, so it records nothing.
  train_run(c);
  EXPECT_EQ(read_provenance_file(c.output_dir)["attempts"].size(), 2u);
}

TEST_F(ProvenanceTest, AnUnreadableRecordIsKeptAsideAndANewOneStarts) {
  Config c = tiny("run");
  train_run(c);
  testing::write_bytes(c.output_dir + "/provenance.json", "{not json");
  c.epochs = 2;
  c.resume = true;
  train_run(c);
  EXPECT_EQ(read_text_file(c.output_dir + "/provenance.json.unreadable"), "{not json");
  json doc = read_provenance_file(c.output_dir);
  ASSERT_EQ(doc["attempts"].size(), 1u);
  EXPECT_EQ(doc["attempts"][0]["resumed_from"], "epoch-0001.h5");
}

}  // namespace
}  // namespace scouter
