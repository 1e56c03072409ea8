#!/usr/bin/env python3
"""PyTorch eager reference for `nlnet bench train`: the same network (Tests/Fixtures/reference_model.py),
batch, input, loss and SGD step, on the CPU with the same number of threads.

usage: bench_train_pytorch.py CONFIG.json BATCH FRAMES SIZE THREADS

Prints one JSON line when the network is ready ({"torch": version, "threads": n}); then, for each
line read from standard input, runs one training step and prints its wall time in seconds. The
caller alternates these steps with its own, so both sides see the same load on a shared machine.
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


def step():
    opt.zero_grad()
    F.cross_entropy(net(x), labels).backward()
    opt.step()


print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads()}), flush=True)
for _ in sys.stdin:
    t = time.perf_counter()
    step()
    print(time.perf_counter() - t, flush=True)
