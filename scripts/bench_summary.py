"""Summarises benchmark runs (JSON lines on stdin, each with "runtime" and "images_per_s"):
the median images/s per runtime and each one's ratio to the PyTorch runtime, as one JSON line.
Used by scripts/bench-backbone.sh and scripts/bench-supernet.sh."""
import json
import statistics
import sys

runs = [json.loads(line) for line in sys.stdin if line.strip()]
medians = {}
for r in runs:
    medians.setdefault(r["runtime"], []).append(r["images_per_s"])
medians = {k: statistics.median(v) for k, v in medians.items()}
torch = next(v for k, v in medians.items() if k.startswith("pytorch"))
print(json.dumps({"images_per_s_median": medians,
                  "ratio_to_pytorch": {k: v / torch for k, v in medians.items()}}))
