"""Weights and inputs that the fixture generators and the C++ tests (tests/worker/fixture_tensors.h)
both compute from a formula, so that no weights need to be stored. Imported by
make_backbone_fixtures.py and make_model_fixtures.py.

conformance_value(name, shape): random-like weights from an integer hash of (name, index).
  Why not a smooth formula: sin-based weights (the first version) made train-mode BatchNorm
  normalise channels whose batch variance is almost zero; PyTorch itself then gave results that
  moved by order one between CPUs (float32 vs float64 differed by up to 85% for resnet50).
  Random-like weights with std 1/sqrt(fan_in) keep every BatchNorm well-conditioned: see
  make_backbone_fixtures.py's guards, which measure it on every run.

  h = sum(utf8 bytes of name) mod 1000003; for flat index i:
  z = splitmix64((h << 32) + i); u = (z >> 40) / 2^23 - 1  (exact, in [-1, 1), 24 bits)
  running_var 0.75 + 0.25 u; running_mean and *.bias 0.05 u; other 1-d (BN weight) 1 + 0.1 u;
  weights u * sqrt(3 / fan_in) with fan_in = numel / shape[0]; computed in float64, stored float32.
"""
import math

import numpy as np
import torch

CONFORMANCE_FORMULA = (
    "h = sum(utf8 bytes of name) % 1000003; z = splitmix64((h << 32) + i); u = (z >> 40) / 2^23 - 1; "
    "running_var 0.75 + 0.25 u; running_mean and *.bias 0.05 u; other 1-d 1 + 0.1 u; "
    "weights u * sqrt(3 / (numel / shape[0])); float64 rounded to float32. "
    "Inputs x[i] = sin(0.37 i) over the flattened B x C x H x W tensor, rounded to float32.")

_MASK = (1 << 64) - 1


def hash_uniform(name, n):
    """u in [-1, 1) for flat indices 0..n-1 of tensor `name` (splitmix64, integer arithmetic)."""
    h = np.uint64(sum(name.encode()) % 1000003)
    with np.errstate(over="ignore"):
        z = (h << np.uint64(32)) + np.arange(n, dtype=np.uint64)
        z = z * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return torch.from_numpy((z >> np.uint64(40)).astype(np.float64) / float(1 << 23) - 1.0)


def conformance_value(name, shape):
    n = int(np.prod(shape)) if len(shape) else 1
    return scaled_value(name, shape, hash_uniform(name, n))


def scaled_value(name, shape, u):
    """conformance_value's scale for tensor `name` applied to u in [-1, 1) (flat, numel long)."""
    n = int(np.prod(shape)) if len(shape) else 1
    if name.endswith("running_var"):
        v = 0.75 + 0.25 * u
    elif name.endswith("running_mean") or name.endswith(".bias"):
        v = 0.05 * u
    elif len(shape) == 1:
        v = 1.0 + 0.1 * u
    else:
        v = u * math.sqrt(3.0 / (n / shape[0]))
    return v.to(torch.float32).reshape(shape)


def fill_conformance(model):
    """Every parameter and float buffer from conformance_value(); int64 buffers (BN's
    num_batches_tracked) to 0."""
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if t.dtype == torch.int64:
                t.zero_()
            else:
                t.copy_(conformance_value(name, list(t.shape)))


def sine_input(shape):
    """x[i] = sin(0.37 i) over the flattened tensor, rounded to float32 (exact in float64 too)."""
    n = int(np.prod(shape))
    return torch.sin(0.37 * torch.arange(n, dtype=torch.float64)).to(torch.float32).reshape(shape)


def max_error(a, ref):
    """max |a - ref| / max |ref|: the measure every guard and tolerance uses."""
    ref = ref.double()
    return float((a.double() - ref).abs().max() / ref.abs().max())


def amplification(run, x, rel=1e-12, seed=0):
    """How much a float64 forward amplifies a relative perturbation of its input: the measured
    max_error of run(x (1 + rel * noise)) against run(x), divided by rel. A float64 result then
    moves by about amplification * 2^-53 between CPUs whose kernels round differently."""
    g = torch.Generator().manual_seed(seed)
    base = run(x)
    moved = run(x * (1 + rel * torch.randn(x.shape, generator=g, dtype=x.dtype)))
    return max(max_error(m, b) for m, b in zip(moved, base)) / rel
