"""PyTorch peer of `tans meta-bench`: one meta-training step of the same three networks
(`tans_core::networks`: the deep or linear query encoder, the model encoder, the predictor),
the same objective (`tans_core::loss`: bidirectional margin hinge over every in-batch negative
+ λ·MSE, margin 0.2, λ 1) and an Adam update at lr 1e-2, on a fixed random batch of the same
shape, on the CPU.

Usage: python3 bench_meta.py TASKS CLASSES PER_CLASS FEATURE_DIM FUNCTIONAL_DIM deep|linear SECONDS
Prints one JSON line.
"""
import json
import os
import sys

import torch
from torch import nn

from bench_timing import median_step_time

tasks, classes, per_class, feature_dim, functional_dim = map(int, sys.argv[1:6])
encoder, seconds = sys.argv[6], float(sys.argv[7])
torch.set_num_threads(os.cpu_count())
torch.manual_seed(777)
EMBED, HIDDEN, PREDICTOR_HIDDEN, TOPOLOGY = 128, 256, 256, 45
MARGIN, PREDICTOR_WEIGHT = 0.2, 1.0


def l2(x):
    return x / x.pow(2).sum(1, keepdim=True).sqrt().clamp_min(1e-12)


class QueryEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        if encoder == "linear":
            self.instance = nn.ModuleList([nn.Linear(feature_dim, EMBED)])
            self.classes, self.output = nn.ModuleList(), None
        else:
            self.instance = nn.ModuleList([nn.Linear(feature_dim, HIDDEN), nn.Linear(HIDDEN, HIDDEN)])
            self.classes = nn.ModuleList([nn.Linear(HIDDEN, HIDDEN)])
            self.output = nn.Linear(HIDDEN, EMBED)

    def pool(self, rows):
        return rows.reshape(-1, per_class, rows.shape[1]).mean(1)

    def forward(self, features, set_pool):
        if self.output is None:
            c = self.instance[0](self.pool(features))
        else:
            h = features
            for layer in self.instance:
                h = torch.relu(layer(h))
            c = self.pool(h)
        for layer in self.classes:
            c = torch.relu(layer(c))
        sets = set_pool @ c
        if self.output is not None:
            sets = self.output(sets)
        return l2(sets)


class Networks(nn.Module):
    def __init__(self):
        super().__init__()
        self.query = QueryEncoder()
        self.model = nn.Linear(TOPOLOGY + functional_dim, EMBED)
        self.hidden = nn.Linear(2 * EMBED, PREDICTOR_HIDDEN)
        self.output = nn.Linear(PREDICTOR_HIDDEN, 1)

    def forward(self, features, set_pool, topology, functional):
        q = self.query(features, set_pool)
        m = l2(self.model(torch.cat([topology / TOPOLOGY ** 0.5, l2(functional)], 1)))
        predicted = torch.sigmoid(self.output(torch.relu(self.hidden(torch.cat([q, m], 1))))).squeeze(1)
        return q, m, predicted


def loss(q, m, predicted, accuracy):
    s = q @ m.t()
    eye = torch.eye(s.shape[0])
    positives = (s * eye).sum(1, keepdim=True)
    hinge = torch.relu(s + MARGIN - positives) + torch.relu(s + MARGIN - positives.t())
    contrastive = (hinge * (1 - eye)).sum()
    return contrastive + PREDICTOR_WEIGHT * (predicted - accuracy).pow(2).mean()


net = Networks()
optimiser = torch.optim.Adam(net.parameters(), lr=1e-2)
features = torch.randn(tasks * classes * per_class, feature_dim)
set_pool = torch.kron(torch.eye(tasks), torch.full((1, classes), 1.0 / classes))
topology, functional = torch.rand(tasks, TOPOLOGY), torch.randn(tasks, functional_dim)
accuracy = torch.rand(tasks)


def step():
    optimiser.zero_grad()
    total = loss(*net(features, set_pool, topology, functional), accuracy)
    total.item()
    total.backward()
    optimiser.step()


steps, median = median_step_time(step, seconds)
print(json.dumps({
    "runtime": f"pytorch {torch.__version__}",
    "threads": torch.get_num_threads(),
    "query_encoder": encoder, "tasks": tasks, "classes": classes, "per_class": per_class,
    "feature_dim": feature_dim, "functional_dim": functional_dim,
    "steps": steps, "median_step_s": median, "steps_per_s": 1 / median,
}))
