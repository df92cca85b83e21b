#!/usr/bin/env bash
# Benchmarks the image backbone on the CPU: burn (flex, `tans backbone bench`, on the
# channels-last CPU path that inference uses, and on burn's own NCHW convolutions) against
# PyTorch (Debian python3-torch running the same network code and weights), alternating runs in
# this one script; prints each run as JSON, then the medians and the ratios to PyTorch.
# Usage: scripts/bench-backbone.sh [SIDE=32] [BATCH=32] [ROUNDS=3] [SECONDS=10] > bench.jsonl
set -euo pipefail
cd "$(dirname "$0")/.."
SIDE=${1:-32} BATCH=${2:-32} ROUNDS=${3:-3} SECONDS_PER_RUN=${4:-10}
source scripts/torch-env.sh
runs=()
for round in $(seq "$ROUNDS"); do
  runs+=("$("$TANS" backbone bench --side "$SIDE" --batch "$BATCH" --seconds "$SECONDS_PER_RUN")")
  runs+=("$("$TANS" backbone bench --side "$SIDE" --batch "$BATCH" --seconds "$SECONDS_PER_RUN" --burn-convolutions)")
  runs+=("$(/usr/bin/python3 scripts/bench_backbone.py "$WEIGHTS" "$CODE" "$SIDE" "$BATCH" "$SECONDS_PER_RUN")")
  printf '%s\n' "${runs[@]: -3}"
done
printf '%s\n' "${runs[@]}" | /usr/bin/python3 scripts/bench_summary.py
