#!/usr/bin/python3
"""Writes tests/fixtures/cam_reference.h5: CAM, Grad-CAM and Grad-CAM++ of a tiny FC model,
computed by PyTorch autograd with torchcam's formulas, for tests/worker/cam_test.cpp.

Run with Debian's Python (torch 1.13, h5py):
    /usr/bin/python3 tests/tools/make_cam_fixtures.py [fixtures_dir]

A random two-layer conv net (seed 0) turns 3 x 2 x 8 x 10 inputs into the feature map A; a
Linear(5, 4) head on its global average is the FC baseline's `fc`. Inputs (float32):
  /features    3 x 5 x 4 x 5   A (the C++ test feeds it through an identity backbone)
  /fc_weight   4 x 5, /fc_bias 4
and references computed from them in float64 (so they do not depend on the CPU that made them):
  /logits      3 x 4           fc(mean_ij A)
  /cam, /gradcam, /gradcampp   3 x 4 x 4 x 5, every class's relu'd map
  /gradcampp_published  3 x 4 x 16 x 20: Grad-CAM++ maps after the published make_grad
               (F.interpolate bilinear to 16 x 20, relu, min-max, max(., grad_min_level), min-max)
  root attrs   grad_min_level (0.3), torch_version, f32_error_fraction (PyTorch's float32 error
               as a fraction of the C++ test's tolerance; refused above 0.25)
"""
import copy
import os
import sys

import h5py
import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

GRAD_MIN_LEVEL = 0.3
OUT_SIZE = (16, 20)


def class_maps(features, fc, method):
    a = features.detach().requires_grad_(True)
    logits = fc(a.mean((2, 3)))
    maps = []
    for c in range(logits.shape[1]):
        if method == "cam":
            w = fc.weight[c].detach().expand(a.shape[0], -1)
        else:
            (g,) = torch.autograd.grad(logits[:, c].sum(), a, retain_graph=True)
            if method == "gradcam":
                w = g.mean((2, 3))
            else:  # torchcam GradCAMpp: alpha = g^2 / (2 g^2 + sum_ij(g^3 A)), 0 where g^2 = 0
                g2 = g.pow(2)
                g3 = g2 * g
                denom = 2 * g2 + (g3 * a.detach()).sum((2, 3), keepdim=True)
                alpha = torch.where(g2 > 0, g2 / denom, torch.zeros_like(g2))
                w = (alpha * torch.relu(g)).sum((2, 3))
        maps.append(torch.relu((w[:, :, None, None] * a.detach()).sum(1)))
    return logits.detach(), torch.stack(maps, 1).detach()


def make_grad(mask):
    """The published make_grad on one h x w map (numpy steps as published)."""
    m = F.interpolate(mask[None, None], size=OUT_SIZE, mode="bilinear")[0, 0].numpy()
    m = np.maximum(m, 0)
    m = m - np.min(m)
    m = m / np.max(m)
    m = np.maximum(m, GRAD_MIN_LEVEL)
    m = m - np.min(m)
    m = m / np.max(m)
    return m


# The C++ test's tolerances (tests/worker/cam_test.cpp), |ours - ref| <= atol + rtol |ref|, and
# the guard: PyTorch's own float32 result must sit within a quarter of them of the float64
# reference stored here, so that any CPU's float32 rounding passes with room (no map value near a
# ReLU kink or a Grad-CAM++ pole by more than rounding).
TOLERANCES = {"maps": (1e-7, 1e-4), "logits": (1e-7, 1e-5), "gradcampp_published": (1e-5, 1e-4)}
MAX_FRACTION = 0.25


def fraction(a, ref, kind):
    atol, rtol = TOLERANCES[kind]
    a, ref = torch.as_tensor(a).double(), torch.as_tensor(ref).double()
    return float(((a - ref).abs() / (atol + rtol * ref.abs())).max())


def published(maps):
    return np.stack([np.stack([make_grad(m) for m in per_image]) for per_image in maps])


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.normpath(
        os.path.join(os.path.dirname(__file__), "..", "fixtures"))
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 5, 3, padding=1), nn.ReLU(),
                        nn.Conv2d(5, 5, 3, stride=2, padding=1), nn.ReLU())
    fc = nn.Linear(5, 4)
    x = torch.rand(3, 2, 8, 10)
    with torch.no_grad():
        features = net(x)
    fc64 = copy.deepcopy(fc).double()
    worst = 0.0
    with h5py.File(os.path.join(out_dir, "cam_reference.h5"), "w", libver="latest") as f:
        f.attrs["grad_min_level"] = GRAD_MIN_LEVEL
        f.attrs["torch_version"] = str(torch.__version__)
        f.create_dataset("features", data=features.numpy())
        f.create_dataset("fc_weight", data=fc.weight.detach().numpy())
        f.create_dataset("fc_bias", data=fc.bias.detach().numpy())
        for method in ("cam", "gradcam", "gradcampp"):
            logits32, maps32 = class_maps(features, fc, method)
            logits, maps = class_maps(features.double(), fc64, method)
            worst = max(worst, fraction(maps32, maps, "maps"), fraction(logits32, logits, "logits"))
            f.create_dataset(method, data=maps.numpy())
            if method == "gradcampp":
                pub = published(maps)
                worst = max(worst, fraction(published(maps32), pub, "gradcampp_published"))
                f.create_dataset("gradcampp_published", data=pub)
        f.create_dataset("logits", data=logits.numpy())
        f.attrs["f32_error_fraction"] = worst
    print(f"cam_reference.h5: PyTorch float32 within {worst:.3f} of the C++ test's tolerances "
          f"of the float64 reference")
    assert worst <= MAX_FRACTION, "not well-conditioned: float32 rounding is near the tolerance"


if __name__ == "__main__":
    main()
