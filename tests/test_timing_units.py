"""harness.timing's small functions, each figure with one right value: the summary of per-example
times, the load warning at its boundary, the load average and co-tenant count when the OS or the
environment cannot say, what environment() records; and `harness run`'s timing lines."""
from __future__ import annotations

import importlib

import pytest

from harness import timing

run_cli = importlib.import_module("harness.cli.run")  # `harness.cli.run` the attribute is the command


def test_summarize_figures():
    s = timing.summarize([40.0, 10.0, 30.0, 20.0, 50.0])
    assert s == {"median": 30.0, "p25": 20.0, "p75": 40.0, "min": 10.0, "max": 50.0, "n": 5}
    assert all(type(v) is float for k, v in s.items() if k != "n") and type(s["n"]) is int
    assert timing.summarize([]) == {"median": None, "p25": None, "p75": None, "min": None, "max": None, "n": 0}


def test_busy_warning_only_above_the_cores(monkeypatch):
    monkeypatch.setattr(timing, "usable_cores", lambda: 2)
    monkeypatch.setattr(timing.os, "getloadavg", lambda: (2.0, 9.0, 9.0))
    assert timing.busy_warning() is None  # exactly the cores: not busier than them
    monkeypatch.setattr(timing.os, "getloadavg", lambda: (2.01, 0.0, 0.0))
    assert timing.busy_warning() == ("warning: load average 2.01 exceeds this machine's 2 cores: other processes "
                                     "compete with this run, so its timing is pessimistic")
    monkeypatch.setattr(timing, "load_average", lambda: None)
    assert timing.busy_warning() is None


def test_load_average_rounded_or_none(monkeypatch):
    monkeypatch.setattr(timing.os, "getloadavg", lambda: (1.23456, 0.5, 2.999))
    assert timing.load_average() == [1.23, 0.5, 3.0]

    def no():
        raise OSError("unavailable")

    monkeypatch.setattr(timing.os, "getloadavg", no)
    assert timing.load_average() is None


@pytest.mark.parametrize("value, out", [("2", 2), ("0", 0), ("x", None), ("", None), (None, None)])
def test_cotenants(monkeypatch, value, out):
    if value is None:
        monkeypatch.delenv("HARNESS_COTENANTS", raising=False)
    else:
        monkeypatch.setenv("HARNESS_COTENANTS", value)
    assert timing.cotenants() == out


def test_usable_cores_is_the_affinity(monkeypatch):
    monkeypatch.setattr(timing.os, "sched_getaffinity", lambda pid: {0, 3, 5}, raising=False)
    assert timing.usable_cores() == 3
    monkeypatch.delattr(timing.os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(timing.os, "cpu_count", lambda: 7)
    assert timing.usable_cores() == 7


def test_environment_records_only_the_thread_variables(monkeypatch):
    for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "XLA_FLAGS", "CUDA_VISIBLE_DEVICES"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    monkeypatch.setenv("XLA_FLAGS", "--x")
    monkeypatch.setenv("UNRELATED", "1")
    monkeypatch.setattr(timing, "git_commit", lambda: "c0ffee")
    monkeypatch.setattr(timing, "cpu_model", lambda: "Test CPU")
    env = timing.environment()
    assert env["env_threads"] == {"OMP_NUM_THREADS": "2", "XLA_FLAGS": "--x"}
    assert env["git_commit"] == "c0ffee" and env["cpu_model"] == "Test CPU"
    assert env["cpu_count"] == timing.os.cpu_count() and isinstance(env["cpu_affinity"], int)
    assert env["numpy"] == timing.np.__version__ and env["python"] == timing.sys.version.split()[0]


def test_cpu_model_reads_the_model_name(monkeypatch, tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Fancy CPU @ 3GHz\nflags\t: x\n")
    real = timing.Path
    monkeypatch.setattr(timing, "Path", lambda p: info if p == "/proc/cpuinfo" else real(p))
    assert timing.cpu_model() == "Fancy CPU @ 3GHz"
    monkeypatch.setattr(timing, "Path", lambda p: tmp_path / "missing")
    monkeypatch.setattr(timing.platform, "processor", lambda: "")
    monkeypatch.setattr(timing.platform, "machine", lambda: "x86_64")
    assert timing.cpu_model() == "x86_64"


def _timing(**kw):
    t = {"us_per_example_stats": {"median": 123.45, "p25": 100.04, "p75": 150.06, "n": 9},
         "us_per_example_mean": 130.26, "examples_per_s": 8100.4, "train_s_total": 12.34, "compile_s_estimate": 2.26,
         "eval_s_total": 0.56}
    return {**t, **kw}


def test_run_says_its_timing(capsys):
    run_cli._say_timing(_timing(), 256)
    assert capsys.readouterr().out.splitlines() == [
        ("us_per_example: median 123.5 (p25 100.0, p75 150.1, 9 windows of up to 256 examples); mean 130.3 over "
         "those windows; 8100 examples/s"),
        "train time 12.3 s (warm-up/compile ~2.3 s), eval time 0.6 s"]
    run_cli._say_timing(_timing(us_per_example_stats={"median": None}, compile_s_estimate=None), 64)
    assert capsys.readouterr().out.splitlines() == [
        "us_per_example: no steady-state window (run longer or use a smaller --window)",
        "train time 12.3 s (warm-up/compile ~0.0 s), eval time 0.6 s"]
