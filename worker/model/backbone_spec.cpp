// The backbone table: one row per backbone the project builds, and the config checks that read it.
#include "worker/model/backbone_spec.h"

#include "common/error.h"
#include "common/format.h"
#include "common/key_doc.h"
#include "common/text.h"
#include "datasets/dataset_spec.h"
#include "worker/model/resnet.h"
#include "worker/model/smallcnn.h"

namespace scouter {
namespace {

// timm's ResNet family (resnet.cpp): stages layer1..layer4; a single-conv stem `conv1`, or the
// deep stem `conv1.0` .. `conv1.6` of the 'd' variants, which also build the published MNIST
// stem `conv1` on request.
BackboneSpec timm_resnet(const std::string& name, int64_t channels, bool deep_stem) {
  BackboneSpec b;
  b.name = name;
  b.note = "timm's";
  b.make = make_resnet;
  b.feature_channels = channels;
  b.stages = {"layer1", "layer2", "layer3", "layer4"};
  b.stem_convs = deep_stem ? std::vector<std::string>{"conv1.0.weight", "conv1.weight"}
                           : std::vector<std::string>{"conv1.weight"};
  b.mnist_stem = deep_stem ? MnistStem::kOnRequest : MnistStem::kAuto;
  b.mnist_stem_conv = "conv1.weight";
  return b;
}

BackboneSpec small_cnn() {
  BackboneSpec b;
  b.name = "smallcnn";
  b.make = make_smallcnn;
  b.feature_channels = 64;
  b.stages = {"layer1", "layer2", "layer3", "layer4"};
  b.stem_convs = {"conv1.weight"};
  return b;
}

// The project's rows, in the order the key's description and `scouter keys` list them.
std::deque<BackboneSpec> project_table() {
  return {
      timm_resnet("resnet18", 512, false),
      timm_resnet("resnet50", 2048, false),
      timm_resnet("resnest26d", 2048, true),
      timm_resnet("resnest50d", 2048, true),
      small_cnn(),
  };
}

std::deque<BackboneSpec>& table() {
  static std::deque<BackboneSpec> rows = project_table();
  return rows;
}

// The `model` key's description lists the rows (common/config.h describe_key_values).
[[maybe_unused]] const bool kDescribed =
    (describe_key_values("model", [] { return backbone_list(); }), true);

}  // namespace

const std::deque<BackboneSpec>& backbone_specs() { return table(); }

std::vector<std::string> backbone_names() {
  std::vector<std::string> names;
  for (const auto& b : table()) names.push_back(b.name);
  return names;
}

const BackboneSpec* find_backbone(const std::string& name) {
  for (const auto& b : table())
    if (b.name == name) return &b;
  return nullptr;
}

const BackboneSpec& backbone_spec(const std::string& name) {
  if (const BackboneSpec* b = find_backbone(name)) return *b;
  throw UserError("unknown model '" + name + "' (key `model`)",
                  "valid: " + join(backbone_names(), ", "));
}

void register_backbone(BackboneSpec spec) {
  SCOUTER_CHECK(!spec.name.empty() && find_backbone(spec.name) == nullptr,
                "model '" + spec.name + "' is registered twice (or has no name)");
  SCOUTER_CHECK(spec.make != nullptr && spec.feature_channels > 0 && !spec.stem_convs.empty(),
                "model '" + spec.name + "' needs a factory, feature channels and its stem conv");
  SCOUTER_CHECK((spec.mnist_stem == MnistStem::kNone) == spec.mnist_stem_conv.empty(),
                "model '" + spec.name + "': a published MNIST stem needs its conv's name");
  table().push_back(std::move(spec));
}

std::string backbone_list() {
  std::vector<std::string> parts, group;
  const auto& rows = table();
  for (size_t i = 0; i < rows.size(); ++i) {
    group.push_back(rows[i].name);
    if (i + 1 < rows.size() && rows[i + 1].note == rows[i].note) continue;
    parts.push_back(join(group, ", ") + (rows[i].note.empty() ? "" : " (" + rows[i].note + ")"));
    group.clear();
  }
  return join(parts, ", ");
}

void check_model_keys(const Config& cfg, const Origins& origins) {
  const BackboneSpec* model = find_backbone(cfg.model);
  if (!model) throw invalid_value_error(cfg, origins, "model", join(backbone_names(), ", "));
  if (cfg.stem != "published") return;
  const DatasetSpec* data = find_dataset(cfg.dataset);
  if (model->mnist_stem != MnistStem::kNone && data && data->channels == 1) return;
  std::vector<std::string> gray, with_stem;
  for (const auto& d : dataset_specs())
    if (d.channels == 1) gray.push_back(d.name);
  for (const auto& b : table())
    if (b.mnist_stem != MnistStem::kNone) with_stem.push_back(b.name);
  throw UserError(
      str_format("{}: stem = \"published\" is the published MNIST stem of the ResNet family",
                 origin_of(origins, "stem")),
      str_format("use it with a 1-channel dataset ({}) and a model that has it ({}), or stem = "
                 "\"auto\"",
                 join(gray, ", "), join(with_stem, ", ")));
}

void check_table_keys(const Config& cfg, const Origins& origins) {
  check_dataset_key(cfg, origins);
  check_model_keys(cfg, origins);
}

void validate_run_config(const Config& cfg, const Origins& origins) {
  validate(cfg, origins);
  check_table_keys(cfg, origins);
}

}  // namespace scouter
