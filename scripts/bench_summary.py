"""Summarises benchmark runs (JSON lines on stdin, each with "runtime" and a rate,
"images_per_s" or "steps_per_s"): the median rate per runtime and each one's ratio to the
PyTorch runtime, as one JSON line. Used by scripts/bench-backbone.sh, bench-supernet.sh and
bench-meta.sh."""
import json
import statistics
import sys

runs = [json.loads(line) for line in sys.stdin if line.strip()]
rate = next(k for k in ("images_per_s", "steps_per_s") if k in runs[0])
medians = {}
for r in runs:
    medians.setdefault(r["runtime"], []).append(r[rate])
medians = {k: statistics.median(v) for k, v in medians.items()}
torch = next(v for k, v in medians.items() if k.startswith("pytorch"))
print(json.dumps({f"{rate}_median": medians,
                  "ratio_to_pytorch": {k: v / torch for k, v in medians.items()}}))
