"""The timing rule of the PyTorch peers, the same as the Rust benches': 2 warm-up calls, then
calls for at least `seconds` (and 5 calls); returns the number of timed calls and the median
seconds per call."""
import time


def median_step_time(step, seconds):
    for _ in range(2):
        step()
    runs, start = [], time.perf_counter()
    while time.perf_counter() - start < seconds or len(runs) < 5:
        t = time.perf_counter()
        step()
        runs.append(time.perf_counter() - t)
    runs.sort()
    return len(runs), runs[len(runs) // 2]
