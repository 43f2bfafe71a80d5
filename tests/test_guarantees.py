"""What the harness promises the unlucky and the hostile (docs/guarantees.md):
exclusive result names, nothing lost on a failed write, reports replaced together, values
escaped, one line and no traceback for bad input, SIGTERM like Ctrl-C, no silent widening."""
import errno
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import unquote

import pytest

from harness import results, tempfiles
from harness.cli import main
from tests.conftest import requires_torch
from tests.test_report import bench_result, run_result, write


@pytest.fixture
def stub_figures(monkeypatch):
    """Figures as stubs where a test is about files and markdown, not drawing: fast."""
    pytest.importorskip("matplotlib")
    from harness.report import figures as plots

    for name in ("learning_curves", "throughput", "gallery", "divergence"):
        monkeypatch.setattr(plots, name, lambda *a, **k: b"\x89PNG stub")


# ----------------------------------------------------------------------------- 1. exclusive names


def test_two_writers_claiming_one_name_at_one_moment_keep_both(tmp_path, monkeypatch):
    monkeypatch.setattr(results, "_timestamp", lambda: "20260101-000000")  # a fixed clock: same name
    barrier, paths = threading.Barrier(2), {}

    def writer(i):
        barrier.wait()
        paths[i] = results.write_result(tmp_path, {"kind": "run", "who": i}, "run-x", {".npz": f"params {i}".encode()})

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(p.name for p in paths.values()) == ["run-x-20260101-000000-2.json", "run-x-20260101-000000.json"]
    for i, p in paths.items():  # each result beside its own parameters
        assert json.loads(p.read_text())["who"] == i
        assert p.with_suffix(".npz").read_bytes() == f"params {i}".encode()
    assert len(list(tmp_path.iterdir())) == 4


def test_a_taken_name_is_never_overwritten(tmp_path, monkeypatch):
    monkeypatch.setattr(results, "_timestamp", lambda: "T")
    (tmp_path / "run-x-T.json").write_text("someone else's")
    (tmp_path / "run-x-T-2.npz").write_text("an orphan")  # the .npz name taken: the pair moves on
    p = results.write_result(tmp_path, {"kind": "run"}, "run-x", {".npz": b"mine"})
    assert p.name == "run-x-T-3.json" and p.with_suffix(".npz").read_bytes() == b"mine"
    assert (tmp_path / "run-x-T.json").read_text() == "someone else's"
    assert (tmp_path / "run-x-T-2.npz").read_text() == "an orphan"


def test_without_hard_links_the_name_is_claimed_with_o_excl(tmp_path, monkeypatch):
    def no_links(*a):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(results, "_timestamp", lambda: "T")
    monkeypatch.setattr(results.os, "link", no_links)
    a = results.write_result(tmp_path, {"kind": "run", "n": 1}, "run-x", {".npz": b"1"})
    b = results.write_result(tmp_path, {"kind": "run", "n": 2}, "run-x", {".npz": b"2"})
    assert (a.name, b.name) == ("run-x-T.json", "run-x-T-2.json")
    assert [json.loads(p.read_text())["n"] for p in (a, b)] == [1, 2] and b.with_suffix(".npz").read_bytes() == b"2"
    assert len(list(tmp_path.iterdir())) == 4


@pytest.mark.slow
def test_twenty_pairs_of_simultaneous_runs_leave_forty_results(tmp_path):
    pytest.importorskip("torch")
    cmd = [sys.executable, "-m", "harness.cli", "run", "--backend", "torch", "--dataset", "synthetic", "--epochs",
           "1", "--limit", "8", "--window", "4", "-q", "--results-dir", str(tmp_path)]
    for _ in range(20):
        procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
        outs = [p.communicate(timeout=300) for p in procs]
        assert [p.returncode for p in procs] == [0, 0], outs
        printed = [next(ln for ln in o.splitlines() if ln.startswith("result: ")) for o, _ in outs]
        assert printed[0] != printed[1]
    assert len(list(tmp_path.glob("*.json"))) == 40
    assert not [p for p in tmp_path.iterdir() if p.suffix != ".json"]


def test_concurrent_reports_take_turns(tmp_path, stub_figures):
    from harness.report import build_report
    from harness.report.publish import report_lock

    pytest.importorskip("matplotlib")
    write(tmp_path / "bench.json", bench_result())
    done = []
    with report_lock(tmp_path):
        t = threading.Thread(target=lambda: done.append(build_report(tmp_path)))
        t.start()
        time.sleep(1.0)
        assert t.is_alive() and not (tmp_path / "REPORT.md").exists()  # waits for the lock
    t.join(60)
    assert done and (tmp_path / "REPORT.md").is_file()


# ----------------------------------------------------------------------------- 2. nothing lost


def _enospc(*a, **k):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_failed_result_write_keeps_the_result_and_its_params_elsewhere(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr("tempfile.tempdir", None)
    out = tmp_path / "out"
    out.mkdir()
    real_link = os.link

    def link(src, dst):  # the .npz gets its name, the .json does not: the .npz must go again
        if str(dst).endswith(".json"):
            _enospc()
        real_link(src, dst)

    monkeypatch.setattr(results.os, "link", link)
    with pytest.raises(results.ResultWriteError) as ei:
        results.write_result(out, {"kind": "run", "x": 1}, "run-x", {".npz": b"params"})
    e = ei.value
    assert "No space left on device" in str(e) and str(e.fallback) in str(e)
    assert json.loads(e.fallback.read_text())["x"] == 1
    assert e.fallback.with_suffix(".npz").read_bytes() == b"params"
    assert not list(out.iterdir())  # neither half of the pair, no temporaries


def test_run_whose_write_fails_says_where_the_result_is_and_exits_1(tmp_path, monkeypatch, capsys):
    pytest.importorskip("torch")
    monkeypatch.setattr(results, "_publish", _enospc)
    code = main(["run", "--dataset", "synthetic", "--epochs", "1", "--limit", "16", "--window", "8", "-q",
                 "--save-params", "--results-dir", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and "Traceback" not in err[0]
    kept = err[0].split("kept in ")[1].split(" (with")[0]
    assert json.loads(Path(kept).read_text())["kind"] == "run" and os.path.exists(kept[:-5] + ".npz")
    assert not list((tmp_path / "r").glob("*.json"))


def test_with_no_place_at_all_the_result_is_printed(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(results, "_publish", _enospc)
    monkeypatch.setattr(results.tempfile, "mkdtemp", _enospc)
    from harness.cli import _write_failed

    with pytest.raises(results.ResultWriteError) as ei:
        results.write_result(tmp_path, {"kind": "run", "x": 7}, "run-x")
    assert _write_failed(ei.value) == 1
    cap = capsys.readouterr()
    assert json.loads(cap.out)["x"] == 7 and "printed below on stdout" in cap.err


# ----------------------------------------------------------------------------- 3. report writes


@pytest.fixture
def reported(tmp_path, stub_figures):
    pytest.importorskip("matplotlib")
    d = tmp_path / "results"
    d.mkdir()
    write(d / "bench.json", bench_result())
    write(d / "run.json", run_result(dataset="synthetic", missed={"indices": [], "predicted": [], "labels": []}))
    (d / "throughput.png").write_bytes(b"old figure")
    (d / "REPORT.md").write_text("old report")
    return d


def _unchanged(d):
    return (d / "throughput.png").read_bytes() == b"old figure" and (d / "REPORT.md").read_text() == "old report"


def test_report_md_being_a_directory_replaces_nothing(reported, capsys):
    (reported / "REPORT.md").unlink()
    (reported / "REPORT.md").mkdir()
    assert main(["report", "--results-dir", str(reported)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "could not write the report" in err[0] and "REPORT.md" in err[0]
    assert (reported / "throughput.png").read_bytes() == b"old figure"
    assert not [p for p in reported.iterdir() if p.name.startswith(".")]  # no staging left


def test_a_swap_failing_half_way_puts_the_old_files_back(reported, monkeypatch, capsys):
    real, calls = os.replace, []

    def replace(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            _enospc()
        real(src, dst)

    from harness.report import publish

    monkeypatch.setattr(publish.os, "replace", replace)
    assert main(["report", "--results-dir", str(reported)]) == 2
    assert "No space left on device" in capsys.readouterr().err
    assert _unchanged(reported) and sorted(p.name for p in reported.iterdir()) == \
        ["REPORT.md", "bench.json", "run.json", "throughput.png"]


def test_an_unwritable_results_dir_is_one_line(reported, monkeypatch, capsys):
    def denied(*a, **k):
        raise PermissionError(errno.EACCES, "Permission denied", str(reported))

    monkeypatch.setattr(tempfiles.tempfile, "mkdtemp", denied)
    assert main(["report", "--results-dir", str(reported)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Permission denied" in err[0] and _unchanged(reported)


# ----------------------------------------------------------------------------- 5. escaping

HOSTILE = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "[x](javascript:alert(1))",
           "*bold* _it_ `code` | pipe", "$\\frac{1", "&amp; &lt;"]


def test_every_value_from_a_file_is_escaped(tmp_path, stub_figures):
    pytest.importorskip("matplotlib")
    from harness.report import build_report

    r = run_result(HOSTILE[0], HOSTILE[1], HOSTILE[2], HOSTILE[3], dataset=HOSTILE[4],
                   missed={"indices": [], "predicted": [], "labels": []})
    r["environment"]["cpu_model"] = HOSTILE[1]
    r["environment"]["backend"] = {}
    write(tmp_path / "run-<img src=x onerror=alert(2)>.json", r)
    write(tmp_path / "[y](javascript:alert(3)).json", run_result(dtype=HOSTILE[5]))
    out = build_report(tmp_path)
    md = out.report.read_text()
    for ln in md.splitlines():
        assert "<" not in ln, ln
    assert "](javascript" not in md.replace("\\]", "") and "&amp;amp;" in md
    assert "&lt;script&gt;alert" in md and "\\[x\\]" in md and "\\*bold\\*" in md and "\\$\\\\frac" in md
    links = re.findall(r"(?<!\\)\]\(([^)]*)\)", md)  # real links: a ] that is not escaped
    assert len(links) >= 4 and all("/" not in t and ":" not in t and (tmp_path / unquote(t)).is_file()
                                   for t in links), links


# ----------------------------------------------------------------------------- 6. no traceback


@pytest.mark.parametrize("args, env, expect", [
    (["run", "--seed", "-1"], {}, "--seed"),
    (["run", "--seed", str(2 ** 40)], {}, "--seed"),
    (["run", "--threads", str(10 ** 12)], {}, "--threads"),
    (["run"], {"HARNESS_THREADS": "abc"}, "$HARNESS_THREADS='abc'"),
    (["run"], {"HARNESS_THREADS": "0"}, "$HARNESS_THREADS='0'"),
    (["parity"], {"HARNESS_THREADS": str(10 ** 30)}, "$HARNESS_THREADS"),
    (["run", "--results-dir", ""], {}, "--results-dir"),
    (["report", "--results-dir", ""], {}, "--results-dir"),
    (["bench", "--backends", ""], {}, "--backends"),
    (["bench", "--strategies", ","], {}, "--strategies"),
    (["parity", "--backends", "jax", "--reference", "torch"], {}, "--reference torch is not among --backends"),
])
def test_bad_input_is_one_line_exit_2(args, env, expect, monkeypatch, capsys, tmp_path):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert main(args + ["--dataset", "synthetic"] * (args[0] != "report")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expect in err[0], err


@requires_torch
def test_data_messages_say_where_the_directory_came_from(tmp_path, monkeypatch, capsys):
    from harness import data

    monkeypatch.delenv("HARNESS_DATA_DIR", raising=False)
    monkeypatch.setattr(data.paths, "default_data_dir", lambda: tmp_path / "cache")
    assert main(["run", "--results-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "(the default, a per-user cache" in err and "(from --data-dir)" not in err
    (tmp_path / "f").write_text("x")
    monkeypatch.setenv("HARNESS_DATA_DIR", str(tmp_path / "f"))
    assert main(["run", "--results-dir", str(tmp_path / "r")]) == 2
    assert "(from $HARNESS_DATA_DIR) is not a directory" in capsys.readouterr().err
    (tmp_path / "d" / "usps" / "usps.h5").mkdir(parents=True)
    assert main(["run", "--data-dir", str(tmp_path / "d"), "--results-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "usps.h5: is a directory" in err and "not found" not in err
    (tmp_path / "d" / "mnist" / "t10k-images-idx3-ubyte.gz").mkdir(parents=True)
    assert main(["run", "--dataset", "mnist", "--data-dir", str(tmp_path / "d"), "--results-dir", str(tmp_path)]) == 2
    assert "t10k-images-idx3-ubyte.gz: is a directory" in capsys.readouterr().err


def test_an_unreadable_data_file_is_named(tmp_path, monkeypatch, capsys):
    import builtins

    from harness import data

    h5 = tmp_path / "usps" / "usps.h5"
    h5.parent.mkdir()
    h5.write_bytes(b"whatever")
    real = builtins.open

    def guarded(f, *a, **k):  # tests run as root: chmod cannot make a file unreadable
        if str(f) == str(h5):
            raise PermissionError(errno.EACCES, "Permission denied", str(f))
        return real(f, *a, **k)

    monkeypatch.setattr(builtins, "open", guarded)
    with pytest.raises(data.DataError, match=r"usps\.h5: cannot be read \(Permission denied\)"):
        data.load_dataset("usps", tmp_path)


# ----------------------------------------------------------------------------- 7. SIGTERM, leftovers


def test_sigterm_during_a_pass_is_one_line_exit_143_and_leaves_nothing(tmp_path):
    pytest.importorskip("torch")
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "run", "--backend", "torch", "--dataset", "synthetic",
         "--epochs", "50", "--save-params", "--results-dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    line = proc.stdout.readline()
    while line and not line.startswith("pass 1/"):
        line = proc.stdout.readline()
    assert line, proc.stderr.read()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert err.strip().splitlines() == ["harness: error: terminated (SIGTERM); no result file was written"]
    assert not list(tmp_path.iterdir())


def test_sigterm_while_writing_removes_the_temporaries(tmp_path, monkeypatch):
    from harness.signals import Terminated, terminate_as_interrupt

    def term(*a):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(1)

    monkeypatch.setattr(results.os, "link", term)
    with terminate_as_interrupt(), pytest.raises(Terminated):
        results.write_result(tmp_path, {"kind": "run"}, "run-x", {".npz": b"p"})
    assert not list(tmp_path.iterdir())


def test_leftovers_of_dead_writers_go_live_ones_stay_and_none_is_read(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    dead_pid = int(dead.stdout)
    tag = tempfiles.host_tag()
    gone = tmp_path / f".run-x-1.json.{tag}-{dead_pid}-abc123.tmp"
    gone_dir = tmp_path / f".REPORT.{tag}-{dead_pid}-zz.tmp"
    live = tmp_path / f".run-y-1.json.{tag}-{os.getpid()}-def456.tmp"
    other_host = tmp_path / f".run-z-1.json.00000000-{dead_pid}-x.tmp"
    for p in (gone, live, other_host):
        p.write_text(json.dumps(run_result()))
    gone_dir.mkdir()
    (gone_dir / "REPORT.md").write_text("half")
    loaded, skipped = results.load_results(tmp_path)
    assert loaded == [] and skipped == []  # temporaries are never results
    results.ensure_writable(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, other_host.name])


# ----------------------------------------------------------------------------- 8. stated warnings


def test_compare_warns_when_runs_trained_on_different_numbers_of_examples(tmp_path, capsys):
    a = write(tmp_path / "a.json", run_result(n_train=7291))
    b = write(tmp_path / "b.json", run_result(n_train=500))
    assert main(["report", "--compare", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "warning: torch/eager/cpu float32 (1989): A trained on 7291 examples per pass, B on 500" in out


def test_names_that_slug_alike_get_a_figure_each(tmp_path, stub_figures):
    pytest.importorskip("matplotlib")
    from harness.report import build_report

    for i, v in enumerate(["1989!", "1989?"]):
        write(tmp_path / f"r{i}.json", run_result(variant=v, missed={"indices": [], "predicted": [], "labels": []}))
    out = build_report(tmp_path)
    assert sorted(p.name for p in out.figures if p.name.startswith("curves")) == ["curves-1989-2.png", "curves-1989.png"]
