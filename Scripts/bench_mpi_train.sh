#!/usr/bin/env bash
# Data-parallel training on one machine: the same recipe and global batch (4 × 2 clips, 60 steps,
# R50 at width 16 with one non-local block, 16 synthetic clips) as
#   A  1 process × 1 thread      B  mpirun -n 2, 1 thread per rank      C  1 process × 2 threads
# prints the wall time of each (B and C three times) and how far apart the weights end up:
# A vs B is the MPI equivalence (equal thread counts), A vs C the rounding of a different thread
# count. Needs Open MPI (apt-get install openmpi-bin libopenmpi-dev) and a release build.
# Numbers for this machine: docs/scale-out.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
nlnet=$root/.build/release/nlnet
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
root_flag=$([ "$(id -u)" = 0 ] && echo --allow-run-as-root || true)
"$nlnet" synth --out data --train 4 --val 1 --quiet
args=(train --config "$root/Configs/ablations/base.yaml" --train data/train.csv --quiet
      --set model.nonlocal.blocks=1-block --set model.width=16 --set train.batch_size=4 --set train.accumulate=2
      --set train.max_iterations=60 --set train.eval_every=0 --set train.checkpoint_every=1000)
seconds() { local s e; s=$(date +%s.%N); "$@"; e=$(date +%s.%N); echo "$e - $s" | bc; }
echo "A 1 process × 1 thread:  $(NLNET_THREADS=1 seconds "$nlnet" "${args[@]}" --out A) s"
for round in 1 2 3; do
  rm -rf B C
  echo "B 2 ranks × 1 thread:    $(NLNET_THREADS=1 seconds mpirun -n 2 --oversubscribe $root_flag "$nlnet" "${args[@]}" --out B) s"
  echo "C 1 process × 2 threads: $(NLNET_THREADS=2 seconds "$nlnet" "${args[@]}" --out C) s"
done
compare() {
  python3 - "$1" "$2" <<'PY'
import array, json, struct, sys
def load(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        start, end = entry["data_offsets"]
        out[name] = array.array("f", raw[8 + n + start:8 + n + end])
    return out
a, b = load(sys.argv[1]), load(sys.argv[2])
def worst(names):  # the largest |x − y| / max(1, |y|), as MPITrainingTests measures
    return max(((max((abs(x - y) / max(1, abs(y)) for x, y in zip(a[k], b[k])), default=0), k) for k in names), default=(0, ""))
stats = [k for k in a if "running_" in k]
weights = [k for k in a if "running_" not in k]
print("  weights: max relative difference %.3g (%s); BN running statistics: %.3g (%s)" % (worst(weights) + worst(stats)))
PY
}
echo "A vs B (MPI equivalence, 1 thread each):"; compare A/model.safetensors B/model.safetensors
echo "A vs C (1 vs 2 threads, one process):";    compare A/model.safetensors C/model.safetensors
