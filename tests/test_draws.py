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
