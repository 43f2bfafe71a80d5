"""Generated inputs for the sweep: any TOML grid either loads into well-typed points or is refused
with one GridError line; any journal or manifest content, however mangled, is read without an
exception, and a sweep over it runs."""
from __future__ import annotations

import io
import json
import math
import tempfile
from pathlib import Path

import pytest

from harness.sweep.driver import run_sweep
from harness.sweep.grid import AXES, CONFIG_FIELDS, GridError, load_toml
from harness.sweep.manifest import (
    JOURNAL,
    MANIFEST_NAME,
    STATES,
    SWEEP_DIR,
    SweepLayoutError,
    read_manifest,
)
from tests.test_sweep import STRATS, _fake_executor, _grid

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SETTINGS = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]}
NAMES = ["torch", "jax", "eager", "scan", "jax:scan", "1989", "modern", "synthetic", "usps", "float32", "cpu",
         "cuda", "1-3", "2", "0-1", "h100"]
scalars = (st.booleans() | st.integers(-3, 2 ** 40) | st.floats(allow_nan=True, allow_infinity=True)
           | st.text(max_size=6) | st.sampled_from(NAMES))
values = st.recursive(scalars, lambda kids: st.lists(kids, max_size=3)
                      | st.dictionaries(st.sampled_from(NAMES + ["a"]), kids, max_size=3), max_leaves=6)
KEYS = sorted(AXES) + sorted(CONFIG_FIELDS) + ["resources", "colour"]



def _well_typed(cfg) -> bool:
    """Every field of the type a RunConfig holds (the validator, harness.config, normalises them as a
    point is made): names are strings, counts plain integers, never bools or floats."""
    def is_int(v, optional):
        return (v is None and optional) or type(v) is int

    names = (cfg.backend, cfg.device, cfg.variant, cfg.dataset, cfg.dtype)
    return (all(isinstance(v, str) for v in names) and (cfg.strategy is None or isinstance(cfg.strategy, str))
            and is_int(cfg.seed, False) and is_int(cfg.window, False)
            and all(is_int(v, True) for v in (cfg.epochs, cfg.limit, cfg.threads)))

def toml(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml(x) for x in v) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {toml(x)}" for k, x in v.items()) + "}"


tables = st.dictionaries(st.sampled_from(KEYS), values, max_size=4)


@settings(max_examples=400, **SETTINGS)
@given(top=tables, configs=st.lists(tables, max_size=3))
def test_any_toml_grid_loads_well_typed_or_is_one_line(top, configs):
    text = "".join(f"{json.dumps(k)} = {toml(v)}\n" for k, v in top.items())
    text += "".join("[[configs]]\n" + "".join(f"{json.dumps(k)} = {toml(v)}\n" for k, v in c.items())
                    for c in configs)
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "g.toml"
        f.write_text(text)
        try:
            grid = load_toml(f, STRATS, max_points=500)
        except GridError as e:
            assert "\n" not in str(e)
            return
    assert 0 < len(grid.points) <= 500
    for p in grid.points:
        assert _well_typed(p), p
        res = grid.resources_for(p)
        assert all(isinstance(v, float) and v > 0 and math.isfinite(v) for v in res.values())


records = st.fixed_dictionaries({"op": st.sampled_from(["sweep", "sweep-end", "add", "state", "journal", "x"])},
                                optional={"sweep": values, "id": values, "state": st.sampled_from([*STATES, "odd"])
                                          | values, "config": values, "reason": values, "result": values,
                                          "at": values, "pid": values})
lines = st.lists(st.one_of(records.map(lambda r: json.dumps(r).encode()), st.binary(max_size=20)), max_size=12)


@settings(max_examples=150, **SETTINGS)
@given(journal=lines, snapshot=st.one_of(st.none(), values.map(lambda v: json.dumps(
    {"kind": "sweep-manifest", "points": v if isinstance(v, list) else [v], "sweeps": v}))))
def test_any_journal_or_manifest_content_is_read_and_a_sweep_runs_over_it(journal, snapshot):
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        (d / SWEEP_DIR).mkdir()
        head = json.dumps({"op": "journal", "id": "j"}).encode()
        (d / SWEEP_DIR / JOURNAL).write_bytes(b"\n".join([head, *journal]) + b"\n")
        if snapshot is not None:
            (d / MANIFEST_NAME).write_text(snapshot)
        m = read_manifest(d)
        assert sum(m["counts"].values()) == len(m["points"])
        ex, _ = _fake_executor()
        try:
            out = run_sweep(_grid("1"), d, ex, progress_stream=io.StringIO())
        except SweepLayoutError:  # only for a manifest that is not one
            return
        assert not out.failed
        assert read_manifest(d)["counts"]["done"] >= 1
