#!/usr/bin/env python3
"""Writes a synthetic 3-channel ImageNet in a layout that `scouter prep ImageNet` reads.

    python3 scripts/make_imagenet_layout.py OUT [--images 12000] [--num_classes 100]
        [--val_per_class 10] [--distinct 256] [--seed 0] [--layout kaggle|official]
    scouter prep ImageNet --src OUT --out data/imagenet-synth --num_classes 100 --img_size 260

--layout kaggle (default; what datasets/imagenet_layout.cpp reads from a Kaggle root):

    OUT/LOC_synset_mapping.txt                      "<wnid> <readable name>" per class
    OUT/LOC_val_solution.csv                        "ImageId,PredictionString" header, then
                                                    "ILSVRC2012_val_NNNNNNNN,<wnid> x1 y1 x2 y2 "
    OUT/ILSVRC/Data/CLS-LOC/train/<wnid>/<wnid>_<k>.JPEG
    OUT/ILSVRC/Data/CLS-LOC/val/ILSVRC2012_val_NNNNNNNN.JPEG   (flat; labels from the CSV)

--layout official (the ILSVRC2012 archives extracted; needs scipy for meta.mat):

    OUT/train/<wnid>/<wnid>_<k>.JPEG
    OUT/ILSVRC2012_img_val/ILSVRC2012_val_NNNNNNNN.JPEG
    OUT/ILSVRC2012_devkit_t12/data/ILSVRC2012_validation_ground_truth.txt   id of image i on line i
    OUT/ILSVRC2012_devkit_t12/data/meta.mat     struct array `synsets` (ILSVRC2012_ID, WNID, words,
                                                ..., num_children): the classes as leaves with ids
                                                in a seeded shuffled order, plus one parent
    OUT/ILSVRC2012_bbox_val_v3/val/ILSVRC2012_val_NNNNNNNN.xml   one <object> per image

The same arguments give the same images, labels and boxes in either layout, so the two convert
to the same shards.

--images train images are dealt to the classes in turn; each class gets --val_per_class val
images. The pixels are random smooth colour fields (speed work: the content does not matter);
--distinct different JPEGs (random sizes 280..400 x 240..360) are encoded once and written
under every name in turn, so generating 12,000 files takes seconds. JPEGs come from PIL
(quality 90) where it is installed, otherwise from a small built-in baseline encoder (random
8x8-block colours, DC coefficients only) that needs nothing but the standard library.
A finished folder holds `.done` with the arguments; a re-run with the same arguments does nothing.
"""
import argparse
import io
import json
import os
import random
import shutil
import sys


class BitWriter:
    def __init__(self):
        self.out = bytearray()
        self.acc = 0
        self.n = 0

    def put(self, value, length):
        self.acc = (self.acc << length) | (value & ((1 << length) - 1))
        self.n += length
        while self.n >= 8:
            self.n -= 8
            byte = (self.acc >> self.n) & 0xFF
            self.out.append(byte)
            if byte == 0xFF:
                self.out.append(0)  # byte stuffing
        self.acc &= (1 << self.n) - 1

    def flush(self):
        if self.n:
            self.put((1 << (8 - self.n)) - 1, 8 - self.n)  # pad with 1s
        return bytes(self.out)


def dc_only_jpeg(width, height, rng):
    """A baseline JFIF JPEG (YCbCr 4:4:4) whose 8x8 blocks are flat random colours. Huffman
    tables: DC categories 0..11 as 4-bit codes; AC only EOB ('0') and ZRL ('10')."""
    def seg(marker, payload):
        return bytes([0xFF, marker]) + (len(payload) + 2).to_bytes(2, "big") + payload

    head = b"\xff\xd8"
    head += seg(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
    head += seg(0xDB, bytes([0, 8] + [1] * 63))  # DC quantiser 8: level = q + 128
    head += seg(0xC0, bytes([8]) + height.to_bytes(2, "big") + width.to_bytes(2, "big") +
                bytes([3, 1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0]))
    dc_bits = [0, 0, 0, 12] + [0] * 12
    ac_bits = [1, 1] + [0] * 14
    head += seg(0xC4, bytes([0x00] + dc_bits + list(range(12)) + [0x10] + ac_bits + [0x00, 0xF0]))
    head += seg(0xDA, bytes([3, 1, 0x00, 2, 0x00, 3, 0x00, 0, 63, 0]))
    bw = BitWriter()
    pred = [0, 0, 0]
    bx, by = (width + 7) // 8, (height + 7) // 8
    base = [rng.randint(40, 215), rng.randint(90, 166), rng.randint(90, 166)]
    for _ in range(bx * by):
        for c in range(3):
            q = max(-128, min(127, base[c] - 128 + rng.randint(-40, 40)))
            diff = q - pred[c]
            pred[c] = q
            cat = abs(diff).bit_length()
            bw.put(cat, 4)
            if cat:
                bw.put(diff if diff > 0 else diff + (1 << cat) - 1, cat)
            bw.put(0, 1)  # EOB
    return head + bw.flush() + b"\xff\xd9"


def pil_jpeg(width, height, rng, Image):
    """Random smooth colour field: a small random image resized bilinearly, quality 90."""
    sw, sh = rng.randint(6, 24), rng.randint(6, 24)
    small = Image.frombytes("RGB", (sw, sh), bytes(rng.randrange(256) for _ in range(sw * sh * 3)))
    buf = io.BytesIO()
    small.resize((width, height), Image.BILINEAR).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("out", help="folder to write (the --src of `scouter prep ImageNet`)")
    p.add_argument("--images", type=int, default=12000, help="train images in all")
    p.add_argument("--num_classes", type=int, default=100)
    p.add_argument("--val_per_class", type=int, default=10)
    p.add_argument("--distinct", type=int, default=256, help="different JPEGs, reused in turn")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--encoder", choices=("auto", "pil", "builtin"), default="auto")
    p.add_argument("--layout", choices=("kaggle", "official"), default="kaggle")
    a = p.parse_args()
    if a.num_classes < 1 or a.images < a.num_classes or a.val_per_class < 1 or a.distinct < 1:
        print("make_imagenet_layout.py: need --num_classes >= 1, --images >= --num_classes, "
              "--val_per_class >= 1, --distinct >= 1", file=sys.stderr)
        sys.exit(2)

    Image = None
    if a.encoder in ("auto", "pil"):
        try:
            from PIL import Image
        except ImportError:
            if a.encoder == "pil":
                print("make_imagenet_layout.py: --encoder pil but PIL is not installed", file=sys.stderr)
                sys.exit(2)
    savemat = None
    if a.layout == "official":
        try:
            from scipy.io import savemat
        except ImportError:
            print("make_imagenet_layout.py: --layout official writes meta.mat with scipy, which is "
                  "not installed (Debian: python3-scipy)", file=sys.stderr)
            sys.exit(2)
    key = dict(vars(a), encoder="pil" if Image else "builtin")
    key.pop("out")
    if a.layout == "kaggle":
        key.pop("layout")  # .done files written before --layout existed stay valid
    done = os.path.join(a.out, ".done")
    if os.path.isfile(done):
        with open(done) as f:
            if json.load(f) == key:
                print(f"{a.out}: already written ({a.images} train images, {a.num_classes} classes)")
                return
    if os.path.exists(a.out):
        shutil.rmtree(a.out)

    rng = random.Random(a.seed)
    pool = []  # (bytes, width, height)
    for _ in range(min(a.distinct, a.images + a.num_classes * a.val_per_class)):
        w, h = rng.randrange(280, 401, 8), rng.randrange(240, 361, 8)
        pool.append((pil_jpeg(w, h, rng, Image) if Image else dc_only_jpeg(w, h, rng), w, h))

    official = a.layout == "official"
    root = a.out if official else os.path.join(a.out, "ILSVRC", "Data", "CLS-LOC")
    wnids = [f"n{10000000 + 37 * c:08d}" for c in range(a.num_classes)]  # sorted = class order
    words = [f"synthetic class {c}" for c in range(a.num_classes)]
    if not official:
        with open(os.path.join(_mkdir(a.out), "LOC_synset_mapping.txt"), "w") as f:
            for c, w in enumerate(wnids):
                f.write(f"{w} {words[c]}\n")
    k = 0
    counts = [0] * a.num_classes
    for i in range(a.images):
        c = i % a.num_classes
        d = _mkdir(os.path.join(root, "train", wnids[c]))
        with open(os.path.join(d, f"{wnids[c]}_{counts[c]}.JPEG"), "wb") as f:
            f.write(pool[k % len(pool)][0])
        counts[c] += 1
        k += 1
    val = _mkdir(os.path.join(root, "ILSVRC2012_img_val" if official else "val"))
    rows = ["ImageId,PredictionString"]
    labels = []  # (image_id, class, w, h, box) for the official layout's files
    for j in range(a.num_classes * a.val_per_class):
        c = j % a.num_classes
        data, w, h = pool[k % len(pool)]
        k += 1
        image_id = f"ILSVRC2012_val_{j + 1:08d}"
        with open(os.path.join(val, image_id + ".JPEG"), "wb") as f:
            f.write(data)
        x1, y1 = rng.randrange(0, w // 2), rng.randrange(0, h // 2)
        x2, y2 = rng.randrange(x1 + 8, w), rng.randrange(y1 + 8, h)
        rows.append(f"{image_id},{wnids[c]} {x1} {y1} {x2} {y2} ")
        labels.append((image_id, c, w, h, (x1, y1, x2, y2)))
    if official:
        write_devkit(a.out, wnids, words, labels, random.Random(a.seed + 1), savemat)
    else:
        with open(os.path.join(a.out, "LOC_val_solution.csv"), "w") as f:
            f.write("\n".join(rows) + "\n")
    with open(done, "w") as f:
        json.dump(key, f)
    print(f"{a.out}: {a.images} train + {len(rows) - 1} val JPEGs, {a.num_classes} classes, "
          f"{len(pool)} distinct images ({key['encoder']} encoder, {a.layout} layout)")


def write_devkit(out, wnids, words, labels, rng, savemat):
    """The devkit's ground truth and meta.mat, and one box XML per val image."""
    import numpy as np

    ids = list(range(1, len(wnids) + 1))
    rng.shuffle(ids)  # ILSVRC2012_IDs are not in WNID order in the real devkit either
    fields = ["ILSVRC2012_ID", "WNID", "words", "gloss", "num_children", "children",
              "wordnet_height", "num_train_images"]
    synsets = np.zeros((len(wnids) + 1, 1), dtype=[(f, "O") for f in fields])
    for c, w in enumerate(wnids):
        synsets[c, 0] = (float(ids[c]), w, words[c], "synthetic", 0.0, np.zeros((1, 0)), 0.0, 0.0)
    synsets[len(wnids), 0] = (float(len(wnids) + 1), "n00000000", "synthetic root", "synthetic",
                              float(len(wnids)), np.array([ids], dtype=float), 1.0, 0.0)
    data = _mkdir(os.path.join(out, "ILSVRC2012_devkit_t12", "data"))
    savemat(os.path.join(data, "meta.mat"), {"synsets": synsets}, do_compression=True)
    with open(os.path.join(data, "ILSVRC2012_validation_ground_truth.txt"), "w") as f:
        f.writelines(f"{ids[c]}\n" for _, c, _, _, _ in labels)
    boxes = _mkdir(os.path.join(out, "ILSVRC2012_bbox_val_v3", "val"))
    for image_id, c, w, h, (x1, y1, x2, y2) in labels:
        with open(os.path.join(boxes, image_id + ".xml"), "w") as f:
            f.write(f"<annotation>\n\t<folder>val</folder>\n\t<filename>{image_id}</filename>\n"
                    f"\t<size>\n\t\t<width>{w}</width>\n\t\t<height>{h}</height>\n"
                    f"\t\t<depth>3</depth>\n\t</size>\n\t<object>\n\t\t<name>{wnids[c]}</name>\n"
                    f"\t\t<bndbox>\n\t\t\t<xmin>{x1}</xmin>\n\t\t\t<ymin>{y1}</ymin>\n"
                    f"\t\t\t<xmax>{x2}</xmax>\n\t\t\t<ymax>{y2}</ymax>\n\t\t</bndbox>\n"
                    f"\t</object>\n</annotation>\n")


def _mkdir(path):
    os.makedirs(path, exist_ok=True)
    return path


if __name__ == "__main__":
    main()
