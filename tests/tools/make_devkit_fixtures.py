#!/usr/bin/env python3
"""Writes tests/fixtures/imagenet_devkit/: tiny stand-ins for the ILSVRC2012 devkit's
data/meta.mat, written by scipy.io.savemat (the writer of the library torchvision reads meta.mat
with), for datasets/mat_file.* and the official ImageNet layout in image_prep_test.cpp.

  meta.mat               compressed (MATLAB's default since v7): a 5 x 1 struct array `synsets`
                         with the devkit's fields ILSVRC2012_ID, WNID, words, gloss,
                         num_children, children, wordnet_height, num_train_images; four leaves
                         (num_children 0) whose ids are not in WNID order, and one parent.
  meta_uncompressed.mat  uncompressed; the same synsets with numbers of other storage types
                         (uint8, uint16, int16, single) and an extra cell field, plus a second
                         variable before `synsets`: what the reader must skip or convert.

Needs Debian's python3-scipy and python3-numpy: run with /usr/bin/python3 from the repository
root:  /usr/bin/python3 tests/tools/make_devkit_fixtures.py
The tests hard-code the SYNSETS table below; change both together.
"""
import os

import numpy as np
import scipy.io

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "imagenet_devkit")

# ILSVRC2012_ID, WNID, words, num_children, children (ids). The test's train folders are
# n01000001..n01000003; n01000004 is a leaf with no train folder; n00000001 is their parent.
SYNSETS = [
    (1, "n01000003", "great white shark", 0, []),
    (2, "n01000001", "tench, Tinca tinca", 0, []),
    (3, "n01000002", "goldfish, Carassius auratus", 0, []),
    (4, "n01000004", "hammerhead, hammerhead shark", 0, []),
    (5, "n00000001", "fish", 4, [1, 2, 3, 4]),
]


def synsets(number, extra_cell):
    fields = ["ILSVRC2012_ID", "WNID", "words", "gloss", "num_children", "children",
              "wordnet_height", "num_train_images"] + (["notes"] if extra_cell else [])
    out = np.zeros((len(SYNSETS), 1), dtype=[(f, "O") for f in fields])
    for i, (sid, wnid, words, num_children, children) in enumerate(SYNSETS):
        row = [number(sid, np.uint16), wnid, words, "a gloss with a non-ASCII letter: café",
               number(num_children, np.uint8),
               np.array([children], dtype=np.float64) if children else np.zeros((1, 0)),
               number(0 if num_children == 0 else 1, np.int16), number(1300.0, np.float32)]
        if extra_cell:
            cell = np.empty((1, 2), dtype=object)
            cell[0, 0], cell[0, 1] = "skipped", np.array([[1.0, 2.0]])
            row.append(cell)
        out[i, 0] = tuple(row)
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    as_double = lambda v, _type: np.array([[float(v)]])
    as_type = lambda v, t: np.array([[v]], dtype=t)
    scipy.io.savemat(os.path.join(OUT, "meta.mat"), {"synsets": synsets(as_double, False)},
                     do_compression=True, oned_as="row")
    scipy.io.savemat(os.path.join(OUT, "meta_uncompressed.mat"),
                     {"aaa_first": np.arange(6.0).reshape(2, 3), "synsets": synsets(as_type, True)},
                     do_compression=False, oned_as="row")
    print(f"wrote meta.mat and meta_uncompressed.mat in {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
