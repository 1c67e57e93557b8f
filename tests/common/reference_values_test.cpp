// The reference file reader: the shipped file as the binary embeds it, matching runs' configs,
// and one clear line for each way a file can be wrong.
#include "common/reference_values.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "common/error.h"
#include "common/files.h"
#include "common/format.h"
#include "test_util.h"

namespace scouter {
namespace {

using testing::TempDir;

const ReferenceVocabulary& vocabulary() {
  static const ReferenceVocabulary v{{"final_val_acc", "area", "precision", "insertion_auc",
                                      "deletion_auc", "infidelity", "sensitivity"},
                                     {}};
  return v;
}

const char* kHead = R"(tolerance = 0.05
[sources]
paper = "Li et al. 2021"
reproduction = "[Re] SCOUTER 2022"
)";

ReferenceValues parse(const std::string& text, const ReferenceVocabulary& v = vocabulary()) {
  return parse_reference(text, "ref.toml", v);
}

// "message | hint" of the UserError that parsing `text` throws.
std::string error(const std::string& text, const ReferenceVocabulary& v = vocabulary()) {
  try {
    parse(text, v);
  } catch (const UserError& e) {
    std::string m = std::string(e.what()) + " | " + e.hint();
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
    return m;
  }
  ADD_FAILURE() << "no UserError for:\n" << text;
  return {};
}

TEST(ReferenceValues, ShippedFileIsTheBuiltInOneAndCarriesThePublishedTables) {
  const std::string path = testing::source_dir() + "/experiments/reference/published.toml";
  EXPECT_EQ(read_text_file(path), builtin_reference_text())
      << "rebuild: the binary embeds the file at configure time";
  ReferenceValues ref = load_reference_file(path, vocabulary());
  EXPECT_DOUBLE_EQ(ref.tolerance, 0.05);
  ASSERT_EQ(ref.sources.size(), 2u);
  EXPECT_EQ(ref.sources[0].first, "paper");
  EXPECT_EQ(ref.sources[1].first, "reproduction");
  EXPECT_NE(ref.sources[1].second.find("10.5281/zenodo.6574641"), std::string::npos);
  // 6 explanation settings (SCOUTER+/- at lambda 1, 3, 10) and 9 accuracies (3 datasets x 3 kinds).
  size_t metric_entries = 0, accuracy_entries = 0;
  for (const auto& e : ref.entries) {
    ASSERT_EQ(e.values.size(), 2u) << e.where;
    const auto& paper = e.values.at("paper");
    if (paper.count("final_val_acc")) ++accuracy_entries;
    if (paper.count("area")) {
      ++metric_entries;
      EXPECT_EQ(paper.size(), 6u) << e.where;
      EXPECT_EQ(e.values.at("reproduction").size(), 6u) << e.where;
    }
  }
  EXPECT_EQ(metric_entries, 6u);
  EXPECT_EQ(accuracy_entries, 9u);

  // SCOUTER- lambda 10 on ImageNet-100 resnest26d: one metrics entry and one accuracy entry.
  Config run;
  run.dataset = "ImageNet";
  run.num_classes = 100;
  run.model = "resnest26d";
  run.use_slot = true;
  run.loss_status = -1;
  run.lambda_value = 10;
  std::vector<const ReferenceEntry*> hits;
  for (const auto& e : ref.entries)
    if (reference_matches(e, run)) hits.push_back(&e);
  ASSERT_EQ(hits.size(), 2u);
  EXPECT_DOUBLE_EQ(hits[0]->values.at("paper").at("deletion_auc"), 0.7333);
  EXPECT_DOUBLE_EQ(hits[0]->values.at("reproduction").at("precision"), 0.8968);
  EXPECT_DOUBLE_EQ(hits[1]->values.at("paper").at("final_val_acc"), 0.7946);
  EXPECT_EQ(setting_text(*hits[1]),
            "dataset=ImageNet loss_status=-1 model=resnest26d num_classes=100 use_slot=true");
  run.num_classes = 10;  // the 10-class sweep: no published numbers
  for (const auto& e : ref.entries) EXPECT_FALSE(reference_matches(e, run)) << e.where;
  run.num_classes = 100;
  run.dataset = "FashionMNIST";
  for (const auto& e : ref.entries) EXPECT_FALSE(reference_matches(e, run)) << e.where;
}

TEST(ReferenceValues, SettingValuesAreTypedAsConfigKeys) {
  // An integer lambda matches the run's 3.0, and a float written 3.0 likewise.
  ReferenceValues ref = parse(std::string(kHead) + R"(
[[entry]]
setting = { dataset = "ImageNet", lambda_value = 3 }
paper = { area = 0.1 }
)");
  Config run;
  run.dataset = "ImageNet";
  run.lambda_value = 3.0;
  EXPECT_TRUE(reference_matches(ref.entries[0], run));
  run.lambda_value = 3.0000001;
  EXPECT_FALSE(reference_matches(ref.entries[0], run));
  EXPECT_EQ(ref.entries[0].where, "ref.toml:6");
}

TEST(ReferenceValues, WrongFilesGetOneLineNamingThePlaceAndWhatIsValid) {
  const std::string head = kHead;
  const std::string ok_values = "paper = { area = 0.1 }\n";
  EXPECT_NE(error("tolerance = \n").find("ref.toml:1:"), std::string::npos);
  EXPECT_NE(error("tolerance = 0.05\n").find("ref.toml: no [[entry]]"), std::string::npos);
  EXPECT_NE(
      error("tolerence = 1\n" + head).find("unknown key 'tolerence' | did you mean 'tolerance'?"),
      std::string::npos);
  EXPECT_NE(
      error("[sources]\npaper = \"x\"\n[[entry]]\nsetting = { dataset = \"MNIST\" }\n" + ok_values)
          .find("ref.toml: no tolerance"),
      std::string::npos);
  EXPECT_NE(error("tolerance = -0.05\n").find("ref.toml:1: tolerance must be > 0"),
            std::string::npos);
  EXPECT_NE(error("tolerance = \"5%\"\n").find("tolerance must be a finite number"),
            std::string::npos);
  EXPECT_NE(error("tolerance = 0.05\n[sources]\nPaper = \"x\"\n").find("source name 'Paper'"),
            std::string::npos);
  EXPECT_NE(error("tolerance = 0.05\n[[entry]]\nsetting = { dataset = \"MNIST\" }\n" + ok_values)
                .find("no [sources] table"),
            std::string::npos);
  std::string m =
      error(head + "[[entry]]\nsetting = { dataset = \"MNIST\" }\npaperr = { area = 1 }\n");
  EXPECT_NE(m.find("ref.toml:7: unknown entry key"), std::string::npos) << m;
  EXPECT_NE(m.find("did you mean 'paper'?"), std::string::npos) << m;
  m = error(head + "[[entry]]\nsetting = { dataset = \"MNIST\" }\npaper = { areaa = 1 }\n");
  EXPECT_NE(m.find("ref.toml:7: unknown measure 'areaa' | did you mean 'area'?"), std::string::npos)
      << m;
  m = error(head + "[[entry]]\nsetting = { dataset = \"MNIST\" }\npaper = { area = nan }\n");
  EXPECT_NE(m.find("ref.toml:7: paper.area must be a finite number"), std::string::npos) << m;
  m = error(head + "[[entry]]\nsetting = { num_classes = 100 }\n" + ok_values);
  EXPECT_NE(m.find("ref.toml:6: the setting names no dataset"), std::string::npos) << m;
  m = error(head + "[[entry]]\nsetting = { dataset = \"MNIST\", num_clases = 100 }\n" + ok_values);
  EXPECT_NE(m.find("num_clases"), std::string::npos) << m;
  EXPECT_NE(m.find("num_classes"), std::string::npos) << m;
  m = error(head + "[[entry]]\nsetting = { dataset = \"MNIST\", num_classes = \"ten\" }\n" +
            ok_values);
  EXPECT_NE(m.find("ref.toml:6"), std::string::npos) << m;
  EXPECT_NE(m.find("num_classes"), std::string::npos) << m;
  m = error(head + "[[entry]]\nsetting = { dataset = \"MNIST\" }\n");
  EXPECT_NE(m.find("ref.toml:5: the entry has no values"), std::string::npos) << m;
  m = error(head + "[[entry]]\n" + ok_values);
  EXPECT_NE(m.find("ref.toml:5: the entry has no setting"), std::string::npos) << m;
  m = error("notes = [\"a\\tb\"]\n" + head);
  EXPECT_NE(m.find("holds a control character"), std::string::npos) << m;
  m = error("entry = 3\n" + head);
  EXPECT_NE(m.find("'entry' must be written [[entry]]"), std::string::npos) << m;
}

TEST(ReferenceValues, EntriesThatCanMatchOneRunMayNotGiveOneValueTwice) {
  const std::string head = kHead;
  // The second setting is narrower, so a run with num_classes 100 matches both: refused.
  std::string m = error(head +
                        "[[entry]]\nsetting = { dataset = \"ImageNet\" }\npaper = { area = 0.1 }\n"
                        "[[entry]]\nsetting = { dataset = \"ImageNet\", num_classes = 100 }\n"
                        "paper = { area = 0.2 }\n");
  EXPECT_NE(m.find("ref.toml:8: paper.area is also given by the entry at ref.toml:5"),
            std::string::npos)
      << m;
  // Different values of a key both name, or different measures, or different sources: fine.
  EXPECT_EQ(parse(head + "[[entry]]\nsetting = { dataset = \"ImageNet\", lambda_value = 1 }\n"
                         "paper = { area = 0.1 }\n"
                         "[[entry]]\nsetting = { dataset = \"ImageNet\", lambda_value = 3 }\n"
                         "paper = { area = 0.2 }\n"
                         "[[entry]]\nsetting = { dataset = \"ImageNet\" }\n"
                         "paper = { final_val_acc = 0.8 }\nreproduction = { area = 0.3 }\n")
                .entries.size(),
            3u);
}

TEST(ReferenceValues, NamesOfOtherLayersAreCheckedByTheirCheck) {
  ReferenceVocabulary v = vocabulary();
  v.check = [](const Config& cfg, const Origins& origins) {
    if (cfg.dataset != "ImageNet")
      throw UserError(str_format("{}: invalid value \"{}\" for key 'dataset'",
                                 origins.at("dataset"), cfg.dataset),
                      "valid: ImageNet");
  };
  std::string m =
      error(std::string(kHead) +
                "[[entry]]\nsetting = { dataset = \"Imagenet\" }\npaper = { area = 1 }\n",
            v);
  EXPECT_NE(m.find("ref.toml:6: invalid value \"Imagenet\" for key 'dataset' | valid: ImageNet"),
            std::string::npos)
      << m;
}

TEST(ReferenceValues, LimitsBoundWhatAFileCanMake) {
  std::string many = kHead;
  for (size_t i = 0; i <= kMaxReferenceEntries; ++i)
    many += str_format(
        "[[entry]]\nsetting = {{ dataset = \"MNIST\", seed = {} }}\n"
        "paper = {{ area = 0.1 }}\n",
        i);
  EXPECT_NE(error(many).find(str_format("more than {} entries", kMaxReferenceEntries)),
            std::string::npos);
  std::string big = std::string(kHead) + "# " + std::string(kMaxReferenceBytes, 'x') + "\n";
  EXPECT_NE(error(big).find("more than"), std::string::npos);
  TempDir dir;
  testing::write_bytes(dir.file("big.toml"), big);
  try {
    load_reference_file(dir.file("big.toml"), vocabulary());
    ADD_FAILURE() << "no error for a file over the limit";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("big.toml: more than"), std::string::npos) << e.what();
  }
  try {
    load_reference_file(dir.file("missing.toml"), vocabulary());
    ADD_FAILURE() << "no error for a missing file";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("missing.toml"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.hint()).find("--reference"), std::string::npos) << e.hint();
  }
  std::string long_note = "notes = [\"" + std::string(2000, 'n') + "\"]\n" + kHead;
  EXPECT_NE(error(long_note).find("1 to 1000 characters"), std::string::npos);
}

}  // namespace
}  // namespace scouter
