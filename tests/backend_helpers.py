"""What the backends' test modules share: random Steps, torch eager as the reference session,
the largest difference between two parameter sets, and a child-process snippet that counts the
threads doing a computation's work (for the thread-pool tests)."""
from __future__ import annotations

import numpy as np
import pytest

from harness.backend import Steps
from harness.spec import init_params


def make_steps(variant, n, dtype, seed=0, n_total=None) -> Steps:
    """n examples with random inputs, labels and masks; lr from the variant's schedule."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=n)
    targets = np.full((n, 10), -1.0)
    targets[np.arange(n), labels] = 1.0
    mask = None
    if variant.dropout:
        mask = ((rng.random((n, 12, 4, 4)) >= variant.dropout) / (1 - variant.dropout)).astype(dtype)
    return Steps(x=rng.uniform(-1, 1, size=(n, 1, 16, 16)).astype(dtype), targets=targets.astype(dtype),
                 labels=labels.astype(np.int64), lr=variant.lr_schedule(n_total or n, 0, n), mask=mask)


def torch_session(variant, dtype, seed=1):
    """torch eager on the CPU from init_params(seed): the reference (skips where torch is absent)."""
    pytest.importorskip("torch")
    from backends.torch import TorchBackend

    return TorchBackend().session(variant=variant, params=init_params(seed, dtype, variant),
                                  dtype=dtype, device="cpu", strategy="eager")


def max_rel(a: dict, b: dict) -> float:
    """The largest |a - b| of any tensor, relative to that tensor's largest |b|."""
    return max(float(np.abs(a[k] - b[k]).max() / (np.abs(b[k]).max() + 1e-300)) for k in b)


# Python source for a child process (Linux /proc): busy_threads(work) runs `work` once to warm up,
# then four times, and counts the threads that did at least a fifth of the busiest one's CPU time.
BUSY_THREADS = """
import os

def ticks():
    out = {}
    for t in os.listdir("/proc/self/task"):
        try:
            f = open(f"/proc/self/task/{t}/stat").read().rsplit(")", 1)[1].split()
            out[t] = int(f[11]) + int(f[12])
        except OSError:
            pass
    return out

def busy_threads(work):
    work()
    t0 = ticks()
    for _ in range(4):
        work()
    t1 = ticks()
    busy = sorted((t1[k] - t0.get(k, 0) for k in t1), reverse=True)
    return sum(b >= 0.2 * busy[0] for b in busy)
"""


class CpuOnlyBackend:
    """The protocol's plumbing for a test backend that runs on the CPU only and needs no framework:
    a subclass gives `name`, `strategies` and `session()`."""

    description = "a test backend"

    def check(self):
        pass

    def strategy_devices(self, strategy):
        return ["cpu"]

    def environment(self, device):
        return {}


class ClassZeroSession:
    """A NumPy session that predicts class 0 for every input (so its misses are the examples whose
    label is not 0) and whose training moves every parameter by +1 and reports a loss of 0.5."""

    def __init__(self, params):
        self.params = params

    def sync(self):
        pass

    def train_steps(self, steps):
        self.params = {k: v + 1.0 for k, v in self.params.items()}
        return np.full(len(steps), 0.5)

    def forward(self, x):
        out = -np.ones((len(x), 10))
        out[:, 0] = 1.0
        return out

    def get_params(self):
        return self.params
