#!/usr/bin/python3
"""Writes tests/fixtures/model_conformance.h5: the SCOUTER head (conv1x1 + ReLU, DETR sine
embedding, xSlot, loss) computed in plain PyTorch, independently of the C++ code, following
docs/model.md ("What is computed") and the published sloter/utils/slot_attention.py (with |sigma|).

Also writes tests/fixtures/backbone_conformance.h5: a plain-PyTorch ResNet-18 in timm's layout.
Run with a Python that has torch and h5py (Debian's /usr/bin/python3):
    /usr/bin/python3 tests/tools/make_model_fixtures.py [output_dir]

Layout: /cases/<name>/ with attrs num_classes, slots_per_class, hidden_dim, to_k_layer,
loss_status, power, lambda_value, f32_error_fraction and amplification (the guards below, as
measured); datasets F (B x C x h x w, float32), labels (B, int64), params/<state_dict name>
(float32), and PyTorch's float64 results (the float32 inputs and parameters run in float64):
expected/{pos, logits, attn, area, attn_loss, nll, total}, grad/<state_dict name> (d total /
d param; zeros for the unused to_q) and grad/F. The position embedding of the float64 run is
computed in float64 (DETR computes it in float32 whatever the model's dtype; the C++ model does
the same for float32 and uses float64 for a float64 model, see worker/model/position_embedding.cpp).
/pos/<name>/ with attrs h, w, d and dataset pos (1 x d x h x w): extra embeddings.
backbone_conformance.h5: /resnet18/<name>/ with attrs in_chans, num_classes and
train_amplification: a timm-layout ResNet-18 whose weights follow
fixture_values.conformance_value() (so none are stored), input x (4 images, float32), and expected
features_train (training-mode BN), logits_train, then features_eval and logits_eval (eval mode,
running stats after that one training-mode forward): float64 results.
train_amplification: how much that float64 sequence amplifies input rounding (refused above
1e5; tests/worker/backbone_test.cpp's float64 tolerance rests on it).
"""
import math
import os
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fixture_values import amplification, fill_conformance


def sine_embedding(h, w, d, dtype):
    """DETR PositionEmbeddingSine(d // 2, normalize=True) on a 1 x d x h x w input."""
    num_feats, temperature, scale, eps = d // 2, 10000, 2 * math.pi, 1e-6
    not_mask = torch.ones((1, h, w), dtype=torch.bool)
    y_embed = not_mask.cumsum(1, dtype=dtype)
    x_embed = not_mask.cumsum(2, dtype=dtype)
    y_embed = y_embed / (y_embed[:, -1:, :] + eps) * scale
    x_embed = x_embed / (x_embed[:, :, -1:] + eps) * scale
    dim_t = torch.arange(num_feats, dtype=dtype)
    dim_t = temperature ** (2 * (dim_t // 2) / num_feats)
    pos_x = x_embed[:, :, :, None] / dim_t
    pos_y = y_embed[:, :, :, None] / dim_t
    pos_x = torch.stack((pos_x[:, :, :, 0::2].sin(), pos_x[:, :, :, 1::2].cos()), dim=4).flatten(3)
    pos_y = torch.stack((pos_y[:, :, :, 0::2].sin(), pos_y[:, :, :, 1::2].cos()), dim=4).flatten(3)
    return torch.cat((pos_y, pos_x), dim=3).permute(0, 3, 1, 2)


class XSlot(nn.Module):
    """The published SlotAttention forward, with |sigma| in the initial draw."""

    def __init__(self, num_classes, spc, dim, to_k_layer, loss_status, power, iters=3):
        super().__init__()
        self.num_classes, self.spc, self.iters = num_classes, spc, iters
        self.loss_status, self.power, self.scale = loss_status, power, dim ** -0.5
        k = num_classes * spc
        mu = torch.randn(1, 1, dim).expand(1, k, -1)
        sigma = torch.randn(1, 1, dim).expand(1, k, -1)
        self.initial_slots = nn.Parameter(torch.normal(mu, sigma.abs()))
        self.to_q = nn.Sequential(nn.Linear(dim, dim))
        layers = [nn.Linear(dim, dim)]
        for _ in range(1, to_k_layer):
            layers += [nn.ReLU(inplace=True), nn.Linear(dim, dim)]
        self.to_k = nn.Sequential(*layers)
        self.gru = nn.GRU(dim, dim)

    def forward(self, inputs, inputs_x):
        b, n, d = inputs.shape
        slots = self.initial_slots.expand(b, -1, -1)
        k = self.to_k(inputs)
        for _ in range(self.iters):
            slots_prev = slots
            dots = torch.einsum('bid,bjd->bij', slots, k) * self.scale
            dots = dots / dots.sum(2, keepdim=True) * dots.sum((1, 2), keepdim=True)
            attn = torch.sigmoid(dots)
            updates = torch.einsum('bjd,bij->bid', inputs_x, attn) / inputs_x.size(2)
            slots, _ = self.gru(updates.reshape(1, -1, d), slots_prev.reshape(1, -1, d))
            slots = slots.reshape(b, -1, d)
        if self.spc > 1:
            updates = torch.stack([updates[:, c * self.spc:(c + 1) * self.spc].sum(1)
                                   for c in range(self.num_classes)], dim=1)
        area = torch.relu(attn).sum() / attn.size(0) / attn.size(1) / attn.size(2)
        return self.loss_status * updates.sum(2), attn, area, area ** self.power


class Head(nn.Module):
    def __init__(self, channel, c):
        super().__init__()
        self.conv1x1 = nn.Conv2d(channel, c["hidden_dim"], kernel_size=1)
        self.slot = XSlot(c["num_classes"], c["slots_per_class"], c["hidden_dim"],
                          c["to_k_layer"], c["loss_status"], c["power"])

    def forward(self, feats, labels, lambda_value):
        x = torch.relu(self.conv1x1(feats))
        b, d, h, w = x.shape
        # DETR computes the embedding in float32 whatever x is; for float64 runs we (and the C++
        # model) use float64, since float32 sin/cos round differently on different CPUs.
        pos = sine_embedding(h, w, d, torch.float64 if x.dtype == torch.float64 else torch.float32).to(x.dtype)
        x_pe = (x + pos).reshape(b, d, -1).permute(0, 2, 1)
        x = x.reshape(b, d, -1).permute(0, 2, 1)
        logits, attn, area, attn_loss = self.slot(x_pe, x)
        nll = F.nll_loss(F.log_softmax(logits, dim=1), labels)
        return dict(pos=pos, logits=logits, attn=attn, area=area, attn_loss=attn_loss,
                    nll=nll, total=nll + lambda_value * attn_loss)


class BasicBlock(nn.Module):
    """timm's BasicBlock: conv3x3-bn-relu-conv3x3-bn, + shortcut (1x1 conv + bn), relu."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                            nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        return torch.relu(y + (x if self.downsample is None else self.downsample(x)))


class ResNet18(nn.Module):
    """timm resnet18 (with the published MNIST stem for one channel), global avg pool + fc."""

    def __init__(self, in_chans, num_classes):
        super().__init__()
        self.conv1 = (nn.Conv2d(1, 64, 3, 2, 1, bias=False) if in_chans == 1
                      else nn.Conv2d(in_chans, 64, 7, 2, 3, bias=False))
        self.bn1 = nn.BatchNorm2d(64)
        cin = 64
        for i, cout in enumerate((64, 128, 256, 512)):
            stride = 1 if i == 0 else 2
            setattr(self, f"layer{i + 1}",
                    nn.Sequential(BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)))
            cin = cout
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x):
        x = F.max_pool2d(torch.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        feats = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return feats, self.fc(feats.mean((2, 3)))


RESNETS = {"in1_px40": (1, 40, 5), "in3_px40": (3, 40, 5)}
BATCH = 4
MAX_TRAIN_AMPLIFICATION = 1e5


def write_resnets(f):
    for name, (in_chans, px, num_classes) in RESNETS.items():
        torch.manual_seed(11)
        model = ResNet18(in_chans, num_classes)
        fill_conformance(model)
        model = model.double()
        start = {k: v.clone() for k, v in model.state_dict().items()}
        x = torch.randn(BATCH, in_chans, px, px)

        def train_then_eval(xx):
            model.load_state_dict(start)
            with torch.no_grad():
                model.train()
                train = model(xx)
                model.eval()
                return train + model(xx)

        amp = amplification(train_then_eval, x.double())
        feats_t, logits_t, feats_e, logits_e = train_then_eval(x.double())
        assert amp <= MAX_TRAIN_AMPLIFICATION, f"resnet18 {name}: not well-conditioned ({amp:.2e})"
        g = f.create_group(f"resnet18/{name}")
        g.attrs["in_chans"], g.attrs["num_classes"] = np.int64(in_chans), np.int64(num_classes)
        g.attrs["train_amplification"] = amp
        g["x"] = x.numpy()
        g["expected/features_train"], g["expected/logits_train"] = feats_t.numpy(), logits_t.numpy()
        g["expected/features_eval"], g["expected/logits_eval"] = feats_e.numpy(), logits_e.numpy()
        print(f"resnet18 {name}: train + eval float64 amplification {amp:.2e}")


CASES = {
    "plus_spc1_tok1_pow1": dict(B=3, C=16, h=5, w=4, num_classes=4, slots_per_class=1,
                                hidden_dim=8, to_k_layer=1, loss_status=1, power=1.0,
                                lambda_value=1.0, seed=1),
    "minus_spc2_tok1_pow2": dict(B=2, C=12, h=3, w=3, num_classes=3, slots_per_class=2,
                                 hidden_dim=8, to_k_layer=1, loss_status=-1, power=2.0,
                                 lambda_value=1.5, seed=2),
    "plus_spc3_tok3_pow2": dict(B=2, C=12, h=4, w=6, num_classes=3, slots_per_class=3,
                                hidden_dim=16, to_k_layer=3, loss_status=1, power=2.0,
                                lambda_value=10.0, seed=3),
    "minus_spc1_tok3_pow1": dict(B=3, C=8, h=2, w=5, num_classes=5, slots_per_class=1,
                                 hidden_dim=8, to_k_layer=3, loss_status=-1, power=1.0,
                                 lambda_value=0.2, seed=4),
    "plus_spc1_tok1_pow2_9x9": dict(B=2, C=8, h=9, w=9, num_classes=10, slots_per_class=1,
                                    hidden_dim=16, to_k_layer=1, loss_status=1, power=2.0,
                                    lambda_value=1.0, seed=9),
}
EXTRA_POS = {"d64_h7_w9": (7, 9, 64), "d4_h1_w3": (1, 3, 4)}


def run(head, feats, labels, lam):
    feats = feats.clone().requires_grad_(True)
    out = head(feats, labels, lam)
    head.zero_grad(set_to_none=True)
    out["total"].backward()
    grads = {n: (p.grad if p.grad is not None else torch.zeros_like(p)).detach()
             for n, p in head.named_parameters()}
    grads["F"] = feats.grad.detach()
    return {k: v.detach() for k, v in out.items()}, grads


def max_rel_err(a, b):
    """Error as a fraction of the C++ test's float32 tolerance 1e-5 + 1e-4 |b|."""
    return float(((a.double() - b.double()).abs() / (1e-5 + 1e-4 * b.double().abs())).max())


# Limits the C++ test's tolerances rest on (tests/worker/conformance_test.cpp): PyTorch's float32
# run within half of the float32 tolerance of the float64 truth, and the float64 run amplifying
# input rounding by at most 1e4 (CPUs then differ by ~1e4 * 2^-53 ~ 1e-12 relative).
MAX_F32_FRACTION = 0.5
MAX_AMPLIFICATION = 1e4


def head_amplification(head, feats, labels, lam, rel=1e-12):
    """max over outputs and gradients of |moved - base| / (1e-12 + |base|) / rel, for a relative
    perturbation `rel` of the input features (float64)."""
    g = torch.Generator().manual_seed(0)
    base = run(head, feats, labels, lam)
    moved = run(head, feats * (1 + rel * torch.randn(feats.shape, generator=g, dtype=feats.dtype)),
                labels, lam)
    worst = 0.0
    for b, m in zip(base, moved):
        for k in b:
            worst = max(worst, float(((m[k] - b[k]).abs() / (1e-12 + b[k].abs())).max()))
    return worst / rel


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.normpath(os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))
    path = os.path.join(out_dir, "model_conformance.h5")
    with h5py.File(path, "w", libver="latest") as f:
        f.attrs["generator"] = "tests/tools/make_model_fixtures.py, torch " + torch.__version__
        for name, c in CASES.items():
            torch.manual_seed(c["seed"])
            head = Head(c["C"], c).float()
            feats = torch.randn(c["B"], c["C"], c["h"], c["w"])
            labels = torch.randint(0, c["num_classes"], (c["B"],), dtype=torch.int64)
            out, grads = run(head, feats, labels, c["lambda_value"])
            # Conditioning guards: float32 must sit well inside the C++ test's tolerance of the
            # float64 truth, or the row normalisation (a division by a row sum) is near a pole
            # and C++ and PyTorch could differ by more than rounding; and the float64 truth must
            # not amplify rounding much, since the C++ test compares float64 tightly.
            out64, grads64 = run(head.double(), feats.double(), labels, c["lambda_value"])
            amp = head_amplification(head, feats.double(), labels, c["lambda_value"])
            head.float()
            worst = max(max(max_rel_err(out[k], out64[k]) for k in out),
                        max(max_rel_err(grads[k], grads64[k]) for k in grads))
            assert worst < MAX_F32_FRACTION, f"{name}: float32 vs float64 error {worst:.3f} of tolerance"
            assert amp < MAX_AMPLIFICATION, f"{name}: float64 amplification {amp:.2e}"
            g = f.create_group(f"cases/{name}")
            for key in ("num_classes", "slots_per_class", "hidden_dim", "to_k_layer",
                        "loss_status"):
                g.attrs[key] = np.int64(c[key])
            g.attrs["power"] = float(c["power"])
            g.attrs["lambda_value"] = float(c["lambda_value"])
            g["F"] = feats.numpy()
            g["labels"] = labels.numpy()
            for n, p in head.state_dict().items():
                g[f"params/{n}"] = p.numpy()
            g.attrs["f32_error_fraction"] = worst
            g.attrs["amplification"] = amp
            for k, v in out64.items():
                g[f"expected/{k}"] = v.numpy()
            for n, v in grads64.items():
                g[f"grad/{n}"] = v.numpy()
            print(f"{name}: total {out64['total'].item():.6f} area {out64['area'].item():.6f} "
                  f"f32-vs-f64 {worst:.4f} of tolerance, float64 amplification {amp:.2e}")
        for name, (h, w, d) in EXTRA_POS.items():
            g = f.create_group(f"pos/{name}")
            g.attrs["h"], g.attrs["w"], g.attrs["d"] = np.int64(h), np.int64(w), np.int64(d)
            g["pos"] = sine_embedding(h, w, d, torch.float32).numpy()
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")
    path = os.path.join(out_dir, "backbone_conformance.h5")
    with h5py.File(path, "w", libver="latest") as f:
        f.attrs["generator"] = "tests/tools/make_model_fixtures.py, torch " + torch.__version__
        write_resnets(f)
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
