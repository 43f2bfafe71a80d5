import math

import numpy as np
import pytest

from harness import spec


def test_counts_per_layer_match_paper():
    assert spec.count_params() == {"H1": 1068, "H2": 2592, "H3": 5790, "out": 310}
    assert sum(math.prod(s) for s in spec.PARAM_SHAPES.values()) == 9760
    assert spec.count_macs() == 63_660
    assert spec.count_activations() == 1000


@pytest.mark.parametrize("dtype", spec.DTYPES)
@pytest.mark.parametrize("variant", list(spec.VARIANTS))
def test_init_ranges_and_dtype(dtype, variant):
    p = spec.init_params(0, dtype, variant)
    spec.check_params(p)
    for name, fan_in in spec.FAN_IN.items():
        bound = 2.4 / (fan_in if spec.VARIANTS[variant].init == "fan_in" else math.sqrt(fan_in))
        assert p[name].dtype == np.dtype(dtype)
        assert np.abs(p[name]).max() <= bound
        # a uniform draw of thousands of values comes close to both ends
        assert np.abs(p[name]).max() > 0.9 * bound
    for b in ("H1b", "H2b", "H3b"):
        assert not p[b].any()
    assert (p["outb"] == spec.VARIANTS[variant].outb_init).all()


def test_init_is_seeded_and_dtype_consistent():
    a, b, c = spec.init_params(1), spec.init_params(1), spec.init_params(2)
    assert all((a[k] == b[k]).all() for k in a)
    assert any((a[k] != c[k]).any() for k in spec.FAN_IN)
    f64 = spec.init_params(1, "float64")
    assert all((f64[k].astype(np.float32) == a[k]).all() for k in a)


def test_h2_connectivity_table():
    m = spec.h2_dense_mask()
    assert m.sum() == 12 * 8
    assert (m[0:4, 0:8] == 1).all() and (m[0:4, 8:] == 0).all()
    assert (m[4:8, 4:12] == 1).all() and (m[4:8, :4] == 0).all()
    assert (m[8:12, [0, 1, 2, 3, 8, 9, 10, 11]] == 1).all() and (m[8:12, 4:8] == 0).all()
    for (outs, ins) in spec.H2_GROUPS:
        for o in outs:
            assert spec.H2_INPUTS[o] == ins
    # Derived from H2_INPUTS: the paper's three groups of four planes, and a grouping of another table.
    assert spec.H2_GROUPS == (((0, 1, 2, 3), tuple(range(8))), ((4, 5, 6, 7), tuple(range(4, 12))),
                              ((8, 9, 10, 11), (0, 1, 2, 3, 8, 9, 10, 11)))
    assert spec._h2_groups([(0, 1), (0, 1), (2, 3), (0, 1)]) == (((0, 1), (0, 1)), ((2,), (2, 3)), ((3,), (0, 1)))
    w = spec.init_params(0)["H2w"]
    dense = spec.h2w_dense(w)
    assert dense[9, 8].tolist() == w[9, 4].tolist()  # plane 9's 5th input is H1 plane 8
    assert not dense[9, 5].any()


def test_check_params_rejects_wrong_shapes():
    p = spec.init_params(0)
    p["H3w"] = p["H3w"].T
    with pytest.raises(ValueError, match="H3w"):
        spec.check_params(p)


def test_lr_schedules():
    v89, mod = spec.VARIANTS["1989"], spec.VARIANTS["modern"]
    assert (v89.lr_schedule(100, 0, 100) == 0.03).all()
    lr = mod.lr_schedule(1000, 0, 1000)
    assert lr[0] == pytest.approx(3e-4) and lr[-1] == pytest.approx(1e-4)
    assert np.all(np.diff(lr) < 0)
    # a slice of the schedule is the same as the slice of the whole
    assert np.array_equal(mod.lr_schedule(1000, 200, 300), lr[200:300])
