#!/usr/bin/env bash
# Benchmarks one meta-training step on the CPU (issue 6): burn (flex, `tans meta-bench`)
# against PyTorch (Debian python3-torch, scripts/bench_meta.py) on the same networks, objective,
# Adam update and batch shape, alternating runs in this one script, for the deep and the
# linear query encoder; prints each run as JSON, then the medians and the ratio burn / PyTorch
# in steps per second (one line per encoder).
# Usage: scripts/bench-meta.sh [TASKS=149] [ROUNDS=3] [SECONDS=10] > bench.jsonl
# (20 classes × 5 images per query, 1280 backbone features, 512 functional values.)
set -euo pipefail
cd "$(dirname "$0")/.."
TASKS=${1:-149} ROUNDS=${2:-3} SECONDS_PER_RUN=${3:-10}
CLASSES=20 PER_CLASS=5 FEATURES=1280 FUNCTIONAL=512
source scripts/torch-env.sh
for encoder in deep linear; do
  flag=()
  [ "$encoder" = linear ] && flag=(--linear)
  runs=()
  for round in $(seq "$ROUNDS"); do
    runs+=("$("$TANS" meta-bench --tasks "$TASKS" --classes $CLASSES --per-class $PER_CLASS \
      --feature-dim $FEATURES --functional-dim $FUNCTIONAL "${flag[@]}" --seconds "$SECONDS_PER_RUN")")
    runs+=("$(/usr/bin/python3 scripts/bench_meta.py "$TASKS" $CLASSES $PER_CLASS $FEATURES \
      $FUNCTIONAL "$encoder" "$SECONDS_PER_RUN")")
    printf '%s\n' "${runs[@]: -2}"
  done
  printf '%s\n' "${runs[@]}" | /usr/bin/python3 scripts/bench_summary.py
done
