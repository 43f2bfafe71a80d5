"""The core's refusals word for word (harness.sdlm, spec, threads, config, targets, files): each
names what is wrong, the value given and what would do; tests elsewhere matched a fragment of each.
And the small readers and makers those refusals guard: $HARNESS_THREADS's values, the temporaries
tempfiles makes (named so that a dead writer's are found and cleared)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness import sdlm, spec
from harness.config import ParityConfig, RunConfig, read_config
from harness.errors import ConfigError, DeviceUnavailable, UnknownStrategy
from harness.targets import (
    Matrix,
    choose_strategies,
    refuse_skipped_names,
    strategy_devices,
)


def _message(call, error=ValueError) -> str:
    with pytest.raises(error) as e:
        call()
    return str(e.value)


# -- SDLM ----------------------------------------------------------------------------------------------

def test_sdlm_refusals_whole():
    assert sdlm.unsupported("1989-sdlm", "compiled", "torch", ("eager", "fused")) == (
        "torch:compiled does not implement SDLM (variant 1989-sdlm: second-derivative pass, per-parameter "
        "steps); torch strategies that do: eager, fused")
    h = {k: np.full(s, 0.5) for k, s in spec.PARAM_SHAPES.items()}
    assert _message(lambda: sdlm.check_hessian({k: v for k, v in h.items() if k != "H2b"})) == \
        "hessian_diag returned no H2b"
    assert _message(lambda: sdlm.check_hessian({**h, "H3b": np.zeros(29)})) == \
        "hessian_diag's H3b has shape (29,), expected (30,)"
    bad = np.array([np.nan, np.inf, -1.0, -2.0, -3.0, *[0.5] * 25])
    assert _message(lambda: sdlm.check_hessian({**h, "H3b": bad})) == (
        "hessian_diag's H3b has 2 non-finite and 3 negative entries: a sum of squares is finite and >= 0")


def test_before_pass_names_what_a_session_lacks():
    class HalfSdlm:
        def hessian_diag(self, steps):
            raise AssertionError("not reached")

    class NoSdlm:
        pass

    v = spec.VARIANTS["1989-sdlm"]
    assert _message(lambda: sdlm.before_pass(HalfSdlm(), v, None, 0, 0, "float64"), TypeError) == (
        "HalfSdlm has no set_step_scale: its backend does not implement SDLM (variant 1989-sdlm); "
        "declare it in Backend.supports")
    assert _message(lambda: sdlm.before_pass(NoSdlm(), v, None, 0, 0, "float64"), TypeError).startswith(
        "NoSdlm has no hessian_diag / set_step_scale: ")


# -- parameters ----------------------------------------------------------------------------------------

def test_parameter_refusals_whole():
    assert _message(lambda: spec.init_params(0, "float16")) == \
        "dtype must be one of float32, float64, not 'float16'"
    p = spec.init_params(0)
    del p["H1b"]
    p["extra"] = np.zeros(1)
    assert _message(lambda: spec.check_params(p)) == "parameter names differ: missing ['H1b'], extra ['extra']"
    p = spec.init_params(0)
    p["H3w"] = p["H3w"].reshape(-1)
    assert _message(lambda: spec.check_params(p)) == f"H3w has shape (5760,), expected {spec.PARAM_SHAPES['H3w']}"


# -- $HARNESS_THREADS ------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, shown", [("0", "0"), ("many", "many"), ("2.5", "2.5"), ("7" * 50, "7" * 40)])
def test_threads_refusal_whole(monkeypatch, raw, shown):
    """The value as given, its first 40 characters at most."""
    from harness.threads import ENV, MAX_THREADS, threads_from_env

    monkeypatch.setenv(ENV, raw)
    from harness.threads import ThreadsError

    assert _message(threads_from_env, ThreadsError) == (
        f"$HARNESS_THREADS={shown!r} is not a number of threads: use a whole number from 1 to {MAX_THREADS}, "
        "or unset it for the framework's own choice")


# -- configurations ----------------------------------------------------------------------------------------

def test_configuration_refusals_whole():
    with pytest.raises(ConfigError) as e:
        ParityConfig(backends=("jax",), reference="torch:eager")
    assert str(e.value) == "--reference torch:eager is not among --backends jax; add its backend there, or leave " \
                           "--reference out"
    assert _message(lambda: RunConfig.from_result({"kind": "run"})) == \
        "run result without a readable configuration (KeyError: 'backend')"
    assert _message(lambda: read_config({"kind": "sweep"})) == "no configuration in a result of kind 'sweep'"
    assert _message(lambda: read_config(["not", "a", "result"])) == "no configuration in a result of kind None"


# -- choosing targets ----------------------------------------------------------------------------------------

class _B:
    def __init__(self, name, strategies, devices=("cpu",)):
        self.name, self.strategies, self.devices = name, strategies, devices

    def strategy_devices(self, strategy):
        if self.devices is None:
            raise RuntimeError("no driver")
        return list(self.devices)


def test_target_notes_whole():
    notes = []
    pairs = choose_strategies([_B("aa", ("x", "y")), _B("bb", ("z",))], ["x", "aa:y"], notes)
    assert [(b.name, s) for b, s in pairs] == [("aa", "x"), ("aa", "y")]
    assert notes == ["backend bb skipped: none of the strategies asked for (x, aa:y); it has z"]
    assert strategy_devices(_B("cc", ("x",), None), "x").startswith("strategy_devices() raised RuntimeError: "
                                                                   "no driver (at ")


def test_a_named_target_that_runs_nowhere_is_refused_whole():
    with pytest.raises(UnknownStrategy) as e:
        refuse_skipped_names(Matrix(), ["aa"], None, [])
    assert str(e.value) == "backend aa was asked for but nothing of it can run: nothing of it was selected"
    with pytest.raises(UnknownStrategy) as e:
        refuse_skipped_names(Matrix(), None, ["warp"], [])
    assert str(e.value) == "strategy warp was asked for but runs nowhere: no backend has it"
    with pytest.raises(DeviceUnavailable) as e:
        refuse_skipped_names(Matrix(notes=["aa:warp skipped: cannot reach device 'tpu' here (reaches: cpu)"]),
                             None, ["aa:warp"], [])
    assert str(e.value) == ("aa:warp was asked for but cannot run: aa:warp skipped: cannot reach device 'tpu' "
                            "here (reaches: cpu)")


# -- bounded reads (harness.files) ----------------------------------------------------------------------------

def test_bounded_read_refusals_whole(tmp_path, monkeypatch):
    import os

    from harness import files

    monkeypatch.delenv(files.LIMIT_ENV, raising=False)
    assert _message(lambda: files.read_bounded(tmp_path, what="a grid file"), files.FileRefused) == \
        "is a directory, not a regular file; a grid file must be a regular file"
    big = tmp_path / "big.json"
    big.write_bytes(b"x" * (files.MIB * 3 // 2))
    assert _message(lambda: files.read_bounded(big, limit=files.MIB), files.FileRefused) == (
        "is 1.5 MiB, more than the 1 MiB a result file may be ($HARNESS_MAX_FILE_MB raises the bound)")
    # a file that passes both looks at its size and then reads longer: it grew while being read
    real_stat, real_fstat = os.stat, os.fstat

    def small(st):
        st = list(st)
        st[6] = 10  # st_size
        return os.stat_result(st)

    monkeypatch.setattr(files.os, "stat", lambda p, *a, **kw: small(real_stat(p, *a, **kw)) if p == big
                        else real_stat(p, *a, **kw))
    monkeypatch.setattr(files.os, "fstat", lambda fd: small(real_fstat(fd)))
    assert _message(lambda: files.read_bounded(big, limit=files.MIB // 2), files.FileRefused) == \
        "grew past the 0.5 MiB a result file may be while being read"


@pytest.mark.parametrize("raw, n", [(None, None), ("", None), ("  ", None), ("1", 1), (" 4 ", 4), ("4096", 4096)])
def test_threads_from_env_reads_a_whole_number_or_nothing(monkeypatch, raw, n):
    from harness.threads import ENV, MAX_THREADS, threads_from_env

    assert MAX_THREADS == 4096  # the bound the help and docs name
    if raw is None:
        monkeypatch.delenv(ENV, raising=False)
    else:
        monkeypatch.setenv(ENV, raw)
    assert threads_from_env() == n


@pytest.mark.parametrize("raw", ["4097", "-1", "1e3"])
def test_threads_from_env_refuses_out_of_bounds(monkeypatch, raw):
    from harness.threads import ENV, ThreadsError, threads_from_env

    monkeypatch.setenv(ENV, raw)
    with pytest.raises(ThreadsError):
        threads_from_env()


# -- temporaries (harness.tempfiles) -----------------------------------------------------------------------------

def test_a_temporary_made_here_is_known_as_this_writers_and_cleared_once_it_is_gone(tmp_path, monkeypatch):
    import os

    from harness import tempfiles

    fd, f = tempfiles.mkstemp(tmp_path, "run-x.json")
    os.close(fd)
    d = tempfiles.mkdtemp(tmp_path, "REPORT")
    for p, final in ((Path(f), "run-x.json"), (d, "REPORT")):
        assert p.parent == tmp_path and p.name.startswith(f".{final}.{tempfiles.host_tag()}-{os.getpid()}-")
        assert p.name.endswith(".tmp") and not tempfiles.stale(p)  # its writer (this process) is alive
    assert d.is_dir() and Path(f).is_file()
    monkeypatch.setattr(tempfiles, "writer_alive", lambda pid: pid != os.getpid())
    assert sorted(tempfiles.remove_stale(tmp_path)) == sorted([Path(f), d])
    assert not list(tmp_path.iterdir())


def test_bounded_read_growth_is_summed_over_chunks(tmp_path, monkeypatch):
    """A file read in several 1 MiB chunks that passes the size look and then reads longer: the
    chunks' total, not the last chunk alone, is held against the bound."""
    import os

    from harness import files

    monkeypatch.delenv(files.LIMIT_ENV, raising=False)
    big = tmp_path / "big.json"
    big.write_bytes(b"x" * (files.MIB * 3 // 2))  # read as 1 MiB + 0.5 MiB: neither chunk alone > 1 MiB
    real_stat, real_fstat = os.stat, os.fstat

    def small(st):
        st = list(st)
        st[6] = 10  # st_size
        return os.stat_result(st)

    monkeypatch.setattr(files.os, "stat", lambda p, *a, **kw: small(real_stat(p, *a, **kw)))
    monkeypatch.setattr(files.os, "fstat", lambda fd: small(real_fstat(fd)))
    assert _message(lambda: files.read_bounded(big, limit=files.MIB), files.FileRefused) == \
        "grew past the 1 MiB a result file may be while being read"
    assert files.read_bounded(big, limit=2 * files.MIB) == b"x" * (files.MIB * 3 // 2)


def test_bounded_read_opens_a_swapped_in_fifo_without_waiting(tmp_path, monkeypatch):
    """A FIFO put in place after the first look (stat said: a regular file) is opened non-blocking
    and refused on its descriptor; a blocking open would wait for a writer forever."""
    import os
    import threading

    from harness import files

    fifo = tmp_path / "result.json"
    os.mkfifo(fifo)
    real_stat = os.stat
    regular = os.stat_result((0o100644, *list(real_stat(tmp_path))[1:6], 10, *list(real_stat(tmp_path))[7:10]))
    monkeypatch.setattr(files.os, "stat", lambda p, *a, **kw: regular if Path(p) == fifo else real_stat(p, *a, **kw))
    out = []

    def read():
        try:
            files.read_bounded(fifo)
        except files.FileRefused as e:
            out.append(str(e))

    t = threading.Thread(target=read, daemon=True)
    t.start()
    t.join(10)
    hung = t.is_alive()
    if hung:  # let the blocked open go (a writer comes), so that no thread is left behind
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        t.join(10)
    assert not hung, "read_bounded waited for a writer on a FIFO"
    assert out == ["is a FIFO, not a regular file; a result file must be a regular file"]


def test_each_kind_of_file_that_is_not_regular_is_named():
    import stat

    from harness import files

    assert [files._kind(m) for m in (stat.S_IFIFO, stat.S_IFCHR, stat.S_IFBLK, stat.S_IFSOCK, stat.S_IFDIR,
                                     stat.S_IFLNK)] == ["a FIFO", "a character device", "a block device", "a socket",
                                                        "a directory", "not a regular file"]


def test_a_file_that_grew_between_the_look_and_the_open_is_refused_by_its_size(tmp_path, monkeypatch):
    """stat said small, the file opened is large: the open descriptor's size refuses it, before reading."""
    import os

    from harness import files

    monkeypatch.delenv(files.LIMIT_ENV, raising=False)
    big = tmp_path / "big.json"
    big.write_bytes(b"x" * (files.MIB * 3 // 2))
    real_stat = os.stat

    def small(p, *a, **kw):
        st = list(real_stat(p, *a, **kw))
        st[6] = 10
        return os.stat_result(st)

    monkeypatch.setattr(files.os, "stat", small)
    assert _message(lambda: files.read_bounded(big, limit=files.MIB), files.FileRefused) == (
        "is 1.5 MiB, more than the 1 MiB a result file may be ($HARNESS_MAX_FILE_MB raises the bound)")
