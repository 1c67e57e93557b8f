#!/usr/bin/python3
"""Writes tests/fixtures/published/: checkpoints made by the published model's own code path, and
what that code computes on them, for `scouter import` (tests/launcher/model_io_test.cpp).

    /usr/bin/python3 tests/tools/make_published_fixtures.py PUBLISHED_DIR [OUT_DIR]

PUBLISHED_DIR is a checkout of the authors' code (github.com/wbw520/scouter; not part of this
repository): its sloter/slot_model.py SlotModel(args) builds each model, with the run-time patches
of scripts/published_bench.py (torch._six, torchvision stand-in, |sigma| in the slot draw). Each
case is saved exactly as the published train.py saves a checkpoint:
torch.save({"model": state_dict, "optimizer", "lr_scheduler", "epoch", "args": Namespace}),
then xz-compressed (<case>.pth.xz). The weights follow a 97-periodic version of
fixture_values.conformance_value() (hash values of flat index mod 97, same scales), so the
compressed files stay a few kB although resnet18 has 11 M parameters.

expected.h5: /<case>/ with attrs args (the Namespace as text), f32_error (max_error of the
published float32 forward against the float64 one: how far float32 rounding alone moves these
log-probabilities on the machine that made the fixture), and dataset logprob (float64: the published forward of model.double() on the float64 copy of the
input, in eval mode). Input: fixture_values.sine_input([2, 1, 260, 260]) (the published forward
hard-codes a 9 x 9 feature map, i.e. 260 px). BatchNorm statistics are those of this input (set
in one eval-mode pass just before each BatchNorm runs, variances floored at each layer's
median; running_mean 0 and running_var the second moment, so no BatchNorm subtracts a large mean from a nearly equal value), so activations stay of order 1. The C++ test runs the imported model in float64 (agreement to ~1e-12: the same
operations, rounding only) and in float32 (tolerance max(1e-5, 4 x f32_error) relative to the
largest |log-probability|: a different CPU's float32 kernels move the result about as far as
float32 rounding does here). Why float32 rounding moves these log-probabilities by ~1e-6 and not
1e-7: the published xSlot divides each slot's dots by their sum over positions and multiplies by
the sum over everything; unless the sigmoid after it saturates (then every class gets the same
logit), those sums partly cancel, and the division amplifies rounding. Even two float64
computations of the same model in a different operation order (tests/tools/check_export.py)
differ by ~5e-8 relative. The generator refuses a case whose float32 error exceeds 1e-3.
"""
import argparse
import io
import lzma
import os
import re
import sys

import h5py
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts"))
from fixture_values import hash_uniform, max_error, scaled_value, sine_input  # noqa: E402
import published_bench  # noqa: E402

PERIOD = 97
RESIDUAL_LAST_BN = re.compile(r"layer\d\.\d+\.bn[23]\.weight$")  # BasicBlock bn2, Bottleneck bn3
RESIDUAL_GAIN = 0.2
INPUT_SHAPE = [2, 1, 260, 260]
MAX_F32_ERROR = 1e-4

# (case, train.py options that differ from its defaults); dataset MNIST: 1 channel, 10 classes.
CASES = [
    ("mnist_resnet18_pos", dict(model="resnet18", use_slot=True, loss_status=1, slots_per_class=3,
                                to_k_layer=3, power=2, lambda_value=1.0, channel=512)),
    ("mnist_resnest26d_neg", dict(model="resnest26d", use_slot=True, loss_status=-1,
                                  slots_per_class=1, to_k_layer=1, power=1, lambda_value=2.0,
                                  channel=2048)),
    ("mnist_resnet18_fc", dict(model="resnet18", use_slot=False, loss_status=1, slots_per_class=1,
                               to_k_layer=1, power=2, lambda_value=1.0, channel=512)),
]


def train_py_args(options):
    """Every attribute train.py's parser gives the Namespace (defaults of get_args_parser), with
    the types its param_translation leaves (num_classes, slots_per_class, power int; lambda_value
    float), then the case's options."""
    a = dict(model="resnet18", dataset="MNIST", channel=512, lr=0.0001, lr_drop=70, batch_size=64,
             weight_decay=0.0001, epochs=10, num_classes=10, img_size=260, pre_trained=False,
             use_slot=True, use_pre=False, aug=False, grad=False, grad_min_level=0.0,
             iterated_evaluation_num=1, cal_area_size=False, thop=False, loss_status=1,
             freeze_layers=2, hidden_dim=64, slots_per_class=3, power=2, to_k_layer=1,
             lambda_value=1.0, vis=False, vis_id=0, dataset_dir="../data/mnist",
             output_dir="saved_model/", pre_dir="pre_model/", device="cpu", num_workers=4,
             start_epoch=0, resume=False, world_size=1, local_rank=None, dist_url="env://",
             distributed=False)
    a.update(options)
    return argparse.Namespace(**a)


def periodic_value(name, shape):
    """conformance_value's scales with u taken from a 97-periodic hash sequence."""
    n = int(np.prod(shape)) if len(shape) else 1
    p = min(PERIOD, n)
    return scaled_value(name, shape, hash_uniform(name, p).repeat(n // p + 1)[:n])


def build(args, SlotModel):
    real_normal = torch.normal

    def normal_abs_std(mean, std=1.0, *rest, **kw):
        return real_normal(mean, std.abs() if isinstance(std, torch.Tensor) else abs(std), *rest, **kw)

    torch.normal = normal_abs_std
    try:
        model = SlotModel(args)
    finally:
        torch.normal = real_normal
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if t.dtype == torch.int64:
                t.fill_(7)
            elif name.endswith("initial_slots"):
                t.copy_(2.0 * hash_uniform(name, t.numel()).to(torch.float32).reshape(t.shape))
            else:
                t.copy_(periodic_value(name, list(t.shape)))
            # The last BatchNorm of each residual block scaled down (timm even starts it at
            # zero): the blocks stay close to their shortcut, so the network does not amplify
            # rounding the way a deep random network at full gain does.
            if RESIDUAL_LAST_BN.search(name):
                t.mul_(RESIDUAL_GAIN)
        # BatchNorm statistics of the fixture input itself, set in one eval-mode pass just
        # before each BatchNorm runs (so each sees the activations the final eval forward
        # gives it): every layer then sees activations of order 1, and the log-probabilities
        # are neither uniform nor saturated. Channels the input barely moves would be divided
        # by a tiny deviation and amplify rounding: no variance below the layer's median.
        def calibrate(bn, inputs):
            x = inputs[0]  # mean 0, variance the second moment: x / rms(x) per channel
            bn.running_mean.zero_()
            second_moment = x.pow(2).mean((0, 2, 3))
            bn.running_var.copy_(second_moment.clamp(min=float(second_moment.median())))

        model.eval()
        hooks = [m.register_forward_pre_hook(calibrate) for m in model.modules()
                 if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
        model(sine_input(INPUT_SHAPE))
        for h in hooks:
            h.remove()
    return model.eval()


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    published = os.path.abspath(sys.argv[1])
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE, "..", "fixtures", "published")
    os.makedirs(out, exist_ok=True)
    published_bench.install_six_shim()
    published_bench.stub_torchvision()
    sys.path.insert(0, published)
    from sloter.slot_model import SlotModel

    torch.manual_seed(0)
    x32 = sine_input(INPUT_SHAPE)
    with h5py.File(os.path.join(out, "expected.h5.tmp"), "w") as f:
        for case, options in CASES:
            args = train_py_args(options)
            model = build(args, SlotModel)
            params = [p for p in model.parameters() if p.requires_grad]
            optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=args.weight_decay)
            lr_scheduler = torch.optim.lr_scheduler.StepLR(optimizer, args.lr_drop)
            buf = io.BytesIO()
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                        "lr_scheduler": lr_scheduler.state_dict(), "epoch": args.epochs - 1,
                        "args": args}, buf)
            packed = lzma.compress(buf.getvalue(), preset=9)
            with open(os.path.join(out, case + ".pth.xz"), "wb") as g:
                g.write(packed)
            with torch.no_grad():
                lp32 = model(x32)
                m64 = model.double()
                lp64 = m64(x32.double())
            err = max_error(lp32, lp64)
            print(f"{case}: {len(buf.getvalue()) / 1e6:.1f} MB -> {len(packed) / 1e3:.1f} kB xz; "
                  f"float32 error {err:.2e}; "
                  f"logprob[0] {lp64[0].tolist()}")
            if err > MAX_F32_ERROR:
                sys.exit(f"{case}: refused (float32 error {err:.2e} > {MAX_F32_ERROR})")
            g = f.create_group(case)
            g.attrs["args"] = repr(vars(args))
            g.attrs["f32_error"] = err
            g.create_dataset("logprob", data=lp64.numpy())
    os.replace(os.path.join(out, "expected.h5.tmp"), os.path.join(out, "expected.h5"))


if __name__ == "__main__":
    main()
