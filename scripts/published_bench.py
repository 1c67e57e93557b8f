#!/usr/bin/env python3
"""Training-step speed of the authors' published SCOUTER model, from a checkout of its code.

Builds `sloter/slot_model.py: SlotModel(args)` of the published repository (wbw520/scouter) and
times training steps exactly as its engine.py does them: zero_grad, forward with the labels,
backward of loss_list[0], AdamW step, then `loss.item()` (and, for slot models, the two other
loss items) and evaluateTop1 -- on one synthetic batch that is already on the device, so no data
loading is counted. The median step time over the timed steps is reported.

    /usr/bin/python3 scripts/published_bench.py PUBLISHED_DIR --case "MNIST SCOUTER+ resnet18" \\
        --model resnet18 --in_chans 1 --img_size 260 --batch 8 --device cpu --threads 2
    python3 scripts/published_bench.py PUBLISHED_DIR --device cuda --batch 64 \\
        --variants as_published,tuned

Prints one machine-readable line per variant (other lines start with '#'):

    published | <case> | <variant> | <ms/step> | <img/s>

Variants: `as_published` (fp32, NCHW, cuDNN autotune off: what the published code runs),
`tuned` (bf16 autocast + channels_last + cuDNN autotune), or `custom` (the --precision,
--channels_last and --cudnn_benchmark flags). Each variant builds the model afresh from --seed.

The checkout is not modified. Run-time patches, applied here only:
  * `torch._six` (removed in PyTorch 2): a stand-in module is put into sys.modules only when
    `import torch._six` fails; where it exists (1.x) but lacks container_abcs (gone since 1.9),
    the missing names are added to it. The bundled timm imports container_abcs from it.
  * the slot initialisation calls torch.normal(mu, sigma) with a random, possibly negative sigma,
    which current PyTorch refuses: torch.normal gets abs() of its std while the model is built,
    and is restored afterwards.
  * torchvision (imported by the bundled timm's data pipeline only) is replaced by an empty
    stand-in when it is not installed.
  * pre_trained and use_pre are forced off (they would download ImageNet weights or read a saved
    FC checkpoint); --freeze_layers N > 0 applies the published dfs_freeze as pre_trained would.
With 1 input channel the dataset is "MNIST", for which the published load_backbone swaps the
first conv for Conv2d(1, 64, 3, stride 2, padding 1); otherwise "ImageNet" (3 channels).
"""
import argparse
import collections.abc
import importlib.abc
import importlib.machinery
import math
import os
import statistics
import sys
import time
import types

import torch


def install_six_shim():
    """torch._six stand-in: PyTorch >= 2.0 removed the module (then a stand-in goes into
    sys.modules), and 1.x no longer has container_abcs and the like (then only the missing names
    are added to the loaded module). Returns what was done, or "" where nothing was needed."""
    names = {"container_abcs": collections.abc, "string_classes": (str, bytes), "int_classes": int,
             "inf": math.inf, "nan": math.nan}
    try:
        import torch._six as six
        made = False
    except ImportError:
        six = types.ModuleType("torch._six")
        sys.modules["torch._six"] = six
        torch._six = six
        made = True
    missing = [k for k in names if not hasattr(six, k)]
    for k in missing:
        setattr(six, k, names[k])
    if made:
        return "torch._six (stand-in module)"
    return f"torch._six ({', '.join(missing)} added)" if missing else ""


def stub_torchvision():
    """timm imports torchvision for its data pipeline only; an empty stand-in where it is missing."""
    try:
        import torchvision  # noqa: F401
        return ""
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
    return "torchvision (empty stand-in)"


def published_args(a):
    """The argparse namespace SlotModel reads (names and types as train.py's param_translation
    leaves them: num_classes, power, slots_per_class int; lambda_value float)."""
    return argparse.Namespace(
        model=a.model, dataset="MNIST" if a.in_chans == 1 else "ImageNet",
        channel=a.channel if a.channel > 0 else (512 if a.model in ("resnet18", "resnet34") else 2048),
        num_classes=a.num_classes, img_size=a.img_size,
        pre_trained=False, use_slot=a.use_slot, use_pre=False, grad=False,
        loss_status=a.loss_status, freeze_layers=a.freeze_layers, hidden_dim=a.hidden_dim,
        slots_per_class=a.slots_per_class, power=a.power, to_k_layer=a.to_k_layer,
        lambda_value=float(a.lambda_value), vis=False, vis_id=0, lr=a.lr)


def build_model(a, SlotModel):
    """SlotModel(args) with |sigma| in torch.normal during construction only."""
    real_normal = torch.normal

    def normal_abs_std(mean, std=1.0, *rest, **kw):
        if isinstance(std, torch.Tensor):
            std = std.abs()
        elif isinstance(std, (int, float)):
            std = abs(std)
        return real_normal(mean, std, *rest, **kw)

    torch.normal = normal_abs_std
    try:
        model = SlotModel(published_args(a))
    finally:
        torch.normal = real_normal
    if a.freeze_layers > 0:  # what pre_trained=True would do after loading its weights
        model.dfs_freeze(model.backbone, a.freeze_layers)
    return model


VARIANTS = {
    "as_published": ("fp32", False, False),
    "tuned": ("bf16", True, True),
}


def run_variant(a, name, precision, channels_last, cudnn_benchmark, SlotModel, evaluateTop1):
    device = torch.device(a.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = cudnn_benchmark
    torch.manual_seed(a.seed)
    model = build_model(a, SlotModel).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=a.lr)  # train.py: weight decay left at the default

    g = torch.Generator().manual_seed(a.seed + 1)
    inputs = torch.randn(a.batch, a.in_chans, a.img_size, a.img_size, generator=g).to(device)
    labels = torch.randint(0, a.num_classes, (a.batch,), generator=g).to(device)
    if channels_last:
        inputs = inputs.contiguous(memory_format=torch.channels_last)
    use_amp = precision == "bf16"

    def step():  # engine.py calculation(), mode "train", one batch
        x = inputs.to(device, dtype=torch.float32)  # keeps channels_last
        y = labels.to(device, dtype=torch.int64)
        optimizer.zero_grad()
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_amp):
            logits, loss_list = model(x, y)
        loss = loss_list[0]
        loss.backward()
        optimizer.step()
        loss.item()
        if len(loss_list) > 2:
            loss_list[2].item()
            loss_list[1].item()
        evaluateTop1(logits, y)

    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(a.warmup):
        step()
    sync()
    ms = []
    for _ in range(a.steps):
        t0 = time.perf_counter()
        step()
        sync()
        ms.append(1000.0 * (time.perf_counter() - t0))
    med = statistics.median(ms)
    print(f"# {a.case} | {name}: {precision}, channels_last {channels_last}, cudnn autotune "
          f"{cudnn_benchmark}; {len(params)} trained tensors; steps ms min {min(ms):.2f} "
          f"median {med:.2f} max {max(ms):.2f}", flush=True)
    print(f"published | {a.case} | {name} | {med:.2f} | {a.batch * 1000.0 / med:.1f}", flush=True)
    del model, optimizer
    if device.type == "cuda":
        torch.cuda.empty_cache()


def str2bool(v):
    if v.lower() in ("yes", "true", "t", "y", "1"):
        return True
    if v.lower() in ("no", "false", "f", "n", "0"):
        return False
    raise argparse.ArgumentTypeError(f"not a boolean: {v}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("published_dir", help="checkout of the published code (holds sloter/, timm/, engine.py)")
    p.add_argument("--case", default="", help="label of the result line (default: from the settings)")
    p.add_argument("--model", default="resnet18")
    p.add_argument("--in_chans", type=int, default=1, help="1: the published MNIST model; 3: ImageNet")
    p.add_argument("--img_size", type=int, default=260)
    p.add_argument("--num_classes", type=int, default=10)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--use_slot", type=str2bool, default=True)
    p.add_argument("--loss_status", type=int, default=1)
    p.add_argument("--slots_per_class", type=int, default=1)
    p.add_argument("--power", type=int, default=1)
    p.add_argument("--to_k_layer", type=int, default=1)
    p.add_argument("--lambda_value", type=float, default=1.0)
    p.add_argument("--hidden_dim", type=int, default=64)
    p.add_argument("--channel", type=int, default=0, help="backbone channels; 0: 512 for resnet18/34, else 2048")
    p.add_argument("--freeze_layers", type=int, default=0,
                   help="apply the published dfs_freeze (as pre_trained=True would); 0: train everything")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--variants", default="custom",
                   help="comma list of as_published, tuned, custom (custom: the three flags below)")
    p.add_argument("--precision", choices=("fp32", "bf16"), default="fp32", help="custom variant")
    p.add_argument("--channels_last", type=str2bool, default=False, help="custom variant")
    p.add_argument("--cudnn_benchmark", type=str2bool, default=False, help="custom variant")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--threads", type=int, default=0, help="torch intra-op threads; 0: leave as is")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()

    src = os.path.abspath(a.published_dir)
    if not os.path.isfile(os.path.join(src, "sloter", "slot_model.py")):
        print(f"published_bench.py: '{a.published_dir}' holds no sloter/slot_model.py "
              "(expected a checkout of wbw520/scouter)", file=sys.stderr)
        sys.exit(2)
    if a.device.startswith("cuda") and not torch.cuda.is_available():
        print(f"published_bench.py: --device {a.device} but this PyTorch ({torch.__version__}) sees no GPU",
              file=sys.stderr)
        sys.exit(2)
    if a.use_slot and -(-a.img_size // 32) != 9:
        print(f"published_bench.py: --img_size {a.img_size}: the published slot model reshapes the "
              "features to 9x9 (feature_size 9), so SCOUTER needs --img_size 257..288", file=sys.stderr)
        sys.exit(2)
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    if not a.case:
        a.case = (f"{'SCOUTER' + ('+' if a.loss_status == 1 else '-') if a.use_slot else 'FC'} "
                  f"{a.model} {a.in_chans}x{a.img_size}x{a.img_size} b{a.batch}")

    patched = [done for done in (install_six_shim(), stub_torchvision()) if done]
    sys.path.insert(0, src)
    from sloter.slot_model import SlotModel  # noqa: E402  (needs the shims first)
    from tools.calculate_tool import evaluateTop1  # noqa: E402

    dev = torch.cuda.get_device_name(a.device) if a.device.startswith("cuda") else \
        f"cpu, {torch.get_num_threads()} threads"
    print(f"# published model from {src}; torch {torch.__version__}; {dev}; stand-ins: "
          f"{', '.join(patched) or 'none'}; warmup {a.warmup}, timed {a.steps} steps (median)", flush=True)

    for name in [v.strip() for v in a.variants.split(",") if v.strip()]:
        if name == "custom":
            settings = (a.precision, a.channels_last, a.cudnn_benchmark)
            label = f"{a.precision}{'+channels_last' if a.channels_last else ''}" \
                    f"{'+cudnn_autotune' if a.cudnn_benchmark else ''}"
        elif name in VARIANTS:
            settings, label = VARIANTS[name], name
        else:
            print(f"published_bench.py: unknown variant '{name}' (valid: as_published, tuned, custom)",
                  file=sys.stderr)
            sys.exit(2)
        run_variant(a, label, *settings, SlotModel, evaluateTop1)


if __name__ == "__main__":
    main()
