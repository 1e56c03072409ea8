#!/usr/bin/env bash
# The README's fine-tuning example: the shipped default model (trained on the four benchmark
# classes) fine-tuned on a class set it never saw — the flash pair, as a class-per-folder tree
# from `nlnet synth --layout folders` — against the same network trained from scratch, at the
# same budget (100 steps of 8 clips), 3 seeds each. Prints validation top-1 per run and means.
set -euo pipefail
cd "$(dirname "$0")/.."
NLNET=${NLNET:-.build/release/nlnet}
OUT=${OUT:-runs/finetune}
STEPS=${STEPS:-100}
rm -rf "$OUT"
$NLNET synth --classes flash_in_sync,flash_alternating --train 40 --val 50 --layout folders --out "$OUT/data" --quiet
declare -A extra=(
  [scratch]=""
  [finetune]="--initial Configs/default_model.safetensors"
  [finetune_backbone_lr_0.1]="--initial Configs/default_model.safetensors --set train.backbone_lr_scale=0.1"
  [finetune_freeze_to_res3]="--initial Configs/default_model.safetensors --set train.freeze=[stem,res2,res3]"
)
for mode in scratch finetune finetune_backbone_lr_0.1 finetune_freeze_to_res3; do
  for seed in 0 1 2; do
    # shellcheck disable=SC2086
    $NLNET train --config Configs/default_model.yaml --data "$OUT/data" --out "$OUT/$mode-$seed" --quiet \
      --set train.max_iterations="$STEPS" --set train.eval_every=25 --set train.warmup_iterations=5 --set train.seed=$seed ${extra[$mode]}
    python3 -c "import json,sys; print('$mode', $seed, json.load(open('$OUT/$mode-$seed/eval.json'))['top1'])"
  done
done | tee "$OUT/results.txt"
python3 - "$OUT/results.txt" <<'PY'
import sys, statistics as st
rows = [l.split() for l in open(sys.argv[1])]
for mode in dict.fromkeys(r[0] for r in rows):
    v = [float(r[2]) for r in rows if r[0] == mode]
    print(f"{mode:28s} top-1 {100*st.mean(v):5.1f}% ± {100*st.stdev(v):4.1f} over {len(v)} seeds")
PY
