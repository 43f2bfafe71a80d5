"""Two small promises the results rest on: each step's learning rate (spec.Variant.lr_schedule),
the same whether a pass is asked for whole or by its step range, for every optimiser; and the git
commit a result records (timing.git_commit: the HEAD, '+dirty' with tracked changes, None when git
cannot say, never waiting on git for ever)."""
from __future__ import annotations

import subprocess

import numpy as np
import pytest

from harness import timing
from harness.spec import LENET5_EPSILON, VARIANTS

N = 10  # steps a pass


def test_sdlm_steps_take_their_pass_eps_by_default_range():
    v = VARIANTS["1989-sdlm"]
    eps = [e for passes, e in LENET5_EPSILON for _ in range(passes)]
    for p in range(len(eps)):
        whole = v.lr_schedule(N * v.epochs, p * N, (p + 1) * N, per_pass=N)
        by_range = v.lr_schedule(N * v.epochs, p * N, (p + 1) * N)  # per_pass: stop - start
        np.testing.assert_array_equal(by_range, whole)
        assert (whole == eps[p] * v.optimizer.eps_scale).all(), p


def test_sgd_is_constant_and_adamw_decays_linearly_over_the_run():
    sgd = VARIANTS["1989"].lr_schedule(100, 30, 40)
    assert sgd.shape == (10,) and (sgd == VARIANTS["1989"].optimizer.lr).all()
    m = VARIANTS["modern"]
    o = m.optimizer
    lr = m.lr_schedule(11, 0, 11)
    assert lr[0] == pytest.approx(o.lr_start) and lr[-1] == pytest.approx(o.lr_end)
    np.testing.assert_allclose(np.diff(lr), (o.lr_end - o.lr_start) / 10)
    np.testing.assert_allclose(m.lr_schedule(11, 4, 7), lr[4:7])  # a window is the run's own steps


class _Done:
    def __init__(self, returncode, stdout):
        self.returncode, self.stdout = returncode, stdout


def _fake_git(monkeypatch, head=(0, "abc123\n"), status=(0, ""), raises=None):
    calls = []

    def run(cmd, **kw):
        calls.append((cmd, kw))
        if raises is not None:
            raise raises
        return _Done(*(head if "rev-parse" in cmd else status))

    monkeypatch.setattr(timing.subprocess, "run", run)
    return calls


def test_git_commit_is_head_and_says_dirty(monkeypatch):
    calls = _fake_git(monkeypatch)
    assert timing.git_commit() == "abc123"
    for cmd, kw in calls:  # output read, never an unbounded wait, a failure is not an exception
        assert kw.get("capture_output") is True and kw.get("text") is True and kw.get("check") is False
        assert kw.get("timeout") is not None and kw["timeout"] > 0
    assert [c[0][3:] for c in calls] == [["rev-parse", "HEAD"], ["status", "--porcelain", "--untracked-files=no"]]
    _fake_git(monkeypatch, status=(0, " M harness/x.py\n"))
    assert timing.git_commit() == "abc123+dirty"


@pytest.mark.parametrize("kw", [{"head": (128, "")}, {"raises": OSError("no git")},
                                {"raises": subprocess.TimeoutExpired("git", 5)}])
def test_git_commit_is_none_when_git_cannot_say(monkeypatch, kw):
    _fake_git(monkeypatch, **kw)
    assert timing.git_commit() is None


def test_git_commit_of_this_checkout():
    out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False,
                         cwd=timing.Path(timing.__file__).parent)
    if out.returncode != 0:
        pytest.skip("not a git checkout")
    got = timing.git_commit()
    assert got is not None and got.removesuffix("+dirty") == out.stdout.strip()


def test_the_shortest_runs_keep_the_schedule_ends():
    """AdamW over a run of one step takes lr_start; over two, lr_start then lr_end; every schedule
    is float64 and one value per step asked for, an empty range none."""
    m = VARIANTS["modern"]
    o = m.optimizer
    np.testing.assert_array_equal(m.lr_schedule(1, 0, 1), [o.lr_start])
    np.testing.assert_allclose(m.lr_schedule(2, 0, 2), [o.lr_start, o.lr_end], rtol=1e-15)
    for name in ("1989", "modern", "1989-sdlm"):
        v = VARIANTS[name]
        lr = v.lr_schedule(50, 7, 12, per_pass=10)
        assert lr.dtype == np.float64 and lr.shape == (5,), name
        assert v.lr_schedule(50, 7, 7).shape == (0,), name
    # SDLM's passes: steps 7-9 in the first pass of 10 steps, 10-11 in the second
    s = VARIANTS["1989-sdlm"]
    lr = s.lr_schedule(50, 7, 12, per_pass=10)
    first, second = (s.optimizer.epsilon_of_pass(p) for p in (0, 1))
    np.testing.assert_array_equal(lr, [first] * 3 + [second] * 2)
