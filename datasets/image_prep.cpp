#include "datasets/image_prep.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "common/communicator.h"
#include "common/error.h"
#include "common/files.h"
#include "common/progress.h"
#include "common/text.h"
#include "datasets/batch_loader.h"
#include "datasets/dataset_spec.h"
#include "datasets/image_convert.h"
#include "datasets/image_layouts.h"
#include "datasets/image_shards.h"
#include "datasets/prep_folder.h"
#include "datasets/rng.h"

namespace scouter {
namespace {

// Part of every restart key: bump it when what a build stores for the same sources changes.
// 2: a box wholly outside its image makes the sample bad (1 stored it with width 0).
constexpr const char* kConverterVersion = "scouter-image-prep 2";
constexpr size_t kDigestChars = 64;
// A rank stops early when over half of at least this many images were unreadable.
constexpr int64_t kHopelessAfter = 200;
// Bad images each rank names in a warning as it meets them; all are in bad_images.txt.
constexpr int64_t kWarnBadImages = 20;
const DatasetSpec& image_dataset(const std::string& dataset) {
  const DatasetSpec* spec = find_dataset(dataset);
  if (spec && spec->kind == DatasetKind::kImages) return *spec;
  std::vector<std::string> images;
  for (const auto& d : dataset_specs())
    if (d.kind == DatasetKind::kImages) images.push_back(d.name);
  throw UserError(fmt::format("'{}' is not an image dataset", dataset),
                  "image datasets: " + join(images, ", "));
}

ImageListing list_dataset(const DatasetSpec& spec, const ImagePrepOptions& opt) {
  ImageListing L = spec.list(opt.src, LayoutOptions{opt.num_classes, opt.seed});
  L.dataset = spec.name;
  return L;
}

void check_options(const ImagePrepOptions& o) {
  auto bad = [](const std::string& what, const std::string& valid) {
    throw UserError("command line: " + what, "valid: " + valid);
  };
  if (o.src.empty()) bad("prep needs --src DIR (the dataset's root folder)", "an existing folder");
  if (o.out.empty()) bad("prep needs --out DIR", "a folder for the shards");
  if (o.img_size < 8 || o.img_size > 4096)
    bad(fmt::format("--img_size {} is out of range", o.img_size), "8..4096 (260 as published)");
  if (o.shard_size < 1) bad(fmt::format("--shard_size {}", o.shard_size), "1 or more");
  if (!(o.max_bad_fraction >= 0 && o.max_bad_fraction <= 1))
    bad(fmt::format("--max_bad_fraction {}", o.max_bad_fraction), "0..1 (0.01 = 1%)");
  if (o.num_classes < 0) bad(fmt::format("--num_classes {}", o.num_classes), "0 (all) or more");
  if (o.threads < 1) bad(fmt::format("--threads {}", o.threads), "1 or more");
}

// "size<TAB>mtime_ns" of a source file, or "missing" (the decode will report it).
std::string stat_text(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return "missing";
  int64_t ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  return fmt::format("{}\t{}", static_cast<int64_t>(st.st_size), ns);
}

std::string source_digest(const ImageListing& L, const ShardPlan& p,
                          const std::vector<SourceImage>& sources, int64_t img_size) {
  std::string text = fmt::format("{}\t{}\t{}\t{}\t{}\n", kConverterVersion, L.dataset, p.split,
                                 img_size, join(L.class_names, "\x1f"));
  for (int64_t i = p.source_first; i < p.source_first + p.source_count; ++i) {
    const SourceImage& s = sources[static_cast<size_t>(i)];
    text += fmt::format("{}\t{}\t{}\t{} {} {} {}\n", s.path, stat_text(L.root + "/" + s.path),
                        s.label, s.box[0], s.box[1], s.box[2], s.box[3]);
  }
  return sha256_bytes(text.data(), text.size());
}

const std::vector<SourceImage>& sources_of(const ImageListing& L, const ShardPlan& p) {
  return p.split == "train" ? L.train : L.val;
}

std::vector<ShardPlan> make_plans(const ImageListing& L, const ImagePrepOptions& o) {
  std::vector<ShardPlan> plans;
  for (const char* split : {"train", "val"}) {
    auto n = static_cast<int64_t>((std::string(split) == "train" ? L.train : L.val).size());
    int64_t m = (n + o.shard_size - 1) / o.shard_size;
    for (int64_t k = 0; k < m; ++k) {
      ShardPlan p;
      p.dir = o.out;
      p.split = split;
      p.index = k;
      p.num_shards = m;
      p.source_first = k * o.shard_size;
      p.source_count = std::min(o.shard_size, n - p.source_first);
      plans.push_back(std::move(p));
    }
  }
  return plans;
}

// Every rank learns every shard's digest and whether it is finished; each rank checked its
// round-robin share (hashing sources means a stat per image: worth spreading).
void exchange_status(std::vector<ShardPlan>& plans, std::vector<char>& finished,
                     Communicator* comm) {
  if (!comm || comm->size() == 1) return;
  const auto world = static_cast<size_t>(comm->size()), rank = static_cast<size_t>(comm->rank());
  constexpr size_t kEntry = kDigestChars + 1;
  const size_t per_rank = std::max<size_t>((plans.size() + world - 1) / world, 1);
  std::vector<char> mine(per_rank * kEntry, '\0');
  for (size_t g = rank, j = 0; g < plans.size(); g += world, ++j) {
    std::memcpy(&mine[j * kEntry], plans[g].digest.data(), kDigestChars);
    mine[j * kEntry + kDigestChars] = finished[g];
  }
  std::vector<char> all(mine.size() * world);
  comm->gather(mine.data(), static_cast<int64_t>(mine.size()), all.data(), 0, "prep: shard status");
  comm->broadcast(all.data(), static_cast<int64_t>(all.size()), 0, "prep: shard status");
  for (size_t g = 0; g < plans.size(); ++g) {
    const char* e = &all[(g % world) * mine.size() + (g / world) * kEntry];
    plans[g].digest.assign(e, kDigestChars);
    finished[g] = e[kDigestChars];
  }
}

// <out>/bad_images.txt: "<full path>: <reason>" per skipped image; left alone when unchanged.
void write_bad_report(const std::string& out, const std::string& root,
                      const std::vector<std::string>& bad) {
  std::string text, path = out + "/bad_images.txt";
  for (const auto& b : bad) text += root + "/" + b + "\n";
  if (file_exists(path) && read_text_file(path) == text) return;
  write_text_file_atomic(path, text);
}

UserError too_many_bad(int64_t bad, int64_t total, double limit, const std::string& out) {
  return UserError(
      fmt::format("{} of {} source images ({:.2f}%) are bad (unreadable, or their box lies outside "
                  "the image), more than --max_bad_fraction "
                  "{} allows; they are listed in '{}/bad_images.txt'",
                  bad, total, 100.0 * bad / std::max<int64_t>(total, 1), limit, out),
      "fix or remove those files (or their boxes), or raise --max_bad_fraction; finished shards "
      "are kept and a re-run continues from them");
}

// Rank 0, once every shard is finished: report, threshold, split-wide attributes, final names.
int64_t finalize(const DatasetSpec& spec, const ImageListing& L,
                 const std::vector<ShardPlan>& plans, const ImagePrepOptions& o,
                 ImagePrepResult* r) {
  std::vector<ShardStatus> status;
  std::vector<std::string> bad;
  std::array<double, 3> sum{}, sumsq{};
  for (const auto& p : plans) {
    status.push_back(find_finished(p, /*verify=*/false));  // verified or written by this run
    const ShardStatus& st = status.back();
    if (!st.found)
      throw Error(
          fmt::format("shard '{}' is not finished after every rank reported done", p.part_path()));
    bad.insert(bad.end(), st.bad.begin(), st.bad.end());
    (p.split == "train" ? r->train_count : r->val_count) += st.count;
    for (size_t c = 0; c < 3 && p.split == "train"; ++c) {
      sum[c] += st.pixel_sum[c];
      sumsq[c] += st.pixel_sumsq[c];
    }
  }
  r->bad_count = static_cast<int64_t>(bad.size());
  write_bad_report(o.out, L.root, bad);
  if (r->bad_count > o.max_bad_fraction * static_cast<double>(r->source_count))
    throw too_many_bad(r->bad_count, r->source_count, o.max_bad_fraction, o.out);
  if (r->bad_count > 0)
    spdlog::warn("{} bad image(s) skipped; listed in '{}/bad_images.txt'", r->bad_count, o.out);

  SplitAttrs attrs;
  for (const auto& f : L.layout_files) {
    attrs.source_files.push_back(std::filesystem::path(f).filename().string());
    attrs.source_sha256.push_back(sha256_file(f));
  }
  attrs.class_descriptions = L.class_descriptions;
  attrs.class_descriptions.resize(L.class_names.size());
  double pixels =
      static_cast<double>(r->train_count) * static_cast<double>(o.img_size * o.img_size);
  for (size_t c = 0; c < 3; ++c) {
    double mean = sum[c] / pixels;
    attrs.measured_mean.push_back(mean);
    attrs.measured_std.push_back(std::sqrt(std::max(0.0, sumsq[c] / pixels - mean * mean)));
  }
  int64_t changed = 0, first = 0;
  std::string split;
  for (size_t g = 0; g < plans.size(); ++g) {
    if (plans[g].split != split) {
      split = plans[g].split;
      first = 0;
      attrs.total_count = split == "train" ? r->train_count : r->val_count;
    }
    changed += finalize_shard(plans[g], status[g], first, attrs);
    first += status[g].count;
  }
  spdlog::info(
      "{}: measured train mean {:.4f} {:.4f} {:.4f}, std {:.4f} {:.4f} {:.4f} (stored as "
      "measured_mean/std; mean/std hold the dataset table's {} / {})",
      L.dataset, attrs.measured_mean[0], attrs.measured_mean[1], attrs.measured_mean[2],
      attrs.measured_std[0], attrs.measured_std[1], attrs.measured_std[2],
      fmt::join(spec.mean, " "), fmt::join(spec.std, " "));
  return changed;
}

}  // namespace

ImagePrepResult prep_image_dataset(const std::string& dataset, const ImagePrepOptions& o,
                                   Communicator* comm) {
  check_options(o);
  const int rank = comm ? comm->rank() : 0, world = comm ? comm->size() : 1;
  const DatasetSpec& spec = image_dataset(dataset);
  ImageListing L = list_dataset(spec, o);
  SplitMix64 rng(mix_seed(o.seed, 1));
  for (size_t i = L.train.size(); i > 1; --i) std::swap(L.train[i - 1], L.train[rng.below(i)]);
  std::vector<ShardPlan> plans = make_plans(L, o);
  ImagePrepResult r;
  r.source_count = static_cast<int64_t>(L.train.size() + L.val.size());
  r.shards_total = static_cast<int64_t>(plans.size());
  // Every rank checks, so a refusal is the same clean error everywhere; rank 0 removes.
  claim_output_folder(o.out, dataset, o.overwrite, rank == 0);
  if (rank == 0) {
    spdlog::info(
        "{} in '{}': {} classes, {} train and {} val images -> {} shards of up to {} at "
        "{}x{} in '{}'",
        dataset, L.root, L.class_names.size(), L.train.size(), L.val.size(), plans.size(),
        o.shard_size, o.img_size, o.img_size, o.out);
    ensure_dir(o.out);
    for (const char* split : {"train", "val"}) {
      int64_t m = 0;
      for (const auto& p : plans) m += p.split == split ? 1 : 0;
      remove_stale_files(o.out, split, m);
    }
  }
  if (comm) comm->barrier("prep: output folder ready");

  // Which shards are finished already (same sources): each rank checks a round-robin share.
  std::vector<char> finished(plans.size(), 0);
  for (size_t g = static_cast<size_t>(rank); g < plans.size(); g += static_cast<size_t>(world)) {
    plans[g].digest = source_digest(L, plans[g], sources_of(L, plans[g]), o.img_size);
    finished[g] = find_finished(plans[g]).found ? 1 : 0;  // verifies its checksums
  }
  exchange_status(plans, finished, comm);
  // The rest is dealt by size, largest first, each to the rank with the fewest images so far:
  // the short last shard of each split and a re-run after an interruption stay balanced.
  std::vector<size_t> todo_list;
  for (size_t g = 0; g < plans.size(); ++g)
    if (!finished[g]) todo_list.push_back(g);
  std::stable_sort(todo_list.begin(), todo_list.end(), [&](size_t a, size_t b) {
    return plans[a].source_count > plans[b].source_count;
  });
  std::vector<int64_t> load(static_cast<size_t>(world), 0);
  std::vector<size_t> mine;
  for (size_t g : todo_list) {
    auto least = static_cast<size_t>(std::min_element(load.begin(), load.end()) - load.begin());
    load[least] += plans[g].source_count;
    if (least == static_cast<size_t>(rank)) mine.push_back(g);
  }
  std::sort(mine.begin(), mine.end());  // in file order, as a reader would
  const auto todo = static_cast<int64_t>(todo_list.size());
  std::vector<ShardJob> jobs;
  int64_t my_images = 0, my_bad = 0, my_done = 0;
  std::vector<std::string> my_bad_list;
  for (size_t g : mine) {
    jobs.push_back({&plans[g], &sources_of(L, plans[g])});
    my_images += plans[g].source_count;
  }
  if (rank == 0)
    spdlog::info(
        "{} of {} shards are finished already (same sources); converting {} on {} "
        "rank(s) x {} thread(s)",
        static_cast<int64_t>(plans.size()) - todo, plans.size(), todo, world, o.threads);

  const auto start = std::chrono::steady_clock::now();
  {
    Progress progress(world > 1 ? fmt::format("prep {} (rank 0 of {})", dataset, world)
                                : fmt::format("prep {}", dataset),
                      my_images, "img", rank == 0 && my_images > 0);
    ShardMeta meta;
    meta.dataset = dataset;
    meta.channels = 3;
    meta.height = meta.width = o.img_size;
    meta.num_classes = static_cast<int64_t>(L.class_names.size());
    meta.class_names = L.class_names;
    meta.mean = spec.mean;
    meta.std = spec.std;
    meta.flip_allowed = L.flip_allowed;
    convert_shards(
        ConvertSettings{L.root, o.img_size}, jobs, static_cast<int>(o.threads),
        [&](size_t k, ShardContent&& c) {
          const ShardPlan& p = *jobs[k].plan;
          if (!(p.split == "train" ? L.train_boxes : L.val_boxes)) c.boxes.clear();
          for (const auto& b : c.bad) {
            if (++my_bad > kWarnBadImages) continue;
            spdlog::warn(
                "skipping {}/{}{}", L.root, b,
                my_bad == kWarnBadImages ? " (no more warnings; bad_images.txt lists all)" : "");
          }
          my_done += p.source_count;
          my_bad_list.insert(my_bad_list.end(), c.bad.begin(), c.bad.end());
          // Most images unreadable means a wrong --src or a broken disk, not a few bad files:
          // stop now rather than after the whole set. Otherwise the full list comes at the end.
          bool hopeless = my_done >= kHopelessAfter && 2 * my_bad > my_done;
          if (hopeless || c.count == 0) write_bad_report(o.out, L.root, my_bad_list);
          if (hopeless)
            throw UserError(fmt::format("stopped early: {} of the first {} images are "
                                        "unreadable; listed in '{}/bad_images.txt'",
                                        my_bad, my_done, o.out),
                            "check --src, and open a few of the listed files");
          write_part(p, meta, c);
        },
        [&](int64_t n) { progress.advance(n); });
    progress.finish();
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (rank == 0 && world > 1 && my_images > 0)
    spdlog::info("rank 0 converted {} images in {:.1f} s ({:.1f} img/s, {} thread{})", my_images,
                 seconds, my_images / std::max(seconds, 1e-9), o.threads,
                 o.threads == 1 ? "" : "s");

  int64_t decoded = my_images;
  if (comm) comm->allreduce(&decoded, 1, MPI_INT64_T, MPI_SUM, "prep: converted counts");
  r.shards_converted = todo;
  r.images_decoded = decoded;
  // Until the slowest rank is done: the job's conversion time.
  r.convert_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  int64_t changed = 0;
  if (rank == 0) changed = finalize(spec, L, plans, o, &r);
  // Every rank returns rank 0's view (and none leaves before rank 0 is done).
  int64_t summary[4] = {r.train_count, r.val_count, r.bad_count, changed};
  if (comm) comm->broadcast(summary, sizeof summary, 0, "prep: result");
  r.train_count = summary[0];
  r.val_count = summary[1];
  r.bad_count = summary[2];
  r.up_to_date = r.shards_converted == 0 && summary[3] == 0;
  return r;
}

}  // namespace scouter
