"""Unit tests of the data package's small promises (harness.data.fetch, registry, command, paths,
synthetic, targets_pm1): which values of $HARNESS_DATA_OFFLINE mean offline, where a file's URLs
come from, how --dataset is read and refused, where the data directory comes from and what is
wrong with one, what the synthetic digits are. No network: nothing here downloads."""

import click
import numpy as np
import pytest

from harness.cli import main
from harness.data import command, fetch, paths, registry
from harness.data.paths import ENV_DATA_DIR, resolve_data_dir
from harness.data.registry import DataFile
from harness.errors import DataError


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "True", "yes", "YES", "on", "On", " 1 ", " true\n"])
def test_offline_values_that_mean_offline(value, monkeypatch):
    monkeypatch.setenv(fetch.ENV_OFFLINE, value)
    assert fetch.offline() is True


@pytest.mark.parametrize("value", ["", "0", "false", "no", "off", "2", "y", "t", "truee", "XXtrueXX"])
def test_offline_values_that_do_not(value, monkeypatch):
    monkeypatch.setenv(fetch.ENV_OFFLINE, value)
    assert fetch.offline() is False


def test_offline_unset_is_online(monkeypatch):
    monkeypatch.delenv(fetch.ENV_OFFLINE, raising=False)
    assert fetch.offline() is False


def test_at_joins_each_base_with_the_name_in_order():
    assert registry._at(("https://a.example/d/", "http://b.example/"), "zip.train.gz") == (
        "https://a.example/d/zip.train.gz", "http://b.example/zip.train.gz")
    assert registry._at((), "x.gz") == ()


def test_every_registry_url_ends_with_its_files_name():
    """The registry's URLs are its bases joined with each file's own name (a wrong join would
    fetch another file, or none)."""
    for srcs in registry.REGISTRY.values():
        for src in srcs:
            for f in src.files:
                assert all(u.startswith(("http://", "https://")) and u.endswith("/" + f.name) for u in f.urls), f


def test_datafile_name_algorithm_digest():
    f = DataFile("usps/zip.train.gz", "sha256:ab:cd")
    assert (f.name, f.algorithm, f.digest) == ("zip.train.gz", "sha256", "ab:cd")
    assert DataFile("top.bin", "md5:00").name == "top.bin"


@pytest.mark.parametrize("offline", [True, False])
@pytest.mark.parametrize("mirror", [None, "http://127.0.0.1:9/m", "http://127.0.0.1:9/m/"])
def test_candidate_urls_mirror_first_then_public_unless_offline(offline, mirror, monkeypatch):
    monkeypatch.setenv(fetch.ENV_OFFLINE, "1" if offline else "0")
    if mirror is None:
        monkeypatch.delenv(fetch.ENV_MIRROR, raising=False)
    else:
        monkeypatch.setenv(fetch.ENV_MIRROR, mirror)
    f = DataFile("usps/zip.test.gz", "md5:00", ("http://127.0.0.1:9/a/zip.test.gz", "http://127.0.0.1:9/b/zip.test.gz"))
    want = (["http://127.0.0.1:9/m/usps/zip.test.gz"] if mirror else []) + ([] if offline else list(f.urls))
    assert fetch.candidate_urls(f) == want


def test_mirror_base_ends_in_one_slash(monkeypatch):
    monkeypatch.setenv(fetch.ENV_MIRROR, "  https://h.example/data///  ")
    assert fetch.mirror_base() == "https://h.example/data/"
    monkeypatch.setenv(fetch.ENV_MIRROR, "   ")
    assert fetch.mirror_base() is None


def test_tried_text_says_what_was_tried(monkeypatch):
    assert fetch.tried_text([("u1", "HTTP 404")], False) == "download disabled"
    assert fetch.tried_text([("u1", "HTTP 404"), ("u2", "timed out")], True) == "tried u1 (HTTP 404); u2 (timed out)"
    monkeypatch.setenv(fetch.ENV_OFFLINE, "0")
    assert fetch.tried_text([], True) == "no source to try"
    monkeypatch.setenv(fetch.ENV_OFFLINE, "yes")
    assert fetch.tried_text([], True) == "nothing to try: $HARNESS_DATA_OFFLINE is set and $HARNESS_DATA_MIRROR is not"


@pytest.mark.parametrize("values, want", [
    ((), ["usps"]),
    (("mnist",), ["mnist"]),
    ((" MNIST , usps ",), ["mnist", "usps"]),
    (("usps", "synthetic"), ["usps", "synthetic"]),
    (("usps,,",), ["usps"]),
    (("usps", "All"), list(registry.REGISTRY)),
])
def test_dataset_names_are_read_from_repeats_and_comma_lists(values, want):
    assert command._names(values, ("usps",)) == want


def test_an_unknown_dataset_names_itself_the_option_and_every_choice():
    with pytest.raises(click.BadParameter) as e:
        command._names(("usps,cifar,svhn",), ("usps",))
    assert e.value.param_hint == "--dataset"
    assert e.value.format_message() == ("Invalid value for --dataset: unknown data set 'cifar'; available: usps, "
                                        "mnist, synthetic (needs no files), all")


def test_an_unknown_dataset_on_the_command_line_is_one_line_naming_the_option(tmp_path, capsys):
    assert main(["data", "fetch", "--dataset", "cifar", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "Invalid value for --dataset: unknown data set 'cifar'" in err


def test_the_progress_bar_draws_a_bar_sized_to_the_download():
    """pooch's progress-bar protocol: total is set before the first update; the bar starts on the
    first update, counts the bytes, resets to a new total and stops on close (also twice)."""
    from rich.progress import BarColumn, DownloadColumn

    bar = fetch._Bar("usps/usps.h5")
    bar.close()  # before any update: nothing to stop
    bar.total = 1000
    bar.update(100)
    try:
        kinds = [type(c) for c in bar._progress.columns]
        assert BarColumn in kinds and DownloadColumn in kinds
        task = bar._progress.tasks[0]
        assert (task.total, task.completed) == (1000, 100)
        bar.update(50)
        assert task.completed == 150
        bar.total = 2000
        bar.reset()
        task = bar._progress.tasks[0]
        assert (task.total, task.completed) == (2000, 0)
    finally:
        bar.close()
    assert bar._progress is None
    bar.close()


def test_targets_pm1_in_the_dtype_asked_and_at_plus_minus_t():
    from harness.data import targets_pm1

    t = targets_pm1([3, 0], "float32", t=0.5)
    assert t.dtype == np.float32
    np.testing.assert_array_equal(t, np.where(np.arange(10) == np.array([[3], [0]]), 0.5, -0.5))
    assert targets_pm1(np.array([], dtype=np.int64)).shape == (0, 10)
    assert targets_pm1([1]).dtype == np.float32  # the default


def test_a_data_directory_that_is_a_file_is_named_as_such(tmp_path, monkeypatch):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(DataError) as e:
        resolve_data_dir(f)
    assert str(e.value) == f"data directory {f} (from --data-dir) is not a directory"
    monkeypatch.setenv(ENV_DATA_DIR, str(f))
    with pytest.raises(DataError) as e:
        resolve_data_dir(None)
    assert str(e.value) == f"data directory {f} (from ${ENV_DATA_DIR}) is not a directory"


def test_the_default_data_directory_handed_back_need_not_exist_yet(tmp_path, monkeypatch):
    default = tmp_path / "cache" / "data"
    monkeypatch.setattr(paths, "default_data_dir", lambda: default)
    monkeypatch.setenv(ENV_DATA_DIR, str(tmp_path / "gone"))
    assert resolve_data_dir(default) == default and resolve_data_dir(str(default)) == default
    other = tmp_path / "other"
    with pytest.raises(DataError, match="does not exist"):
        resolve_data_dir(other)  # any other directory named must exist
    monkeypatch.delenv(ENV_DATA_DIR)
    assert resolve_data_dir(None) == default and resolve_data_dir("") == default


def test_data_dir_origin_says_where_it_came_from(tmp_path, monkeypatch):
    default = tmp_path / "cache"
    monkeypatch.setattr(paths, "default_data_dir", lambda: default)
    monkeypatch.setenv(ENV_DATA_DIR, str(tmp_path / "env"))
    assert paths.data_dir_origin(tmp_path / "env") == "from $HARNESS_DATA_DIR"
    assert paths.data_dir_origin(default) == ("the default, a per-user cache; --data-dir or $HARNESS_DATA_DIR "
                                              "choose another")
    assert paths.data_dir_origin(tmp_path / "cli") == "from --data-dir"


def test_synthetic_digits_are_prototypes_plus_per_pixel_noise_and_say_how():
    from harness.data.synthetic import _make_synthetic

    splits, source = _make_synthetic(7, {"train": 40, "test": 20})
    assert source == {"seed": 7, "n_train": 40, "n_test": 20, "generator": "numpy.random.default_rng(seed): "
                      "class prototypes U(-1, 1) + N(0, 0.5) noise, clipped"}
    for split, n in (("train", 40), ("test", 20)):
        x, y = splits[split]
        assert x.shape == (n, 256) and y.dtype == np.int64
        assert np.bincount(y, minlength=10).tolist() == [n // 10] * 10  # labels cycle 0..9, shuffled
        assert not np.array_equal(y, np.arange(n) % 10)
    x, y = splits["train"]
    same = x[y == 3]
    # noise is drawn per pixel: two images of one class differ pixel by pixel, not by a constant
    d = same[0] - same[1]
    assert np.abs(d).max() > 0.3 and np.std(d) > 0.2
    spread = np.std(same - same.mean(axis=0), axis=0)  # about 0.5 before clipping
    assert 0.2 < float(np.median(spread)) < 0.6


def _http_error(status):
    import requests

    r = requests.Response()
    r.status_code = status
    return requests.HTTPError(response=r)


def test_why_a_download_failed_in_a_few_words():
    import requests

    long = "boom " * 40
    cases = [
        (_http_error(503), "HTTP 503"),
        (requests.HTTPError("no response"), "HTTPError: no response"),
        (requests.exceptions.ChunkedEncodingError("c"), "connection broken mid-download (truncated)"),
        (requests.exceptions.ConnectTimeout("t"), "timed out"),  # a Timeout and a ConnectionError: timed out
        (requests.ConnectionError("refused"), "cannot connect"),
        (ValueError("SHA256 hash of downloaded file (/tmp/x.bin) does not match the known hash: expected abc but "
                    "got 0123456789abcdef0123"), "wrong SHA256 0123456789abcdef...: refused and removed"),
        (OSError(28, "No space left on device"), "cannot write (No space left on device)"),
        (OSError("no strerror"), "OSError: no strerror"),
        (RuntimeError(long + "\nsecond line"), "RuntimeError: " + " ".join(long.split())[:97] + "..."),
    ]
    for e, want in cases:
        assert fetch.why(e) == want


def test_one_line_reasons_are_single_lines_cut_to_their_limit():
    from harness.data.checks import _one_line

    assert _one_line(ValueError("a\n  b\tc")) == "a b c"
    assert _one_line(KeyError()) == "KeyError"
    assert _one_line(ValueError("x" * 200)) == "x" * 157 + "..."
    assert _one_line(ValueError("x" * 160)) == "x" * 160
    assert _one_line(ValueError("x" * 20), 10) == "x" * 7 + "..."


def _toy_registry(monkeypatch, tmp_path):
    import hashlib

    good = b"the right bytes"
    a = DataFile("toy/a.bin", "sha256:" + hashlib.sha256(good).hexdigest(), ("http://127.0.0.1:9/a.bin",))
    b = DataFile("toy/b.bin", "md5:" + hashlib.md5(b"other").hexdigest())
    src = registry.Source("pair", "a toy pair", (a, b))
    monkeypatch.setitem(registry.REGISTRY, "toy", (src,))
    (tmp_path / "toy").mkdir()
    return a, b, good


def test_data_list_file_states(tmp_path, monkeypatch):
    a, b, good = _toy_registry(monkeypatch, tmp_path)
    assert command._file_state(tmp_path, a) == "missing"
    (tmp_path / "toy" / "a.bin").mkdir()
    assert command._file_state(tmp_path, a) == "not a file"
    (tmp_path / "toy" / "a.bin").rmdir()
    (tmp_path / "toy" / "a.bin").write_bytes(good)
    assert command._file_state(tmp_path, a) == "verified"
    (tmp_path / "toy" / "b.bin").write_bytes(b"not other")
    assert command._file_state(tmp_path, b) == "wrong md5"
    (tmp_path / "toy" / "a.bin").write_bytes(good + b"!")
    assert command._file_state(tmp_path, a) == "wrong sha256"


def test_data_list_status_of_a_data_set(tmp_path, monkeypatch):
    _, _, good = _toy_registry(monkeypatch, tmp_path)
    assert command._status(tmp_path, "toy") == ("missing (fetched on first use, or now with `harness data fetch "
                                                "--dataset toy`)")
    (tmp_path / "toy" / "a.bin").write_bytes(good)
    (tmp_path / "toy" / "b.bin").write_bytes(b"other")
    assert command._status(tmp_path, "toy") == "here: the pair source, verified"
    (tmp_path / "toy" / "a.bin").write_bytes(b"x")
    (tmp_path / "toy" / "b.bin").write_bytes(b"y")
    assert command._status(tmp_path, "toy") == ("here: the pair source, WRONG HASH: toy/a.bin, toy/b.bin (replace it, "
                                                "or remove it to fetch it again)")


def test_data_list_says_where_each_file_would_come_from(tmp_path, monkeypatch):
    a, b, _ = _toy_registry(monkeypatch, tmp_path)
    monkeypatch.delenv(fetch.ENV_MIRROR, raising=False)
    monkeypatch.setenv(fetch.ENV_OFFLINE, "0")
    assert command._from(a) == "http://127.0.0.1:9/a.bin"
    assert command._from(b) == "nowhere: only a mirror serves it, and $HARNESS_DATA_MIRROR is not set"
    monkeypatch.setenv(fetch.ENV_OFFLINE, "1")
    assert command._from(a) == "nowhere: public sources off ($HARNESS_DATA_OFFLINE) and no mirror set"
    monkeypatch.setenv(fetch.ENV_MIRROR, "http://127.0.0.1:8/m")
    assert command._from(b) == "http://127.0.0.1:8/m/toy/b.bin"
    monkeypatch.setenv(fetch.ENV_OFFLINE, "0")
    assert command._from(a) == "http://127.0.0.1:8/m/toy/a.bin, http://127.0.0.1:9/a.bin"
