"""The core's top-level modules, value by value where no other test reads a value back: what a
function returns (its form, dtype and figures, by hand), for the cases the wider tests do not reach.
No framework, no data."""
from __future__ import annotations

import numpy as np
import pytest

from harness.spec import H2_INPUTS, VARIANTS, h2w_dense


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_h2w_dense_keeps_the_dtype_and_puts_each_kernel_on_its_planes(dtype):
    H2w = (np.arange(12 * 8 * 25).reshape(12, 8, 5, 5) + 1).astype(dtype)
    dense = h2w_dense(H2w)
    assert dense.shape == (12, 12, 5, 5) and dense.dtype == np.dtype(dtype)
    for o, ins in enumerate(H2_INPUTS):
        assert np.array_equal(dense[o, list(ins)], H2w[o])
        assert not dense[o, [i for i in range(12) if i not in ins]].any()  # unconnected planes: zero


def test_sdlm_learning_rates_follow_the_pass_of_each_step():
    """SDLM's eps per step: LeNet-5's schedule (5e-4 for 2 passes, then 2e-4 for 3, ...), a pass being
    `per_pass` steps, or by default the steps asked for (stop - start)."""
    v = VARIANTS["1989-sdlm"]
    assert list(v.lr_schedule(100, 0, 6, per_pass=2)) == [5e-4] * 4 + [2e-4] * 2
    assert list(v.lr_schedule(100, 8, 12)) == [2e-4] * 4  # a pass of 4 steps: steps 8..11 are pass 3
    assert v.lr_schedule(100, 8, 12).dtype == np.float64
    assert list(v.lr_schedule(100, 3, 3)) == []
