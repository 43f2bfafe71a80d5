"""Parity of SDLM's second-derivative pass: h compared like a gradient (variant 1989-sdlm).

Every target's `hessian_diag` on the examples that estimate h before pass 1 (the run's own
draw: harness.sdlm.hessian_indices) against the reference's, per tensor, with the gradient
tolerances of the dtype: h is a sum of squared derivatives of the same layers, computed by
the same kind of products (measured, CPU, seeds 1337 and 1, 500 USPS examples: float64, torch
eager vs jax, <= 1.7e-16 absolute on values <= 0.13; float32, each backend against the NumPy
reference in float64 and torch vs jax, <= 4.6e-7 x the tensor's max, 20x inside the 1e-5).
harness.parity.run runs it after the gradient check for an SDLM variant.
"""
from __future__ import annotations

import numpy as np

from .. import sdlm
from ..spec import PARAM_NAMES
from .checks import Context
from .compare import compare
from .rows import row, versus
from .select import Target


def check_hessian(ctx: Context, ref: Target, targets: list[Target]) -> dict:
    idx = sdlm.hessian_indices(ctx.variant, len(ctx.data.train_x), ctx.seed, 0)
    steps = sdlm.hessian_steps(ctx.data, idx, ctx.dtype)
    title = f"SDLM's h: diagonal Gauss-Newton estimate over the {len(idx)} examples drawn before pass 1"
    tol = ctx.tol["grads"]

    def run(t: Target) -> dict[str, np.ndarray]:
        h = ctx.session(t).hessian_diag(steps)
        sdlm.check_hessian(h)
        return h

    def rows_of(t: Target, got, want) -> list[dict]:
        return [row(t.label, f"h {k}", compare(np.asarray(got[k]), np.asarray(want[k]), tol), tol)
                for k in PARAM_NAMES]

    return versus("hessian", title, ref, targets, run, rows_of, {"grads": tol})
