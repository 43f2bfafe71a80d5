"""Parity of SDLM's second-derivative pass: h compared like a gradient (variant 1989-sdlm).

Every target's `hessian_diag` on the examples that estimate h before pass 1 (the run's own
draw: harness.sdlm.hessian_indices) against the reference's, per tensor, with the gradient
tolerances of the dtype: h is a sum of squared derivatives of the same layers, computed by
the same kind of products (measured, CPU, seeds 1337 and 1, 500 USPS examples: float64, torch
eager vs jax, <= 1.7e-16 absolute on values <= 0.13; float32, each backend against the NumPy
reference in float64 and torch vs jax, <= 4.6e-7 x the tensor's max, 20x inside the 1e-5).
"""
from __future__ import annotations

import numpy as np

from . import sdlm
from .parity import (
    Context,
    Target,
    _check_result,
    _error_row,
    _ref_failed,
    _row,
    compare,
    one_line,
)
from .spec import PARAM_NAMES


def check_hessian(ctx: Context, ref: Target, targets: list[Target]) -> dict:
    n_train = len(ctx.data.train_x)
    idx = sdlm.hessian_indices(ctx.variant, n_train, ctx.seed, 0)
    steps = sdlm.hessian_steps(ctx.data, idx, ctx.dtype)
    title = f"SDLM's h: diagonal Gauss-Newton estimate over the {len(idx)} examples drawn before pass 1"
    tol = ctx.tol["grads"]
    try:
        want = ctx.session(ref).hessian_diag(steps)
        sdlm.check_hessian(want)
    except Exception as e:  # noqa: BLE001 -- a backend bug becomes a failed row naming it
        return _ref_failed("hessian", title, ref, e)
    rows = []
    for t in targets:
        try:
            got = ctx.session(t).hessian_diag(steps)
            sdlm.check_hessian(got)
        except Exception as e:  # noqa: BLE001 -- a backend bug becomes a failed row naming it
            rows.append(_error_row(t.label, one_line(e)))
            continue
        rows += [_row(t.label, f"h {k}", compare(np.asarray(got[k]), np.asarray(want[k]), tol), tol)
                 for k in PARAM_NAMES]
    return _check_result("hessian", title, rows, {"grads": tol})
