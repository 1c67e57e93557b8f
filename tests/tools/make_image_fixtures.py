#!/usr/bin/env python3
"""Writes tests/fixtures/image_ops.h5: reference outputs of PIL and matplotlib for
datasets/image_ops (bilinear resize, the jet colormap, the published heatmap overlay).

Needs Debian's python3-pil, python3-matplotlib, python3-h5py and python3-numpy.
Run from the repository root:  python3 tests/tools/make_image_fixtures.py
The inputs are seeded, so re-running gives the same file contents.
"""
import os
import sys

import h5py
import matplotlib
import matplotlib.cm
import numpy as np
import PIL
from PIL import Image

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "image_ops.h5")

# name: (channels, in_h, in_w, out_h, out_w)
RESIZE_CASES = {
    "up_rgb": (3, 5, 7, 13, 11),      # both axes grow
    "down_gray": (1, 28, 28, 9, 9),   # both axes shrink (the filter widens)
    "down_rgb": (3, 28, 28, 9, 9),
    "mixed_gray": (1, 12, 20, 31, 6),  # one axis grows, the other shrinks
    "width_only": (1, 6, 20, 6, 7),   # PIL skips the vertical pass
    "height_only": (3, 20, 6, 7, 6),  # PIL skips the horizontal pass
    "mnist_up": (1, 28, 28, 61, 60),  # as MNIST to img_size, smaller to keep the file small
}


def resize_case(rng, c, h, w, oh, ow):
    planar = rng.randint(0, 256, size=(c, h, w)).astype(np.uint8)
    planar[:, 0, 0] = 255  # extremes exercise PIL's clipping
    planar[:, -1, -1] = 0
    if c == 1:
        img = Image.fromarray(planar[0], mode="L")
    else:
        img = Image.fromarray(np.ascontiguousarray(planar.transpose(1, 2, 0)), mode="RGB")
    out = np.asarray(img.resize((ow, oh), Image.BILINEAR))
    out_u8 = out[None] if c == 1 else out.transpose(2, 0, 1)
    # Mode "F": PIL's floating-point path (double weights, float32 between the passes).
    out_f = np.stack([
        np.asarray(Image.fromarray(planar[k].astype(np.float32), mode="F").resize(
            (ow, oh), Image.BILINEAR)) for k in range(c)])
    return planar, np.ascontiguousarray(out_u8), out_f.astype(np.float32)


def jet():
    if hasattr(matplotlib, "colormaps"):
        return matplotlib.colormaps["jet"]
    return matplotlib.cm.get_cmap("jet")


def apply_colormap_on_image(org_im, activation, colormap_name):
    """The published code's overlay (misc_functions.py of the SCOUTER repository)."""
    color_map = jet() if colormap_name == "jet" else None
    no_trans_heatmap = color_map(activation)
    heatmap = no_trans_heatmap.copy()
    heatmap[:, :, 3] = 0.4
    heatmap = Image.fromarray((heatmap * 255).astype(np.uint8))
    heatmap_on_image = Image.new("RGBA", org_im.size)
    heatmap_on_image = Image.alpha_composite(heatmap_on_image, org_im.convert("RGBA"))
    heatmap_on_image = Image.alpha_composite(heatmap_on_image, heatmap)
    return heatmap_on_image


def main():
    rng = np.random.RandomState(20240601)
    with h5py.File(OUT + ".tmp", "w") as f:
        f.attrs["generator"] = "tests/tools/make_image_fixtures.py"
        f.attrs["pillow"] = PIL.__version__
        f.attrs["matplotlib"] = matplotlib.__version__
        for name, (c, h, w, oh, ow) in RESIZE_CASES.items():
            inp, out_u8, out_f = resize_case(rng, c, h, w, oh, ow)
            g = f.create_group("resize/" + name)
            g.create_dataset("input", data=inp)
            g.create_dataset("u8", data=out_u8)
            g.create_dataset("float", data=out_f, compression="gzip")

        f.create_dataset("jet", data=jet()(np.arange(256))[:, :3].astype(np.float64))

        h, w = 7, 37
        rgb = rng.randint(0, 256, size=(h, w, 3)).astype(np.uint8)
        amap = np.zeros((h, w), np.uint8)
        amap.flat[:256] = np.arange(256)  # every colormap entry once
        amap.flat[256:] = rng.randint(0, 256, size=h * w - 256)
        out = np.asarray(apply_colormap_on_image(Image.fromarray(rgb, mode="RGB"), amap, "jet"))
        g = f.create_group("overlay")
        g.create_dataset("rgb", data=rgb)
        g.create_dataset("map", data=amap)
        g.create_dataset("expected_rgba", data=out)
    os.replace(OUT + ".tmp", OUT)
    print("wrote", os.path.normpath(OUT), os.path.getsize(OUT), "bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
