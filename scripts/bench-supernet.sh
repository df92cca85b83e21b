#!/usr/bin/env bash
# Benchmarks supernet training on the CPU (issue 5): burn (flex, `tans zoo bench`: the largest
# subnet trained through the supernet, and the sandwich step zoo building runs) against PyTorch
# (Debian python3-torch) training the same largest subnet, alternating runs in this one script;
# prints each run as JSON, then the medians and the ratio burn / PyTorch on the same network.
# Usage: scripts/bench-supernet.sh [BATCH=64] [ROUNDS=3] [SECONDS=10] > bench.jsonl
set -euo pipefail
cd "$(dirname "$0")/.."
BATCH=${1:-64} ROUNDS=${2:-3} SECONDS_PER_RUN=${3:-10}
source scripts/torch-env.sh
SPACE=$(mktemp --suffix .json)
trap 'rm -f "$SPACE"' EXIT
"$TANS" zoo space --samples 0 | /usr/bin/python3 -c 'import json,sys; json.dump(json.load(sys.stdin)["space"], sys.stdout)' > "$SPACE"
runs=()
for round in $(seq "$ROUNDS"); do
  runs+=("$("$TANS" zoo bench --batch "$BATCH" --seconds "$SECONDS_PER_RUN")")
  runs+=("$(/usr/bin/python3 scripts/bench_supernet.py "$SPACE" "$BATCH" "$SECONDS_PER_RUN")")
  runs+=("$("$TANS" zoo bench --batch "$BATCH" --seconds "$SECONDS_PER_RUN" --sandwich)")
  printf '%s\n' "${runs[@]: -3}"
done
printf '%s\n' "${runs[@]}" | /usr/bin/python3 scripts/bench_summary.py
