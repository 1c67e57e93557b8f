// Config files (TOML): the text applied onto the defaults, validated, and written back out.
// Expected: a config or UserError; a config that validates must print and read back.
#include "common/config.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  scouter::fuzz::quiet();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace scouter;
  const std::string text(reinterpret_cast<const char*>(data), size);
  fuzz::expect_clean_error([&] {
    Config cfg;
    Origins origins;
    apply_toml_text(cfg, text, "fuzz.toml", &origins);
    validate(cfg, origins);
    // What a run writes into its folder must read back as the same config.
    Config again;
    apply_toml_text(again, to_toml(cfg), "config.toml");
    if (to_toml(again) != to_toml(cfg)) fuzz::unexpected("config.toml does not read back");
  });
  return 0;
}
