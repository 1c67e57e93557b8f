// Backbone weights written elsewhere (worker/train/pretrained.h): torch.save files and .safetensors made
// by tests/tools/make_backbone_fixtures.py for a smallcnn whose values follow the fixtures'
// formula, the classifier and stem rules, strict errors, and finding use_pre's FC baseline.
#include "worker/train/pretrained.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/files.h"
#include "common/h5.h"
#include "test_util.h"
#include "worker/run/checkpoint.h"
#include "worker/fixture_tensors.h"

namespace scouter {
namespace {

using testing::TempDir;

std::string fixture(const std::string& name) {
  return testing::fixtures_dir() + "/pretrained/" + name;
}

std::map<std::string, torch::Tensor> tensors_of(torch::nn::Module& m) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& p : m.named_parameters()) out[p.key()] = p.value();
  for (const auto& b : m.named_buffers()) out[b.key()] = b.value();
  return out;
}

// The formula's value as stored in a `dtype` file, read back as float32.
torch::Tensor expected(const std::string& name, const torch::Tensor& like,
                       torch::ScalarType dtype) {
  return testing::deterministic_value(name, like.sizes().vec()).to(dtype).to(torch::kFloat);
}

std::string user_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const UserError& e) {
    return std::string(e.what()) + " | " + e.hint();
  }
  ADD_FAILURE() << "expected a UserError";
  return {};
}

// F32/I64 .safetensors written here, for cases no committed file covers (the reader itself is
// checked on the Python-written fixtures).
void write_safetensors(const std::string& path,
                       const std::map<std::string, torch::Tensor>& tensors) {
  nlohmann::json header = nlohmann::json::object();
  std::string data;
  for (const auto& [name, t] : tensors) {
    torch::Tensor c = t.detach().contiguous();
    if (c.scalar_type() != torch::kLong) c = c.to(torch::kFloat);
    const size_t begin = data.size();
    data.append(static_cast<const char*>(c.data_ptr()), c.nbytes());
    header[name] = {{"dtype", c.scalar_type() == torch::kLong ? "I64" : "F32"},
                    {"shape", c.sizes().vec()},
                    {"data_offsets", {begin, data.size()}}};
  }
  std::string text = header.dump();
  uint64_t n = text.size();
  std::string bytes(reinterpret_cast<const char*>(&n), 8);  // little-endian host
  testing::write_bytes(path, bytes + text + data);
}

TEST(PretrainedTest, TorchSaveStateDict) {
  auto bb = make_backbone("smallcnn", 1, 10);
  auto mine = tensors_of(*bb);
  EXPECT_EQ(load_pretrained(fixture("smallcnn_state_dict.pth"), *bb),
            static_cast<int64_t>(mine.size()));
  for (const auto& [name, t] : mine) {
    if (t.is_floating_point()) {
      EXPECT_TRUE(torch::equal(t, expected(name, t, torch::kFloat))) << name;
    }
  }
}

TEST(PretrainedTest, TorchSaveCheckpointWithModelEntry) {
  auto bb = make_backbone("smallcnn", 1, 10);
  load_pretrained(fixture("smallcnn_checkpoint.pth"), *bb);  // float16 under "model"
  for (const auto& [name, t] : tensors_of(*bb)) {
    if (t.is_floating_point()) {
      EXPECT_TRUE(torch::equal(t, expected(name, t, torch::kHalf))) << name;
    }
  }
}

TEST(PretrainedTest, SafetensorsWithMixedDtypesAndBackbonePrefix) {
  auto raw = read_weights_file(fixture("smallcnn_mixed.safetensors"));
  EXPECT_EQ(raw.at("backbone.conv1.weight").scalar_type(), torch::kBFloat16);
  EXPECT_EQ(raw.at("backbone.fc.weight").scalar_type(), torch::kHalf);
  EXPECT_EQ(raw.at("backbone.bn1.running_var").scalar_type(), torch::kFloat);
  EXPECT_EQ(raw.at("backbone.bn1.num_batches_tracked").scalar_type(), torch::kLong);
  auto bb = make_backbone("smallcnn", 1, 10);
  load_pretrained(fixture("smallcnn_mixed.safetensors"), *bb);
  for (const auto& [name, t] : tensors_of(*bb)) {
    if (!t.is_floating_point()) continue;
    auto dtype = name.rfind("fc.", 0) == 0 ? torch::kHalf
                 : t.dim() == 4            ? torch::kBFloat16
                                           : torch::kFloat;
    EXPECT_TRUE(torch::equal(t, expected(name, t, dtype))) << name;
  }
}

TEST(PretrainedTest, ClassifierOfAnotherSizeIsDropped) {
  auto bb = make_backbone("smallcnn", 1, 5);
  auto fc_before = bb->named_parameters()["fc.weight"].clone();
  load_pretrained(fixture("smallcnn_state_dict.pth"), *bb);
  EXPECT_TRUE(torch::equal(bb->named_parameters()["fc.weight"], fc_before));
  auto w = bb->named_parameters()["layer4.0.conv.weight"];
  EXPECT_TRUE(torch::equal(w, expected("layer4.0.conv.weight", w, torch::kFloat)));

  auto headless = make_backbone("smallcnn", 1, 0);  // a SCOUTER backbone: the file's fc is dropped
  EXPECT_NO_THROW(load_pretrained(fixture("smallcnn_state_dict.pth"), *headless));
}

TEST(PretrainedTest, MismatchesAreListedByNameAndNothingIsCopied) {
  auto bb = make_backbone("smallcnn", 1, 10);
  auto before = bb->named_parameters()["conv1.weight"].clone();
  std::string e = user_error([&] { load_pretrained(fixture("smallcnn_bad.safetensors"), *bb); });
  for (const char* part :
       {"missing layer3.0.conv.weight", "unexpected extra.bias, layer5.0.conv.weight",
        "wrong shape bn1.weight [16] (model [32])", "smallcnn_bad.safetensors"})
    EXPECT_NE(e.find(part), std::string::npos) << part << " in: " << e;
  EXPECT_TRUE(torch::equal(bb->named_parameters()["conv1.weight"], before));
}

TEST(PretrainedTest, RgbStemIsAdaptedAsTimmDoes) {
  TempDir dir;
  auto rgb = make_backbone("smallcnn", 3, 10);
  testing::fill_deterministic(*rgb);
  std::map<std::string, torch::Tensor> file;
  for (auto& [k, v] : tensors_of(*rgb)) file["module." + k] = v;  // DistributedDataParallel names
  write_safetensors(dir.file("rgb.safetensors"), file);
  const torch::Tensor w = rgb->named_parameters()["conv1.weight"];

  auto gray = make_backbone("smallcnn", 1, 10);
  load_pretrained(dir.file("rgb.safetensors"), *gray);
  EXPECT_TRUE(torch::allclose(gray->named_parameters()["conv1.weight"], w.sum(1, true)));
  auto two = make_backbone("smallcnn", 2, 10);
  load_pretrained(dir.file("rgb.safetensors"), *two);
  EXPECT_TRUE(torch::allclose(two->named_parameters()["conv1.weight"], w.slice(1, 0, 2) * 1.5));
}

TEST(PretrainedTest, PublishedMnistStemKeepsItsInit) {
  TempDir dir;
  auto rgb = make_backbone("resnet18", 3, 1000);  // ImageNet-shaped, as timm's weights are
  write_safetensors(dir.file("resnet18.safetensors"), tensors_of(*rgb));
  auto mnist = make_backbone("resnet18", 1, 10);
  auto stem = mnist->named_parameters()["conv1.weight"].clone();
  load_pretrained(dir.file("resnet18.safetensors"), *mnist);
  EXPECT_TRUE(torch::equal(mnist->named_parameters()["conv1.weight"], stem));
  EXPECT_TRUE(torch::equal(mnist->named_parameters()["layer1.0.conv1.weight"],
                           rgb->named_parameters()["layer1.0.conv1.weight"]));
}

TEST(PretrainedTest, FilesThatAreNotWeightsAreUserErrors) {
  TempDir dir;
  auto bb = make_backbone("smallcnn", 1, 10);
  EXPECT_NE(user_error([&] { load_pretrained(dir.file("none.pth"), *bb); }).find("do not exist"),
            std::string::npos);
  testing::write_bytes(dir.file("notes.pth"), "just some text, not weights\n");
  EXPECT_NE(user_error([&] { load_pretrained(dir.file("notes.pth"), *bb); })
                .find("is not a weights file: neither torch.save's zip format, nor .safetensors, "
                      "nor HDF5 (it starts with \"just som\")"),
            std::string::npos);
  h5::create_file(dir.file("run.h5"));
  EXPECT_NE(user_error([&] { load_pretrained(dir.file("run.h5"), *bb); }).find("use_pre"),
            std::string::npos);
  std::string pth = read_text_file(fixture("smallcnn_state_dict.pth"));
  testing::write_bytes(dir.file("cut.pth"), pth.substr(0, pth.size() / 2));
  EXPECT_NE(user_error([&] { load_pretrained(dir.file("cut.pth"), *bb); }).find("cannot read"),
            std::string::npos);
}

// A run folder with a config.toml and, if `complete`, one complete checkpoint (empty files
// suffice: finding the baseline reads no weights).
void make_run(const std::string& dir, Config c, bool complete = true) {
  ensure_dir(dir);
  c.output_dir = dir;
  write_text_file_atomic(dir + "/config.toml", to_toml(c));
  if (!complete) return;
  const std::string ckpt = checkpoint_path(dir, 1);
  ensure_dir(dir + "/checkpoints");
  testing::write_bytes(ckpt, "");
  testing::write_bytes(ckpt + ".done", "complete\n");
}

Config fc_config(const std::string& model = "smallcnn") {
  Config c;
  c.model = model;
  c.use_slot = false;
  return c;
}

TEST(FindFcBaselineTest, UsesTheOneFcRunBesideTheOutput) {
  TempDir root;
  make_run(root.file("fc"), fc_config());
  make_run(root.file("fc_resnet"), fc_config("resnet18"));
  Config slot = fc_config();
  slot.use_slot = true;
  make_run(root.file("scouter_plus"), slot);
  slot.use_pre = true;
  slot.output_dir = root.file("scouter_minus");
  EXPECT_EQ(find_fc_baseline(slot), root.file("fc"));
  slot.output_dir = root.file("scouter_minus") + "/";
  EXPECT_EQ(find_fc_baseline(slot), root.file("fc"));
}

TEST(FindFcBaselineTest, NoneFoundNamesWhatIsThere) {
  TempDir root;
  make_run(root.file("fc_resnet"), fc_config("resnet18"));
  make_run(root.file("fc_unfinished"), fc_config(), /*complete=*/false);
  Config slot = fc_config();
  slot.use_slot = slot.use_pre = true;
  slot.output_dir = root.file("pos");
  std::string e = user_error([&] { find_fc_baseline(slot); });
  for (const char* part : {"no FC baseline", "fc_resnet (MNIST resnet18 10 classes)",
                           "fc_unfinished (no complete checkpoint)", "set pre_checkpoint"})
    EXPECT_NE(e.find(part), std::string::npos) << part << " in: " << e;
}

TEST(FindFcBaselineTest, SeveralFoundIsAUserError) {
  TempDir root;
  make_run(root.file("fc_a"), fc_config());
  make_run(root.file("fc_b"), fc_config());
  Config slot = fc_config();
  slot.use_slot = slot.use_pre = true;
  slot.output_dir = root.file("pos");
  std::string e = user_error([&] { find_fc_baseline(slot); });
  for (const char* part : {"2 folders", "fc_a", "fc_b", "set pre_checkpoint"})
    EXPECT_NE(e.find(part), std::string::npos) << part << " in: " << e;
}

}  // namespace
}  // namespace scouter
