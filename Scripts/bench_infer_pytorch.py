#!/usr/bin/env python3
"""PyTorch reference for `nlnet bench model` and `nlnet bench memory`: the same network
(Tests/Fixtures/reference_model.py), its fully convolutional test head (Net.predict, as nlnet's
predict), one clip [1, 3, FRAMES, SIZE, SIZE], on the CPU with the same number of threads.

usage: bench_infer_pytorch.py CONFIG.json FRAMES SIZE THREADS [--modes eager,compile,bf16]
                              [--compile-mode max-autotune-no-cudagraphs|default]
                              [--channels-last MODES] [--memory]

Timing (the default): builds every mode asked for, then prints one JSON line
{"torch": version, "threads": n, "modes": {mode: description}, "failed": {mode: reason}}.
Then, for each line read from standard input (a mode's name), runs one forward in that mode
and prints its wall time in seconds, or {"error": reason} for a mode that failed. The caller
alternates these forwards with its own, so both sides see the same load on a shared machine.

  eager    torch.inference_mode, float32.
  compile  torch.compile (inductor, torch._inductor.config.freezing = True: weights folded into
           the graph as constants, BN folded into the convolutions) under torch.no_grad, in mode
           max-autotune-no-cudagraphs (inductor times its C++ GEMM templates against oneDNN/MKL
           for each shape) unless --compile-mode says otherwise. It is compiled, and run once,
           before the JSON line, so no request pays for compiling.
  bf16     eager under torch.autocast("cpu", dtype=torch.bfloat16).

--channels-last: the modes (comma-separated, or "none") whose weights and input are in
torch.channels_last_3d. The defaults were measured on a 2-core AVX-512 (Sapphire Rapids)
machine with torch 2.15, NL-I3D R50 at 8×224², best of 4 forwards: channels_last_3d was the
faster layout in every mode (eager 0.44 s against 0.50 s contiguous, bf16 0.57 against 0.62,
compile 0.31 against 0.37), and max-autotune-no-cudagraphs beat the default mode (0.25 s against
0.31 s) for about 45 s of compiling.

--memory: one eager fp32 forward (contiguous, PyTorch's default layout), then one JSON line
with the resident set size before it ("baselineRSS", now; "baselinePeakRSS", the peak so far:
import, network, input) and the peak after it ("peakRSS"), in bytes; no requests are read.
"""
import argparse
import json
import os
import resource
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures"))
from reference_model import Net  # noqa: E402

MODES = ["eager", "compile", "bf16"]
# The faster layout per mode, measured as the docstring says (channels_last_3d lets oneDNN skip
# reordering each convolution's input and output to its blocked layout and back).
CHANNELS_LAST_DEFAULT = "eager,compile,bf16"


def parse():
    p = argparse.ArgumentParser()
    p.add_argument("config")
    p.add_argument("frames", type=int)
    p.add_argument("size", type=int)
    p.add_argument("threads", type=int)
    p.add_argument("--modes", default=",".join(MODES))
    p.add_argument("--compile-mode", default="max-autotune-no-cudagraphs", choices=["max-autotune-no-cudagraphs", "default"])
    p.add_argument("--channels-last", default=CHANNELS_LAST_DEFAULT)
    p.add_argument("--memory", action="store_true")
    return p.parse_args()


def rss_bytes():
    """The resident set size now (/proc/self/statm: pages), or None off Linux."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return None


def peak_rss_bytes():
    # ru_maxrss is in KiB on Linux, bytes on macOS.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def reason(error):
    """One line for a failure: the exception's type and the first line of its message."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"[:300]


class Predict(torch.nn.Module):
    """Net.predict as a module's forward, so torch.compile freezes the network's parameters."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net.predict(x)


def build(args, cfg, mode, channels_last):
    """A function running one forward of `mode`, and its description; compile is compiled and run here."""
    torch.manual_seed(0)  # the same weights in every mode
    net = Net(cfg).eval()
    x = torch.full((1, 3, args.frames, args.size, args.size), 0.1)
    layout = ", channels_last_3d" if channels_last else ""
    if channels_last:
        net = net.to(memory_format=torch.channels_last_3d)
        x = x.contiguous(memory_format=torch.channels_last_3d)
    if mode == "eager":
        def run():
            with torch.inference_mode():
                net.predict(x)
        return run, "eager fp32" + layout
    if mode == "bf16":
        def run():
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
                net.predict(x)
        return run, "eager, autocast bf16" + layout
    import torch._inductor.config as inductor_config
    inductor_config.freezing = True
    compiled = torch.compile(Predict(net), backend="inductor", mode=args.compile_mode)
    start = time.perf_counter()
    with torch.no_grad():
        compiled(x)
    seconds = time.perf_counter() - start

    def run():
        with torch.no_grad():
            compiled(x)
    return run, f"torch.compile inductor, freezing, mode {args.compile_mode}{layout} (compiled in {seconds:.0f} s)"


def memory(args, cfg):
    net = Net(cfg).eval()
    x = torch.full((1, 3, args.frames, args.size, args.size), 0.1)
    baseline, baseline_peak = rss_bytes(), peak_rss_bytes()
    with torch.inference_mode():
        net.predict(x)
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "mode": "eager fp32, contiguous",
                      "baselineRSS": baseline, "baselinePeakRSS": baseline_peak, "peakRSS": peak_rss_bytes()}), flush=True)


def main():
    args = parse()
    torch.set_num_threads(args.threads)
    cfg = json.load(open(args.config))
    if args.memory:
        memory(args, cfg)
        return
    channels_last = set(args.channels_last.split(","))
    runs, descriptions, failed = {}, {}, {}
    for mode in args.modes.split(","):
        if mode not in MODES:
            failed[mode] = f"unknown mode (modes: {', '.join(MODES)})"
            continue
        try:
            runs[mode], descriptions[mode] = build(args, cfg, mode, mode in channels_last)
        except Exception as error:  # a missing C compiler, an op inductor or autocast lacks: report, keep the rest
            failed[mode] = reason(error)
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "modes": descriptions,
                      "failed": failed}), flush=True)
    for line in sys.stdin:
        mode = line.strip()
        if mode not in runs:
            print(json.dumps({"error": failed.get(mode, f"unknown mode '{mode}'")}), flush=True)
            continue
        start = time.perf_counter()
        try:
            runs[mode]()
        except Exception as error:
            failed[mode] = reason(error)
            del runs[mode]
            print(json.dumps({"error": failed[mode]}), flush=True)
            continue
        print(time.perf_counter() - start, flush=True)


if __name__ == "__main__":
    main()
