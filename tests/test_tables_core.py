"""harness.tables' NumPy helpers in the core's own suite (the backends' suites use them too): the
patch gather pads with spec.PAD_VALUE and keeps the input's dtype, the group planes follow
h2_groups(), the mask is spec's connection table; and the package's lazy public names."""
from __future__ import annotations

import numpy as np
import pytest

import harness
from harness import spec, tables


def test_patches_numpy_gathers_and_pads_with_the_pad_value(monkeypatch):
    x = np.arange(1, 17, dtype=np.float32).reshape(1, 4, 4)
    idx = np.array([[0, 5, 16], [15, 16, 1]])  # 16: the sentinel, one past the input
    got = tables.patches_numpy(x, idx)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, [[1, 6, spec.PAD_VALUE], [16, spec.PAD_VALUE, 2]])
    monkeypatch.setattr(spec, "PAD_VALUE", -7.0)  # read when called
    assert tables.patches_numpy(x, np.array([16, 0])).tolist() == [-7.0, 1.0]


def test_h1_patches_of_a_real_image_match_a_direct_window():
    x = np.random.default_rng(0).standard_normal((1, 16, 16))
    p = tables.patches_numpy(x, tables.h1_patches())  # (25, 64)
    padded = np.pad(x[0], spec.PAD, constant_values=spec.PAD_VALUE)
    oh, ow = 3, 5  # output position: window top-left at (2*oh, 2*ow) of the padded input
    window = padded[2 * oh:2 * oh + 5, 2 * ow:2 * ow + 5].reshape(-1)
    np.testing.assert_array_equal(p[:, oh * 8 + ow], window)


def test_h2_group_planes_concatenate_each_groups_inputs():
    planes = tables.h2_group_planes()
    assert planes.dtype == np.int32
    assert planes.tolist() == [c for _, ins in tables.h2_groups() for c in ins]
    assert len(planes) == 8 * len(tables.h2_groups())


def test_h2_mask_is_the_connection_table():
    mask = tables.h2_mask()
    assert mask.dtype == bool and mask.shape == (12, 12) and mask.sum() == 12 * 8
    for o, ins in enumerate(spec.H2_INPUTS):
        assert sorted(np.flatnonzero(mask[o]).tolist()) == sorted(ins)


def test_public_names_load_on_first_use_and_unknown_ones_fail():
    assert harness.RunConfig is __import__("harness.config", fromlist=["RunConfig"]).RunConfig
    assert set(harness._API) <= set(dir(harness)) and "__getattr__" in dir(harness)
    assert dir(harness) == sorted(dir(harness))
    with pytest.raises(AttributeError, match="^module 'harness' has no attribute 'Nope'$"):
        harness.Nope  # noqa: B018 -- the attribute access is the test
