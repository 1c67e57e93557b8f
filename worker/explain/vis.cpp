#include "worker/explain/vis.h"

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/files.h"
#include "common/log.h"
#include "datasets/image_ops.h"
#include "worker/model/attention_maps.h"
#include "worker/run/data.h"
#include "worker/run/tensor_batch.h"
#include "worker/run/trained_run.h"

namespace scouter {
std::vector<uint8_t> display_rgb(const uint8_t* planar_src, int c, int h, int w, int64_t img_size,
                                 int& oh, int& ow) {
  oh = h, ow = w;
  std::vector<uint8_t> planar(planar_src, planar_src + c * h * w);
  if (img_size > 0 && (img_size != h || img_size != w)) {
    oh = ow = static_cast<int>(img_size);
    std::vector<uint8_t> resized(static_cast<size_t>(c * oh * ow));
    resize_bilinear_u8(planar_src, c, h, w, resized.data(), oh, ow);
    planar.swap(resized);
  }
  std::vector<uint8_t> rgb(static_cast<size_t>(oh * ow * 3));
  for (int y = 0; y < oh; ++y)
    for (int x = 0; x < ow; ++x)
      for (int k = 0; k < 3; ++k)
        rgb[(y * ow + x) * 3 + k] = planar[(c == 1 ? 0 : k) * oh * ow + y * ow + x];
  return rgb;
}

std::vector<uint8_t> display_rgb(ShardSet& shards, int64_t index, int64_t img_size, int& h,
                                 int& w) {
  const ShardMeta& m = shards.meta();
  return display_rgb(shards.image(index), static_cast<int>(m.channels), static_cast<int>(m.height),
                     static_cast<int>(m.width), img_size, h, w);
}

std::vector<VisRecord> write_attention_pictures(const Config& cfg, ScouterModel& model,
                                                ShardSet& val, BatchLoader& val_loader) {
  if (!cfg.use_slot)
    throw UserError("vis needs a SCOUTER run (use_slot = true): an FC baseline has no attention",
                    "Grad-CAM pictures for FC runs are not available yet");
  std::vector<int64_t> pool = samples_of_first_classes(val, cfg.num_classes);
  if (cfg.vis_id >= static_cast<int64_t>(pool.size()))
    throw UserError(str_format("vis_id = {} but the validation set has {} images", cfg.vis_id,
                               pool.size()),
                    str_format("valid: 0..{}", pool.size() - 1));
  int64_t end = std::min<int64_t>(cfg.vis_id + cfg.vis_count, static_cast<int64_t>(pool.size()));
  std::vector<int64_t> chosen(pool.begin() + cfg.vis_id, pool.begin() + end);

  torch::NoGradGuard no_grad;
  model->eval();
  TensorBatch tb = to_tensors(val_loader.make_batch(chosen, 0, false));
  torch::Device device = model->parameters().front().device();
  ModelOutput out = model->forward(tb.images.to(device));
  tb.labels = tb.labels.to(device);
  auto maps = normalized_maps_u8(
      class_attention_maps(out, model->num_classes(), model->slots_per_class())).cpu();
  tb.labels = tb.labels.cpu();
  auto areas = area_sizes(maps, tb.labels);
  auto preds = out.logits.argmax(1).cpu();

  std::string vis_dir = cfg.output_dir + "/vis";
  ensure_dir(vis_dir);
  std::vector<VisRecord> records;
  std::string areas_text;
  int64_t fh = maps.size(2), fw = maps.size(3);
  for (size_t b = 0; b < chosen.size(); ++b) {
    VisRecord r;
    r.index = chosen[b];
    r.label = tb.labels[static_cast<int64_t>(b)].item<int64_t>();
    r.pred = preds[static_cast<int64_t>(b)].item<int64_t>();
    r.area = areas[static_cast<int64_t>(b)].item<double>();
    r.folder = str_format("{}/{:05d}_label{}_pred{}", vis_dir, r.index, r.label, r.pred);
    ensure_dir(r.folder);
    int h = 0, w = 0;
    auto rgb = display_rgb(val, r.index, cfg.img_size, h, w);
    write_png(r.folder + "/image.png", rgb.data(), w, h, 3);
    std::vector<uint8_t> up(static_cast<size_t>(h * w));
    for (int64_t c = 0; c < maps.size(1); ++c) {
      auto m = maps[static_cast<int64_t>(b)][c].contiguous();
      const uint8_t* mp = m.data_ptr<uint8_t>();
      write_png(str_format("{}/slot_{}.png", r.folder, c), mp, static_cast<int>(fw),
                static_cast<int>(fh), 1);
      resize_bilinear_u8(mp, 1, static_cast<int>(fh), static_cast<int>(fw), up.data(), h, w);
      auto blended = overlay_jet(rgb.data(), up.data(), h, w, 0.4);
      write_png(str_format("{}/slot_mask_{}.png", r.folder, c), blended.data(), w, h, 3);
    }
    areas_text += nlohmann::json({{"index", r.index}, {"label", r.label}, {"pred", r.pred},
                                  {"area", r.area}, {"loss_status", cfg.loss_status},
                                  {"folder", r.folder}}).dump() + "\n";
    log::info("vis: image {} label {} pred {} area {:.4f} -> {}", r.index, r.label, r.pred,
              r.area, r.folder);
    records.push_back(std::move(r));
  }
  write_text_file_atomic(vis_dir + "/areas.jsonl", areas_text);
  return records;
}

std::vector<VisRecord> run_vis(const Config& request, const Origins& origins) {
  LoadedRun loaded(request.output_dir, request, origins, {"vis"});
  log::info("vis: {} (epoch {})", loaded.run.ckpt, loaded.run.info.state.epoch);
  return write_attention_pictures(loaded.cfg(), loaded.model, *loaded.shards, *loaded.loader);
}

}  // namespace scouter
