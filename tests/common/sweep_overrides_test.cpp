// `scouter sweep --set` and `--smoke true` (common/sweep_overrides.h): a config key replaces the
// file's value in [defaults] and in every run that sets it (lists and seeds too), sweep.KEY and
// resources.KEY their tables, [smoke] first; every mistake is one error naming the --set argument
// or the [smoke] line, with the nearest valid name.
#include "common/sweep_overrides.h"

#include <gtest/gtest.h>

#include "common/error.h"
#include "test_util.h"

namespace scouter {
namespace {

const char* kStudy = R"(
[sweep]
name = "study"
explain_images = 10

[resources]
ranks = 1
ranks_per_node = 1
time_limit = "01:00:00"

[defaults]
dataset = "MNIST"
model = "smallcnn"
num_classes = 4
seeds = [1, 2, 3]

[runs.base]
use_slot = false
epochs = 5

[runs.pos]
use_pre = true
pre_run = "base"
lambda_value = [1.0, 3.0]
[runs.pos.resources]
time_limit = "02:00:00"

[smoke]
epochs = 1
seeds = [7]
sweep.explain_images = 2
resources.time_limit = "00:05:00"
)";

class SweepOverridesTest : public ::testing::Test {
 protected:
  Sweep load(const SweepOverrides& o, const std::string& text = kStudy) {
    testing::write_bytes(dir_.file("s.toml"), text);
    return load_sweep(dir_.file("s.toml"), dir_.file("out"), {}, {}, o);
  }
  std::string error(const SweepOverrides& o, const std::string& text = kStudy) {
    try {
      load(o, text);
    } catch (const UserError& e) {
      return std::string(e.what()) + " | " + e.hint();
    }
    ADD_FAILURE() << "no UserError";
    return {};
  }
  static SweepOverrides sets(std::vector<std::string> s, bool smoke = false) {
    SweepOverrides o;
    o.sets = std::move(s);
    o.smoke = smoke;
    return o;
  }
  std::vector<std::string> names(const Sweep& s) {
    std::vector<std::string> v;
    for (const auto& r : s.runs) v.push_back(r.name);
    return v;
  }
  testing::TempDir dir_;
};

TEST_F(SweepOverridesTest, WithoutOverridesTheFileIsAsWritten) {
  Sweep s = load({});
  ASSERT_EQ(s.runs.size(), 9u);  // base x 3 seeds, pos x 2 lambdas x 3 seeds
  EXPECT_EQ(s.explain_images, 10);
  EXPECT_EQ(s.find("base_seed1")->config.epochs, 5);
  EXPECT_EQ(s.find("pos_lambda_value3_seed2")->resources.time_limit, "02:00:00");
}

TEST_F(SweepOverridesTest, ConfigKeyReplacesDefaultsAndEveryRun) {
  Sweep s = load(sets({"epochs=2", "lr=1e-3", "device=auto", "dataset_dir=data/x y"}));
  for (const auto& r : s.runs) {
    EXPECT_EQ(r.config.epochs, 2) << r.name;  // base set it itself, pos took the defaults'
    EXPECT_DOUBLE_EQ(r.config.lr, 1e-3) << r.name;
    EXPECT_EQ(r.config.device, "auto") << r.name;  // a bare word is a string
    EXPECT_EQ(r.config.dataset_dir, "data/x y") << r.name;
  }
}

TEST_F(SweepOverridesTest, ListsReplaceGridsAndSeedsTakeOneOrAList) {
  EXPECT_EQ(names(load(sets({"lambda_value=[10]", "seeds=4"}))),
            (std::vector<std::string>{"base_lambda_value10_seed4", "pos_lambda_value10_seed4"}));
  Sweep s = load(sets({"seeds=[5, 6]"}));
  EXPECT_EQ(names(s),
            (std::vector<std::string>{"base_seed5", "base_seed6", "pos_lambda_value1_seed5",
                                      "pos_lambda_value1_seed6", "pos_lambda_value3_seed5",
                                      "pos_lambda_value3_seed6"}));
  EXPECT_EQ(s.find("pos_lambda_value3_seed6")->config.lambda_value, 3.0);
  // repeats replaces seeds (and seeds replaces repeats): seed 0, 1 from the default seed.
  EXPECT_EQ(load(sets({"repeats=2", "lambda_value=1"})).runs.size(), 4u);
}

TEST_F(SweepOverridesTest, SweepAndResourcesKeysSetTheirTables) {
  Sweep s = load(
      sets({"sweep.explain_images=0", "sweep.dir=elsewhere", "resources.time_limit=00:30:00"}));
  EXPECT_EQ(s.explain_images, 0);
  EXPECT_EQ(s.dir, dir_.file("out"));  // --dir still wins over the file's dir
  for (const auto& r : s.runs) EXPECT_EQ(r.resources.time_limit, "00:30:00") << r.name;
}

TEST_F(SweepOverridesTest, SmokeAppliesTheFilesTableBeforeSet) {
  Sweep s = load(sets({}, true));
  EXPECT_EQ(names(s), (std::vector<std::string>{"base_seed7", "pos_lambda_value1_seed7",
                                                "pos_lambda_value3_seed7"}));
  EXPECT_EQ(s.explain_images, 2);
  for (const auto& r : s.runs) {
    EXPECT_EQ(r.config.epochs, 1);
    EXPECT_EQ(r.resources.time_limit, "00:05:00");
  }
  s = load(sets({"epochs=3", "sweep.explain_images=4"}, true));
  EXPECT_EQ(s.runs[0].config.epochs, 3);
  EXPECT_EQ(s.explain_images, 4);
}

TEST_F(SweepOverridesTest, MistakesNameTheArgumentOrLine) {
  EXPECT_NE(error(sets({"epoch=1"}))
                .find("--set epoch=1: unknown config key 'epoch' | did you mean 'epochs'?"),
            std::string::npos);
  EXPECT_NE(error(sets({"sweep.explain=1"}))
                .find("--set sweep.explain=1: unknown [sweep] key 'explain' | valid: name, dir"),
            std::string::npos);
  EXPECT_NE(
      error(sets({"resources.rank=1"})).find("--set resources.rank=1: unknown resource 'rank'"),
      std::string::npos);
  EXPECT_NE(error(sets({"runs.pos.epochs=1"})).find("unknown override 'runs.pos.epochs'"),
            std::string::npos);
  EXPECT_NE(error(sets({"epochs"})).find("expected KEY=VALUE"), std::string::npos);
  EXPECT_NE(error(sets({"epochs=many"}))
                .find("--set epochs=many: key 'epochs' must be an integer, got a string"),
            std::string::npos);
  EXPECT_NE(error(sets({"seeds=[]"})).find("'seeds' is an empty list"), std::string::npos);
  EXPECT_NE(error(sets({"seed=[1, 2]"})).find("use seeds=[...]"), std::string::npos);
  EXPECT_NE(error(sets({"output_dir=x"})).find("'output_dir' is set by the sweep"),
            std::string::npos);
  EXPECT_NE(
      error(sets({"sweep.explain_images=-1"})).find("'explain_images' must be an integer >= 0"),
      std::string::npos);
  // --smoke on a file without [smoke]; a typo in [smoke] fails even without --smoke.
  const std::string no_smoke = std::string(kStudy).substr(0, std::string(kStudy).find("[smoke]"));
  EXPECT_NE(error(sets({}, true), no_smoke).find("no [smoke] table"), std::string::npos);
  EXPECT_NE(error({}, std::string(kStudy) + "epoch = 1\n").find(":33: unknown config key 'epoch'"),
            std::string::npos);
  EXPECT_NE(error({}, std::string(kStudy) + "[smoke.runs]\n").find("unexpected table 'smoke.runs'"),
            std::string::npos);
}

}  // namespace
}  // namespace scouter
