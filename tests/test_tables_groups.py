"""harness.tables' index tables against the spec and the NumPy reference: h2_groups for connection
tables of equal and unequal runs, every H2 convolution computed from the tables equal to the
reference's, the dense H2 kernel index (zeros where a plane is not seen), the patch index's
sentinel exactly at the padding positions."""
from __future__ import annotations

import numpy as np
import pytest

from harness import reference, spec, tables


@pytest.mark.parametrize("inputs, groups", [
    (((0, 1), (0, 1), (2, 3), (2, 3)), (((0, 1), (0, 1)), ((2, 3), (2, 3)))),
    (((0, 1), (0, 1), (2, 3)), (((0,), (0, 1)), ((1,), (0, 1)), ((2,), (2, 3)))),  # runs of 2 and 1: one plane each
    (((0, 1), (1, 2), (0, 1)), (((0,), (0, 1)), ((1,), (1, 2)), ((2,), (0, 1)))),  # equal inputs apart: not one run
    (((5,),), (((0,), (5,)),)),
])
def test_h2_groups_are_runs_of_equal_size(monkeypatch, inputs, groups):
    monkeypatch.setattr(spec, "H2_INPUTS", inputs)
    assert tables.h2_groups() == groups


def test_h2_groups_of_the_spec_cover_every_plane_in_order():
    groups = tables.h2_groups()
    assert [o for outs, _ in groups for o in outs] == list(range(12))
    assert all(ins == tuple(spec.H2_INPUTS[o]) for outs, ins in groups for o in outs)
    assert len({len(outs) for outs, _ in groups}) == 1


def test_h2_from_the_group_tables_is_the_references_convolution():
    rng = np.random.default_rng(0)
    h1 = rng.uniform(-1, 1, (12, 8, 8))
    h2w = rng.normal(size=spec.PARAM_SHAPES["H2w"])
    gp = tables.h2_group_patches()  # (G, 8 * 25, 16)
    assert gp.shape == (len(tables.h2_groups()), 8 * 25, 16)
    got = np.zeros((12, 16))
    for g, (outs, _) in enumerate(tables.h2_groups()):
        patches = tables.patches_numpy(h1, gp[g])  # (200, 16)
        for o in outs:
            got[o] = h2w[o].reshape(-1) @ patches
    want = np.concatenate([reference.conv(h1[None, list(ins)], h2w[o:o + 1])[0] for o, ins in
                           enumerate(spec.H2_INPUTS)]).reshape(12, 16)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_h2_dense_index_places_each_kernel_and_zeros_elsewhere():
    h2w = np.random.default_rng(1).normal(size=spec.PARAM_SHAPES["H2w"])
    idx = tables.h2_dense_index()
    assert idx.shape == (12, 12 * 25) and idx.dtype == np.int32
    dense = np.concatenate([h2w.reshape(-1), [0.0]])[idx].reshape(12, 12, 5, 5)
    for o, ins in enumerate(spec.H2_INPUTS):
        for j, c in enumerate(ins):
            np.testing.assert_array_equal(dense[o, c], h2w[o, j])
        for c in set(range(12)) - set(ins):
            assert not dense[o, c].any()


@pytest.mark.parametrize("size, channels", [(16, 1), (8, 12), (5, 2)])
def test_patch_index_points_at_the_sentinel_exactly_where_the_window_is_off_the_input(size, channels):
    idx = tables.patch_index(size, channels)
    out = tables.out_size(size)
    assert out == (size + 4 - 5) // 2 + 1
    assert idx.shape == (channels * 25, out * out) and idx.dtype == np.int32
    sentinel = channels * size * size
    x = np.arange(channels * size * size, dtype=float).reshape(channels, size, size)
    padded = np.pad(x, ((0, 0), (2, 2), (2, 2)), constant_values=-1.0)
    for oh in range(out):
        for ow in range(out):
            window = padded[:, 2 * oh:2 * oh + 5, 2 * ow:2 * ow + 5].reshape(-1)
            col = idx[:, oh * out + ow]
            assert ((col == sentinel) == (window == -1.0)).all()
            assert (col[col != sentinel] == window[window != -1.0]).all()
    assert tables.h1_patches().shape == (25, 64) and tables.h2_patches().shape == (300, 16)
