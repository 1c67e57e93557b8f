// The published attention pictures (docs/explanations.md, "Attention pictures after training")
// for chosen validation images:
// per image a folder <output_dir>/vis/<NNNNN>_label<l>_pred<p>/ holding
//   image.png            the input as the model saw it (img_size, before normalisation)
//   slot_<c>.png         class c's map at feature resolution, jointly min-max scaled to 0..255
//   slot_mask_<c>.png    that map resized to the image (bilinear) in jet, blended at alpha 0.4
// and vis/areas.jsonl with the true class's area size per image. For SCOUTER- (loss_status -1)
// each map shows why the image is NOT that class.
#pragma once

#include <string>
#include <vector>

#include "common/config.h"
#include "datasets/batch_loader.h"
#include "worker/model/scouter_model.h"

namespace scouter {

struct VisRecord {
  int64_t index = 0;  // split-wide sample index
  int64_t label = 0, pred = 0;
  double area = 0;    // area size of the true class
  std::string folder;
};

// The image as the published test script shows it: sample `index` of `shards` resized (PIL
// bilinear) to img_size (0: stored size), as RGB interleaved; h and w receive its size.
std::vector<uint8_t> display_rgb(ShardSet& shards, int64_t index, int64_t img_size, int& h, int& w);
// The same for a stored image (c x h x w planar, c = 1 or 3); oh and ow receive the size.
std::vector<uint8_t> display_rgb(const uint8_t* planar, int c, int h, int w, int64_t img_size,
                                 int& oh, int& ow);

// Pictures validation images vis_id .. vis_id + vis_count - 1 (positions among the samples of
// the first num_classes classes). UserError for FC runs or positions past the end.
// val_loader: a loader over `val` (batches of any indices are made from it).
std::vector<VisRecord> write_attention_pictures(const Config& cfg, ScouterModel& model,
                                                ShardSet& val, BatchLoader& val_loader);

// `scouter vis`: opens the trained run cfg.output_dir (worker/run/trained_run.h: its newest
// verified checkpoint and its own config, overridden only by the keys set explicitly, those in
// `origins`) and writes the pictures.
std::vector<VisRecord> run_vis(const Config& cfg, const Origins& origins);

}  // namespace scouter
