"""Fetching data sets (harness.data.fetch, registry, `harness data`): always from a local HTTP server
on 127.0.0.1, never the internet.

A test registry of generated files stands in for the public sources; $HARNESS_DATA_MIRROR points
at the same server. conftest sets $HARNESS_DATA_OFFLINE, so a test that wants the registry's
"public" URLs tried unsets it (they are 127.0.0.1 URLs here too).
"""

import hashlib
import http.server
import json
import os
import signal
import subprocess
import threading
import time
import typing
from pathlib import Path

import numpy as np
import pytest

from harness import data
from harness.cli import main
from harness.data import fetch, registry
from harness.data.registry import DataFile, Source
from harness.schema import validate_result
from tests.children import interruptible
from tests.conftest import DATA_DIR, REPO

USPS_H5 = DATA_DIR / "usps" / "usps.h5"
needs_usps = pytest.mark.skipif(not USPS_H5.is_file(), reason=f"real USPS data not found at {USPS_H5}")


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves `routes`: path -> bytes (200), an int (that status), ("truncate", bytes) (a
    Content-Length for all of it, half the body, then the connection closes) or ("hang", bytes)
    (half the body, then waits until the server stops)."""

    routes: typing.ClassVar[dict] = {}
    log: typing.ClassVar[list] = []
    stop = threading.Event()

    def do_GET(self):
        self.log.append(self.path)
        route = self.routes.get(self.path, 404)
        if isinstance(route, int):
            self.send_error(route)
            return
        mode, body = route if isinstance(route, tuple) else ("ok", route)
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body if mode == "ok" else body[: len(body) // 2])
        self.wfile.flush()
        if mode == "hang":
            self.stop.wait(30)
        self.close_connection = True

    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture
def server():
    """(base URL, routes, request log) of a server on 127.0.0.1, stopped after the test."""
    handler = type("H", (_Handler,), {"routes": {}, "log": [], "stop": threading.Event()})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}", handler.routes, handler.log
    handler.stop.set()
    httpd.shutdown()
    httpd.server_close()


def _sha256(b: bytes) -> str:
    return "sha256:" + hashlib.sha256(b).hexdigest()


A, B, C = b"alpha " * 5000, b"bravo " * 7000, b"charlie " * 3000


@pytest.fixture
def toy(server, monkeypatch):
    """A data set 'toy' with two sources: 'first' (a.bin from two URLs) and 'second' (b.bin + c.bin)."""
    base, routes, log = server
    monkeypatch.delenv(fetch.ENV_OFFLINE, raising=False)
    monkeypatch.delenv(fetch.ENV_MIRROR, raising=False)
    reg = {"toy": (
        Source("first", "a one-file source", (DataFile("toy/a.bin", _sha256(A), (f"{base}/one/a.bin", f"{base}/two/a.bin")),)),
        Source("second", "a two-file source", (DataFile("toy/b.bin", _sha256(B), (f"{base}/pub/b.bin",)),
                                              DataFile("toy/c.bin", _sha256(C), (f"{base}/pub/c.bin",)))),
    )}
    monkeypatch.setattr(registry, "REGISTRY", reg)
    return base, routes, log


def _left(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def test_fetch_success_verifies_and_names_the_url(toy, tmp_path):
    base, routes, log = toy
    routes["/one/a.bin"] = A
    src, fetched, tried = fetch.ensure("toy", tmp_path, quiet=True)
    assert src.key == "first" and tried == []
    assert fetched == [{"path": "toy/a.bin", "url": f"{base}/one/a.bin"}]
    assert (tmp_path / "toy" / "a.bin").read_bytes() == A and _left(tmp_path) == ["toy", "toy/a.bin"]
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "toy" / "a.bin").stat().st_mode & 0o777 == 0o666 & ~mask  # not pooch's private 0600
    fetch.ensure("toy", tmp_path, quiet=True)  # present now: nothing is requested again
    assert log == ["/one/a.bin"]


def test_wrong_hash_is_refused_and_nothing_is_left(toy, tmp_path):
    base, routes, _log = toy
    routes["/one/a.bin"] = A[:-1] + b"X"  # one byte differs
    src, fetched, tried = fetch.ensure("toy", tmp_path, quiet=True)
    assert src is None and fetched == []
    assert tried[0][0] == f"{base}/one/a.bin" and "wrong SHA256" in tried[0][1] and "refused and removed" in tried[0][1]
    assert _left(tmp_path) == []  # no file under its real name, no temporary file, no empty folder


def test_truncated_body_is_refused_and_nothing_is_left(toy, tmp_path):
    base, routes, _log = toy
    routes["/one/a.bin"] = ("truncate", A)
    src, _, tried = fetch.ensure("toy", tmp_path, quiet=True)
    assert src is None and tried[0][0] == f"{base}/one/a.bin"
    assert "truncated" in tried[0][1] or "wrong SHA256" in tried[0][1]
    assert _left(tmp_path) == []


def test_404_then_the_next_url_then_the_next_source(toy, tmp_path):
    base, routes, _log = toy
    routes["/two/a.bin"] = A  # the first URL of a.bin is a 404
    src, fetched, tried = fetch.ensure("toy", tmp_path, quiet=True)
    assert src.key == "first" and tried == [(f"{base}/one/a.bin", "HTTP 404")]
    assert fetched == [{"path": "toy/a.bin", "url": f"{base}/two/a.bin"}]
    # a second directory where source 'first' fails everywhere: source 'second' is fetched whole
    del routes["/two/a.bin"]
    routes.update({"/pub/b.bin": B, "/pub/c.bin": C})
    other = tmp_path / "other"
    src, fetched, tried = fetch.ensure("toy", other, quiet=True)
    assert src.key == "second" and [t[1] for t in tried] == ["HTTP 404", "HTTP 404"]
    assert [f["url"] for f in fetched] == [f"{base}/pub/b.bin", f"{base}/pub/c.bin"]
    assert _left(other) == ["toy", "toy/b.bin", "toy/c.bin"]


def test_the_mirror_is_tried_first(toy, tmp_path, monkeypatch):
    base, routes, log = toy
    monkeypatch.setenv(fetch.ENV_MIRROR, f"{base}/mirror/")
    routes.update({"/mirror/toy/a.bin": A, "/one/a.bin": A})
    _, fetched, _ = fetch.ensure("toy", tmp_path, quiet=True)
    assert fetched == [{"path": "toy/a.bin", "url": f"{base}/mirror/toy/a.bin"}] and log == ["/mirror/toy/a.bin"]
    # a mirror without the file: the public sources next
    del routes["/mirror/toy/a.bin"]
    _src, fetched, tried = fetch.ensure("toy", tmp_path / "again", quiet=True)
    assert tried == [(f"{base}/mirror/toy/a.bin", "HTTP 404")] and fetched[0]["url"] == f"{base}/one/a.bin"


def test_offline_contacts_only_the_mirror(toy, tmp_path, monkeypatch):
    base, routes, log = toy
    routes["/one/a.bin"] = A
    monkeypatch.setenv(fetch.ENV_OFFLINE, "1")
    src, _, tried = fetch.ensure("toy", tmp_path, quiet=True)
    assert src is None and tried == [] and log == []
    assert "nothing to try" in fetch.tried_text(tried, True) and fetch.ENV_OFFLINE in fetch.tried_text(tried, True)
    monkeypatch.setenv(fetch.ENV_MIRROR, f"{base}/m")  # the mirror is still used
    routes["/m/toy/a.bin"] = A
    assert fetch.ensure("toy", tmp_path, quiet=True)[0].key == "first"


@pytest.mark.parametrize("value", ["ftp-less", "file:///data", "127.0.0.1:8000/x"])
def test_a_mirror_that_is_not_an_http_url_is_one_line_exit_2(value, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(fetch.ENV_MIRROR, value)
    assert main(["data", "fetch", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "$HARNESS_DATA_MIRROR" in err[0] and "http" in err[0]


def test_interrupted_download_leaves_nothing(toy, tmp_path):
    """Ctrl-C while the body is half-way: exit 130, no file under any name, no empty folder."""
    base, routes, _log = toy
    routes["/mirror/usps/usps.h5"] = ("hang", os.urandom(1 << 20))
    env = {**os.environ, fetch.ENV_MIRROR: f"{base}/mirror", fetch.ENV_OFFLINE: "1"}
    proc = interruptible(["data", "fetch", "--data-dir", str(tmp_path)],
                         env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not [p for p in (tmp_path / "usps").glob("*") if p.stat().st_size > 0]:  # pooch's temporary file, filling
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert _left(tmp_path) == []


# ------------------------------------------------------------------ the real registry, via a mirror


@pytest.fixture
def mirror(server, monkeypatch):
    """The server as $HARNESS_DATA_MIRROR, serving the real data directory's files (public sources off)."""
    base, routes, log = server
    for p in DATA_DIR.rglob("*"):
        if p.is_file():
            routes["/" + p.relative_to(DATA_DIR).as_posix()] = p.read_bytes()
    monkeypatch.setenv(fetch.ENV_MIRROR, base)
    return base, routes, log


@needs_usps
def test_load_usps_fetches_from_the_mirror_and_records_it(mirror, tmp_path, usps):
    base, _routes, log = mirror
    ds = data.load_dataset("usps", tmp_path, quiet=True)
    assert log == ["/usps/usps.h5"] and (tmp_path / "usps" / "usps.h5").read_bytes() == USPS_H5.read_bytes()
    origin = ds.source["origin"]
    assert origin["source"] == "usps.h5" and origin["fetched"] == [{"path": "usps/usps.h5", "url": f"{base}/usps/usps.h5"}]
    np.testing.assert_array_equal(ds.train_x, usps.train_x)
    np.testing.assert_array_equal(ds.test_labels, usps.test_labels)
    assert data.load_dataset("usps", tmp_path).source["origin"]["fetched"] == []  # already here


@needs_usps
def test_data_fetch_then_run_on_a_machine_with_no_data(mirror, tmp_path, monkeypatch, capsys):
    """`harness data fetch` into the (empty) per-user cache from the mirror; a run then trains on it."""
    pytest.importorskip("torch")
    base, routes, _log = mirror
    cache = tmp_path / "cache" / "data"
    monkeypatch.delenv("HARNESS_DATA_DIR", raising=False)
    monkeypatch.setattr(data.paths, "default_data_dir", lambda: cache)
    assert main(["data", "fetch", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert f"usps/usps.h5  sha256 {data.USPS_SHA256['usps.h5']} verified, fetched from {base}/usps/usps.h5" in out
    routes.clear()  # the run must not need the server
    assert main(["run", "--epochs", "1", "--limit", "64", "--quiet", "--results-dir", str(tmp_path / "r")]) == 0
    result = json.loads(next((tmp_path / "r").glob("*.json")).read_text())
    assert result["dataset_source"]["origin"]["source"] == "usps.h5"
    assert result["dataset_source"]["data_dir"] == str(cache.resolve())
    assert validate_result(result) is None  # the schema's addition: dataset_source.origin
    result["dataset_source"]["origin"]["fetched"] = [{"path": "usps/usps.h5"}]  # no url
    assert validate_result(result) is not None


@needs_usps
@pytest.mark.parametrize("quiet", [True, False])
def test_run_fetching_on_first_use_is_silent_only_when_quiet(quiet, mirror, tmp_path, monkeypatch, capsys):
    """`run` fetches missing data itself; --quiet silences the fetch's lines as it does the pass lines."""
    pytest.importorskip("torch")
    base = mirror[0]
    (tmp_path / "data").mkdir()  # an empty data directory: the run fetches usps into it
    monkeypatch.setenv("HARNESS_DATA_DIR", str(tmp_path / "data"))
    argv = ["run", "--epochs", "1", "--limit", "16", "--results-dir", str(tmp_path / "r")]
    assert main(argv + (["--quiet"] if quiet else [])) == 0
    err = capsys.readouterr().err
    assert (tmp_path / "data" / "usps" / "usps.h5").is_file()
    assert (f"{base}/usps/usps.h5" in err) is not quiet, err


@needs_usps
def test_a_mirror_serving_wrong_bytes_is_refused_in_one_line(mirror, tmp_path, capsys):
    base, routes, _log = mirror
    bad = bytearray(routes["/usps/usps.h5"])
    bad[len(bad) // 2] ^= 0xFF
    routes["/usps/usps.h5"] = bytes(bad)
    target = tmp_path / "d"
    assert main(["data", "fetch", "--quiet", "--data-dir", str(target)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert f"{base}/usps/usps.h5 (wrong SHA256" in err[0] and "refused and removed" in err[0]
    assert "put usps/usps.h5, or usps/zip.train.gz + usps/zip.test.gz" in err[0]
    assert _left(target) == []


@needs_usps
def test_data_list_says_where_whether_verified_and_where_from(mirror, tmp_path, capsys, monkeypatch):
    base, _routes, log = mirror
    monkeypatch.delenv(fetch.ENV_OFFLINE)  # list the public sources too (listing contacts none)
    (tmp_path / "usps").mkdir()
    (tmp_path / "usps" / "usps.h5").write_bytes(USPS_H5.read_bytes())
    assert main(["data", "list", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"data directory: {tmp_path}" in out and f"mirror ($HARNESS_DATA_MIRROR): {base}/" in out
    assert "usps: here: the usps.h5 source, verified" in out and "mnist: missing" in out
    assert f"from: {base}/usps/zip.train.gz, https://hastie.su.domains/ElemStatLearn/datasets/zip.train.gz" in out
    (tmp_path / "usps" / "usps.h5").write_bytes(b"not it")
    assert main(["data", "list", "--data-dir", str(tmp_path)]) == 0
    assert "WRONG HASH: usps/usps.h5" in capsys.readouterr().out
    monkeypatch.setenv(fetch.ENV_OFFLINE, "1")
    monkeypatch.delenv(fetch.ENV_MIRROR)
    assert main(["data", "list", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "public sources: off ($HARNESS_DATA_OFFLINE)" in out and "hastie.su.domains/ElemStatLearn/datasets/" in out
    assert "from: nowhere: only a mirror serves it, and $HARNESS_DATA_MIRROR is not set" in out
    assert log == []  # listing never downloads


def test_data_fetch_synthetic_and_unknown(tmp_path, capsys):
    assert main(["data", "fetch", "--dataset", "synthetic", "--data-dir", str(tmp_path)]) == 0
    assert "nothing to fetch" in capsys.readouterr().out
    assert main(["data", "fetch", "--dataset", "cifar", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unknown data set 'cifar'" in err and "usps, mnist" in err


@pytest.mark.parametrize("quiet", [True, False])
def test_mnist_fetch_fills_in_only_the_missing_files(quiet, server, tmp_path, monkeypatch, capsys):
    from tests.test_data import SMALL, md5, write_mnist_fixture

    base, routes, log = server
    monkeypatch.delenv(fetch.ENV_OFFLINE)
    name = "train-images-idx3-ubyte.gz"
    write_mnist_fixture(tmp_path / "served")
    write_mnist_fixture(tmp_path / "d" / "mnist", skip=(name,))
    routes[f"/pub/{name}"] = (tmp_path / "served" / name).read_bytes()
    f = DataFile(f"mnist/{name}", "md5:" + md5(tmp_path / "served" / name), (f"{base}/gone/{name}", f"{base}/pub/{name}"))
    monkeypatch.setitem(data.mnist._MNIST_FILES, name, f)
    splits, source = data._load_mnist(tmp_path / "d", seed=1, verify_checksum=False, sizes=SMALL, quiet=quiet)
    assert log == [f"/gone/{name}", f"/pub/{name}"] and splits["train"][0].shape == (30, 1, 16, 16)
    # quiet is passed on to the download: its lines are said only when not told to be quiet
    err = capsys.readouterr().err
    assert (f"harness: fetching mnist/{name} from {base}/pub/{name}" in err) is not quiet, err
    assert source["origin"]["fetched"] == [{"path": f"mnist/{name}", "url": f"{base}/pub/{name}"}]


def test_mnist_failed_fetch_lists_the_missing_files_and_what_was_tried(server, tmp_path, monkeypatch):
    from tests.test_data import write_mnist_fixture

    base, _routes, _log = server
    monkeypatch.setenv(fetch.ENV_MIRROR, base)
    write_mnist_fixture(tmp_path / "mnist", skip=("train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"))
    with pytest.raises(data.DataError) as e:
        data.load_dataset("mnist", tmp_path, quiet=True)
    msg = str(e.value)
    assert "MNIST files missing: train-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz;" in msg
    assert f"tried {base}/mnist/train-images-idx3-ubyte.gz (HTTP 404); {base}/mnist/t10k-labels" in msg
    assert str(tmp_path / "mnist") in msg and "\n" not in msg


def test_existing_tests_never_download(tmp_path):
    """The suite runs with $HARNESS_DATA_OFFLINE (conftest): a missing data set fails at once,
    saying so, instead of reaching out."""
    assert os.environ.get(fetch.ENV_OFFLINE) == "1" and not os.environ.get(fetch.ENV_MIRROR)
    with pytest.raises(data.DataError, match=r"nothing to try: \$HARNESS_DATA_OFFLINE is set"):
        data.load_dataset("usps", tmp_path)


@needs_usps
def test_a_reports_gallery_never_downloads_even_with_a_mirror_at_hand(mirror, tmp_path):
    """The gallery looks digits up in data that is here; a report never fetches (the control: the
    same call with downloads on fetches from this very mirror)."""
    from harness.report.gallery import _load

    _base, _routes, log = mirror
    (tmp_path / "d").mkdir()
    got, why = _load({"dataset": "usps", "seed": 1}, tmp_path / "d")
    assert got is None and why.startswith("the usps data could not be loaded (USPS data not found")
    assert log == [] and not [p for p in tmp_path.rglob("*") if p.is_file()]
    assert data.load_dataset("usps", tmp_path / "d", seed=1, quiet=True).name == "usps" and log == ["/usps/usps.h5"]
    got, why = _load({"dataset": "usps", "seed": 1}, tmp_path / "d")
    assert why is None and got.test_x.shape == (2007, 1, 16, 16)
