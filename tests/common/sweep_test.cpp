#include "common/sweep.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "common/error.h"
#include "test_util.h"

namespace scouter {
namespace {

using testing::TempDir;

class SweepTest : public ::testing::Test {
 protected:
  Sweep load(const std::string& text, int64_t cores = 0) {
    testing::write_bytes(dir_.file("s.toml"), text);
    return load_sweep(dir_.file("s.toml"), dir_.file("out"), cores);
  }
  std::string error(const std::string& text, int64_t cores = 0) {
    try {
      load(text, cores);
    } catch (const UserError& e) {
      return std::string(e.what()) + " | " + e.hint();
    }
    ADD_FAILURE() << "no UserError for:\n" << text;
    return {};
  }
  TempDir dir_;
};

const char* kStudy = R"(
[sweep]
name = "study"

[resources]
ranks = 2
ranks_per_node = 2
threads_per_rank = 1

[defaults]
dataset = "MNIST"
model = "smallcnn"
num_classes = 4
epochs = 2

[runs.base]
use_slot = false
seeds = [1, 2]

[runs.pos]
use_pre = true
pre_run = "base"
lambda_value = [0.1, 1, 10]
seeds = [1, 2]
[runs.pos.resources]
ranks = 1
ranks_per_node = 1

[runs.neg]
loss_status = -1
slots_per_class = [1, 2]
power = [1, 2]
repeats = 2
)";

TEST_F(SweepTest, ExpandsGridsSeedsAndRepeatsWithStableNames) {
  Sweep s = load(kStudy);
  EXPECT_EQ(s.name, "study");
  // base: 2 seeds; pos: 3 lambdas x 2 seeds; neg: 2 x 2 grid x 2 repeats.
  ASSERT_EQ(s.runs.size(), 2u + 6u + 8u);
  EXPECT_EQ(s.runs[0].name, "base_seed1");
  EXPECT_EQ(s.runs[1].name, "base_seed2");
  ASSERT_NE(s.find("pos_lambda_value0.1_seed2"), nullptr);
  ASSERT_NE(s.find("pos_lambda_value10_seed1"), nullptr);
  // Grid keys in registry order (slots_per_class before power); repeats count from `seed` (42).
  ASSERT_NE(s.find("neg_slots_per_class2_power1_seed43"), nullptr);
  const SweepRun& p = *s.find("pos_lambda_value10_seed1");
  EXPECT_DOUBLE_EQ(p.config.lambda_value, 10);
  EXPECT_EQ(p.config.seed, 1);
  EXPECT_EQ(p.config.epochs, 2);  // from [defaults]
  EXPECT_EQ(p.setting, "pos_lambda_value10");
  EXPECT_EQ(p.dir, dir_.file("out") + "/pos_lambda_value10_seed1");
  EXPECT_EQ(p.config.output_dir, p.dir);
  EXPECT_TRUE(p.config.resume);
  EXPECT_EQ(p.resources.ranks, 1);                   // the run's own resources
  EXPECT_EQ(s.find("base_seed1")->resources.ranks, 2);  // the defaults
  EXPECT_EQ(s.find("neg_slots_per_class1_power2_seed42")->config.loss_status, -1);
  // The same file expands to the same names again.
  Sweep again = load(kStudy);
  for (size_t i = 0; i < s.runs.size(); ++i) EXPECT_EQ(s.runs[i].name, again.runs[i].name);
}

TEST_F(SweepTest, UsePreRunsWaitForTheFcBaseOfTheirSeed) {
  Sweep s = load(kStudy);
  const SweepRun& p = *s.find("pos_lambda_value1_seed2");
  ASSERT_EQ(p.depends_on, std::vector<std::string>{"base_seed2"});
  EXPECT_EQ(p.config.pre_checkpoint, s.find("base_seed2")->dir);
  // Dependencies come first in the run order.
  auto index = [&](const std::string& n) {
    for (size_t i = 0; i < s.runs.size(); ++i)
      if (s.runs[i].name == n) return i;
    return s.runs.size();
  };
  EXPECT_LT(index("base_seed2"), index("pos_lambda_value1_seed2"));
  EXPECT_TRUE(s.find("neg_slots_per_class1_power1_seed42")->depends_on.empty());
  EXPECT_NE(describe_sweep(s).find("after base_seed2"), std::string::npos);
}

TEST_F(SweepTest, BadInputsNameTheProblem) {
  const std::string head = "[defaults]\nmodel = \"smallcnn\"\n";
  EXPECT_NE(error(head + "[runs.a]\nlamda_value = 1\n").find("did you mean 'lambda_value'"), std::string::npos);
  EXPECT_NE(error(head + "[runs.a]\n[runs.a.resources]\nrank = 2\n").find("did you mean 'ranks'"), std::string::npos);
  EXPECT_NE(error("[swep]\nname = \"x\"\n[runs.a]\n").find("unknown section 'swep'"), std::string::npos);
  EXPECT_NE(error(head + "[resources]\nranks = [1, 2]\n[runs.a]\n").find("got a list"), std::string::npos);
  EXPECT_NE(error(head + "[runs.a]\noutput_dir = [\"x\", \"y\"]\n").find("single value"), std::string::npos);
  EXPECT_NE(error(head + "[runs.a]\nseed = [1, 2]\n").find("seeds = [...]"), std::string::npos);
  EXPECT_NE(error(head + "[runs.a]\nuse_pre = true\npre_run = \"nope\"\n").find("'nope', which does not exist"),
            std::string::npos);
  EXPECT_NE(error(head + "[runs.a]\nuse_pre = true\npre_run = \"b\"\n[runs.b]\nuse_pre = true\npre_run = \"a\"\n")
                .find("dependency cycle: a -> b -> a"),
            std::string::npos);
  EXPECT_NE(error(head + "[runs.a]\nuse_pre = true\n").find("no FC base run"), std::string::npos);
  EXPECT_NE(error(head + "[runs.b]\nuse_slot = true\n[runs.a]\nuse_pre = true\npre_run = \"b\"\n").find("not an FC baseline"),
            std::string::npos);
  EXPECT_NE(error(head + "[resources]\nranks = 3\nranks_per_node = 2\n[runs.a]\n").find("not a multiple"), std::string::npos);
  EXPECT_NE(error(head + "[resources]\nranks = 4\nranks_per_node = 4\nthreads_per_rank = 2\n[runs.a]\n", 2)
                .find("need 8 cores; a node has 2"),
            std::string::npos);
  EXPECT_NE(error(head + "device = \"cuda\"\n[resources]\nranks = 2\nranks_per_node = 2\ngpus_per_node = 1\n[runs.a]\n")
                .find("gpus_per_node"),
            std::string::npos);
  EXPECT_NE(error(head + "[resources]\ntime_limit = \"2 hours\"\n[runs.a]\n").find("not a Slurm time"), std::string::npos);
  EXPECT_NE(error(head + "[runs.a]\nloss_status = [1, 0]\n").find("loss_status"), std::string::npos);
  EXPECT_NE(error(head).find("no runs"), std::string::npos);
}

// The shipped study files (the published run matrix and the quickstart) must stay valid.
TEST(Experiments, EveryShippedSweepExpands) {
  TempDir out;
  for (const auto& e : std::filesystem::directory_iterator(testing::source_dir() + "/experiments")) {
    if (e.path().extension() != ".toml") continue;
    Sweep s = load_sweep(e.path().string(), out.path());
    EXPECT_GE(s.runs.size(), 3u) << e.path();
    bool has_fc = false;
    for (const auto& r : s.runs) has_fc = has_fc || !r.config.use_slot;
    EXPECT_TRUE(has_fc) << e.path() << " has no FC base run";
  }
  Sweep q = load_sweep(testing::source_dir() + "/experiments/fashion_mnist.toml", out.path());
  ASSERT_NE(q.find("scouter_neg"), nullptr);
  EXPECT_EQ(q.find("scouter_neg")->depends_on, std::vector<std::string>{"fc"});
}

}  // namespace
}  // namespace scouter
