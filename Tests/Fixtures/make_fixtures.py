#!/usr/bin/env python3
"""Reference fixtures for NonLocalNet's tests, computed by PyTorch on the CPU.

Run (only to regenerate; CI never needs torch):
    python3 -m venv /tmp/torch && /tmp/torch/bin/pip install torch numpy safetensors
    /tmp/torch/bin/python Tests/Fixtures/make_fixtures.py

Writes Tests/Fixtures/ops.safetensors. Each case `NAME` stores its tensors as `NAME/key`;
the metadata entry "cases" lists {name, op, params} as JSON. Activations are stored
channels-last (N, T, H, W, C) as the Swift side computes them; conv weights stay in PyTorch's
(O, I, kT, kH, kW) and linear weights in (Out, In), so the tests also exercise the
converters. For each op: inputs, output, a random upstream gradient `gy` and the gradients
PyTorch's autograd computes from it.
"""
import json
import os

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

torch.manual_seed(0)
torch.set_num_threads(1)
HERE = os.path.dirname(os.path.abspath(__file__))

tensors = {}
cases = []


def cl(x):
    """NCTHW -> NTHWC (contiguous)."""
    return x.permute(0, 2, 3, 4, 1).contiguous()


def add_case(name, op, params, **arrays):
    cases.append({"name": name, "op": op, "params": params})
    for key, value in arrays.items():
        if value is not None:
            tensors[f"{name}/{key}"] = value.detach().float().contiguous().clone()


def leaf(*shape, scale=1.0):
    return (torch.randn(*shape) * scale).requires_grad_(True)


# ---- conv3d: a sweep of kernels, strides, paddings, dilations and odd sizes -----------------
conv_cases = [
    # name, N, Cin, T, H, W, Cout, kernel, stride, padding, dilation, bias
    ("pointwise", 2, 6, 3, 5, 4, 5, (1, 1, 1), (1, 1, 1), (0, 0, 0), (1, 1, 1), True),
    ("k333", 1, 5, 4, 6, 7, 4, (3, 3, 3), (1, 1, 1), (1, 1, 1), (1, 1, 1), True),
    ("k133_s122_odd", 2, 4, 3, 7, 9, 6, (1, 3, 3), (1, 2, 2), (0, 1, 1), (1, 1, 1), False),
    ("stem_k577", 1, 3, 4, 11, 13, 4, (5, 7, 7), (1, 2, 2), (2, 3, 3), (1, 1, 1), False),
    ("k311", 2, 8, 5, 3, 3, 8, (3, 1, 1), (1, 1, 1), (1, 0, 0), (1, 1, 1), False),
    ("shortcut_s122", 2, 8, 2, 7, 6, 16, (1, 1, 1), (1, 2, 2), (0, 0, 0), (1, 1, 1), False),
    ("dilated", 1, 3, 5, 8, 8, 2, (3, 3, 3), (1, 1, 1), (2, 2, 2), (2, 2, 2), True),
    ("k233_s2_nopad", 1, 3, 5, 9, 10, 3, (2, 3, 3), (2, 2, 2), (0, 0, 0), (1, 1, 1), True),
    ("tiled_k333", 1, 128, 4, 10, 10, 8, (3, 3, 3), (1, 1, 1), (1, 1, 1), (1, 1, 1), False),
    ("pad_gt_kernel_half", 1, 2, 2, 3, 3, 2, (1, 2, 2), (1, 1, 1), (0, 2, 2), (1, 1, 1), True),
    # Few input channels and whole 16-channel output blocks: the direct conv (DirectConv.swift),
    # with output widths that end in a partial block of 8 positions.
    ("direct_stem_k577", 2, 3, 4, 11, 13, 16, (5, 7, 7), (1, 2, 2), (2, 3, 3), (1, 1, 1), False),
    ("direct_k133_c32_bias", 1, 3, 3, 9, 21, 32, (1, 3, 3), (1, 1, 1), (0, 1, 1), (1, 1, 1), True),
    ("direct_cin1_s222", 1, 1, 5, 8, 19, 16, (3, 5, 5), (2, 2, 2), (1, 2, 2), (1, 1, 1), False),
    ("direct_stem_c8", 2, 3, 3, 10, 12, 8, (5, 7, 7), (1, 2, 2), (2, 3, 3), (1, 1, 1), False),   # 8-channel blocks
    ("direct_k177_c24", 1, 3, 2, 9, 17, 24, (1, 7, 7), (1, 2, 2), (0, 3, 3), (1, 1, 1), True),  # three of them
]
def add_conv_case(name, n, cin, t, h, w, cout, k, s, p, d, has_bias):
    x = leaf(n, cin, t, h, w)
    wgt = leaf(cout, cin, *k, scale=(cin * k[0] * k[1] * k[2]) ** -0.5)
    b = leaf(cout) if has_bias else None
    y = F.conv3d(x, wgt, b, stride=s, padding=p, dilation=d)
    gy = torch.randn_like(y)
    y.backward(gy)
    add_case(f"conv3d/{name}", "conv3d",
             {"stride": list(s), "padding": list(p), "dilation": list(d)},
             x=cl(x), w=wgt, b=b, y=cl(y), gy=cl(gy), gx=cl(x.grad), gw=wgt.grad,
             gb=b.grad if b is not None else None)


for case in conv_cases:
    add_conv_case(*case)

# ---- batch norm: training (batch stats + running update) and inference ---------------------
def add_batchnorm_case(op, name, training, shape, residual=False, relu=False):
    """bn(x), relu(bn(x) + r) or relu(bn(x)) on a random x (and r), with its gradients."""
    c = shape[1]
    x = (torch.randn(*shape) * 2 + 0.5).requires_grad_(True)
    r = leaf(*shape) if residual else None
    gamma = (torch.rand(c) + 0.5).requires_grad_(True)
    beta = leaf(c)
    rm0, rv0 = torch.randn(c) * 0.3, torch.rand(c) + 0.5
    rm, rv = rm0.clone(), rv0.clone()
    y = F.batch_norm(x, rm, rv, gamma, beta, training=training, momentum=0.1, eps=1e-5)
    y = F.relu(y + r) if residual else F.relu(y) if relu else y
    gy = torch.randn_like(y)
    y.backward(gy)
    extra = {"residual": cl(r), "gresidual": cl(r.grad)} if residual else {}
    add_case(f"{op}/{name}", op, {"training": training, "momentum": 0.1, "epsilon": 1e-5},
             x=cl(x), gamma=gamma, beta=beta, running_mean=rm0, running_var=rv0,
             new_running_mean=rm, new_running_var=rv, y=cl(y), gy=cl(gy), gx=cl(x.grad),
             ggamma=gamma.grad, gbeta=beta.grad, **extra)


for name, shape, training in [("train", (2, 6, 3, 4, 5), True), ("eval", (2, 6, 3, 4, 5), False),
                              ("train_big", (4, 16, 4, 14, 14), True)]:
    add_batchnorm_case("batchnorm", name, training, shape)

# ---- relu -----------------------------------------------------------------------------------
x = leaf(2, 3, 4, 5, 6)
y = F.relu(x)
gy = torch.randn_like(y)
y.backward(gy)
add_case("relu/basic", "relu", {}, x=cl(x), y=cl(y), gy=cl(gy), gx=cl(x.grad))

# ---- pooling ------------------------------------------------------------------------------------
pool_cases = [
    ("max", "pool1_8x8", (1, 3, 3), (1, 2, 2), (0, 0, 0), (2, 4, 4, 11, 11)),
    ("max", "pool1_org", (2, 3, 3), (2, 2, 2), (0, 0, 0), (1, 3, 6, 9, 9)),
    ("max", "pool1_padded", (1, 3, 3), (1, 2, 2), (0, 1, 1), (1, 3, 2, 8, 8)),
    ("max", "pool2", (2, 1, 1), (2, 1, 1), (0, 0, 0), (2, 5, 4, 3, 3)),
    ("max", "pool1_c20", (1, 3, 3), (1, 2, 2), (0, 1, 1), (2, 20, 2, 9, 9)),  # a 16-lane block and a tail
    ("max", "nl_subsample", (1, 2, 2), (1, 2, 2), (0, 0, 0), (1, 4, 3, 7, 6)),
    ("avg", "pool5", (2, 3, 3), (1, 1, 1), (0, 0, 0), (2, 4, 2, 4, 4)),
    ("avg", "global", (3, 5, 4), (3, 5, 4), (0, 0, 0), (2, 6, 3, 5, 4)),
    ("avg", "padded", (3, 3, 3), (2, 2, 2), (1, 1, 1), (1, 2, 5, 5, 5)),
]
for kind, name, k, s, p, shape in pool_cases:
    x = leaf(*shape)
    y = (F.max_pool3d if kind == "max" else F.avg_pool3d)(x, k, s, p)
    gy = torch.randn_like(y)
    y.backward(gy)
    add_case(f"{kind}pool/{name}", f"{kind}pool", {"kernel": list(k), "stride": list(s), "padding": list(p)},
             x=cl(x), y=cl(y), gy=cl(gy), gx=cl(x.grad))

# ---- softmax (last axis) and cross-entropy ------------------------------------------------------
for name, shape, scale in [("small", (3, 7), 1.0), ("large_logits", (2, 5, 33), 30.0)]:
    x = leaf(*shape, scale=scale)
    y = F.softmax(x, dim=-1)
    gy = torch.randn_like(y)
    y.backward(gy)
    add_case(f"softmax/{name}", "softmax", {}, x=x, y=y, gy=gy, gx=x.grad)

logits = leaf(5, 11, scale=3.0)
labels = torch.tensor([0, 3, 10, 3, 7])
loss = F.cross_entropy(logits, labels)
loss.backward()
add_case("crossentropy/basic", "crossentropy", {"labels": labels.tolist()},
         x=logits, y=loss.reshape(()), gx=logits.grad)

# ---- batched matmul with transposes -----------------------------------------------------------
for ta in (False, True):
    for tb in (False, True):
        m, k, n = 5, 7, 3
        a = leaf(2, 3, *((k, m) if ta else (m, k)))
        b = leaf(2, 3, *((n, k) if tb else (k, n)))
        y = torch.matmul(a.transpose(-1, -2) if ta else a, b.transpose(-1, -2) if tb else b)
        gy = torch.randn_like(y)
        y.backward(gy)
        add_case(f"matmul/ta{int(ta)}_tb{int(tb)}", "matmul", {"transposeA": ta, "transposeB": tb},
                 a=a, b=b, y=y, gy=gy, ga=a.grad, gb=b.grad)

# ---- linear ------------------------------------------------------------------------------------
x = leaf(2, 3, 2, 2, 12)
wgt = leaf(5, 12, scale=0.3)
b = leaf(5)
y = F.linear(x, wgt, b)
gy = torch.randn_like(y)
y.backward(gy)
add_case("linear/basic", "linear", {}, x=x, w=wgt, b=b, y=y, gy=gy, gx=x.grad, gw=wgt.grad, gb=b.grad)

# ---- elementwise with suffix broadcasting, permute, concat ------------------------------------
a = leaf(2, 3, 4, 5)
b = leaf(4, 5)
y = a * b + b
gy = torch.randn_like(y)
y.backward(gy)
add_case("elementwise/mul_add_broadcast", "muladd", {}, a=a, b=b, y=y, gy=gy, ga=a.grad, gb=b.grad)

x = leaf(2, 3, 4, 5)
y = x.permute(2, 0, 3, 1) * 2.5
gy = torch.randn_like(y)
y.backward(gy)
add_case("permute/scaled", "permute", {"order": [2, 0, 3, 1], "scale": 2.5}, x=x, y=y, gy=gy, gx=x.grad)

parts = [leaf(2, k, 3) for k in (1, 4, 2)]
y = torch.cat(parts, dim=1)
gy = torch.randn_like(y)
y.backward(gy)
add_case("concat/axis1", "concat", {"axis": 1}, a=parts[0], b=parts[1], c=parts[2], y=y, gy=gy,
         ga=parts[0].grad, gb=parts[1].grad, gc=parts[2].grad)

# ---- batch norm with the residual add and ReLU of a ResNet unit: relu(bn(x) + r) ---------------
# (after the cases above, so their random draws are unchanged)
# 8 channels: walked as 16-lane rows holding two rows of x each (BatchNorm.swift's ChannelLanes);
# the _odd case has a count that is not a multiple of 16.
for name, training, shape in [("train", True, (2, 6, 3, 4, 5)), ("eval", False, (2, 6, 3, 4, 5)),
                              ("train_c8", True, (3, 8, 2, 3, 5)), ("eval_c8", False, (3, 8, 2, 3, 5)),
                              ("train_c8_odd", True, (1, 8, 3, 1, 3))]:
    add_batchnorm_case("batchnorm_residual_relu", name, training, shape, residual=True)

# ---- conv3d by Winograd (winograd.c). F(2×2, 3×3): 1×3×3, stride 1, padding (0, 1, 1), more
# input channels than the direct conv takes; odd sizes end in partial tiles, 40 outputs in a
# partial panel. (After the cases above, so their random draws are unchanged.)
add_conv_case("winograd_k133_odd", 2, 20, 2, 7, 9, 40, (1, 3, 3), (1, 1, 1), (0, 1, 1), (1, 1, 1), True)
# F(2, 3) along time for a 3×1×1 conv (run from 8 frames on): 9 frames end in a partial tile.
add_conv_case("winograd_k311_t9", 1, 12, 9, 3, 4, 20, (3, 1, 1), (1, 1, 1), (1, 0, 0), (1, 1, 1), True)

# ---- batch norm with a ReLU and no residual: relu(bn(x)). The backward pass recomputes which
# outputs the ReLU passed from x (BatchNorm.swift's ReluGate) instead of reading y. 8 channels
# walk 16-lane rows; 40 is a row wider than one vector with a partial one.
for name, training, shape in [("train", True, (2, 6, 3, 4, 5)), ("eval", False, (2, 6, 3, 4, 5)),
                              ("train_c8", True, (3, 8, 2, 3, 5)), ("train_c40", True, (2, 40, 2, 3, 3))]:
    add_batchnorm_case("batchnorm_relu", name, training, shape, relu=True)

# ---- the direct conv's wide register blocks (direct_conv_wide.h): 6 positions × 64 channels,
# 12 × 32 and 24 × 16, each with more output positions and more taps (kW·Cin) than one block
# holds, so that blocks end partway.
add_conv_case("direct_wide_c64", 1, 3, 2, 5, 17, 64, (1, 3, 3), (1, 1, 1), (0, 1, 1), (1, 1, 1), False)
add_conv_case("direct_wide_c32", 1, 2, 2, 3, 29, 32, (1, 1, 7), (1, 1, 1), (0, 0, 3), (1, 1, 1), True)
add_conv_case("direct_wide_c16", 2, 4, 2, 3, 30, 16, (3, 1, 7), (1, 1, 1), (1, 0, 3), (1, 1, 1), False)

# ---- SGD (NLTrain/SGD.swift's fused update): three steps of torch.optim.SGD with momentum 0.9,
# Nesterov or not, weight decay 1e-4 or 0, on one parameter with given gradients.
for name, nesterov, decay in [("nesterov_decay", True, 1e-4), ("plain_momentum", False, 0.0)]:
    w0 = torch.randn(3, 70)
    grads = torch.randn(3, 3, 70)
    p = torch.nn.Parameter(w0.clone())
    opt = torch.optim.SGD([p], lr=0.1, momentum=0.9, nesterov=nesterov, weight_decay=decay)
    for g in grads:
        p.grad = g.clone()
        opt.step()
    add_case(f"sgd_update/{name}", "sgd_update", {"momentum": 0.9, "nesterov": nesterov, "weight_decay": decay, "lr": 0.1},
             w=w0, g=grads, w_after=p.detach())

out = os.path.join(HERE, "ops.safetensors")
save_file(tensors, out, metadata={"cases": json.dumps(cases), "torch": torch.__version__})
print(f"wrote {out}: {len(cases)} cases, {len(tensors)} tensors, {os.path.getsize(out) / 1e6:.2f} MB")


# ==== Whole networks (issue "Models") ==========================================================
# Reduced width (4: stages 16/32/64/128 channels out), 10 classes, small inputs, every preset
# layout and every non-local variant. Weights are a deterministic function of (name, shape),
# so variants sharing a tensor store it once (`models.safetensors`: "w/<name>/<shape>").
import copy
import sys
import zlib

sys.path.insert(0, HERE)
from reference_model import Net  # noqa: E402

BASE = {
    "name": "fixture",
    "model": {"arch": "i3d", "depth": 50, "layout": "official", "inflation": "3x1x1", "width": 4, "classes": 10,
              "dropout": 0.0, "train_crop": 64, "batch_norm": {"epsilon": 1.0000001e-5, "momentum": 0.1, "frozen": False},
              "nonlocal": {"blocks": {"res3": [1, 3], "res4": [1, 3, 5]}, "instantiation": "embedded_gaussian",
                           "scale": True, "mode": "spacetime", "subsample": "before", "out_bias": True, "norm": "bn",
                           "temporal_groups": {}}},
    "input": {"frames": 8, "stride": 8, "short_side": 64, "crop": 64, "normalization": "official"},
}


def variant(name, frames=8, size=48, fcn_size=80, **changes):
    cfg = copy.deepcopy(BASE)
    cfg["name"] = name
    for path, value in changes.items():
        node = cfg["model"]
        keys = path.split("__")
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = value
    return cfg, frames, size, fcn_size


NO_NL = {"res3": [], "res4": []}
VARIANTS = [
    variant("c2d_r50", arch="c2d", nonlocal__blocks=NO_NL),
    variant("nl_i3d_r50", ),
    variant("i3d_r50_org", frames=16, layout="official_org", nonlocal__blocks=NO_NL),
    variant("nl_i3d_r50_slowfast", layout="slowfast"),
    variant("c2d_r50_paper", frames=16, arch="c2d", layout="paper", nonlocal__blocks={"res4": [4]}),
    variant("i3d333_r50", inflation="3x3x3", nonlocal__blocks=NO_NL),
    variant("nl_dot_product", nonlocal__instantiation="dot_product"),
    variant("nl_gaussian", nonlocal__instantiation="gaussian"),
    variant("nl_concatenation", nonlocal__instantiation="concatenation"),
    variant("nl_mmaction2", nonlocal__scale=False, nonlocal__subsample="after", nonlocal__out_bias=False),
    variant("nl_no_subsample", nonlocal__subsample="none"),
    variant("nl_space_only", nonlocal__mode="space"),
    variant("nl_time_only", nonlocal__mode="time", nonlocal__subsample="none"),
    variant("nl_groups_affine", nonlocal__temporal_groups={"res3": 2}, nonlocal__norm="none"),
    variant("nl_c2d_10block", arch="c2d", nonlocal__blocks={"res3": [0, 1, 2, 3], "res4": [0, 1, 2, 3, 4, 5]}),
    variant("nl_i3d_r101", depth=101, nonlocal__blocks={"res3": [1, 3], "res4": [6, 13, 20]}),
    # The non-local family in the same slots (docs/attention-family.md); r = 4 at width 4.
    variant("se_c2d_r50", arch="c2d", nonlocal__type="se", nonlocal__reduction=4),
    variant("gc_c2d_r50", arch="c2d", nonlocal__type="gc", nonlocal__reduction=4),
    variant("cbam_c2d_r50", arch="c2d", nonlocal__type="cbam", nonlocal__reduction=4),
    variant("danet_c2d_r50", arch="c2d", nonlocal__type="danet"),
    variant("cc_c2d_r50", arch="c2d", nonlocal__type="cc"),
    variant("apnb_c2d_r50", arch="c2d", nonlocal__type="apnb"),
    variant("residual_attention_c2d_r50", arch="c2d", nonlocal__type="residual_attention", nonlocal__reduction=4),
]


FAMILY = ("se", "gc", "cbam", "danet", "cc", "apnb", "residual_attention")


def fill(name, shape):
    """Deterministic, non-trivial values: BN statistics away from 0/1, γ of the last BN and
    of NL blocks non-zero so every branch matters."""
    g = torch.Generator().manual_seed(zlib.crc32(f"{name}{list(shape)}".encode()))
    r = lambda: torch.rand(shape, generator=g)
    leaf = name.rsplit(".", 1)[-1]
    if leaf == "running_mean":
        return (r() - 0.5) * 0.2
    if leaf == "running_var":
        return 0.5 + r()
    if leaf == "gamma":   # the family's learned scales (DANet's alpha, beta; CCNet's gamma): away from 0
        return 0.5 + r()
    if len(shape) == 1 and leaf == "weight":
        return 0.3 + 0.5 * r()
    if len(shape) == 1:
        return (r() - 0.5) * 0.2
    fan_in = 1
    for d in shape[1:]:
        fan_in *= d
    std = 0.2 if "nonlocal" in name else (3.0 / fan_in) ** 0.5 if any(f"_{k}" in name for k in FAMILY) else (1.0 / fan_in) ** 0.5
    return torch.randn(shape, generator=g) * std


model_tensors, model_cases = {}, []
torch.manual_seed(1)
for cfg, frames, size, fcn_size in VARIANTS:
    net = Net(cfg).eval()
    keys = {}
    state = net.state_dict()
    for name, value in state.items():
        if name.endswith("num_batches_tracked"):
            continue
        key = f"w/{name}/{'x'.join(map(str, value.shape))}"
        if key not in model_tensors:
            model_tensors[key] = fill(name, tuple(value.shape)).contiguous()
        state[name] = model_tensors[key]
        keys[name] = key
    net.load_state_dict(state)
    def shared_input(shape):
        key = "input/" + "x".join(map(str, shape))
        if key not in model_tensors:
            g = torch.Generator().manual_seed(zlib.crc32(key.encode()))
            model_tensors[key] = cl(torch.randn(shape, generator=g))
        return key, model_tensors[key].permute(0, 4, 1, 2, 3).contiguous()

    input_key, x = shared_input((2, 3, frames, size, size))
    fcn_key, xf = shared_input((1, 3, frames, fcn_size, fcn_size))
    with torch.no_grad():
        logits = net(x)
        probs, windows = net.predict(xf)
    n = cfg["name"]
    model_tensors[f"{n}/logits"] = logits.contiguous()
    model_tensors[f"{n}/fcn_probabilities"] = probs.contiguous()
    model_tensors[f"{n}/fcn_window_logits"] = windows.contiguous()
    case = {"name": n, "config": cfg, "weights": keys, "input": input_key, "fcn_input": fcn_key}
    if n == "nl_i3d_r50":
        # Training mode: batch statistics, running averages updated (dropout is 0 here).
        net.train()
        with torch.no_grad():
            model_tensors[f"{n}/train_logits"] = net(x).contiguous()
        for name, value in net.state_dict().items():
            if name.endswith("running_mean") or name.endswith("running_var"):
                model_tensors[f"{n}/train_stats/{name}"] = value.contiguous().clone()
        case["train"] = True
    model_cases.append(case)
    print(f"  {n}: logits {list(logits.shape)}, fcn windows {list(windows.shape)}")

out = os.path.join(HERE, "models.safetensors")
save_file(model_tensors, out, metadata={"cases": json.dumps(model_cases), "torch": torch.__version__})
print(f"wrote {out}: {len(model_cases)} networks, {len(model_tensors)} tensors, {os.path.getsize(out) / 1e6:.2f} MB")


# ==== Official checkpoint formats (issue "Official checkpoints") ===============================
# Written by the real tools from the reference networks above: pickle protocol 2 of numpy
# arrays under Caffe2 blob names, and torch.save archives as PySlowFast and mmaction2 write them.
import pickle
import re

import numpy as np

CKPT = os.path.join(HERE, "checkpoints")
os.makedirs(CKPT, exist_ok=True)
BN = {"weight": "s", "bias": "b", "running_mean": "rm", "running_var": "riv"}


# SlowFast name → Caffe2 blob name: the first rule whose pattern matches the whole name.
CAFFE2_RULES = [
    (r"s1\.pathway0_stem\.conv\.weight", lambda m: "conv1_w"),
    (r"s1\.pathway0_stem\.bn\.(\w+)", lambda m: f"res_conv1_bn_{BN[m[1]]}"),
    (r"s(\d)\.pathway0_res(\d+)\.branch2\.([abc])\.weight", lambda m: f"res{m[1]}_{m[2]}_branch2{m[3]}_w"),
    (r"s(\d)\.pathway0_res(\d+)\.branch2\.([abc])_bn\.(\w+)", lambda m: f"res{m[1]}_{m[2]}_branch2{m[3]}_bn_{BN[m[4]]}"),
    (r"s(\d)\.pathway0_res(\d+)\.branch1\.weight", lambda m: f"res{m[1]}_{m[2]}_branch1_w"),
    (r"s(\d)\.pathway0_res(\d+)\.branch1_bn\.(\w+)", lambda m: f"res{m[1]}_{m[2]}_branch1_bn_{BN[m[3]]}"),
    (r"s(\d)\.pathway0_nonlocal(\d+)\.conv_(theta|phi|g|out)\.(weight|bias)",
     lambda m: f"nonlocal_conv{m[1]}_{m[2]}_{m[3]}_{'w' if m[4] == 'weight' else 'b'}"),
    (r"s(\d)\.pathway0_nonlocal(\d+)\.bn\.(\w+)", lambda m: f"nonlocal_conv{m[1]}_{m[2]}_bn_{BN[m[3]]}"),
    (r"head\.projection\.weight", lambda m: "pred_w"),
    (r"head\.projection\.bias", lambda m: "pred_b"),
]


def caffe2_name(n):
    for pattern, name in CAFFE2_RULES:
        m = re.fullmatch(pattern, n)
        if m:
            return name(m)
    raise KeyError(n)


def mmaction_name(n):
    m = re.fullmatch(r"s1\.pathway0_stem\.(conv|bn)\.(\w+)", n)
    if m:
        return f"backbone.conv1.{m[1]}.{m[2]}"
    m = re.fullmatch(r"s(\d)\.pathway0_res(\d+)\.branch2\.([abc])(_bn)?\.(\w+)", n)
    if m:
        conv = {"a": "conv1", "b": "conv2", "c": "conv3"}[m[3]]
        return f"backbone.layer{int(m[1]) - 1}.{m[2]}.{conv}.{'bn' if m[4] else 'conv'}.{m[5]}"
    m = re.fullmatch(r"s(\d)\.pathway0_res(\d+)\.branch1(_bn)?\.(\w+)", n)
    if m:
        return f"backbone.layer{int(m[1]) - 1}.{m[2]}.downsample.{'bn' if m[3] else 'conv'}.{m[4]}"
    m = re.fullmatch(r"s(\d)\.pathway0_nonlocal(\d+)\.(conv_theta|conv_phi|conv_g|conv_out|bn)\.(\w+)", n)
    if m:
        part = {"conv_theta": "theta.conv", "conv_phi": "phi.0.conv", "conv_g": "g.0.conv", "conv_out": "conv_out.conv",
                "bn": "conv_out.bn"}[m[3]]
        return f"backbone.layer{int(m[1]) - 1}.{m[2]}.non_local_block.{part}.{m[4]}"
    return {"head.projection.weight": "cls_head.fc_cls.weight", "head.projection.bias": "cls_head.fc_cls.bias"}[n]


def net_for(name):
    cfg, *_ = next(v for v in VARIANTS if v[0]["name"] == name)
    net = Net(cfg).eval()
    case = next(c for c in model_cases if c["name"] == name)
    state = net.state_dict()
    for k in state:
        if k in case["weights"]:
            state[k] = model_tensors[case["weights"][k]]
    net.load_state_dict(state)
    return net


# Caffe2: {'blobs': {...}} with the SGD state the official trainer saves alongside.
state = net_for("nl_i3d_r50").state_dict()
blobs = {}
for k, v in state.items():
    if k.endswith("num_batches_tracked"):
        continue
    blobs[caffe2_name(k)] = v.numpy().astype(np.float32)
    if not k.endswith(("running_mean", "running_var")):
        blobs[caffe2_name(k) + "_momentum"] = np.zeros_like(blobs[caffe2_name(k)])
blobs["lr"] = np.array([0.01], dtype=np.float32)
blobs["model_iter"] = 400000
with open(os.path.join(CKPT, "nl_i3d_r50.pkl"), "wb") as f:
    pickle.dump({"blobs": blobs}, f, protocol=2)

# PySlowFast: torch.save({"model_state": ..., "optimizer_state": ..., "epoch": ...}).
sf = net_for("nl_i3d_r50_slowfast")
torch.save({"epoch": 196, "model_state": sf.state_dict(), "optimizer_state": {}, "cfg": "…"},
           os.path.join(CKPT, "nl_i3d_r50_slowfast.pyth"))

# mmaction2: {"meta": ..., "state_dict": backbone./cls_head. names}.
mm = net_for("nl_mmaction2").state_dict()
torch.save({"meta": {"mmaction2_version": "1.x"},
            "state_dict": {mmaction_name(k) if not k.endswith("num_batches_tracked") else
                           mmaction_name(k.replace("num_batches_tracked", "running_mean")).replace("running_mean", "num_batches_tracked"): v
                           for k, v in mm.items()}},
           os.path.join(CKPT, "nl_mmaction2.pth"))

# ImageNet ResNet-50 in torchvision's names: the C2D network's 2D kernels and a 1000-way fc.
c2d = net_for("c2d_r50").state_dict()
tv = {}
for k, v in c2d.items():
    if k.endswith("num_batches_tracked"):
        continue
    m = re.fullmatch(r"s1\.pathway0_stem\.conv\.weight", k)
    n = ("conv1.weight" if m else
         re.sub(r"s1\.pathway0_stem\.bn\.", "bn1.", k) if k.startswith("s1.") else None)
    if n is None and k.startswith("s"):
        m = re.fullmatch(r"s(\d)\.pathway0_res(\d+)\.(.*)", k)
        rest = m[3]
        rest = {"branch2.a.weight": "conv1.weight", "branch2.b.weight": "conv2.weight", "branch2.c.weight": "conv3.weight",
                "branch1.weight": "downsample.0.weight"}.get(rest, rest)
        rest = re.sub(r"branch2\.a_bn\.", "bn1.", rest)
        rest = re.sub(r"branch2\.b_bn\.", "bn2.", rest)
        rest = re.sub(r"branch2\.c_bn\.", "bn3.", rest)
        rest = re.sub(r"branch1_bn\.", "downsample.1.", rest)
        n = f"layer{int(m[1]) - 1}.{m[2]}.{rest}"
    if n is None:
        continue
    tv[n] = v.squeeze(2) if v.dim() == 5 else v
tv["fc.weight"] = torch.randn(1000, c2d["head.projection.weight"].shape[1])
tv["fc.bias"] = torch.zeros(1000)
torch.save(tv, os.path.join(CKPT, "resnet50_imagenet_tv.pth"))
for f in sorted(os.listdir(CKPT)):
    print(f"  checkpoints/{f}: {os.path.getsize(os.path.join(CKPT, f)) / 1e6:.2f} MB")


# ==== One SGD step (issue "Training and evaluation") ===========================================
# Reduced NL-I3D in training mode (BN batch statistics, dropout 0 so the step is deterministic),
# cross-entropy on two clips, torch.optim.SGD(momentum 0.9, Nesterov, weight decay 1e-4 and 0 on
# BN parameters): loss, every gradient, every updated weight, every running statistic.
# The step is ill-conditioned in float32 (BN batch statistics over few values, ReLU kinks): it is
# run in float64 too, and the tests hold Swift's float32 to PyTorch's own float32 error against it.
step_case = next(c for c in model_cases if c["name"] == "nl_i3d_r50")
step_labels = torch.tensor([3, 7])
sgd = {}
# Also with frozen BN (running statistics): well conditioned, so checked tightly.
for dtype, tag, frozen in ((torch.float32, "f32", False), (torch.float64, "f64", False), (torch.float64, "frozen", True)):
    step_net = net_for("nl_i3d_r50").train().to(dtype)
    if frozen:
        for m in step_net.modules():
            if isinstance(m, torch.nn.BatchNorm3d):
                m.eval()
    step_x = model_tensors[step_case["input"]].permute(0, 4, 1, 2, 3).contiguous().to(dtype)
    bn_params = [p for n, p in step_net.named_parameters() if "bn." in n]
    other_params = [p for n, p in step_net.named_parameters() if "bn." not in n]
    opt = torch.optim.SGD([{"params": other_params, "weight_decay": 1e-4}, {"params": bn_params, "weight_decay": 0.0}],
                          lr=0.1, momentum=0.9, nesterov=True)
    loss = F.cross_entropy(step_net(step_x), step_labels)
    opt.zero_grad()
    loss.backward()
    sgd[f"sgd/{tag}/loss"] = loss.detach().reshape(()).float()
    for n, p in step_net.named_parameters():
        sgd[f"sgd/{tag}/grad/{n}"] = p.grad.detach().float().clone()
    opt.step()
    for n, v in step_net.state_dict().items():
        if not n.endswith("num_batches_tracked"):
            sgd[f"sgd/{tag}/after/{n}"] = v.detach().float().clone().contiguous()
save_file(sgd, os.path.join(HERE, "sgd_step.safetensors"),
          metadata={"case": "nl_i3d_r50", "labels": "3,7", "lr": "0.1", "momentum": "0.9", "nesterov": "true",
                    "weight_decay": "1e-4", "weight_decay_bn": "0"})
print(f"wrote sgd_step.safetensors: loss {sgd['sgd/f64/loss'].item():.5f}, {os.path.getsize(os.path.join(HERE, 'sgd_step.safetensors')) / 1e6:.2f} MB")


# ==== numpy layouts the Caffe2 reader must decode (Fortran order, big-endian, other dtypes) ====
odd = {
    "fortran_f4": np.asfortranarray(np.arange(24, dtype=np.float32).reshape(2, 3, 4)),
    "big_endian_f4": np.arange(5, dtype=">f4") * 1.5,
    "f8": np.linspace(-1, 1, 7),
    "f2": np.arange(4, dtype=np.float16) / 4,
    "i8": np.arange(-3, 3, dtype=np.int64),
    "u1": np.arange(250, 256, dtype=np.uint8),
}
with open(os.path.join(CKPT, "odd_arrays.pkl"), "wb") as f:
    pickle.dump({"blobs": odd}, f, protocol=2)
print("  checkpoints/odd_arrays.pkl")
