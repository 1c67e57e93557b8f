#include "worker/run/checkpoint.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "common/error.h"
#include "common/files.h"
#include "common/h5.h"
#include "common/log.h"
#include "common/format.h"
#include "test_util.h"
#include "worker/model/scouter_model.h"

namespace scouter {
namespace {

using testing::TempDir;

Config small_slot_config() {
  Config c;
  c.model = "smallcnn";
  c.num_classes = 5;
  c.slots_per_class = 2;
  c.to_k_layer = 3;
  c.threads = 1;
  return c;
}

void train_steps(ScouterModel& model, torch::optim::AdamW& opt, int steps, uint64_t seed) {
  torch::manual_seed(seed);
  for (int i = 0; i < steps; ++i) {
    auto x = torch::randn({4, 1, 28, 28});
    auto y = torch::randint(0, model->num_classes(), {4}, torch::kLong);
    opt.zero_grad();
    compute_loss(model->forward(x), y, 1.0).total.backward();
    opt.step();
  }
}

TEST(Checkpoint, SaveLoadGivesIdenticalOutputs) {
  TempDir dir;
  Config cfg = small_slot_config();
  torch::manual_seed(1);
  ScouterModel a(cfg, 1);
  torch::optim::AdamW opt(a->parameters(), torch::optim::AdamWOptions(1e-3));
  train_steps(a, opt, 2, 5);  // BatchNorm statistics move away from their initial values
  std::string path = checkpoint_path(dir.path(), 3);
  TrainState st;
  st.epoch = 3;
  st.global_step = 2;
  st.best_val_acc = 0.5;
  st.best_epoch = 2;
  save_checkpoint(path, *a, &opt, st, cfg);

  torch::manual_seed(2);  // different initial weights
  ScouterModel b(cfg, 1);
  auto x = torch::randn({3, 1, 28, 28});
  a->eval();
  b->eval();
  EXPECT_FALSE(torch::equal(a->forward(x).logits, b->forward(x).logits));
  CheckpointInfo info = load_checkpoint(path, *b, nullptr, cfg);
  EXPECT_EQ(info.state.epoch, 3);
  EXPECT_EQ(info.state.global_step, 2);
  EXPECT_DOUBLE_EQ(info.state.best_val_acc, 0.5);
  auto oa = a->forward(x), ob = b->forward(x);
  EXPECT_TRUE(torch::equal(oa.logits, ob.logits));
  EXPECT_TRUE(torch::equal(oa.attn, ob.attn));
  Config stored;
  apply_toml_text(stored, info.config_toml, "stored");
  EXPECT_EQ(model_signature(stored), model_signature(cfg));
}

TEST(Checkpoint, OptimizerStateResumesTheSameTrajectory) {
  TempDir dir;
  Config cfg = small_slot_config();
  torch::manual_seed(1);
  ScouterModel a(cfg, 1);
  torch::optim::AdamW opt_a(a->parameters(), torch::optim::AdamWOptions(1e-3));
  train_steps(a, opt_a, 2, 11);
  std::string path = checkpoint_path(dir.path(), 1);
  save_checkpoint(path, *a, &opt_a, TrainState{}, cfg);

  torch::manual_seed(99);
  ScouterModel b(cfg, 1);
  torch::optim::AdamW opt_b(b->parameters(), torch::optim::AdamWOptions(1e-3));
  load_checkpoint(path, *b, &opt_b, cfg);
  train_steps(a, opt_a, 2, 12);
  train_steps(b, opt_b, 2, 12);
  auto pa = a->named_parameters(), pb = b->named_parameters();
  for (const auto& p : pa) EXPECT_TRUE(torch::equal(p.value(), pb[p.key()])) << p.key();
}

TEST(Checkpoint, RefusesAnotherModelConfigurationNamingTheKey) {
  TempDir dir;
  Config cfg = small_slot_config();
  ScouterModel a(cfg, 1);
  std::string path = checkpoint_path(dir.path(), 1);
  save_checkpoint(path, *a, nullptr, TrainState{}, cfg);
  Config other = cfg;
  other.slots_per_class = 3;
  ScouterModel b(other, 1);
  std::string msg = testing::user_error_message([&] { load_checkpoint(path, *b, nullptr, other); });
  EXPECT_NE(msg.find("different model configuration"), std::string::npos) << msg;
  EXPECT_NE(msg.find("slots_per_class: checkpoint 2, config 3"), std::string::npos) << msg;
}

TEST(Checkpoint, CorruptOrForeignFilesAreUserErrors) {
  TempDir dir;
  Config cfg = small_slot_config();
  ScouterModel m(cfg, 1);
  testing::write_bytes(dir.file("garbage.h5"), std::string(4096, 'x'));
  EXPECT_NE(testing::user_error_message([&] { load_checkpoint(dir.file("garbage.h5"), *m, nullptr, cfg); })
                .find("corrupt or unreadable"),
            std::string::npos);
  EXPECT_NE(testing::user_error_message([&] { load_checkpoint(dir.file("absent.h5"), *m, nullptr, cfg); })
                .find("does not exist"),
            std::string::npos);
  // A truncated copy of a real checkpoint.
  std::string path = checkpoint_path(dir.path(), 1);
  save_checkpoint(path, *m, nullptr, TrainState{}, cfg);
  std::string bytes = read_text_file(path);
  testing::write_bytes(dir.file("truncated.h5"), bytes.substr(0, bytes.size() / 2));
  EXPECT_NE(testing::user_error_message([&] { load_checkpoint(dir.file("truncated.h5"), *m, nullptr, cfg); })
                .find("truncated.h5"),
            std::string::npos);
}

TEST(Checkpoint, ListsPrunesAndIgnoresTemporaries) {
  TempDir dir;
  Config cfg = small_slot_config();
  ScouterModel m(cfg, 1);
  for (int e = 1; e <= 4; ++e) {
    save_checkpoint(checkpoint_path(dir.path(), e), *m, nullptr, TrainState{}, cfg);
    mark_complete(checkpoint_path(dir.path(), e));
  }
  testing::write_bytes(checkpoint_path(dir.path(), 5) + ".tmp.node1.123.0", "partial");
  // Saved but never marked complete (a crash before every rank passed the barrier): ignored.
  save_checkpoint(checkpoint_path(dir.path(), 6), *m, nullptr, TrainState{}, cfg);
  EXPECT_EQ(list_checkpoints(dir.path()).size(), 4u);
  EXPECT_EQ(latest_checkpoint(dir.path()), checkpoint_path(dir.path(), 4));
  prune_checkpoints(dir.path(), 2);
  auto left = list_checkpoints(dir.path());
  ASSERT_EQ(left.size(), 2u);
  EXPECT_EQ(left[0], checkpoint_path(dir.path(), 3));
  EXPECT_EQ(left[1], checkpoint_path(dir.path(), 4));
  // A mid-epoch checkpoint (16 steps into epoch 5) is newer than the end of epoch 4.
  save_checkpoint(checkpoint_path(dir.path(), 4, 16), *m, nullptr, TrainState{}, cfg);
  mark_complete(checkpoint_path(dir.path(), 4, 16));
  EXPECT_EQ(latest_checkpoint(dir.path()), checkpoint_path(dir.path(), 4, 16));
}

// Flips `count` bytes of tensor `name`'s stored data inside the file, as a failing disk would.
void flip_tensor_bytes(const std::string& path, torch::nn::Module& model, const std::string& name,
                       size_t count) {
  torch::Tensor t;
  for (const auto& p : model.named_parameters(true))
    if (p.key() == name) t = p.value().detach().contiguous();
  ASSERT_TRUE(t.defined()) << name;
  std::string needle(static_cast<const char*>(t.data_ptr()), std::min<size_t>(t.nbytes(), 256));
  std::string bytes = read_text_file(path);
  size_t at = bytes.find(needle);
  ASSERT_NE(at, std::string::npos) << name << " not found in " << path;
  ASSERT_EQ(bytes.find(needle, at + 1), std::string::npos) << name << " found twice";
  for (size_t i = 0; i < count; ++i) bytes[at + i] = static_cast<char>(bytes[at + i] ^ 0xa5);
  testing::write_bytes(path, bytes);
}

// 64 flipped bytes in a weight tensor: the load fails naming the file and the tensor, and
// verify_checkpoint says the same without loading.
TEST(Checkpoint, FlippedBytesAreCaughtNamingTheTensor) {
  TempDir dir;
  Config cfg = small_slot_config();
  torch::manual_seed(2);
  ScouterModel m(cfg, 1);
  std::string path = checkpoint_path(dir.path(), 1);
  save_checkpoint(path, *m, nullptr, TrainState{}, cfg);
  EXPECT_EQ(verify_checkpoint(path), "");
  flip_tensor_bytes(path, *m, "backbone.layer2.0.conv.weight", 64);
  std::string msg = testing::user_error_message([&] { load_checkpoint(path, *m, nullptr, cfg); });
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("tensor '/model/backbone.layer2.0.conv.weight' fails its SHA-256 check"),
            std::string::npos) << msg;
  EXPECT_NE(verify_checkpoint(path).find("/model/backbone.layer2.0.conv.weight"), std::string::npos);
}

// The header (epoch, steps, config) has its own checksum: an edited epoch is refused.
TEST(Checkpoint, EditedHeaderIsRefused) {
  TempDir dir;
  Config cfg = small_slot_config();
  ScouterModel m(cfg, 1);
  std::string path = checkpoint_path(dir.path(), 1);
  TrainState st;
  st.epoch = 1;
  save_checkpoint(path, *m, nullptr, st, cfg);
  {
    h5::Handle f = h5::open_file(path, true);
    h5::write_attr(f.get(), "epoch", int64_t{7});
  }
  EXPECT_NE(testing::user_error_message([&] { read_checkpoint_info(path); }).find("header"), std::string::npos);
  EXPECT_NE(verify_checkpoint(path), "");
}

// A checkpoint of format_version 1 (no checksums, an older scouter) still loads.
TEST(Checkpoint, FormatVersionOneStillLoads) {
  TempDir dir;
  Config cfg = small_slot_config();
  torch::manual_seed(3);
  ScouterModel a(cfg, 1);
  std::string path = checkpoint_path(dir.path(), 1);
  save_checkpoint(path, *a, nullptr, TrainState{}, cfg);
  {
    h5::Handle f = h5::open_file(path, true);
    h5::write_attr(f.get(), "format_version", int64_t{1});
    H5Adelete(f.get(), "header_sha256");
    h5::Handle g = h5::open_group(f.get(), "model");
    for (const auto& name : h5::list_children(g.get())) {
      h5::Handle ds = h5::open_dataset(g.get(), name);
      H5Adelete(ds.get(), "sha256");
    }
  }
  EXPECT_EQ(verify_checkpoint(path), "");
  torch::manual_seed(4);
  ScouterModel b(cfg, 1);
  CheckpointInfo info = load_checkpoint(path, *b, nullptr, cfg);
  EXPECT_FALSE(info.checksummed);
  auto pa = a->named_parameters();
  for (const auto& p : b->named_parameters()) EXPECT_TRUE(torch::equal(p.value(), pa[p.key()])) << p.key();
}

// Resume falls back past checkpoints that do not verify, and pruning never removes the newest
// one that does, even when newer corrupt ones fill the slots to keep.
TEST(Checkpoint, FallbackAndPruningKeepTheNewestVerifiedOne) {
  TempDir dir;
  Config cfg = small_slot_config();
  torch::manual_seed(5);
  ScouterModel m(cfg, 1);
  for (int e = 1; e <= 4; ++e) {
    save_checkpoint(checkpoint_path(dir.path(), e), *m, nullptr, TrainState{}, cfg);
    mark_complete(checkpoint_path(dir.path(), e));
  }
  flip_tensor_bytes(checkpoint_path(dir.path(), 4), *m, "slot.gru.weight_ih_l0", 64);
  testing::write_bytes(checkpoint_path(dir.path(), 3), read_text_file(checkpoint_path(dir.path(), 3)).substr(0, 3000));
  EXPECT_EQ(latest_checkpoint(dir.path()), checkpoint_path(dir.path(), 4));
  EXPECT_EQ(latest_verified_checkpoint(dir.path()), checkpoint_path(dir.path(), 2));
  prune_checkpoints(dir.path(), 2);
  auto left = list_checkpoints(dir.path());
  ASSERT_EQ(left.size(), 3u);
  EXPECT_EQ(left[0], checkpoint_path(dir.path(), 2));  // kept: the newest that verifies
  EXPECT_EQ(left[1], checkpoint_path(dir.path(), 3));
  EXPECT_EQ(left[2], checkpoint_path(dir.path(), 4));
  EXPECT_FALSE(file_exists(checkpoint_path(dir.path(), 1)));
}

// The marker records the file's SHA-256 and size, and every open checks the file against it
// before HDF5 reads a byte: one flipped byte anywhere (here: in the superblock, in the middle, in
// the last byte) is one error naming the file, and resume falls back to the older checkpoint.
TEST(Checkpoint, WholeFileDigestIsCheckedBeforeHdf5ParsesTheFile) {
  TempDir dir;
  Config cfg = small_slot_config();
  ScouterModel m(cfg, 1);
  for (int e = 1; e <= 2; ++e) {
    save_checkpoint(checkpoint_path(dir.path(), e), *m, nullptr, TrainState{}, cfg);
    mark_complete(checkpoint_path(dir.path(), e));
  }
  const std::string path = checkpoint_path(dir.path(), 2);
  EXPECT_TRUE(h5::has_metadata_checksums(path));
  const std::string marker = read_text_file(path + ".done");
  EXPECT_EQ(marker, str_format("complete\nsha256 {}\nbytes {}\n", sha256_file(path),
                               std::filesystem::file_size(path)));
  const std::string bytes = read_text_file(path);
  for (size_t at : {size_t{9}, bytes.size() / 2, bytes.size() - 1}) {
    std::string mutant = bytes;
    mutant[at] = static_cast<char>(mutant[at] ^ 0x10);
    testing::write_bytes(path, mutant);
    const std::string why = verify_checkpoint(path);
    EXPECT_NE(why.find("whole-file SHA-256 recorded in its marker " + path + ".done"),
              std::string::npos) << at << ": " << why;
    std::string msg = testing::user_error_message([&] { read_checkpoint_info(path); });
    EXPECT_NE(msg.find("checkpoint '" + path + "' is corrupt or unreadable"), std::string::npos) << msg;
    EXPECT_EQ(latest_verified_checkpoint(dir.path()), checkpoint_path(dir.path(), 1));
  }
  testing::write_bytes(path, bytes + "x");  // grown: refused on its size, before hashing
  EXPECT_NE(verify_checkpoint(path).find(str_format("its marker {}.done records {}", path, bytes.size())),
            std::string::npos) << verify_checkpoint(path);
  testing::write_bytes(path, bytes);
  EXPECT_EQ(verify_checkpoint(path), "");
  // A marker of an older scouter ("complete" only): the file is still read (its metadata is
  // checked by HDF5 in this format).
  testing::write_bytes(path + ".done", "complete\n");
  EXPECT_EQ(verify_checkpoint(path), "");
  EXPECT_EQ(latest_verified_checkpoint(dir.path()), path);
}

// A checkpoint in HDF5's earliest file format with an old marker (what scouter wrote before
// format version 3) is read with one warning per file that its metadata is unverified.
TEST(Checkpoint, EarliestFormatWithoutDigestWarnsOnce) {
  TempDir dir;
  const std::string path = checkpoint_path(dir.path(), 1);
  std::filesystem::create_directories(dir.path() + "/checkpoints");
  {
    h5::Handle f(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
    h5::write_attr(f.get(), "format", std::string("something else"));
  }
  testing::write_bytes(path + ".done", "complete\n");
  ASSERT_FALSE(h5::has_metadata_checksums(path));
  init_logging(0, "info");
  ::testing::internal::CaptureStderr();
  const std::string first = verify_checkpoint(path), second = verify_checkpoint(path);
  log::flush();
  const std::string out = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(first.find("not a scouter checkpoint"), std::string::npos) << first;
  EXPECT_EQ(first, second);
  const std::string warning = "checkpoint " + path + " was written by an older scouter";
  const size_t at = out.find(warning);
  EXPECT_NE(at, std::string::npos) << out;
  EXPECT_NE(out.find("its metadata is read in a probe process first"), std::string::npos) << out;
  EXPECT_EQ(out.find(warning, at + 1), std::string::npos) << out;
}

TEST(Checkpoint, BackboneWeightsMoveFromFcToScouter) {
  TempDir dir;
  Config fc = small_slot_config();
  fc.use_slot = false;
  torch::manual_seed(3);
  ScouterModel base(fc, 1);
  save_checkpoint(checkpoint_path(dir.path(), 1), *base, nullptr, TrainState{}, fc);
  mark_complete(checkpoint_path(dir.path(), 1));
  Config slot = small_slot_config();
  torch::manual_seed(4);
  ScouterModel s(slot, 1);
  int64_t copied = load_backbone_weights(dir.path(), *s);
  EXPECT_GT(copied, 0);
  auto from = base->backbone->named_parameters();
  for (const auto& p : s->backbone->named_parameters())
    EXPECT_TRUE(torch::equal(p.value(), from[p.key()])) << p.key();
}

}  // namespace
}  // namespace scouter
