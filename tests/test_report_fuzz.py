"""Fuzzing `harness report` and `--compare` from the real result files in results/: each
generated file is a committed result (lists trimmed, for speed) with one or more values
replaced (wrong types, absurd numbers, NaN / inf, mathtext such as '$\\frac{', HTML, deep
nesting) or removed. Zero crashes: every call ends with exit 0 or a one-line exit 2.

The default run draws over 500 files, the figures replaced by stubs for most examples and
drawn for real in a few; `-m slow` draws thousands, all with figures."""
import itertools
import json
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")
pytest.importorskip("matplotlib")
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.cli import main

REPO = Path(__file__).resolve().parents[1]
# Every committed result, in subdirectories too (sweep results carry a `sweep` block, SDLM runs
# their own fields): a field no seed holds is never fuzzed.
SEED_FILES = sorted((REPO / "results").rglob("*.json"))
DEEP = "\x00deep\x00"  # stands for JSON nested 5000 levels deep (json.dumps cannot write it)


def _trim(v, keep=6):
    if isinstance(v, dict):
        return {k: _trim(x, keep) for k, x in v.items()}
    if isinstance(v, list):
        return [_trim(x, keep) for x in v[:keep]]
    return v


def _as_written_today(doc: dict) -> dict:
    """A committed sweep result with the `config` that `harness run` records today."""
    return {**doc, "config": doc["sweep"]["config"]}


SEEDS = [_trim(json.loads(p.read_text())) for p in SEED_FILES]
SWEPT = next(d for d in SEEDS if isinstance((d.get("sweep") or {}).get("config"), dict))  # no `config`
TODAY = _as_written_today(SWEPT)
SEEDS.append(TODAY)


def _paths(v, prefix=()):
    yield prefix
    if isinstance(v, dict):
        for k, x in v.items():
            yield from _paths(x, prefix + (k,))
    elif isinstance(v, list):
        for i, x in enumerate(v):
            yield from _paths(x, prefix + (i,))


# What the report reads: most mutations land on these (the rest anywhere, unknown fields included).
READ = {"schema_version", "kind", "backend", "strategy", "device", "variant", "dataset", "dtype", "epochs", "epoch",
        "train_error", "test_error", "train_misses", "test_misses", "final", "n_train", "n_test", "seed",
        "test_missed", "indices", "predicted", "labels", "timing", "us_per_example", "us_per_example_stats",
        "median", "p25", "p75", "compile_s_estimate", "examples_per_s", "environment", "cpu_model", "cpu_affinity",
        "device_name", "torch", "jax", "torch_num_threads", "rows", "compile_s", "checks", "name", "title",
        "summary", "passed", "target", "tensor", "max_abs", "max_rel", "tol", "within_tol", "judged_to", "count",
        "value", "reference", "where", "first_step", "k", "pass", "trace", "step", "config", "targets",
        "self_check", "finished", "created", "datetime", "benchmarks", "stats", "q1", "q3", "iqr", "extra_info",
        "params", "steps", "machine_info", "cpu", "brand_raw", "dataset_source"}


def _read(path) -> bool:
    return any(k in READ for k in path if isinstance(k, str))

NASTY_STRINGS = ["$\\frac{", "$$", "$", "$x^$", "\\", "$\\alpha$", "<script>alert(1)</script>", "<img src=x onerror=1>",
                 "[x](javascript:alert(1))", "\x00", "\u202e", "", "nan", "1e999", "a" * 5000, "|", "\n# heading\n",
                 "../../etc/passwd", "cpu:0", "{}", "1. item", "---"]
NASTY_NUMBERS = [0, -1, 1e308, -1e308, 5e-324, 10 ** 400, -(10 ** 400), 2 ** 63, float("nan"), float("inf"),
                 -float("inf"), True, False, 0.5, -0.0, 1e-300]
leaf = st.one_of(st.none(), st.sampled_from(NASTY_NUMBERS), st.sampled_from(NASTY_STRINGS), st.integers(),
                 st.floats(), st.text(max_size=12), st.just(DEEP))
value = st.recursive(leaf, lambda ch: st.lists(ch, max_size=3) | st.dictionaries(st.text(max_size=6), ch, max_size=3),
                     max_leaves=8)


def _mutate(doc, path, new, delete):
    if not path:
        return new
    parent = doc
    for k in path[:-1]:
        parent = parent[k]
    if delete and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = new
    return doc


@st.composite
def result_file(draw):
    """(JSON text) of a real result with 1-3 values replaced or removed."""
    i = draw(st.integers(0, len(SEEDS) - 1))
    doc = json.loads(json.dumps(SEEDS[i]))
    for _ in range(draw(st.integers(1, 3))):
        paths = list(itertools.islice(_paths(doc), 3000))[1:] or [()]
        read = [p for p in paths if _read(p)]
        path = draw(st.sampled_from(read if read and draw(st.integers(0, 4)) else paths))
        doc = _mutate(doc, path, draw(value), draw(st.booleans()))
    text = json.dumps(doc)
    return text.replace(json.dumps(DEEP), "[" * 5000 + "]" * 5000)


COUNT = {"files": 0}


@pytest.fixture
def stub_figures(monkeypatch):
    """Figures as stubs (the markdown, validation and selection run for real): fast."""
    from harness.report import figures as plots

    for name in ("learning_curves", "throughput", "gallery", "divergence"):
        monkeypatch.setattr(plots, name, lambda *a, **k: b"\x89PNG stub")


def _check(tmp_path_factory, files, capsys):
    d = tmp_path_factory.mktemp("fuzz")
    for n, text in enumerate(files):
        (d / f"r{n}.json").write_text(text)
    COUNT["files"] += len(files)
    code = main(["report", "--results-dir", str(d), "--data-dir", str(REPO / "tests")])  # no data: no gallery
    err = capsys.readouterr().err
    assert code in (0, 2) and "Traceback" not in err
    if code == 2:
        assert len(err.strip().splitlines()) == 1, err
    else:
        md = (d / "REPORT.md").read_text()
        assert "<script" not in md and "<img" not in md
    if len(files) >= 2:
        code = main(["report", "--compare", str(d / "r0.json"), str(d / "r1.json")])
        err = capsys.readouterr().err
        assert code in (0, 2) and (code == 0 or len(err.strip().splitlines()) == 1), err


# Which examples are drawn (derandomised, a seed, or anew) is the hypothesis profile's choice
# (tests/conftest.py): by default the same examples alone, in the suite and in CI.
SETTINGS = {"suppress_health_check": [HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                      HealthCheck.data_too_large]}


@settings(max_examples=250, **SETTINGS)
@given(files=st.lists(result_file(), min_size=2, max_size=2))
def test_fuzzed_results_never_crash_report_or_compare(files, stub_figures, tmp_path_factory, capsys):
    _check(tmp_path_factory, files, capsys)


# Blocks the schema leaves free-form (any JSON) that the report and the seed tables read.
FREE_FORM = [("sweep",), ("environment", "backend")]
ANY_JSON = [None, [None], {"a": [1]}, True, 1.5, -1, "x", ""]


def _free_form_paths():
    on_cuda = {**TODAY, "device": "cuda", "environment": {**TODAY["environment"],
                                                          "backend": {"device_name": "GPU", "device_kind": "GPU"}}}
    for name, doc in (("swept", SWEPT), ("today", TODAY), ("cuda", on_cuda)):
        for path in _paths(doc):
            if any(path[:len(f)] == f for f in FREE_FORM):
                yield pytest.param(doc, path, id=f"{name}:{'/'.join(map(str, path))}")


@pytest.mark.parametrize("doc, path", list(_free_form_paths()))
def test_any_json_in_a_free_form_field_never_crashes_the_report(doc, path, tmp_path_factory, capsys, stub_figures):
    """Every field of the free-form blocks, each replaced by every kind of JSON value (a list where
    a name is expected made `harness report` raise TypeError: unhashable type)."""
    files = [json.dumps(_mutate(json.loads(json.dumps(doc)), path, v, False)) for v in ANY_JSON]
    _check(tmp_path_factory, files, capsys)


def test_hypothesis_draws_do_not_depend_on_imported_modules(tmp_path, monkeypatch):
    """The same examples before and after a new local module, with constants of its own, is
    imported: hypothesis mixes constants from local modules into its draws unless tests/conftest.py
    keeps that pool empty, and then a test draws differently alone than in the whole suite."""
    import importlib
    import sys

    draws = []

    @settings(max_examples=200, derandomize=True, database=None)
    @given(st.integers(), st.text(max_size=8), st.floats(allow_nan=False))
    def collect(i, s, f):
        draws.append((i, s, f))

    collect()
    first, draws[:] = list(draws), []
    (tmp_path / "fresh_constants_module.py").write_text(
        "A = 918273645\nB = -77665544\nC = 'zq-unlikely'\nD = 'yx-never'\nE = 0.123456789\nF = 31415.9265\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.import_module("fresh_constants_module")
    try:
        collect()
    finally:
        sys.modules.pop("fresh_constants_module", None)
    assert draws == first


def test_mathtext_and_markup_in_every_name_with_real_figures(tmp_path, capsys):
    """Strings matplotlib would parse as mathtext ('$\\frac{', '$$') in every name a figure shows."""
    from tests.test_report import bench_result, parity_result, run_result

    names = ["$\\frac{", "$$", "$x^$", "<b>", "\\"]
    r = run_result(*names[:4], dataset=names[4], missed={"indices": [], "predicted": [], "labels": []})
    p = parity_result()
    p["checks"][1]["trace"]["max_abs"] = {n: v for n, v in zip(names, p["checks"][1]["trace"]["max_abs"].values())}
    p["config"]["reference"] = "$\\frac{"
    b = bench_result()
    b["rows"][0]["backend"] = "$$"
    for name, doc in (("r.json", r), ("p.json", p), ("b.json", b)):
        (tmp_path / name).write_text(json.dumps(doc))
    assert main(["report", "--results-dir", str(tmp_path)]) == 0, capsys.readouterr().err
    assert "not drawn" not in (tmp_path / "REPORT.md").read_text()
    assert len(list(tmp_path.glob("*.png"))) == 3


@settings(max_examples=5, **SETTINGS)
@given(files=st.lists(result_file(), min_size=1, max_size=3))
def test_fuzzed_results_with_real_figures(files, tmp_path_factory, capsys):
    _check(tmp_path_factory, files, capsys)


def test_at_least_500_files_were_fuzzed():
    """Runs after the two above (file order): the default run's count, stated."""
    if COUNT["files"] == 0:
        pytest.skip("the fuzz tests did not run in this session")
    assert COUNT["files"] >= 500, COUNT


@pytest.mark.slow
@settings(max_examples=300, **SETTINGS)
@given(files=st.lists(result_file(), min_size=1, max_size=4))
def test_fuzzed_results_many_with_figures(files, tmp_path_factory, capsys):
    _check(tmp_path_factory, files, capsys)
