"""The per-example JAX loop as most ports write it, timed beside `jax:step` and `jax:scan`.

The lecun1989-flax port (and most first attempts) call a jitted step once per example with
host NumPy arrays, no buffer donation, and read the loss back every step (`float(loss)`). The
harness's `step` strategy is the same jitted step with the chunk put on the device once, params
and optimiser state donated, and losses fetched once per call. This script times all three on
the same examples, in one process, interleaved, so the issue's "scan >= 10x step" target can be
read against the loop it was written for. Not part of the test suite.

    python scripts/naive_jax_step.py [--examples 512] [--rounds 10]
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--examples", type=int, default=512)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--data-dir", default=os.environ.get("HARNESS_DATA_DIR", "../shared/data"))
    a = ap.parse_args()

    from backends.jax import functions, layout
    from backends.jax.framework import import_jax
    from backends.jax.optimizers import make_optimizer
    from backends.jax.session import JaxSession
    from harness.data import load_dataset
    from harness.draws import pass_steps
    from harness.spec import VARIANTS, init_params

    jax = import_jax()
    v = VARIANTS["1989"]
    steps = pass_steps(v, load_dataset("usps", a.data_dir), 1337, 0, v.epochs, "float32").slice(0, a.examples)
    cpu = jax.devices("cpu")[0]

    opt = make_optimizer(v)
    naive_step = jax.jit(functions.make_train_step(v, functions.make_model(v, "patches"), opt))  # no donation
    params = jax.device_put(layout.from_canonical(init_params(1337, "float32", v), np.float32), cpu)
    state = opt.init(params)

    def naive():
        nonlocal params, state
        for i in range(len(steps)):  # host arrays in, the loss read back every step
            params, state, loss = naive_step(params, state, steps.x[i], steps.targets[i], steps.labels[i],
                                             np.float32(steps.lr[i]), None)
            float(loss)

    sessions = {s: JaxSession(v, init_params(1337, "float32", v), "float32", cpu, s) for s in ("step", "scan")}
    runs = {"naive loop": naive, **{f"jax:{s}": (lambda s=s: sessions[s].train_steps(steps)) for s in sessions}}
    for f in runs.values():
        f()  # compile
    times = {k: [] for k in runs}
    for _ in range(a.rounds):
        for k, f in runs.items():
            t0 = time.perf_counter()
            f()
            times[k].append((time.perf_counter() - t0) * 1e6 / len(steps))
    scan = np.median(times["jax:scan"])
    print(f"1989, usps, float32, cpu; {a.examples} examples x {a.rounds} interleaved rounds; us per example")
    for k, t in times.items():
        print(f"  {k:11s} median {np.median(t):8.1f}  (min {min(t):.1f})  scan is {np.median(t) / scan:5.1f}x faster")


if __name__ == "__main__":
    main()
