"""PyTorch peer of `tans backbone bench`: EfficientNet-Lite0 (the same weights and network code
the goldens use) on the CPU, images per second for `--batch` inputs of `--side`.

Usage: python3 bench_backbone.py WEIGHTS.pth NETWORK_CODE_DIR SIDE BATCH SECONDS
Prints one JSON line: {"runtime": "pytorch", "images_per_s": ..., ...}.
"""
import contextlib
import json
import os
import sys
import time

import torch

sys.path.insert(0, sys.argv[2])
from efficientnet_lite_pytorch import EfficientNet  # noqa: E402

side, batch, seconds = int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
torch.set_grad_enabled(False)
torch.set_num_threads(os.cpu_count())  # as many as burn's rayon pool uses
with contextlib.redirect_stdout(sys.stderr):
    net = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=sys.argv[1]).eval()
x = torch.randn(batch, 3, side, side)
for _ in range(3):
    net.extract_features(x)
runs = []
start = time.perf_counter()
while time.perf_counter() - start < seconds or len(runs) < 5:
    t = time.perf_counter()
    net._avg_pooling(net.extract_features(x)).flatten(start_dim=1)
    runs.append(time.perf_counter() - t)
runs.sort()
median = runs[len(runs) // 2]
print(json.dumps({
    "runtime": f"pytorch {torch.__version__}",
    "threads": torch.get_num_threads(),
    "side": side,
    "batch": batch,
    "runs": len(runs),
    "median_batch_s": median,
    "images_per_s": batch / median,
}))
