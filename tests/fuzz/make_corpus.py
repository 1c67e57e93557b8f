#!/usr/bin/python3
"""Writes the seed corpora of the fuzz harnesses that Python can make: tests/fuzz/corpus/<harness>/.
(checkpoint/, shard/ and config/defaults.toml come from the project's own writers:
tests/fuzz/make_seeds.cpp.)

Small on purpose (a few KB each): libFuzzer mutates them, so every byte is a place to start.
Run from the repository root with Debian's Python (torch): /usr/bin/python3 tests/fuzz/make_corpus.py
"""
import argparse
import collections
import gzip
import io
import json
import shutil
import struct
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests/fuzz/corpus"


def out(harness, name, data):
    d = OUT / harness
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)


def torch_bytes(obj):
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def torch_file():
    sd = collections.OrderedDict()
    sd["conv.weight"] = torch.arange(8, dtype=torch.float32).reshape(2, 1, 2, 2)
    sd["conv.bias"] = torch.tensor([0.5, -1.0], dtype=torch.float16)
    sd["bn.num_batches_tracked"] = torch.tensor(3, dtype=torch.int64)
    base = torch.arange(6, dtype=torch.float64)
    sd["fc.weight"] = base[1:5].reshape(2, 2).t()  # a strided view with a storage offset
    out("torch_file", "state_dict.pth", torch_bytes(sd))
    args = argparse.Namespace(model="resnet18", lr=1e-4, num_classes=10, use_slot=True,
                              pre_dir=None, name="x\u00e9")
    ckpt = {"model": sd, "optimizer": {"state": {}, "param_groups": [{"lr": 1e-4, "params": [0, 1]}]},
            "lr_scheduler": {"last_epoch": 4}, "epoch": 4, "args": args}
    out("torch_file", "checkpoint.pth", torch_bytes(ckpt))
    out("torch_file", "nested.pth", torch_bytes({"state_dict": {"a": [(1, 2.5), {"b": True}],
                                                                "t": torch.ones(3, dtype=torch.uint8)}}))


def safetensors():
    tensors = [("w", "F32", [2, 2], struct.pack("<4f", 1, 2, 3, 4)),
               ("b", "F16", [2], struct.pack("<2e", 0.5, -2)),
               ("n", "I64", [], struct.pack("<q", 7)),
               ("m", "BOOL", [3], bytes([1, 0, 1]))]
    header, data = {"__metadata__": {"format": "pt"}}, b""
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header).encode()
    out("safetensors", "small.safetensors", struct.pack("<Q", len(text)) + text + data)


def idx():
    images = struct.pack(">I3I", 0x803, 2, 3, 3) + bytes(range(18))
    labels = struct.pack(">II", 0x801, 2) + bytes([3, 9])
    out("idx", "images-idx3-ubyte", images)
    out("idx", "labels-idx1-ubyte", labels)
    out("idx", "images-idx3-ubyte.gz", gzip.compress(images, mtime=0))


def copies():
    for f in ["rgb.jpg", "gray.jpg", "cmyk.jpg", "rgb444_progressive.jpg", "small.png", "gray16.png",
              "palette.png", "gray_alpha.png", "bilevel.png"]:
        out("image", f, (ROOT / "tests/fixtures/convert_images" / f).read_bytes())
    for f in ["meta.mat", "meta_uncompressed.mat"]:
        out("mat", f, (ROOT / "tests/fixtures/imagenet_devkit" / f).read_bytes())
    for f in ["mnist.toml", "cub200.toml"]:
        out("sweep", f, (ROOT / "experiments" / f).read_bytes())
    out("sweep", "grid.toml", b'[sweep]\nname = "g"\n[defaults]\ndataset = "MNIST"\n'
        b'[runs.a]\nlr = [1e-3, 1e-4]\nseeds = [1, 2]\n[runs.b]\nuse_pre = true\npre_run = "a"\n'
        b'[runs.b.resources]\nranks = 2\ntime_limit = "1-00:00:00"\n')
    out("reference", "published.toml", (ROOT / "experiments/reference/published.toml").read_bytes())
    out("reference", "small.toml", b'tolerance = 0.05\nnotes = ["n"]\n[sources]\npaper = "p"\nre = "r"\n'
        b'[[entry]]\nsetting = { dataset = "ImageNet", lambda_value = 1.0, use_slot = true }\n'
        b'paper = { area = 0.1561, final_val_acc = 0.8 }\nre = { sensitivity = 1.917 }\n'
        b'[[entry]]\nsetting = { dataset = "ImageNet", lambda_value = 3 }\npaper = { area = 0.07 }\n')
    out("config", "run.toml", b'# a run\ndataset = "MNIST"\nmodel = "resnet18"\nlr = 1e-4\n'
        b'epochs = 2\nuse_slot = true\nslots_per_class = 2\nloss_status = -1\nlambda_value = 1.5\n'
        b'batch_size = 8\nseed = 3\n')
    out("config", "nested.toml", b'[train]\nbatch_size = 8\n[model]\nchannel = 512\n'
        b'power = 2\ndate = 1979-05-27T07:32:00Z\ns = """multi\nline"""\n')


if __name__ == "__main__":
    torch_file()
    safetensors()
    idx()
    copies()
