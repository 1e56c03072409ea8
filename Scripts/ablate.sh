#!/usr/bin/env bash
# Runs every ablation plan in Configs/ablations/ (Table 2 (a)–(f) and the init plan) into one
# shared run store, then writes each plan's tables. Options: --quick (the plans' smoke-run
# overrides), --seeds N, --jobs N (training processes side by side; default: the number of
# cores), anything else is passed to `nlnet ablate`. ABLATE_OUT sets the folder (runs/ablate).
#
# Each job is an `nlnet ablate --train-only` process with one thread (NLNET_THREADS=1) that
# claims runs no other job holds (a lock file per run); on 2 cores two one-thread processes
# train 1.6× as many runs per minute as one two-thread process (measured: 2 runs of 300 steps
# in 31 s vs 25 s for one). One thread per run also fixes the summation order, so a run's
# numbers do not depend on how many jobs ran it or which. Then one pass per plan writes
# results.md/json/csv/svg and curves.svg from the finished runs.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
args=()
while [ $# -gt 0 ]; do
  case $1 in
    --jobs) jobs=$2; shift 2 ;;
    --jobs=*) jobs=${1#--jobs=}; shift ;;
    *) args+=("$1"); shift ;;
  esac
done
[[ $jobs =~ ^[1-9][0-9]*$ ]] || { echo "ablate.sh: --jobs must be a positive number, got '$jobs'" >&2; exit 64; }
make build >/dev/null
out=${ABLATE_OUT:-runs/ablate}
nlnet=.build/release/nlnet
plans=(Configs/ablations/table2*.yaml Configs/ablations/init_*.yaml)
mkdir -p "$out"
start=$(date +%s)
pids=()
for j in $(seq 1 "$jobs"); do
  (
    for plan in "${plans[@]}"; do
      NLNET_THREADS=1 $nlnet ablate "$plan" --out "$out/$(basename "$plan" .yaml)" --runs "$out/store" --train-only "${args[@]}"
    done
  ) > "$out/job$j.log" 2>&1 &
  pids+=($!)
done
failed=0
for p in "${pids[@]}"; do wait "$p" || failed=1; done
[ $failed = 0 ] || echo "ablate.sh: a training job failed; see $out/job*.log" >&2
for plan in "${plans[@]}"; do
  name=$(basename "$plan" .yaml)
  if $nlnet ablate "$plan" --out "$out/$name" --runs "$out/store" --report "${args[@]}" > /dev/null 2> "$out/$name.report.log"; then
    echo "$out/$name/results.md"
  else
    tail -1 "$out/$name.report.log" >&2; failed=1
  fi
done
# Every plan's table in one file: Configs/ablations/RESULTS.md quotes these verbatim.
for plan in "${plans[@]}"; do
  name=$(basename "$plan" .yaml)
  [ -f "$out/$name/results.md" ] && { cat "$out/$name/results.md"; echo; }
done | sed 's/^# /### /; s/^## Claims/#### Claims/' > "$out/tables.md"
echo "$out/tables.md"
echo "suite: $(( $(date +%s) - start )) s wall time with $jobs jobs"
exit $failed
