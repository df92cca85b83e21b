"""PyTorch peer of `tans zoo bench`: the largest subnet of the zoo's search space (kernel 7,
expand 6, depth 4 everywhere; the same layers, widths, squeeze-excite and activations as
`tans_core::ofa::Subnet`), one SGD-with-momentum training step at a time on the CPU.

Usage: python3 bench_supernet.py SPACE.json BATCH SECONDS
SPACE.json: the "space" object `tans zoo space` prints. Prints one JSON line.
"""
import json
import os
import sys

import torch
from torch import nn

from bench_timing import median_step_time

space = json.load(open(sys.argv[1]))
batch, seconds = int(sys.argv[2]), float(sys.argv[3])
torch.set_num_threads(os.cpu_count())


def divisible(v):
    rounded = max(8, (v + 4) // 8 * 8)
    return rounded + 8 if rounded * 10 < v * 9 else rounded


def act(hard_swish):
    return nn.Hardswish() if hard_swish else nn.ReLU()


class SqueezeExcite(nn.Module):
    def __init__(self, c):
        super().__init__()
        s = divisible(c // 4)
        self.reduce, self.expand = nn.Linear(c, s), nn.Linear(s, c)

    def forward(self, x):
        g = x.mean((2, 3))
        g = nn.functional.hardsigmoid(self.expand(torch.relu(self.reduce(g))))
        return x * g[:, :, None, None]


class Layer(nn.Module):
    def __init__(self, cin, cout, k, e, stride, se, hs):
        super().__init__()
        mid = divisible(cin * e)
        self.body = nn.Sequential(
            nn.Conv2d(cin, mid, 1, bias=False), nn.BatchNorm2d(mid, eps=1e-5), act(hs),
            nn.Conv2d(mid, mid, k, stride, k // 2, groups=mid, bias=False),
            nn.BatchNorm2d(mid, eps=1e-5), act(hs),
            *([SqueezeExcite(mid)] if se else []),
            nn.Conv2d(mid, cout, 1, bias=False), nn.BatchNorm2d(cout, eps=1e-5))
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.body(x)
        return y + x if self.residual else y


class FirstBlock(nn.Module):
    """3×3 depthwise (ReLU) then 1×1 projection, residual when the width is kept."""

    def __init__(self, stem, first):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(stem, stem, 3, 1, 1, groups=stem, bias=False), nn.BatchNorm2d(stem),
            nn.ReLU(), nn.Conv2d(stem, first, 1, bias=False), nn.BatchNorm2d(first))
        self.residual = stem == first

    def forward(self, x):
        y = self.body(x)
        return y + x if self.residual else y


def largest(space):
    stem, first = space["stem_width"], space["first_block_width"]
    layers = [nn.Conv2d(3, stem, 3, space["stem_stride"], 1, bias=False),
              nn.BatchNorm2d(stem), nn.Hardswish(), FirstBlock(stem, first)]
    cin = first
    for s in range(5):
        for l in range(4):
            cout = space["stage_widths"][s]
            layers.append(Layer(cin, cout, 7, 6, space["stage_strides"][s] if l == 0 else 1,
                                space["stage_squeeze_excite"][s], space["stage_hard_swish"][s]))
            cin = cout
    layers += [nn.Conv2d(cin, space["final_expand_width"], 1, bias=False),
               nn.BatchNorm2d(space["final_expand_width"]), nn.Hardswish(),
               nn.AdaptiveAvgPool2d(1), nn.Flatten(),
               nn.Linear(space["final_expand_width"], space["feature_mix_width"], bias=False),
               nn.Hardswish(), nn.Linear(space["feature_mix_width"], space["classes"])]
    return nn.Sequential(*layers)


net = largest(space).train()
optimiser = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
side = space["input_side"]
x = torch.rand(batch, 3, side, side)
y = torch.arange(batch) % space["classes"]


def step():
    optimiser.zero_grad()
    nn.functional.cross_entropy(net(x), y).backward()
    optimiser.step()


steps, median = median_step_time(step, seconds)
print(json.dumps({
    "runtime": f"pytorch {torch.__version__}, largest subnet",
    "threads": torch.get_num_threads(),
    "params": sum(p.numel() for p in net.parameters()),
    "batch": batch, "side": side, "steps": steps,
    "median_step_s": median, "images_per_s": batch / median,
}))
