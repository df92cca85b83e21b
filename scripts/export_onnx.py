"""Exports the backbone's feature extractor (EfficientNet-Lite0 up to the pooled 1280-d features,
the same network code and weights as the goldens) to ONNX, for the browser benchmark's
onnxruntime-web peer.

Usage: python3 export_onnx.py WEIGHTS.pth NETWORK_CODE_DIR SIDE OUT.onnx
Input `input` [batch, 3, SIDE, SIDE] (batch dynamic), output `features` [batch, 1280].
"""
import contextlib
import sys

import torch

sys.path.insert(0, sys.argv[2])
from efficientnet_lite_pytorch import EfficientNet  # noqa: E402

side, out = int(sys.argv[3]), sys.argv[4]
torch.set_grad_enabled(False)
with contextlib.redirect_stdout(sys.stderr):
    net = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=sys.argv[1]).eval()


class Features(torch.nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net._avg_pooling(self.net.extract_features(x)).flatten(start_dim=1)


torch.onnx.export(
    Features(net),
    torch.zeros(1, 3, side, side),
    out,
    input_names=["input"],
    output_names=["features"],
    dynamic_axes={"input": {0: "batch"}, "features": {0: "batch"}},
    opset_version=13,
)
print(f"wrote {out}", file=sys.stderr)
