#!/usr/bin/env bash
# Classify a list of videos as a Slurm job array: task i of N takes every N-th path of the list
# from path i on (nlnet's --shards N --shard-index-env SLURM_ARRAY_TASK_ID; the array must
# count from 0 in steps of 1), and writes OUT/part-i.jsonl, one JSON line per video. A task
# writes to a temporary file and renames it when done, so a killed task leaves no part file and
# can simply be run again (sbatch --array=i …).
#
#   sbatch --array=0-15 Scripts/slurm_classify.sh videos.txt results/
#   cat results/part-*.jsonl > results.jsonl      # when every task has finished
#
# The exit status is nlnet's: 0 with --keep-going even when some videos failed (they are
# {"path", "error"} lines: grep '"error"' results/part-*.jsonl); non-zero for a setup error.
#SBATCH --job-name=nlnet-classify
#SBATCH --cpus-per-task=4
#SBATCH --mem=8G
#SBATCH --time=04:00:00
#SBATCH --output=nlnet-classify-%A_%a.log
set -euo pipefail
list=${1:?usage: sbatch --array=0-(N-1) $0 LIST OUT_DIR}
out=${2:?usage: sbatch --array=0-(N-1) $0 LIST OUT_DIR}
: "${SLURM_ARRAY_TASK_ID:?run this with sbatch --array=0-(N-1)}"
tasks=${SLURM_ARRAY_TASK_COUNT:?run this with sbatch --array=0-(N-1)}
mkdir -p "$out"
part="$out/part-$(printf %05d "$SLURM_ARRAY_TASK_ID").jsonl"
export NLNET_THREADS=${SLURM_CPUS_PER_TASK:-1}
nlnet classify @- --jsonl - --keep-going --shards "$tasks" --shard-index-env SLURM_ARRAY_TASK_ID \
    < "$list" > "$part.tmp-$SLURM_JOB_ID"
mv "$part.tmp-$SLURM_JOB_ID" "$part"
