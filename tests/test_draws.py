import numpy as np

from harness import draws
from harness.spec import VARIANTS


def test_roll_matches_numpy_roll():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((20, 1, 16, 16))
    shifts = rng.integers(-1, 2, size=(20, 2))
    rolled = draws.roll_images(x, shifts)
    for i in range(20):
        assert np.array_equal(rolled[i], np.roll(x[i], tuple(shifts[i]), axis=(1, 2)))


def test_same_seed_same_draws_other_seed_other_draws():
    v = VARIANTS["modern"]
    a = draws.draw_pass(v, 300, seed=5, epoch=0, dtype="float32")
    b = draws.draw_pass(v, 300, seed=5, epoch=0, dtype="float32")
    c = draws.draw_pass(v, 300, seed=6, epoch=0, dtype="float32")
    d = draws.draw_pass(v, 300, seed=5, epoch=1, dtype="float32")
    for k in ("shifts", "mask"):
        assert np.array_equal(a[k], b[k])
        assert not np.array_equal(a[k], c[k])
        assert not np.array_equal(a[k], d[k])


def test_mask_is_inverted_dropout():
    v = VARIANTS["modern"]
    m = draws.draw_pass(v, 2000, seed=1, epoch=0, dtype="float64")["mask"]
    assert set(np.unique(m)) == {0.0, 1 / 0.75}
    assert abs((m == 0).mean() - 0.25) < 0.01


def test_1989_has_no_draws():
    assert draws.draw_pass(VARIANTS["1989"], 10, 0, 0, "float32") == {}


def test_pass_steps_feeds_the_rolled_limited_pass_with_its_schedule():
    from harness.data import load_dataset

    data = load_dataset("synthetic", None, dtype="float64", seed=3)
    v = VARIANTS["modern"]
    n_epochs, limit = 4, 40
    s = draws.pass_steps(v, data, seed=9, epoch=2, n_epochs=n_epochs, dtype="float32", limit=limit)
    d = draws.draw_pass(v, limit, seed=9, epoch=2, dtype="float32")
    assert len(s) == limit and s.x.dtype == np.float32 and s.x.flags.c_contiguous
    assert np.array_equal(s.x, draws.roll_images(data.train_x[:limit], d["shifts"]).astype(np.float32))
    assert np.array_equal(s.labels, data.train_labels[:limit]) and s.labels.dtype == np.int64
    assert np.array_equal(s.targets.argmax(axis=1), s.labels) and set(np.unique(s.targets)) == {-1.0, 1.0}
    assert np.array_equal(s.mask, d["mask"])
    # the learning rates of steps 80..119 of a 160-step run, decayed linearly 3e-4 -> 1e-4
    assert np.allclose(s.lr, v.lr_schedule(limit * n_epochs, 2 * limit, 3 * limit))
    assert s.lr[0] > s.lr[-1] and np.all(np.diff(s.lr) < 0)
    s1989 = draws.pass_steps(VARIANTS["1989"], data, seed=9, epoch=0, n_epochs=1, dtype="float64")
    assert s1989.mask is None and np.array_equal(s1989.x, data.train_x) and np.all(s1989.lr == 0.03)


def test_nonzero_params_draw_every_bias_from_u_half_a_stream_of_their_seed():
    """The forward check's second point: the weights are init_params's, each bias U(-0.5, 0.5) from
    a stream of the seed's own (the same seed, the same parameters: a parity result reproduces)."""
    from harness.spec import FAN_IN, PARAM_NAMES

    a, again, other = draws.nonzero_params(5), draws.nonzero_params(5), draws.nonzero_params(6)
    init = draws.init_params(5, "float32", "1989")
    biases = [n for n in PARAM_NAMES if n not in FAN_IN]
    assert biases and all(n in FAN_IN for n in PARAM_NAMES if n.endswith("w"))
    for n in PARAM_NAMES:
        np.testing.assert_array_equal(a[n], again[n])
        if n in FAN_IN:
            np.testing.assert_array_equal(a[n], init[n])
    drawn = np.concatenate([a[n].ravel() for n in biases])
    assert drawn.dtype == np.float32 and drawn.min() >= -0.5 and drawn.max() < 0.5
    assert drawn.min() < -0.45 and drawn.max() > 0.45 and abs(drawn.mean()) < 0.05  # the whole interval, centred
    assert all(not np.array_equal(a[n], other[n]) for n in biases)
    rng = np.random.default_rng([5, 1989])
    np.testing.assert_array_equal(a[biases[0]], rng.uniform(-0.5, 0.5, size=a[biases[0]].shape).astype(np.float32))
