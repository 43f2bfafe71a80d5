"""The per-example loss the core computes from a backend's outputs (harness.train.losses_of), in
float64, against the formulas written out: mse over the 10 outputs (mean or sum, targets +-t at the
label), and cross-entropy log sum exp(y) - y_label, stable for logits far from 0."""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from harness.recipe import variant_of
from harness.spec import VARIANTS
from harness.train import losses_of

OUT = np.array([[0.5, -0.25, 1.0, 0.0, -1.0, 0.75, 0.1, -0.6, 0.3, 2.0],
                [-2.0, 1.5, 0.2, 0.4, -0.3, 0.0, 0.9, -1.2, 0.6, 0.05]], dtype=np.float32)
LABELS = np.array([2, 7])


def _mse(out, labels, t, reduce):
    rows = []
    for y, lab in zip(out.astype(np.float64), labels):
        target = np.full(10, -t)
        target[lab] = t
        rows.append(reduce((y - target) ** 2))
    return np.array(rows)


@pytest.mark.parametrize("sets, t, reduce", [([], 1.0, np.mean), (["reduction=sum"], 1.0, np.sum),
                                             (["targets=0.9"], 0.9, np.mean)])
def test_mse_per_example(sets, t, reduce):
    got = losses_of(variant_of("1989", sets), OUT, LABELS)
    assert got.dtype == np.float64 and got.shape == (2,)
    np.testing.assert_allclose(got, _mse(OUT, LABELS, t, reduce), rtol=1e-12)


def test_cross_entropy_per_example_and_stable():
    v = VARIANTS["modern"]
    want = [math.log(sum(math.exp(float(a)) for a in row)) - float(row[lab]) for row, lab in zip(OUT, LABELS)]
    got = losses_of(v, OUT, LABELS)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=1e-12)
    # logits of +-1000: exp overflows unless the largest is taken out first
    big = np.zeros((2, 10))
    big[0, 3], big[1, 3] = 1000.0, -1000.0
    np.testing.assert_allclose(losses_of(v, big, np.array([3, 0])), [0.0, math.log(9 + math.exp(-1000.0))],
                               atol=1e-12)
    np.testing.assert_allclose(losses_of(v, big, np.array([0, 3])), [1000.0, 1000.0 + math.log(9)], rtol=1e-12)


def test_an_unknown_loss_is_named():
    with pytest.raises(ValueError) as e:
        losses_of(replace(VARIANTS["1989"], loss="hinge"), OUT, LABELS)
    assert str(e.value) == "unknown loss 'hinge'"
