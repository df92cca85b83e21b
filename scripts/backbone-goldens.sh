#!/usr/bin/env bash
# Regenerates crates/tans-core/tests/fixtures/backbone-goldens.json: PyTorch's outputs of
# EfficientNet-Lite0 that the native parity test compares against. Run only when regenerating.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/torch-env.sh
OUT=crates/tans-core/tests/fixtures/backbone-goldens.json
/usr/bin/python3 scripts/backbone_goldens.py "$WEIGHTS" "$CODE" > "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "wrote $OUT ($(wc -c < "$OUT") bytes)"
