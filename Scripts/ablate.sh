#!/usr/bin/env bash
# Runs every Table 2 plan in Configs/ablations/ (pass --quick for a smoke run, --seeds N to
# override the plans' seeds). Plans share one run store, so a variant that appears in
# several tables (the C2D baseline, NL C2D 5-block, I3D) trains once.
set -euo pipefail
cd "$(dirname "$0")/.."
make build >/dev/null
out=${ABLATE_OUT:-runs/ablate}
for plan in Configs/ablations/table2*.yaml; do
  name=$(basename "$plan" .yaml)
  .build/release/nlnet ablate "$plan" --out "$out/$name" --runs "$out/store" "$@"
done
