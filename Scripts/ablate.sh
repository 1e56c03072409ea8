#!/usr/bin/env bash
# Runs every Table 2 plan in Configs/ablations/ (pass --quick for a smoke run).
set -euo pipefail
cd "$(dirname "$0")/.."
make build >/dev/null
for plan in Configs/ablations/table2*.yaml; do
  name=$(basename "$plan" .yaml)
  .build/release/nlnet ablate "$plan" --out "runs/ablate/$name" "$@"
done
