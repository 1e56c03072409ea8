#!/usr/bin/env bash
# Compares two nlnet binaries on this machine, alternating them so both see the same load:
# inference (nlnet bench model, NL-I3D R50 8×224² by default) and training (nlnet bench
# train), ROUNDS rounds each. Usage: Scripts/bench_ab.sh OLD_NLNET NEW_NLNET [bench model options]
# Used for the flag-free build against the -target-cpu native one (README, "Kernels and this CPU").
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 OLD_NLNET NEW_NLNET [bench model options]" >&2; exit 64; }
a=$1 b=$2; shift 2
model_args=("$@"); [ ${#model_args[@]} -gt 0 ] || model_args=(--config i3d_nonlocal_8x8_r50)
rounds=${ROUNDS:-3}
grep -m1 "model name" /proc/cpuinfo || true
for i in $(seq "$rounds"); do
  for bin in "$a" "$b"; do
    "$bin" bench model "${model_args[@]}" --json --repeats 3 2>/dev/null \
      | python3 -c 'import json,sys; d=json.load(sys.stdin); print("model %-28s %8.1f ms/clip  (sgemm %.0f GFLOP/s, OpenBLAS %s)" % (sys.argv[1], d["msPerClip"], d["squareSgemmGFLOPS"], d["blasKernel"]))' "$bin"
  done
done
for i in $(seq "$rounds"); do
  for bin in "$a" "$b"; do
    echo "train $bin $("$bin" bench train --repeats 5 2>&1 | grep '^nlnet')"
  done
done
