#include "common/config.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/error.h"
#include "common/text.h"
#include "test_util.h"

namespace scouter {
namespace {

using testing::TempDir;
using testing::write_bytes;

// The message of the UserError thrown by f (fails the test if none is thrown).
template <typename F>
std::string user_error(F f) {
  try {
    f();
  } catch (const UserError& e) {
    return std::string(e.what()) + " | " + e.hint();
  }
  ADD_FAILURE() << "no UserError thrown";
  return {};
}

TEST(Config, DefaultsAreValidAndMatchThePublishedCode) {
  Config c;
  EXPECT_NO_THROW(validate(c));
  EXPECT_EQ(c.hidden_dim, 64);
  EXPECT_EQ(c.lr_drop, 70);
  EXPECT_DOUBLE_EQ(c.lr, 1e-4);
  EXPECT_DOUBLE_EQ(c.weight_decay, 0.01);  // the published flag was never passed to AdamW
  EXPECT_EQ(c.img_size, 260);
}

TEST(Config, TomlFileThenOverrides) {
  TempDir dir;
  write_bytes(dir.file("run.toml"),
              "model = \"smallcnn\"\nbatch_size = 32\nlambda_value = 2\nuse_slot = false\n");
  Config c;
  Origins o;
  apply_toml_file(c, dir.file("run.toml"), &o);
  EXPECT_EQ(c.model, "smallcnn");
  EXPECT_EQ(c.batch_size, 32);
  EXPECT_DOUBLE_EQ(c.lambda_value, 2.0);  // an integer is accepted for a float key
  EXPECT_FALSE(c.use_slot);
  EXPECT_EQ(o.at("batch_size"), dir.file("run.toml") + ":2");
  apply_override(c, "batch_size", "16", &o);
  apply_override(c, "use_slot", "true", &o);
  apply_override(c, "lr", "3e-4", &o);
  EXPECT_EQ(c.batch_size, 16);
  EXPECT_TRUE(c.use_slot);
  EXPECT_DOUBLE_EQ(c.lr, 3e-4);
  EXPECT_EQ(o.at("batch_size"), "--batch_size");
}

TEST(Config, UnknownKeySuggestsTheNearest) {
  Config c;
  std::string msg = user_error([&] { apply_override(c, "batchsize", "3"); });
  EXPECT_NE(msg.find("unknown config key 'batchsize'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("did you mean 'batch_size'"), std::string::npos) << msg;
  TempDir dir;
  write_bytes(dir.file("a.toml"), "epochs = 3\nlamda_value = 1\n");
  msg = user_error([&] { apply_toml_file(c, dir.file("a.toml")); });
  EXPECT_NE(msg.find(dir.file("a.toml") + ":2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'lambda_value'"), std::string::npos) << msg;
}

// lr = 2^53 + 1 (no double holds it) is the nearest double from a file, as from the command line.
TEST(Config, AnIntegerTooLargeForADoubleIsTheNearestOneFromFileAndCommandLine) {
  TempDir dir;
  write_bytes(dir.file("a.toml"), "lr = 9007199254740993\nweight_decay = -9223372036854775807\n");
  Config file, cli;
  apply_toml_file(file, dir.file("a.toml"));
  apply_override(cli, "lr", "9007199254740993");
  apply_override(cli, "weight_decay", "-9223372036854775807");
  EXPECT_EQ(file.lr, cli.lr);
  EXPECT_EQ(file.lr, 9007199254740992.0);
  EXPECT_EQ(file.weight_decay, cli.weight_decay);
}

// A file's bytes in a message are escaped and cut (printable).
TEST(Config, FileBytesInMessagesAreEscapedAndCut) {
  TempDir dir;
  Config c;
  write_bytes(dir.file("k.toml"), "\"a\\u0001b\" = 1\n");
  std::string msg = user_error([&] { apply_toml_file(c, dir.file("k.toml")); });
  EXPECT_NE(msg.find("unknown config key 'a\\x01b'"), std::string::npos) << msg;
  write_bytes(dir.file("l.toml"), "\"" + std::string(100000, 'k') + "\" = 1\n");
  msg = user_error([&] { apply_toml_file(c, dir.file("l.toml")); });
  EXPECT_NE(msg.find("(100000 bytes)'"), std::string::npos) << msg.substr(0, 300);
  EXPECT_LT(msg.size(), 600u);
  write_bytes(dir.file("v.toml"), "log_level = \"" + std::string(100000, 'v') + "\"\n");
  Origins o;
  apply_toml_file(c, dir.file("v.toml"), &o);
  msg = user_error([&] { validate(c, o); });
  EXPECT_NE(msg.find(dir.file("v.toml") + ":1: invalid value \"vvv"), std::string::npos) << msg.substr(0, 300);
  EXPECT_LT(msg.size(), 600u);
  // Invalid UTF-8 in the file: toml++ refuses it, and the message holds no raw byte of it.
  write_bytes(dir.file("u.toml"), "model = \"\xff\xfe\"\n");
  msg = user_error([&] { apply_toml_file(c, dir.file("u.toml")); });
  EXPECT_NE(msg.find("TOML syntax error"), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\xff'), std::string::npos) << msg;
}

TEST(Config, WrongTypesNameKeyAndType) {
  Config c;
  std::string msg = user_error([&] { apply_override(c, "batch_size", "abc"); });
  EXPECT_NE(msg.find("--batch_size must be an integer, got 'abc'"), std::string::npos) << msg;
  msg = user_error([&] { apply_override(c, "use_slot", "maybe"); });
  EXPECT_NE(msg.find("true or false"), std::string::npos) << msg;
  msg = user_error([&] { apply_override(c, "lambda_value", "0.1,1,10"); });
  EXPECT_NE(msg.find("scouter sweep"), std::string::npos) << msg;
  TempDir dir;
  write_bytes(dir.file("t.toml"), "batch_size = \"64\"\n");
  msg = user_error([&] { apply_toml_file(c, dir.file("t.toml")); });
  EXPECT_NE(msg.find("key 'batch_size' must be an integer, got a string"), std::string::npos) << msg;
  write_bytes(dir.file("l.toml"), "power = [1, 2]\n");
  msg = user_error([&] { apply_toml_file(c, dir.file("l.toml")); });
  EXPECT_NE(msg.find("got a list"), std::string::npos) << msg;
  write_bytes(dir.file("s.toml"), "epochs = 3\nbatch_size = \n");
  msg = user_error([&] { apply_toml_file(c, dir.file("s.toml")); });
  EXPECT_NE(msg.find("s.toml:2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("TOML syntax error"), std::string::npos) << msg;
  msg = user_error([&] { apply_toml_file(c, dir.file("missing.toml")); });
  EXPECT_NE(msg.find("missing.toml"), std::string::npos) << msg;
}

struct RangeCase {
  const char* key;
  const char* value;
  const char* expect;  // part of the hint or message
};

class ConfigRange : public ::testing::TestWithParam<RangeCase> {};

TEST_P(ConfigRange, OutOfRangeValueIsRefusedWithTheValidRange) {
  const RangeCase& rc = GetParam();
  Config c;
  Origins o;
  apply_override(c, rc.key, rc.value, &o);
  std::string msg = user_error([&] { validate(c, o); });
  EXPECT_NE(msg.find(std::string("--") + rc.key), std::string::npos) << msg;
  EXPECT_NE(msg.find(rc.expect), std::string::npos) << msg;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ConfigRange,
    ::testing::Values(RangeCase{"loss_status", "0", "1 (SCOUTER+) or -1 (SCOUTER-)"},
                      RangeCase{"loss_status", "2", "1 (SCOUTER+) or -1 (SCOUTER-)"},
                      RangeCase{"slots_per_class", "0", ">= 1"},
                      RangeCase{"power", "0", "> 0"}, RangeCase{"power", "-1.5", "> 0"},
                      RangeCase{"hidden_dim", "63", "multiple of 4"},
                      RangeCase{"hidden_dim", "6", "multiple of 4"},
                      RangeCase{"num_classes", "1", ">= 2"},
                      RangeCase{"batch_size", "0", ">= 1"},
                      RangeCase{"accum_steps", "0", "1..1024"},
                      RangeCase{"accum_steps", "1025", "1..1024"},
                      RangeCase{"freeze_layers", "5", "0..4"},
                      RangeCase{"lr", "0", "> 0"},
                      RangeCase{"img_size", "3", "8..4096"}));

// An empty pre_checkpoint is valid: the trainer then looks for the FC baseline beside
// output_dir (worker/train/pretrained.h find_fc_baseline).
TEST(Config, UsePreNeedsSlot) {
  Config c;
  c.use_pre = true;
  EXPECT_NO_THROW(validate(c));
  c.pre_checkpoint = "runs/fc";
  EXPECT_NO_THROW(validate(c));
  c.use_slot = false;
  EXPECT_NE(user_error([&] { validate(c); }).find("use_slot"), std::string::npos);
}

// dataset and model name rows of tables that common does not know: their owners check them
// (tests/datasets/dataset_spec_test.cpp, tests/worker/model/backbone_spec_test.cpp).
TEST(Config, LeavesTableNamesToTheirOwnersAndTakesPretrained) {
  Config names;
  names.dataset = "CIFAR";
  names.model = "vgg";
  names.stem = "published";
  EXPECT_NO_THROW(validate(names));
  Config c;
  apply_override(c, "pretrained", "weights/resnest26d.safetensors");
  EXPECT_EQ(c.pretrained, "weights/resnest26d.safetensors");
  EXPECT_NE(to_toml(c).find("pretrained = \"weights/resnest26d.safetensors\""), std::string::npos);
  EXPECT_EQ(model_signature(c).find("pretrained"), std::string::npos);  // not architecture
}

// Every key of the registry set away from its default (by its type, so a key added later is
// covered without a change here); strings carry the characters TOML must escape.
Config every_key_changed() {
  const Config defaults;
  Config c;
  for (const auto& k : config_keys()) {
    std::string def = get_value_literal(defaults, k.name);
    switch (k.type) {
      case KeyType::kInt: apply_override(c, k.name, std::to_string(*parse_int(def) + 3)); break;
      case KeyType::kFloat:
        apply_override(c, k.name, std::to_string(*parse_double(def) * 2 + 0.375));
        break;
      case KeyType::kBool: apply_override(c, k.name, def == "true" ? "false" : "true"); break;
      case KeyType::kString: apply_override(c, k.name, k.name + " \"q\" \\ \t\x01 é"); break;
    }
  }
  return c;
}

// The keys whose value in `want` does not come back from `toml` applied onto the defaults.
std::vector<std::string> keys_lost(const Config& want, const std::string& toml) {
  Config back;
  apply_toml_text(back, toml, "resolved");
  std::vector<std::string> lost;
  for (const auto& k : config_keys())
    if (get_value_literal(back, k.name) != get_value_literal(want, k.name)) lost.push_back(k.name);
  return lost;
}

TEST(Config, ResolvedTomlRoundTripsEveryKey) {
  const Config defaults;
  Config c = every_key_changed();
  for (const auto& k : config_keys())
    ASSERT_NE(get_value_literal(c, k.name), get_value_literal(defaults, k.name)) << k.name;
  std::string toml = to_toml(c);
  EXPECT_EQ(keys_lost(c, toml), std::vector<std::string>{});
  // The check sees a key that to_toml would drop: without its line, exactly that key is lost.
  for (const auto& k : config_keys()) {
    size_t at = toml.find("\n" + k.name + " = ");
    ASSERT_NE(at, std::string::npos) << k.name;
    std::string dropped = toml.substr(0, at) + toml.substr(toml.find('\n', at + 1));
    EXPECT_EQ(keys_lost(c, dropped), std::vector<std::string>{k.name});
  }
}

TEST(Config, ModelSignatureSeesArchitectureOnly) {
  Config a, b;
  b.lr = 0.5;
  b.epochs = 99;
  b.lambda_value = 7;
  EXPECT_EQ(model_signature(a), model_signature(b));
  b.slots_per_class = 3;
  EXPECT_NE(model_signature(a), model_signature(b));
  // An FC baseline does not depend on slot settings.
  a.use_slot = b.use_slot = false;
  EXPECT_EQ(model_signature(a), model_signature(b));
}

TEST(Config, NearestKeyIgnoresFarNames) {
  EXPECT_EQ(nearest_key("slot_per_class"), "slots_per_class");
  EXPECT_EQ(nearest_key("lambda"), "lambda_value");
  EXPECT_EQ(nearest_key("gpu"), "");
  EXPECT_EQ(nearest_key("zzzzzzzzzzzz"), "");
}

}  // namespace
}  // namespace scouter
