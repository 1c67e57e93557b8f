// Reference files (`scouter report --reference`): parsed with the report's measure names.
// Expected: ReferenceValues or UserError.
#include "common/reference_values.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  scouter::fuzz::quiet();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace scouter;
  static const ReferenceVocabulary vocabulary{
      {"final_val_acc", "area", "precision", "insertion_auc", "deletion_auc", "infidelity",
       "sensitivity"},
      {}};
  const std::string path = fuzz::write_input("reference.toml", data, size);
  fuzz::expect_clean_error([&] {
    const ReferenceValues ref = load_reference_file(path, vocabulary);
    Config run;
    for (const auto& e : ref.entries) {
      reference_matches(e, run);
      setting_text(e);
    }
  });
  return 0;
}
