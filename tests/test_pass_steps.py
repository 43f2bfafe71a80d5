"""What one pass feeds a backend (harness.draws.pass_steps): the examples (the first `limit`), in
the dtype asked for whatever the data's, rolled where the variant shifts, ±t targets, int64 labels,
one learning rate per step, and the dropout masks where the variant drops units."""
from __future__ import annotations

import numpy as np
import pytest

from harness.data import Dataset
from harness.draws import draw_pass, pass_steps, roll_images
from harness.spec import VARIANTS

N = 12


def _data(dtype="float64") -> Dataset:
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, (N, 1, 16, 16)).astype(dtype)
    labels = (np.arange(N) * 7) % 10
    return Dataset("synthetic", x, labels.astype(np.int32), x[:2], labels[:2])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("data_dtype", ["float32", "float64"])
def test_inputs_come_in_the_dtype_asked_for(dtype, data_dtype):
    s = pass_steps(VARIANTS["1989"], _data(data_dtype), 1, 0, 2, dtype)
    assert s.x.dtype == np.dtype(dtype) and s.x.flags.c_contiguous
    assert s.targets.dtype == np.dtype(dtype) and s.labels.dtype == np.int64


def test_1989_feeds_the_examples_as_they_are_with_no_mask():
    d = _data()
    s = pass_steps(VARIANTS["1989"], d, 1, 0, 2, "float64", limit=5)
    assert len(s) == 5 and s.mask is None
    np.testing.assert_array_equal(s.x, d.train_x[:5])
    assert list(s.labels) == list(d.train_labels[:5])
    assert (s.targets[np.arange(5), s.labels] == 1.0).all() and (s.targets.sum(axis=1) == 1.0 - 9.0).all()
    assert s.lr.shape == (5,)


def test_targets_are_the_variants():
    s = pass_steps(VARIANTS["1989-paper"], _data(), 1, 0, 1, "float32")
    assert set(np.unique(s.targets)) == {np.float32(-0.9), np.float32(0.9)}


def test_modern_feeds_rolled_images_and_its_dropout_masks():
    v, d = VARIANTS["modern"], _data()
    s = pass_steps(v, d, 5, 1, 3, "float32", limit=8)
    draws = draw_pass(v, 8, 5, 1, "float32")
    assert s.mask is not None and s.mask.shape == (8, 12, 4, 4) and s.mask.dtype == np.float32
    np.testing.assert_array_equal(s.mask, draws["mask"])
    assert set(np.unique(s.mask)) <= {np.float32(0.0), np.float32(1 / (1 - v.dropout))}
    np.testing.assert_array_equal(s.x, roll_images(d.train_x[:8], draws["shifts"]).astype("float32"))
    other = pass_steps(v, d, 5, 2, 3, "float32", limit=8)  # each pass draws anew
    assert not np.array_equal(other.mask, s.mask)
