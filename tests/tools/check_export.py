#!/usr/bin/python3
"""Loads a file written by `scouter export` into the published SCOUTER model's module tree with
load_state_dict(strict=True) and checks its log-probabilities against a published fixture.

    /usr/bin/python3 tests/tools/check_export.py MODEL.pth|MODEL.safetensors EXPECTED.h5 CASE

The module tree is rebuilt here, not taken from the authors' code: SlotModel(args) for MNIST,
resnet18, SCOUTER (backbone = timm's resnet18 with the published 1-channel stem and no
classifier, conv1x1, slot = the published SlotAttention), from the plain-PyTorch modules of
make_model_fixtures.py. CASE names a group of tests/fixtures/published/expected.h5 (made by the
published code itself); its args give the slot settings. The forward runs in float64 and must
agree with the published float64 log-probabilities within 1e-6 relative: the published xSlot's
division by partly cancelling sums of dots makes two float64 computations in a different
operation order differ by ~5e-8 relative on these weights (make_published_fixtures.py), while a
wrong or misplaced tensor moves them by far more than 1e-3.
A .safetensors file is parsed here (8-byte header size, JSON header, raw little-endian data), so
the check needs no safetensors package. Prints "strict load ok" and exits 0, or exits 1.
"""
import ast
import json
import os
import sys

import h5py
import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_values import sine_input  # noqa: E402
from make_model_fixtures import Head, ResNet18, sine_embedding  # noqa: E402

DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32}


def read_safetensors(path):
    with open(path, "rb") as f:
        size = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(size))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        a = np.frombuffer(data[begin:end], dtype=DTYPES[info["dtype"]]).reshape(info["shape"])
        out[name] = torch.from_numpy(a.copy())
    return out


class PublishedSlotModel(nn.Module):
    def __init__(self, args):
        super().__init__()
        assert args["model"] == "resnet18" and args["dataset"] == "MNIST" and args["use_slot"]
        self.backbone = ResNet18(1, args["num_classes"])
        del self.backbone.fc  # the published code replaces fc (and the pooling) by Identical
        head = Head(args["channel"], args)
        self.conv1x1, self.slot = head.conv1x1, head.slot

    def forward(self, x):
        b = self.backbone
        x = nn.functional.max_pool2d(torch.relu(b.bn1(b.conv1(x))), 3, 2, 1)
        feats = b.layer4(b.layer3(b.layer2(b.layer1(x))))
        x = torch.relu(self.conv1x1(feats))
        n, d, h, w = x.shape
        # As published (DETR): the embedding is computed in float32 whatever x is, then cast.
        pos = sine_embedding(h, w, d, torch.float32).to(x.dtype)
        x_pe = (x + pos).reshape(n, d, -1).permute(0, 2, 1)
        x = x.reshape(n, d, -1).permute(0, 2, 1)
        logits = self.slot(x_pe, x)[0]
        return torch.log_softmax(logits, 1)


def main():
    path, expected_path, case = sys.argv[1:4]
    with h5py.File(expected_path, "r") as f:
        args = ast.literal_eval(f[case].attrs["args"])
        expected = torch.from_numpy(f[case]["logprob"][()])
    state = read_safetensors(path) if path.endswith(".safetensors") else torch.load(path)
    model = PublishedSlotModel(args)
    model.load_state_dict(state, strict=True)
    print("strict load ok:", len(state), "tensors")
    model = model.double().eval()
    with torch.no_grad():
        got = model(sine_input([2, 1, 260, 260]).double())
    err = float((got - expected).abs().max() / expected.abs().max())
    print(f"max relative difference to the published float64 log-probabilities: {err:.3e}")
    sys.exit(0 if err <= 1e-6 else 1)


if __name__ == "__main__":
    main()
