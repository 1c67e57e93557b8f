#include "common/env_paths.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <map>

#include "common/error.h"
#include "test_util.h"

namespace scouter {
namespace {

const std::map<std::string, std::string> kEnv = {{"A", "/a"}, {"TMPDIR", "/tmp/job7"}, {"EMPTY", ""}};
const char* lookup(const std::string& name) {
  auto it = kEnv.find(name);
  return it == kEnv.end() ? nullptr : it->second.c_str();
}

std::string expand(const std::string& text) { return expand_env(text, "run.toml:3: stage_dir", lookup); }

std::string failure(const std::string& text) {
  try {
    expand(text);
  } catch (const UserError& e) {
    return std::string(e.what()) + " | " + e.hint();
  }
  ADD_FAILURE() << "no UserError for " << text;
  return {};
}

std::string host() {
  char h[256] = {};
  gethostname(h, sizeof h - 1);
  return h;
}

TEST(EnvPaths, ExpandsVariablesDefaultsAndDollarDollar) {
  EXPECT_EQ(expand("${TMPDIR}/scouter"), "/tmp/job7/scouter");
  EXPECT_EQ(expand("$TMPDIR/scouter"), "/tmp/job7/scouter");
  EXPECT_EQ(expand("$A$A.x"), "/a/a.x");  // a name ends at the first character not in [A-Za-z0-9_]
  EXPECT_EQ(expand("${UNSET:-/scratch}/s"), "/scratch/s");
  EXPECT_EQ(expand("${EMPTY:-/scratch}"), "/scratch");  // as in the shell: empty takes the default
  EXPECT_EQ(expand("${TMPDIR:-/scratch}"), "/tmp/job7");
  EXPECT_EQ(expand("${UNSET:-${A}/d}"), "/a/d");  // a default may name variables
  EXPECT_EQ(expand("${UNSET:-}x"), "x");
  EXPECT_EQ(expand("runs/a$$b"), "runs/a$b");
  EXPECT_EQ(expand("plain/path"), "plain/path");
}

TEST(EnvPaths, MistakesNameTheKeyTheVariableAndTheHost) {
  std::string m = failure("${NOPE}/scouter");
  EXPECT_NE(m.find("run.toml:3: stage_dir: environment variable NOPE is not set on " + host() +
                   " (in \"${NOPE}/scouter\")"),
            std::string::npos) << m;
  EXPECT_NE(m.find("${NAME:-/tmp}"), std::string::npos) << m;
  EXPECT_NE(failure("$NOPE").find("environment variable NOPE is not set"), std::string::npos);
  EXPECT_NE(failure("${EMPTY}/x").find("environment variable EMPTY is empty on "), std::string::npos);
  EXPECT_NE(failure("a$").find("a lone '$' at character 2 in \"a$\" | write $$ for a literal $"), std::string::npos);
  EXPECT_NE(failure("a$/b").find("a lone '$'"), std::string::npos);
  EXPECT_NE(failure("${A").find("a '${' without its '}'"), std::string::npos);
  EXPECT_NE(failure("${A-x}").find("'${A-x}' is not a variable in \"${A-x}\" | write ${NAME} or ${NAME:-default}"), std::string::npos);
  EXPECT_NE(failure("${1A}").find("is not a variable"), std::string::npos);
  EXPECT_NE(failure("${}").find("is not a variable"), std::string::npos);
}

// The rank uses the expansion; the run's config keeps what was written (a requeued job expands
// it again on its node), with the expansion beside it.
TEST(EnvPaths, ConfigKeepsTheTextAsWrittenWithItsExpansion) {
  Config c;
  c.stage_dir = "${TMPDIR}/scouter";
  c.dataset_dir = "data/mnist";
  c.output_dir = "$A/runs/x";
  expand_env_paths(c, {{"stage_dir", "run.toml:7"}}, env_path_keys(), lookup);
  EXPECT_EQ(c.stage_dir, "/tmp/job7/scouter");
  EXPECT_EQ(c.output_dir, "/a/runs/x");
  EXPECT_EQ(c.dataset_dir, "data/mnist");
  EXPECT_EQ(c.as_written.size(), 2u);
  EXPECT_EQ(c.as_written.at("stage_dir"), "${TMPDIR}/scouter");
  EXPECT_EQ(c.expanded_on, host());
  const std::string toml = to_toml(c);
  EXPECT_NE(toml.find("stage_dir = \"${TMPDIR}/scouter\"  # \"/tmp/job7/scouter\" on " + host() +
                      " (each rank expands it where it runs); "),
            std::string::npos) << toml;
  EXPECT_NE(toml.find("dataset_dir = \"data/mnist\"  # folder"), std::string::npos) << toml;
  EXPECT_NE(to_table(c).find("\"/tmp/job7/scouter\" (from \"${TMPDIR}/scouter\")"), std::string::npos);
  Config back;
  apply_toml_text(back, toml, "config.toml");
  EXPECT_EQ(back.stage_dir, "${TMPDIR}/scouter");
  EXPECT_EQ(back.output_dir, "$A/runs/x");
  EXPECT_TRUE(back.as_written.empty());
  EXPECT_EQ(to_toml(back), to_toml(Config(back)));

  // Only the keys asked for; the error names where the key was set.
  Config d;
  d.stage_dir = "${NOPE}";
  d.output_dir = "${NOPE}/o";
  expand_env_paths(d, {}, {"dataset_dir"}, lookup);
  EXPECT_EQ(d.stage_dir, "${NOPE}");
  EXPECT_NE(testing::user_error_message([&] { expand_env_paths(d, {{"stage_dir", "--stage_dir"}}, {"stage_dir"}, lookup); })
                .find("command line: --stage_dir: environment variable NOPE is not set"),
            std::string::npos);
  EXPECT_NE(testing::user_error_message([&] { expand_env_paths(d, {{"output_dir", "a.toml:2"}}, {"output_dir"}, lookup); })
                .find("a.toml:2: output_dir: environment variable NOPE"),
            std::string::npos);
}

TEST(EnvPaths, ReadsTheProcessEnvironmentByDefault) {
  setenv("SCOUTER_TEST_ENV_PATH", "/from/env", 1);
  EXPECT_EQ(expand_env("${SCOUTER_TEST_ENV_PATH}/x", "k"), "/from/env/x");
  unsetenv("SCOUTER_TEST_ENV_PATH");
  EXPECT_NE(testing::user_error_message([] { expand_env("$SCOUTER_TEST_ENV_PATH", "k"); })
                .find("k: environment variable SCOUTER_TEST_ENV_PATH is not set"),
            std::string::npos);
}

}  // namespace
}  // namespace scouter
