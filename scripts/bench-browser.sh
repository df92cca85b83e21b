#!/usr/bin/env bash
# In-browser benchmark of the image backbone (issue 4): burn on the wasm CPU fallback and on
# WebGPU (SwiftShader here: correctness only) against onnxruntime-web 1.31.1 (wasm execution
# provider, 1 thread) running the same network exported to ONNX, alternating in one page of
# Debian's headless Chromium; then the tab's peak memory while encoding 400 images.
# Usage: scripts/bench-browser.sh [SIDE=32] [BATCH=32] [ROUNDS=3] [SECONDS=5] > bench.json
set -euo pipefail
cd "$(dirname "$0")/.."
SIDE=${1:-32} BATCH=${2:-32} ROUNDS=${3:-3} SECONDS_PER_RUN=${4:-5}
source scripts/torch-env.sh
BACKBONE=${TANS_BACKBONE_DIR:-$HOME/.cache/tans/backbone}
ONNX="$BACKBONE/efficientnet-lite0-$SIDE.onnx"
if [ ! -f "$ONNX" ]; then
  /usr/bin/python3 scripts/export_onnx.py "$WEIGHTS" "$CODE" "$SIDE" "$ONNX.tmp"
  mv "$ONNX.tmp" "$ONNX"
fi
[ -f pkg/tans_web.js ] || cargo xtask build >&2
(cd web/bench && { [ -d node_modules/onnxruntime-web ] || npm ci --no-audit --no-fund >&2; })
node web/bench/run.mjs "$BACKBONE" "$SIDE" "$BATCH" "$ROUNDS" "$SECONDS_PER_RUN"
