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
    return load_sweep(dir_.file("s.toml"), dir_.file("out"),
                      [cores](const std::string&, const std::string&) { return cores; });
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

// A site's keys in [resources], overridden per run; mem and mem_per_cpu replace each other.
TEST_F(SweepTest, SiteKeysAreReadAndARunOverridesThem) {
  Sweep s = load(R"(
[resources]
qos = "high"
constraint = "skylake|icelake"
mem = "16G"
gpus_per_task = 1
gpus_per_node = 2
ranks = 2
ranks_per_node = 2
sbatch = ["--exclusive", "--reservation=maint"]
setup = ["module load openmpi/4.1 hdf5", "source $HOME/env.sh"]
launcher = "apptainer exec --nv --bind /scratch scouter.sif"
srun_mpi = "pmi2"
[defaults]
model = "smallcnn"
[runs.a]
[runs.b]
[runs.b.resources]
mem_per_cpu = 4000
setup = "module load cuda"
scouter = "/opt/scouter/bin/scouter"
srun_mpi = "none"
)");
  const Resources& a = s.find("a")->resources;
  EXPECT_EQ(a.qos, "high");
  EXPECT_EQ(a.constraint, "skylake|icelake");
  EXPECT_EQ(a.mem, "16G");
  EXPECT_EQ(a.mem_per_cpu, "");
  EXPECT_EQ(a.gpus_per_task, 1);
  EXPECT_EQ(a.sbatch, (std::vector<std::string>{"--exclusive", "--reservation=maint"}));
  EXPECT_EQ(a.setup, (std::vector<std::string>{"module load openmpi/4.1 hdf5", "source $HOME/env.sh"}));
  EXPECT_EQ(a.launcher, "apptainer exec --nv --bind /scratch scouter.sif");
  EXPECT_EQ(a.scouter, "");
  EXPECT_EQ(a.srun_mpi, "pmi2");
  const Resources& b = s.find("b")->resources;
  EXPECT_EQ(b.mem, "");  // the run's mem_per_cpu replaces the defaults' mem
  EXPECT_EQ(b.mem_per_cpu, "4000");
  EXPECT_EQ(b.setup, std::vector<std::string>{"module load cuda"});
  EXPECT_EQ(b.scouter, "/opt/scouter/bin/scouter");
  EXPECT_EQ(b.srun_mpi, "none");
  EXPECT_EQ(b.qos, "high");  // the rest from [resources]
  EXPECT_EQ(Resources{}.srun_mpi, "pmix");
  const std::string listing = describe_sweep(s);
  EXPECT_NE(listing.find("qos high, constraint skylake|icelake, mem 16G"), std::string::npos) << listing;
  EXPECT_NE(listing.find("launcher apptainer exec --nv --bind /scratch scouter.sif"), std::string::npos) << listing;
}

TEST_F(SweepTest, BadSiteKeysNameTheLineAndWhatIsValid) {
  const std::string file = dir_.file("s.toml");
  auto bad = [&](const std::string& resources) {
    return error("[defaults]\nmodel = \"smallcnn\"\n[runs.a]\n[runs.a.resources]\n" + resources);
  };
  auto has = [](const std::string& msg, const std::string& text) {
    return msg.find(text) != std::string::npos;
  };
  std::string m = bad("mem = \"16 GB\"\n");
  EXPECT_TRUE(has(m, file + ":5: 'mem' = \"16 GB\" is not a Slurm size")) << m;
  EXPECT_TRUE(has(m, "a number of MB, or one with a unit K, M, G or T")) << m;
  m = bad("mem_per_cpu = \"4 G\"\n");
  EXPECT_TRUE(has(m, file + ":5: 'mem_per_cpu' = \"4 G\" is not a Slurm size")) << m;
  m = bad("mem = \"16G\"\nmem_per_cpu = \"2G\"\n");
  EXPECT_TRUE(has(m, "mem and mem_per_cpu are both set (the other at " + file + ":5)")) << m;
  EXPECT_TRUE(has(bad("gpus_per_task = -1\n"), file + ":5: 'gpus_per_task' must be an integer >= 0"));
  m = bad("sbatch = [\"exclusive\"]\n");
  EXPECT_TRUE(has(m, file + ":5: sbatch line \"exclusive\" is not an sbatch option")) << m;
  EXPECT_TRUE(has(m, "--reservation=maint")) << m;
  EXPECT_TRUE(has(bad("sbatch = [\"--exclusive\\n--hold\"]\n"), "a multi-line line"));
  EXPECT_TRUE(has(bad("sbatch = [\"--partition=big\"]\n"), "scouter writes --partition itself | set it with partition"));
  EXPECT_TRUE(has(bad("sbatch = [\"-p big\"]\n"), "set it with partition"));
  EXPECT_TRUE(has(bad("sbatch = [\"--array=0-3\"]\n"), "set it with array_throttle"));
  EXPECT_TRUE(has(bad("sbatch = [\"--output=x.out\"]\n"), "the sweep sets it for every job"));
  EXPECT_TRUE(has(bad("sbatch = [3]\n"), file + ":5: 'sbatch' must be a string or a list of strings"));
  EXPECT_TRUE(has(bad("setup = 3\n"), file + ":5: 'setup' must be a string or a list of strings"));
  EXPECT_TRUE(has(bad("setup = [\"module load a\\nmodule load b\"]\n"), "one line per list item"));
  EXPECT_TRUE(has(bad("setup = [\"\"]\n"), "holds an empty line"));
  EXPECT_TRUE(has(bad("launcher = \"\"\n"), file + ":5: 'launcher' must be one non-empty line"));
  EXPECT_TRUE(has(bad("scouter = [\"a\"]\n"), "'scouter' must be a single string, got a list"));
  m = bad("srun_mpi = \"pmi3\"\n");
  EXPECT_TRUE(has(m, file + ":5: srun_mpi = \"pmi3\" is not an MPI plugin of srun")) << m;
  EXPECT_TRUE(has(m, "valid: pmix, pmix_v3, pmix_v4, pmix_v5, pmi2, cray_shasta, none")) << m;
  EXPECT_TRUE(has(bad("qos = \"high prio\"\n"), "'qos' must be one word without spaces or quotes"));
  EXPECT_TRUE(has(bad("lanucher = \"x\"\n"), "unknown resource 'lanucher' | did you mean 'launcher'?"));
  m = bad("ranks = 2\nranks_per_node = 2\ngpus_per_node = 2\ngpus_per_task = 2\n");
  EXPECT_TRUE(has(m, "gpus_per_task = 2 for 2 ranks per node needs 4 GPUs; gpus_per_node = 2")) << m;
  // One GPU per task meets device = "cuda" without gpus_per_node.
  EXPECT_NO_THROW(load("[defaults]\nmodel = \"smallcnn\"\ndevice = \"cuda\"\n[resources]\nranks = 2\n"
                       "ranks_per_node = 2\ngpus_per_task = 1\n[runs.a]\n"));
}

// The node size comes from the run's own partition; a partition the cluster lacks is refused
// where the run is written.
TEST_F(SweepTest, EachRunIsCheckedAgainstItsPartitionsNodes) {
  std::vector<std::string> asked;
  auto cores = [&](const std::string& partition, const std::string& where) -> int64_t {
    asked.push_back(partition);
    if (partition == "nope") throw UserError(where + ": partition 'nope' is not one of this cluster's");
    return partition == "big" ? 64 : 4;
  };
  testing::write_bytes(dir_.file("p.toml"),
                       "[resources]\nranks = 8\nranks_per_node = 8\n[defaults]\nmodel = \"smallcnn\"\n"
                       "[runs.a]\n[runs.a.resources]\npartition = \"big\"\n[runs.b]\n");
  try {
    load_sweep(dir_.file("p.toml"), dir_.file("out"), cores);
    ADD_FAILURE() << "8 ranks fit a 4-core node";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find(dir_.file("p.toml") + ":9: resources cannot be met: 8 ranks x 1 threads per node need 8 cores; a node has 4"),
              std::string::npos) << e.what();
  }
  EXPECT_EQ(asked, (std::vector<std::string>{"big", ""}));
  testing::write_bytes(dir_.file("q.toml"),
                       "[resources]\nranks = 8\nranks_per_node = 8\npartition = \"big\"\n[defaults]\n"
                       "model = \"smallcnn\"\n[runs.a]\n");
  Sweep s = load_sweep(dir_.file("q.toml"), dir_.file("out"), cores);
  EXPECT_EQ(s.runs[0].node_cores, 64);
  testing::write_bytes(dir_.file("r.toml"), "[resources]\npartition = \"nope\"\n[runs.a]\n");
  EXPECT_NE(testing::user_error_message([&] { load_sweep(dir_.file("r.toml"), "", cores); })
                .find(dir_.file("r.toml") + ":3: partition 'nope'"),
            std::string::npos);
}

// [sweep] dir expands on the submitting host; --dir is taken as given.
TEST_F(SweepTest, SweepDirNamesEnvironmentVariables) {
  setenv("SCOUTER_TEST_SCRATCH", dir_.path().c_str(), 1);
  unsetenv("SCOUTER_TEST_UNSET");
  const std::string runs = "[defaults]\nmodel = \"smallcnn\"\n[runs.a]\n";
  testing::write_bytes(dir_.file("e.toml"), "[sweep]\ndir = \"${SCOUTER_TEST_SCRATCH}/study\"\n" + runs);
  Sweep s = load_sweep(dir_.file("e.toml"));
  EXPECT_EQ(s.dir, dir_.path() + "/study");
  EXPECT_EQ(s.runs[0].dir, dir_.path() + "/study/a");
  EXPECT_EQ(s.runs[0].config.output_dir, dir_.path() + "/study/a");
  testing::write_bytes(dir_.file("u.toml"), "[sweep]\ndir = \"${SCOUTER_TEST_UNSET}/study\"\n" + runs);
  EXPECT_NE(testing::user_error_message([&] { load_sweep(dir_.file("u.toml")); })
                .find(dir_.file("u.toml") + ":2: dir: environment variable SCOUTER_TEST_UNSET is not set on "),
            std::string::npos);
  EXPECT_EQ(load_sweep(dir_.file("u.toml"), dir_.file("given")).dir, dir_.file("given"));
  // A rank's path keys stay as written in run.toml: they expand where the rank runs.
  testing::write_bytes(dir_.file("k.toml"),
                       "[defaults]\nmodel = \"smallcnn\"\nstage_dir = \"${TMPDIR}/scouter\"\n"
                       "dataset_dir = \"$SCOUTER_TEST_UNSET/data\"\n[runs.a]\n");
  Sweep k = load_sweep(dir_.file("k.toml"), dir_.file("out"));
  EXPECT_EQ(k.runs[0].config.stage_dir, "${TMPDIR}/scouter");
  EXPECT_EQ(k.runs[0].config.dataset_dir, "$SCOUTER_TEST_UNSET/data");
}

// A grid list of n numbers: "[1, 2, ..., n]".
std::string list_of(int n) {
  std::string s = "[";
  for (int i = 1; i <= n; ++i) s += (i > 1 ? ", " : "") + std::to_string(i);
  return s + "]";
}

// The fuzzed inputs that overflowed std::regex's recursion are refused by their length, with the
// limit in the hint; a message shows at most a cut, escaped piece of them.
TEST_F(SweepTest, LongNamesAndTimesAreRefusedByLength) {
  const std::string head = "[defaults]\nmodel = \"smallcnn\"\n";
  std::string m = error(head + "[runs." + std::string(40000, 'a') + "]\n");
  EXPECT_NE(m.find("is not a folder name"), std::string::npos) << m.substr(0, 300);
  EXPECT_NE(m.find("use 1 to 200 letters"), std::string::npos) << m.substr(0, 300);
  EXPECT_LT(m.size(), 400u);
  const std::string at_limit(200, 'b');
  EXPECT_EQ(load(head + "[runs." + at_limit + "]\n").runs.at(0).name, at_limit);
  // "." and ".." would name the sweep's folder or its parent.
  EXPECT_NE(error(head + "[runs.\"..\"]\n").find("is not a folder name"), std::string::npos);
  // The sweep's name names its default folder runs/NAME and its Slurm jobs: the same rules.
  for (const std::string& bad : {std::string(201, 'n'), std::string(".."), std::string("a/b"), std::string("")}) {
    m = error("[sweep]\nname = \"" + bad + "\"\n" + head + "[runs.a]\n");
    EXPECT_NE(m.find(dir_.file("s.toml") + ":2: [sweep] name '"), std::string::npos) << m.substr(0, 300);
    EXPECT_NE(m.find("is not a folder name"), std::string::npos) << m.substr(0, 300);
    EXPECT_LT(m.size(), 400u);
  }
  EXPECT_EQ(load("[sweep]\nname = \"" + at_limit + "\"\n" + head + "[runs.a]\n").name, at_limit);
  m = error(head + "[resources]\ntime_limit = \"" + std::string(200000, '9') + "\"\n[runs.a]\n");
  EXPECT_NE(m.find(dir_.file("s.toml") + ":4: time_limit \"999"), std::string::npos) << m.substr(0, 300);
  EXPECT_NE(m.find("(200000 bytes)\" is not a Slurm time"), std::string::npos) << m.substr(0, 300);
  EXPECT_LT(m.size(), 400u);
  m = error(head + "[resources]\nmem = \"" + std::string(200000, '9') + "G\"\n[runs.a]\n");
  EXPECT_NE(m.find("is not a Slurm size"), std::string::npos) << m.substr(0, 300);
  EXPECT_LT(m.size(), 400u);
  // The hand-written scan takes what the regex took, and refuses what it refused.
  for (const char* t : {"90", "4:00:00", "12:00:00", "2-12:00:00"})
    EXPECT_EQ(load(head + "[resources]\ntime_limit = \"" + t + "\"\n[runs.a]\n").runs.at(0).resources.time_limit, t);
  for (const char* t : {"", "1:2:3", "123:00:00", "2-", "-1", "1-90", "12:00", "12:00:00x"})
    EXPECT_NE(error(head + "[resources]\ntime_limit = \"" + t + "\"\n[runs.a]\n").find("not a Slurm time"),
              std::string::npos) << t;
  for (const char* mem : {"", "G", "16GB", "1 6G", "16g "})
    EXPECT_NE(error(head + "[resources]\nmem = \"" + mem + "\"\n[runs.a]\n").find("not a Slurm size"),
              std::string::npos) << mem;
  EXPECT_EQ(load(head + "[resources]\nmem = \"16g\"\n[runs.a]\n").runs.at(0).resources.mem, "16g");
}

// The product of grid sizes and seeds is checked before any run is built: a repeats or a grid
// beyond 10,000 runs is one error naming the file, the count and the limit, without the memory.
TEST_F(SweepTest, RunCountBeyondTheLimitIsRefusedBeforeExpanding) {
  const std::string head = "[defaults]\nmodel = \"smallcnn\"\n";
  std::string m = error(head + "[runs.a]\nrepeats = 1000000000\n");
  EXPECT_NE(m.find(dir_.file("s.toml") + ":4: repeats = 1000000000 is more than the 10000 runs"),
            std::string::npos) << m;
  m = error(head + "[runs.a]\nlambda_value = " + list_of(400) + "\npower = " + list_of(400) + "\n");
  EXPECT_NE(m.find(dir_.file("s.toml") + ": the sweep expands to 160000 runs (runs.a at " +
                   dir_.file("s.toml") + ":3: 160000); at most 10000"),
            std::string::npos) << m;
  // Two runs under the limit each, over it together.
  m = error(head + "[runs.a]\nrepeats = 6000\n[runs.b]\nseeds = " + list_of(4001) + "\n");
  EXPECT_NE(m.find("expands to 10001 runs (runs.a at"), std::string::npos) << m;
  // A product that does not fit 64 bits does not wrap to a small number.
  std::string huge = head + "[runs.a]\n";
  for (const char* k : {"lr", "power", "lambda_value", "weight_decay", "bucket_mb", "collective_timeout",
                        "infidelity_sigma", "sensitivity_radius", "batch_size", "epochs"})
    huge += std::string(k) + " = " + list_of(100) + "\n";  // 100^10 = 10^20 > 2^64
  m = error(huge);
  EXPECT_NE(m.find("expands to more than 2^64 runs"), std::string::npos) << m;
}

// At the limit every run is built; a dependent run finds its base's run of the same seed and grid
// values among 5,000 (by look-up, not by a scan per run).
TEST_F(SweepTest, ASweepAtTheLimitExpandsToEveryRun) {
  Sweep s = load("[defaults]\nmodel = \"smallcnn\"\n[runs.a]\nlambda_value = " + list_of(100) +
                 "\npower = " + list_of(100) + "\n");
  EXPECT_EQ(s.runs.size(), 10000u);
  EXPECT_EQ(s.runs.back().name, "a_power100_lambda_value100");
  s = load("[defaults]\nmodel = \"smallcnn\"\n[runs.fc]\nuse_slot = false\nlambda_value = " + list_of(50) +
           "\nrepeats = 100\n[runs.pos]\nuse_pre = true\npre_run = \"fc\"\nlambda_value = " + list_of(50) +
           "\nrepeats = 100\n");
  ASSERT_EQ(s.runs.size(), 10000u);
  const SweepRun* p = s.find("pos_lambda_value37_seed141");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->depends_on, std::vector<std::string>{"fc_lambda_value37_seed141"});
}

// A base run is an FC baseline, which starts from no other run: a chain is refused at once.
TEST_F(SweepTest, ABaseThatHasABaseIsRefused) {
  const std::string m = error(
      "[defaults]\nmodel = \"smallcnn\"\n[runs.c]\nuse_slot = false\n[runs.b]\nuse_pre = true\npre_run = \"c\"\n"
      "[runs.a]\nuse_pre = true\npre_run = \"b\"\n");
  EXPECT_NE(m.find(":8: run 'a' starts from 'b', which itself starts from 'c'"), std::string::npos) << m;
}

// lr = 2^53 + 1 (no double holds it) is the nearest double, as --lr takes it.
TEST_F(SweepTest, AnIntegerForAFloatKeyIsTheNearestDouble) {
  Sweep s = load("[defaults]\nmodel = \"smallcnn\"\nlr = 9007199254740993\n[runs.a]\n"
                 "lambda_value = [9007199254740993, 1]\n");
  Config cli;
  apply_override(cli, "lr", "9007199254740993");
  ASSERT_EQ(s.runs.size(), 2u);
  EXPECT_EQ(s.runs[0].config.lr, cli.lr);
  EXPECT_EQ(s.runs[0].config.lambda_value, cli.lr);
  EXPECT_EQ(cli.lr, 9007199254740992.0);
}

// Bytes of the file in a message are escaped and cut.
TEST_F(SweepTest, FileBytesInMessagesAreEscapedAndCut) {
  const std::string head = "[defaults]\nmodel = \"smallcnn\"\n";
  std::string m = error(head + "[runs.a]\n\"bad\\u001bkey\" = 1\n");
  EXPECT_NE(m.find("unknown config key 'bad\\x1bkey'"), std::string::npos) << m;
  m = error(head + "[runs.a]\n[runs.a.resources]\nsetup = \"ok\\u0007\\nrm\"\n");
  EXPECT_NE(m.find("multi-line line \"ok\\x07\\x0arm\""), std::string::npos) << m;
  m = error(head + "[runs.a]\n\"" + std::string(40000, 'k') + "\" = 1\n");
  EXPECT_NE(m.find("(40000 bytes)'"), std::string::npos) << m.substr(0, 300);
  EXPECT_LT(m.size(), 600u);
  m = error(head + "[runs.a]\nuse_pre = true\npre_run = \"" + std::string(40000, 'p') + "\"\n");
  EXPECT_NE(m.find("(40000 bytes)', which does not exist"), std::string::npos) << m.substr(0, 300);
  EXPECT_LT(m.size(), 600u);
  m = error(head + "[runs.a]\n[runs.a.resources]\nsrun_mpi = \"\\u0000\"\n");
  EXPECT_NE(m.find("srun_mpi = \"\\x00\" is not"), std::string::npos) << m;
  for (char c : m) EXPECT_NE(c, '\0');
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
