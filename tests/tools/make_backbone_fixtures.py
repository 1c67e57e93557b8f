#!/usr/bin/python3
"""Writes the timm conformance fixture and the pretrained-weights fixtures.

Run with Debian's Python (torch 1.13, h5py), timm's source checked out anywhere (never committed):
    git --git-dir=<timm mirror> archive v1.0.28 | tar -x -C /tmp/timm
    /usr/bin/python3 tests/tools/make_backbone_fixtures.py /tmp/timm [fixtures_dir]

tests/fixtures/backbone_timm.h5 (checked by tests/worker/timm_conformance_test.cpp):
  root attrs   timm_version; formula (fixture_values.CONFORMANCE_FORMULA: weights and inputs)
  /inputs/x3, /inputs/x1      4 x 3 x 24 x 40 and 4 x 1 x 24 x 40 inputs, sine_input()
  /<model>/    attrs param_count: timm's parameter count with 3 input channels and 1000 classes;
               keys: its state_dict keys (parameters and buffers), one per line, in timm's order
  /<model>/<case>/            attrs in_chans, num_classes, stem ("timm" or "mnist": the published
               MNIST stem Conv2d(1, 64, 3, s2, p1) swapped into `conv1`); every parameter and
               buffer follows fixture_values.conformance_value() (so none are stored); datasets
               features_eval, logits_eval (eval mode), then features_train, logits_train
               (training-mode BN, run after the eval forward): timm's float64 results (float64:
               float32 would hide an error of 1e-7 relative). Guards measured on this run, as attrs: eval_f32_error (max_error of timm's
               float32 eval forward against its float64 one) and train_amplification (of the
               float64 training-mode forward); the generator refuses a case above the limits
               below, which the C++ test's tolerances are derived from.
tests/fixtures/pretrained/ (checked by tests/worker/pretrained_test.cpp), a 1-channel smallcnn
  with 10 classes whose tensors follow deterministic_value():
  smallcnn_state_dict.pth   torch.save(model.state_dict()), float32
  smallcnn_checkpoint.pth   torch.save({"model": state_dict as float16, "epoch": 7})
  smallcnn_mixed.safetensors  keys prefixed "backbone.", conv weights BF16, fc F16, the rest F32,
                            num_batches_tracked I64, a __metadata__ entry
  smallcnn_bad.safetensors  zeros, F16: layer3.0.conv.weight missing, bn1.weight of shape [16],
                            unexpected layer5.0.conv.weight and extra.bias
"""
import copy
import json
import math
import os
import struct
import sys
import types
import importlib.abc
import importlib.machinery

import h5py
import numpy as np
import torch
from torch import nn

from fixture_values import (CONFORMANCE_FORMULA, amplification, fill_conformance, max_error,
                            sine_input)

MODELS = ["resnet18", "resnet50", "resnest26d", "resnest50d"]
INPUT_HW = (24, 40)  # odd sizes on the way down (5 -> 3 -> 2) exercise ceil_mode and padding
# Four images: ResNeSt's split attention normalises [B, C, 1, 1] tensors in training mode, over
# B values per channel only; with 2 images a float64 forward amplified input rounding by up to
# 1e10, with 4 by at most 3e4.
BATCH = 4
# Limits the C++ test's tolerances rest on (tests/worker/timm_conformance_test.cpp):
# float32 eval within a quarter of its tolerance 1e-5 max|ref|; float64 training mode
# amplifying rounding by at most 1e5, so that CPUs differ by ~1e5 * 2^-53 ~ 1e-11 max|ref|,
# inside its tolerance 1e-10 max|ref|.
MAX_EVAL_F32_ERROR = 2.5e-6
MAX_TRAIN_AMPLIFICATION = 1e5
# The pretrained-weights fixtures below still use the older sine formula: they test loading
# (exact values), not numerics.
FORMULA = ("h = sum(utf8 bytes of name) % 97; b[i] = sin(1.7 i + 0.3 h) in float64 over the "
           "flattened tensor; running_var 0.75 + 0.25 b; running_mean and *.bias 0.05 b; other 1-d "
           "(BN weight) 1 + 0.1 b; weights b * 1.5 / sqrt(numel / shape[0]); float32.")


def stub_torchvision():
    """timm imports torchvision for its data pipeline only; the models used here need none of it.
    Without Debian's python3-torchvision, an empty stand-in lets `import timm` succeed."""
    try:
        import torchvision  # noqa: F401
        return
    except ImportError:
        pass

    class Meta(type):
        def __getattr__(cls, name):
            if name.startswith("__"):
                raise AttributeError(name)
            return Meta(name, (), {})

    class StubModule(types.ModuleType):
        def __getattr__(self, name):
            if name.startswith("__"):
                raise AttributeError(name)
            return Meta(name, (), {})

    class Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
        def find_spec(self, fullname, path, target=None):
            if fullname == "torchvision" or fullname.startswith("torchvision."):
                return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
            return None

        def create_module(self, spec):
            module = StubModule(spec.name)
            module.__path__ = []
            return module

        def exec_module(self, module):
            pass

    sys.meta_path.insert(0, Finder())


def deterministic_value(name, shape):
    """The formula of FORMULA (pretrained fixtures); tests/worker/fixture_tensors.h computes the same."""
    n = int(np.prod(shape)) if len(shape) else 1
    h = sum(name.encode()) % 97
    i = torch.arange(n, dtype=torch.float64)
    b = torch.sin(1.7 * i + 0.3 * h)
    if name.endswith("running_var"):
        v = 0.75 + 0.25 * b
    elif name.endswith("running_mean") or name.endswith(".bias"):
        v = 0.05 * b
    elif len(shape) == 1:
        v = 1.0 + 0.1 * b
    else:
        v = b * (1.5 / math.sqrt(n / shape[0]))
    return v.to(torch.float32).reshape(shape)


def fill(model):
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if t.dtype == torch.int64:
                t.zero_()  # num_batches_tracked: unused with BN's default momentum
            else:
                t.copy_(deterministic_value(name, list(t.shape)))


def input_value(c):
    return sine_input((BATCH, c) + INPUT_HW)


def build(timm, name, in_chans, num_classes):
    """timm's model; with one channel, resnet18/resnet50 get the published MNIST stem swap
    (a single `conv1`), the deep-stem ResNeSt models keep timm's in_chans handling."""
    if in_chans == 1 and not name.startswith("resnest"):
        model = timm.create_model(name, pretrained=False, num_classes=num_classes)
        model.conv1 = nn.Conv2d(1, 64, kernel_size=3, stride=2, padding=1, bias=False)
        return model, "mnist"
    return timm.create_model(name, pretrained=False, in_chans=in_chans, num_classes=num_classes), "timm"


def forward_both(model, x):
    with torch.no_grad():
        feats = model.forward_features(x)
        return feats, model.forward_head(feats)


def write_timm_fixture(timm, path):
    with h5py.File(path, "w", libver="latest") as f:
        f.attrs["timm_version"] = timm.__version__
        f.attrs["formula"] = CONFORMANCE_FORMULA
        g_in = f.create_group("inputs")
        for c in (3, 1):
            g_in.create_dataset(f"x{c}", data=input_value(c).numpy())
        for name in MODELS:
            g = f.create_group(name)
            full = timm.create_model(name, pretrained=False)
            g.attrs["param_count"] = sum(p.numel() for p in full.parameters())
            g.attrs["keys"] = "\n".join(full.state_dict().keys())
            print(f"{name}: timm {g.attrs['param_count']} parameters (3 channels, 1000 classes)")
            for in_chans in (3, 1):
                model, stem = build(timm, name, in_chans, 10)
                fill_conformance(model)
                case = g.create_group(f"in{in_chans}")
                case.attrs["in_chans"] = in_chans
                case.attrs["num_classes"] = 10
                case.attrs["stem"] = stem
                x32 = input_value(in_chans)
                model.eval()
                f32 = forward_both(model, x32)
                model = model.double()
                x = x32.double()
                f64 = forward_both(model, x)
                eval_err = max(max_error(a, b) for a, b in zip(f32, f64))
                # Training mode after the eval forward, as the C++ test runs it; the amplification
                # is measured on copies so that the stored forward sees the running statistics
                # that one eval forward left (eval does not move them).
                model.train()
                sd = copy.deepcopy(model.state_dict())

                def train_forward(xx):
                    model.load_state_dict(sd)
                    return forward_both(model, xx)

                amp = amplification(train_forward, x)
                t64 = train_forward(x)
                case.attrs["eval_f32_error"] = eval_err
                case.attrs["train_amplification"] = amp
                for mode, (feats, logits) in (("eval", f64), ("train", t64)):
                    case.create_dataset(f"features_{mode}", data=feats.numpy())
                    case.create_dataset(f"logits_{mode}", data=logits.numpy())
                print(f"  in{in_chans}: features {tuple(f64[0].shape)}, eval float32 error "
                      f"{eval_err:.2e} of max, train float64 amplification {amp:.2e}")
                assert eval_err <= MAX_EVAL_F32_ERROR, f"{name} in{in_chans}: eval not well-conditioned"
                assert amp <= MAX_TRAIN_AMPLIFICATION, f"{name} in{in_chans}: train not well-conditioned"


class SmallCnn(nn.Module):
    """Names and shapes of worker/model/backbone.cpp's smallcnn (the values come from fill())."""

    def __init__(self, in_chans=1, num_classes=10):
        super().__init__()
        widths = [32, 32, 64, 64, 64]
        self.conv1 = nn.Conv2d(in_chans, widths[0], 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        for i in range(4):
            block = nn.Module()
            block.conv = nn.Conv2d(widths[i], widths[i + 1], 3, padding=1, bias=False)
            block.bn = nn.BatchNorm2d(widths[i + 1])
            setattr(self, f"layer{i + 1}", nn.Sequential(block))
        self.fc = nn.Linear(widths[-1], num_classes)


SAFETENSORS_DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
                      torch.int64: "I64"}


def write_safetensors(path, tensors, metadata=None):
    """The safetensors layout: u64 little-endian header size, JSON header, raw data."""
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, t in tensors.items():
        t = t.contiguous()
        raw = t.view(torch.int16).numpy().tobytes() if t.dtype == torch.bfloat16 else t.numpy().tobytes()
        header[name] = {"dtype": SAFETENSORS_DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the reference writer pads the header to 8 bytes
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in blobs:
            f.write(raw)


def write_pretrained_fixtures(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    model = SmallCnn()
    fill(model)
    sd = model.state_dict()  # an OrderedDict with _metadata, as real files have
    torch.save(sd, os.path.join(out_dir, "smallcnn_state_dict.pth"))
    half = {k: (v.half() if v.is_floating_point() else v) for k, v in sd.items()}
    torch.save({"model": half, "epoch": 7}, os.path.join(out_dir, "smallcnn_checkpoint.pth"))

    mixed = {}
    for k, v in sd.items():
        if k.startswith("fc."):
            v = v.half()
        elif v.is_floating_point() and v.dim() == 4:
            v = v.bfloat16()
        mixed["backbone." + k] = v
    write_safetensors(os.path.join(out_dir, "smallcnn_mixed.safetensors"), mixed,
                      {"format": "pt", "note": "scouter test fixture"})

    bad = {k: torch.zeros(v.shape, dtype=torch.float16) for k, v in sd.items()
           if v.is_floating_point() and k != "layer3.0.conv.weight"}
    bad["bn1.weight"] = torch.zeros(16, dtype=torch.float16)
    bad["layer5.0.conv.weight"] = torch.zeros(4, 64, 3, 3, dtype=torch.float16)
    bad["extra.bias"] = torch.zeros(3, dtype=torch.float16)
    write_safetensors(os.path.join(out_dir, "smallcnn_bad.safetensors"), bad)
    for name in sorted(os.listdir(out_dir)):
        print(f"{name}: {os.path.getsize(os.path.join(out_dir, name))} bytes")


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: make_backbone_fixtures.py TIMM_SOURCE_DIR [FIXTURES_DIR]")
    sys.path.insert(0, os.path.abspath(sys.argv[1]))
    stub_torchvision()
    import timm
    out_dir = sys.argv[2] if len(sys.argv) > 2 else os.path.normpath(os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))
    torch.manual_seed(0)
    write_timm_fixture(timm, os.path.join(out_dir, "backbone_timm.h5"))
    write_pretrained_fixtures(os.path.join(out_dir, "pretrained"))
    print(f"backbone_timm.h5: {os.path.getsize(os.path.join(out_dir, 'backbone_timm.h5'))} bytes")


if __name__ == "__main__":
    main()
