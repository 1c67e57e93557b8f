// Trained models in and out: `scouter import` of checkpoints made by the published code
// (tests/fixtures/published/, tests/tools/make_published_fixtures.py), `scouter export` read
// back by PyTorch into a rebuilt published module tree (tests/tools/check_export.py), and
// `scouter evaluate` against the training run's own validation record.
#include <gtest/gtest.h>
#include <signal.h>
#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <iostream>
#include <optional>
#include <nlohmann/json.hpp>

#include "common/config.h"
#include "common/files.h"
#include "common/h5.h"
#include "common/version.h"
#include "datasets/batch_loader.h"
#include "datasets/dataset_info.h"
#include "datasets/dataset_spec.h"
#include "datasets/image_ops.h"
#include "datasets/user_image.h"
#include "test_util.h"
#include "worker/fixture_tensors.h"
#include "worker/model/safetensors.h"
#include "worker/model/scouter_model.h"
#include "worker/model/torch_file.h"
#include "worker/toy_data.h"
#include "worker/run/checkpoint.h"

namespace scouter {
namespace {

using testing::TempDir;

std::string published_fixture(const std::string& name) {
  return testing::fixtures_dir() + "/published/" + name;
}

// The xz-compressed fixture unpacked into `dir`.
std::string unpack(const std::string& name, const TempDir& dir) {
  std::string out = dir.file(name + ".pth");
  auto r = testing::run_command("xz -dc " + published_fixture(name + ".pth.xz") + " > " + out);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return out;
}

// fixture_values.sine_input: x[i] = sin(0.37 i), rounded to float32.
torch::Tensor sine_input(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return torch::arange(n, torch::kFloat64).mul(0.37).sin().to(torch::kFloat).reshape(shape);
}

Config run_config(const std::string& run) {
  Config cfg;
  apply_toml_file(cfg, run + "/config.toml");
  return cfg;
}

// The run's model (weights from its newest checkpoint), in eval mode.
ScouterModel load_run_model(const std::string& run) {
  Config cfg = run_config(run);
  ScouterModel model(cfg, 1);
  load_checkpoint(latest_checkpoint(run), *model, nullptr, cfg, false);
  model->eval();
  return model;
}

torch::Tensor log_probs(ScouterModel& model, const torch::Tensor& x) {
  torch::NoGradGuard no_grad;
  return torch::log_softmax(model->forward(x).logits, 1);
}

struct PublishedCase {
  const char* name;
  const char* model;
  bool use_slot;
  int64_t loss_status, slots_per_class, to_k_layer;
  const char* stem;
};

// gtest names the case by its fixture (not a byte dump) in CTest's list.
void PrintTo(const PublishedCase& c, std::ostream* os) { *os << c.name; }

class PublishedImport : public ::testing::TestWithParam<PublishedCase> {};

// The published code's checkpoint imports with its args, and the imported model computes what the
// published model computed: in float64 to rounding, in float32 within the fixture's own float32
// deviation.
TEST_P(PublishedImport, GivesThePublishedLogProbabilities) {
  const PublishedCase& c = GetParam();
  TempDir dir;
  std::string pth = unpack(c.name, dir), run = dir.file("run");
  auto r = testing::run_scouter("import " + pth + " --output_dir " + run);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find(run), std::string::npos) << r.output;

  Config cfg = run_config(run);
  EXPECT_EQ(cfg.dataset, "MNIST");
  EXPECT_EQ(cfg.dataset_dir, "data/mnist");
  EXPECT_EQ(cfg.model, c.model);
  EXPECT_EQ(cfg.use_slot, c.use_slot);
  EXPECT_EQ(cfg.num_classes, 10);
  EXPECT_EQ(cfg.img_size, 260);
  EXPECT_EQ(cfg.stem, c.stem);
  if (c.use_slot) {
    EXPECT_EQ(cfg.loss_status, c.loss_status);
    EXPECT_EQ(cfg.slots_per_class, c.slots_per_class);
    EXPECT_EQ(cfg.to_k_layer, c.to_k_layer);
  }
  auto ckpts = list_checkpoints(run);
  ASSERT_EQ(ckpts.size(), 1u);
  CheckpointInfo info = read_checkpoint_info(ckpts[0]);
  EXPECT_EQ(info.state.epoch, 10);  // published "epoch": 9 = the 10th of 10
  EXPECT_EQ(verify_checkpoint(ckpts[0]), "");
  auto meta = nlohmann::json::parse(read_text_file(run + "/import.json"));
  EXPECT_EQ(meta["source_sha256"], sha256_file(pth));
  EXPECT_EQ(meta["args"]["device"], "cpu");  // kept, though not a config key
  // Provenance of an import: the file it came from, hashed here by another program.
  auto prov = nlohmann::json::parse(read_text_file(run + "/provenance.json"));
  ASSERT_EQ(prov["attempts"].size(), 1u);
  const auto& attempt = prov["attempts"][0];
  EXPECT_EQ(attempt["command"], "import");
  EXPECT_EQ(attempt["imported_sha256"].get<std::string>() + "  " + pth + "\n",
            testing::run_command("sha256sum " + pth).output);
  EXPECT_EQ(attempt["scouter_version"], SCOUTER_VERSION);

  h5::Handle f = h5::open_file(published_fixture("expected.h5"));
  h5::Handle g = h5::open_group(f.get(), c.name);
  torch::Tensor expected = testing::read_tensor(g.get(), "logprob");
  const double f32_error = h5::read_attr_double(g.get(), "f32_error");
  const double scale = expected.abs().max().item<double>();
  torch::Tensor x = sine_input({2, 1, 260, 260});

  ScouterModel model = load_run_model(run);
  torch::Tensor lp32 = log_probs(model, x).to(torch::kFloat64);
  // Another CPU's float32 kernels move the result about as far as float32 rounding did on the
  // machine that made the fixture (f32_error); 4x that, and never below 1e-5.
  const double tol32 = std::max(1e-5, 4 * f32_error) * scale;
  EXPECT_LE((lp32 - expected).abs().max().item<double>(), tol32);

  model->to(torch::kFloat64);
  torch::Tensor lp64 = log_probs(model, x.to(torch::kFloat64));
  // Float64 on both sides: what separates them is the operation order (and the published
  // position embedding, computed in float32 as DETR does), amplified by the xSlot's division by
  // partly cancelling sums (~5e-8 relative here, see make_published_fixtures.py); a wrong tensor
  // moves the result by far more than 1e-6.
  EXPECT_LE((lp64 - expected).abs().max().item<double>(), 1e-6 * scale);
  std::cout << c.name << ": max |log-prob difference| to the published float64 result: float32 "
            << (lp32 - expected).abs().max().item<double>() << " (tolerance " << tol32
            << "), float64 " << (lp64 - expected).abs().max().item<double>() << "\n";
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, PublishedImport,
    ::testing::Values(PublishedCase{"mnist_resnet18_pos", "resnet18", true, 1, 3, 3, "auto"},
                      PublishedCase{"mnist_resnest26d_neg", "resnest26d", true, -1, 1, 1, "published"},
                      PublishedCase{"mnist_resnet18_fc", "resnet18", false, 1, 1, 1, "auto"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(ImportErrors, OneClearLineAndNothingWritten) {
  TempDir dir;
  std::string pth = unpack("mnist_resnet18_pos", dir);
  testing::write_bytes(dir.file("notes.pth"), "just some text, not weights\n");
  // A bare state_dict: the published checkpoint's "model" alone, as torch.save would write it.
  auto tensors = read_torch_file(pth);
  std::vector<std::pair<std::string, torch::Tensor>> list(tensors.begin(), tensors.end());
  write_safetensors(dir.file("bare.safetensors"), list);
  struct Case {
    std::string args, expect;
  };
  std::vector<Case> cases = {
      {dir.file("missing.pth") + " --output_dir " + dir.file("a"), "does not exist"},
      {dir.file("notes.pth") + " --output_dir " + dir.file("a"), "is not a weights file"},
      {testing::fixtures_dir() + "/pretrained/smallcnn_state_dict.pth --output_dir " + dir.file("a"),
       "is not a SlotModel's state_dict"},
      {pth, "needs --output_dir"},
      {pth + " --output_dir " + dir.file("a") + " --slots_per_class 1",
       "wrong shape slot.initial_slots [1, 30, 64] (model [1, 10, 64])"},
      {pth + " --output_dir " + dir.file("a") + " --to_k_layer 1", "unexpected slot.to_k.2.bias"},
      {dir.file("bare.safetensors") + " --output_dir " + dir.file("a"),
       "has no training args (a bare state_dict), so the model it holds is unknown: give "
       "--dataset, --model, --num_classes, --use_slot, --loss_status"},
      {pth + " --output_dir " + dir.file("a") + " --epochs 0", "epochs"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.args);
    auto r = testing::run_scouter("import " + c.args);
    EXPECT_USAGE_ERROR(r, c.expect);
  }
  EXPECT_FALSE(file_exists(dir.file("a") + "/config.toml"));
  EXPECT_TRUE(list_checkpoints(dir.file("a")).empty());

  // The bare state_dict with the keys given imports to the same weights; a second import into
  // the same folder is refused.
  auto ok = testing::run_scouter(
      "import " + dir.file("bare.safetensors") + " --output_dir " + dir.file("b") +
      " --dataset MNIST --model resnet18 --num_classes 10 --use_slot true --loss_status 1"
      " --slots_per_class 3 --to_k_layer 3 --img_size 260");
  ASSERT_EQ(ok.exit_code, 0) << ok.output;
  auto a = testing::run_scouter("import " + pth + " --output_dir " + dir.file("c"));
  ASSERT_EQ(a.exit_code, 0) << a.output;
  EXPECT_EQ(testing::checkpoint_weights(latest_checkpoint(dir.file("b"))),
            testing::checkpoint_weights(latest_checkpoint(dir.file("c"))));
  EXPECT_USAGE_ERROR(testing::run_scouter("import " + pth + " --output_dir " + dir.file("c")),
                     "already holds a run");

  // Killed after its checkpoint and import.json were written, before config.toml: no run folder
  // appears (the files were staged beside it), and the import then runs as if never tried.
  auto killed = testing::run_command("SCOUTER_FAULT_KILL_AFTER_WRITE=import.json " +
                                     testing::scouter_bin() + " import " + pth + " --output_dir " +
                                     dir.file("k"));
  EXPECT_EQ(killed.exit_code, 128 + SIGKILL) << killed.output;
  EXPECT_FALSE(file_exists(dir.file("k")));
  ASSERT_EQ(testing::run_scouter("import " + pth + " --output_dir " + dir.file("k")).exit_code, 0);
  EXPECT_EQ(testing::checkpoint_weights(latest_checkpoint(dir.file("k"))),
            testing::checkpoint_weights(latest_checkpoint(dir.file("c"))));
  // Into a folder that exists (empty): the same run, the staging folder gone.
  ensure_dir(dir.file("e"));
  ASSERT_EQ(testing::run_scouter("import " + pth + " --output_dir " + dir.file("e")).exit_code, 0);
  EXPECT_TRUE(file_exists(dir.file("e/config.toml")));
  EXPECT_TRUE(file_exists(dir.file("e/import.json")));
  for (const auto& entry : std::filesystem::directory_iterator(dir.file("e")))
    EXPECT_EQ(entry.path().filename().string().find(".import."), std::string::npos) << entry.path();
}

// An authors' checkpoint imported where there is no dataset folder keeps the dataset table's
// form of its images (FashionMNIST here: 1 x 28 x 28, the training split's statistics, the ten
// names) in dataset.json; `explain --image` then needs nothing else, computes what the model
// gives for the image converted and normalised that way, and names the class.
TEST(ImportWithoutDataset, ExplainsAnImageAndNamesTheClass) {
  TempDir dir;
  std::string pth = unpack("mnist_resnet18_pos", dir), run = dir.file("run");
  auto r = testing::run_scouter("import " + pth + " --output_dir " + run +
                                " --dataset FashionMNIST --dataset_dir " + dir.file("nowhere"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::optional<DatasetInfo> info = read_dataset_info(run);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->from, "dataset table");
  EXPECT_EQ(info->dataset, "FashionMNIST");
  EXPECT_EQ(info->class_names, find_dataset("FashionMNIST")->class_names);
  EXPECT_EQ(info->height, 28);
  EXPECT_EQ(info->mean, find_dataset("FashionMNIST")->idx_mean);

  // A 40 x 30 colour picture: a light block on a dark ground.
  const int w = 40, h = 30;
  std::vector<uint8_t> px(static_cast<size_t>(w * h * 3));
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int k = 0; k < 3; ++k)
        px[static_cast<size_t>((y * w + x) * 3 + k)] =
            static_cast<uint8_t>(x > 10 && x < 30 && y > 5 ? 200 + 20 * k : 15 * k);
  const std::string png = dir.file("coat.png");
  write_png(png, px.data(), w, h, 3);
  auto e = testing::run_scouter("explain " + run + " --image " + png + " --top_k 3");
  ASSERT_EQ(e.exit_code, 0) << e.output;
  auto result = nlohmann::json::parse(read_text_file(run + "/explain/images/coat.png/result.json"));
  EXPECT_EQ(result["stored_size"], nlohmann::json::array({28, 28}));
  EXPECT_EQ(result["input_size"], nlohmann::json::array({260, 260}));
  const int64_t pred = result["prediction"]["class"];
  EXPECT_EQ(result["prediction"]["name"], info->class_names.at(static_cast<size_t>(pred)));

  const ShardMeta meta = shard_meta_of(*info);
  UserImage img = load_user_image(png, meta);
  torch::Tensor x = torch::empty({1, 1, 260, 260});
  eval_transform(img.pixels.data(), meta, 260, 260, x.data_ptr<float>());
  ScouterModel model = load_run_model(run);
  torch::Tensor probs = log_probs(model, x).exp()[0];
  EXPECT_EQ(probs.argmax().item<int64_t>(), pred);
  EXPECT_NEAR(probs[pred].item<double>(), result["prediction"]["probability"].get<double>(), 1e-5);

  // A dataset folder that holds another dataset's shards is refused, naming it.
  testing::write_localisation_shards(dir.file("toy"), 8, 8, 1, 8);
  EXPECT_USAGE_ERROR(testing::run_scouter("import " + pth + " --output_dir " + dir.file("t") +
                                          " --dataset_dir " + dir.file("toy")),
                     "import: the shards in '" + dir.file("toy") +
                         "' hold MNIST (4 classes, 1 channel(s)), not MNIST with num_classes = 10");
  EXPECT_FALSE(file_exists(dir.file("t")));
}

// export -> PyTorch: both formats load with strict=True into the published module tree, rebuilt
// in tests/tools/check_export.py, and give the published log-probabilities.
TEST(Export, PublishedModelLoadsItStrictly) {
  TempDir dir;
  std::string run = dir.file("run");
  ASSERT_EQ(testing::run_scouter("import " + unpack("mnist_resnet18_pos", dir) +
                                 " --output_dir " + run).exit_code, 0);
  auto pth = testing::run_scouter("export " + run);
  ASSERT_EQ(pth.exit_code, 0) << pth.output;
  EXPECT_NE(pth.output.find(run + "/export/model.pth"), std::string::npos) << pth.output;
  auto st = testing::run_scouter("export " + run + " --format safetensors --out " +
                                 dir.file("m.safetensors"));
  ASSERT_EQ(st.exit_code, 0) << st.output;

  // Bitwise the checkpoint's tensors, under the same names, through our own readers.
  auto weights = testing::checkpoint_weights(latest_checkpoint(run));
  for (const auto& file : {read_torch_file(run + "/export/model.pth"),
                           read_safetensors(dir.file("m.safetensors"))}) {
    EXPECT_EQ(file.size(), weights.size());
    for (const auto& [name, t] : file) {
      ASSERT_TRUE(weights.count(name)) << name;
      auto c = t.to(torch::kFloat).contiguous();  // num_batches_tracked: int64 in both
      EXPECT_EQ(std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel()), weights[name])
          << name;
    }
  }
  for (const std::string& file : {run + "/export/model.pth", dir.file("m.safetensors")}) {
    auto r = testing::run_command("/usr/bin/python3 " + testing::source_dir() +
                                  "/tests/tools/check_export.py " + file + " " +
                                  published_fixture("expected.h5") + " mnist_resnet18_pos");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("strict load ok"), std::string::npos) << r.output;
  }
  auto report = testing::run_scouter("report " + dir.path());
  ASSERT_EQ(report.exit_code, 0) << report.output;
  EXPECT_NE(report.output.find("imported (epoch 10); scouter evaluate gives its accuracy"),
            std::string::npos) << report.output;
  // Once evaluated (an eval/val.json as `scouter evaluate` writes it), its accuracy is shown.
  ensure_dir(run + "/eval");
  write_text_file_atomic(run + "/eval/val.json", R"({"acc": 0.8125, "area": 0.25})");
  report = testing::run_scouter("report " + dir.path());
  EXPECT_NE(report.output.find("81.25"), std::string::npos) << report.output;
  EXPECT_NE(report.output.find("imported (epoch 10), evaluated"), std::string::npos) << report.output;
  EXPECT_USAGE_ERROR(testing::run_scouter("export " + run + " --format onnx"), "--format must be pth or safetensors");
  EXPECT_USAGE_ERROR(testing::run_scouter("export " + dir.file("nothing")), "export: no checkpoint in");
  // Its only checkpoint cut short: no fallback is promised, and none is.
  const std::string only = latest_checkpoint(run);
  testing::write_bytes(only, read_text_file(only).substr(0, 4096));
  auto cut = testing::run_scouter("export " + run);
  EXPECT_EQ(cut.exit_code, 2) << cut.output;
  EXPECT_NE(cut.output.find("is not usable (there is no older one)"), std::string::npos) << cut.output;
  EXPECT_EQ(cut.output.find("falling back"), std::string::npos) << cut.output;
  EXPECT_NE(cut.output.find("export: no checkpoint in '" + run + "/checkpoints' is complete and verifies"),
            std::string::npos) << cut.output;
}

std::vector<nlohmann::json> read_jsonl(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  return out;
}

// evaluate gives the training run's last validation record, per-class numbers that add up to it,
// and under mpirun the same counts and (to float64 rounding) the same losses.
TEST(Evaluate, EqualsTheRunsLastValidationRecordAndSplitsOverRanks) {
  TempDir dir;
  testing::write_localisation_shards(dir.file("data"), 256, 90, 5, 32);
  std::string run = dir.file("pos");
  auto t = testing::run_scouter("train --model smallcnn --num_classes 4 --img_size 0 --batch_size 32"
                                " --eval_batch_size 32 --threads 1 --epochs 1 --lr 3e-4 --dataset_dir " +
                                dir.file("data") + " --output_dir " + run);
  ASSERT_EQ(t.exit_code, 0) << t.output;
  auto e = testing::run_scouter("evaluate " + run);
  ASSERT_EQ(e.exit_code, 0) << e.output;
  EXPECT_NE(e.output.find("confusion"), std::string::npos) << e.output;
  auto last = read_jsonl(run + "/metrics.jsonl").back();
  auto ev = nlohmann::json::parse(read_text_file(run + "/eval/val.json"));
  EXPECT_EQ(ev["count"], last["val_count"]);
  EXPECT_EQ(ev["correct"], last["val_correct"]);
  for (const char* k : {"loss", "nll", "attn", "acc", "area"})
    EXPECT_EQ(ev[k].get<double>(), last[std::string("val_") + k].get<double>()) << k;

  // Per class: counts and correct add up; the per-sample NLL (a second computation path) averages
  // to the batch-mean NLL.
  int64_t count = 0, correct = 0;
  double nll = 0;
  for (const auto& c : ev["classes"]) {
    count += c["count"].get<int64_t>();
    correct += c["correct"].get<int64_t>();
    nll += c["nll"].get<double>() * c["count"].get<double>();
  }
  EXPECT_EQ(count, 90);
  EXPECT_EQ(correct, ev["correct"].get<int64_t>());
  EXPECT_NEAR(nll / 90, ev["nll"].get<double>(), 1e-5 * std::abs(ev["nll"].get<double>()));
  int64_t diagonal = 0;
  for (size_t k = 0; k < 4; ++k) diagonal += ev["confusion"][k][k].get<int64_t>();
  EXPECT_EQ(diagonal, correct);
  std::string csv = read_text_file(run + "/eval/val_confusion.csv");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 5) << csv;

  auto two = testing::run_command(testing::mpirun() + " -np 2 " + testing::scouter_bin() + " evaluate " + run);
  ASSERT_EQ(two.exit_code, 0) << two.output;
  auto ev2 = nlohmann::json::parse(read_text_file(run + "/eval/val.json"));
  EXPECT_EQ(ev2["ranks"], 2);
  EXPECT_EQ(ev2["confusion"], ev["confusion"]);
  EXPECT_EQ(ev2["count"], ev["count"]);
  for (const char* k : {"loss", "nll", "attn", "area"})
    EXPECT_NEAR(ev2[k].get<double>(), ev[k].get<double>(), 1e-6 * std::abs(ev[k].get<double>())) << k;

  auto tr = testing::run_scouter("evaluate " + run + " --split train");
  ASSERT_EQ(tr.exit_code, 0) << tr.output;
  EXPECT_EQ(nlohmann::json::parse(read_text_file(run + "/eval/train.json"))["count"], 256);
  EXPECT_USAGE_ERROR(testing::run_scouter("evaluate " + run + " --img_size 56"),
                     "--img_size 56: the run was trained at img_size = 0 (the stored size, 28 px)");
  EXPECT_USAGE_ERROR(testing::run_scouter("evaluate " + run + " --split test"), "--split must be val or train");
}

}  // namespace
}  // namespace scouter
