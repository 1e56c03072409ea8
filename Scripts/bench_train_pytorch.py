#!/usr/bin/env python3
"""PyTorch eager reference for `nlnet bench train`: the same network (Tests/Fixtures/reference_model.py),
batch, input, loss and SGD step, on the CPU with the same number of threads. Prints one JSON line.

usage: bench_train_pytorch.py CONFIG.json BATCH FRAMES SIZE REPEATS THREADS
"""
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures"))
from reference_model import Net  # noqa: E402

config_path, batch, frames, size, repeats, threads = sys.argv[1], *map(int, sys.argv[2:7])
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


step()
best = float("inf")
for _ in range(repeats):
    t = time.perf_counter()
    step()
    best = min(best, time.perf_counter() - t)
print(json.dumps({"seconds_per_step": best, "torch": torch.__version__, "threads": threads}))
