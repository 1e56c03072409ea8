#!/usr/bin/env python3
"""PyTorch reference for `nlnet bench train`: the same network (Tests/Fixtures/reference_model.py),
batch, input, loss and SGD step, on the CPU with the same number of threads; eager, and with
COMPILE=compile also under torch.compile (inductor; forward and backward compiled, which takes a
minute or more before the ready line).

usage: bench_train_pytorch.py CONFIG.json BATCH FRAMES SIZE THREADS [compile]

Prints one JSON line when the network is ready ({"torch": version, "threads": n, "modes": {...},
"failed": {...}}); then, for each request word read from standard input (`step`: eager,
`compile`), runs one training step and prints its wall time in seconds, or {"error": reason}.
The caller alternates these steps with its own, so both sides see the same load on a shared
machine.
"""
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures"))
from reference_model import Net  # noqa: E402

config_path, batch, frames, size, threads = sys.argv[1], *map(int, sys.argv[2:6])
torch.set_num_threads(threads)
cfg = json.load(open(config_path))
net = Net(cfg).train()
opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=1e-4)
x = torch.full((batch, 3, frames, size, size), 0.1)
labels = torch.arange(batch) % cfg["model"]["classes"]


def step(model):
    opt.zero_grad()
    F.cross_entropy(model(x), labels).backward()
    opt.step()


modes = {"step": "eager"}
steps = {"step": lambda: step(net)}
failed = {}
if len(sys.argv) > 6 and sys.argv[6] == "compile":
    try:
        compiled = torch.compile(net)
        start = time.perf_counter()
        step(compiled)  # compiles forward and backward
        modes["compile"] = f"torch.compile inductor, default mode (compiled in {time.perf_counter() - start:.0f} s)"
        steps["compile"] = lambda: step(compiled)
    except Exception as error:  # no C compiler, an op inductor cannot lower, …
        failed["compile"] = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"

print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "modes": modes, "failed": failed}), flush=True)
for line in sys.stdin:
    word = line.strip()
    if word not in steps:
        print(json.dumps({"error": failed.get(word, f"unknown request '{word}'")}), flush=True)
        continue
    t = time.perf_counter()
    steps[word]()
    print(time.perf_counter() - t, flush=True)
