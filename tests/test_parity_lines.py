"""harness.parity's lines word for word: a tolerance's rule text (each part and how the parts are
joined), and where one_line says a plugin's error came from (its own code, in a package or not)."""
from __future__ import annotations

import sys
import textwrap

import pytest

from harness.parity.compare import _plugin_root, one_line
from harness.parity.tolerances import Tol


@pytest.mark.parametrize("tol, step, n, text", [
    (Tol(), None, None, "0"),
    (Tol(atol=1e-6), None, None, "1e-06"),
    (Tol(rtol=1e-5), None, None, "1e-05·|b|"),
    (Tol(scale=1e-7), None, None, "1e-07·max|b|"),
    (Tol(atol=1e-6, rtol=1e-5), None, None, "1e-06+1e-05·|b|"),
    (Tol(atol=1e-6, scale=1e-7, rtol=1e-5), None, None, "1e-06+1e-07·max|b|+1e-05·|b|"),
    (Tol(scale=3e-7, rtol=2e-5), None, None, "3e-07·max|b|+2e-05·|b|"),
    (Tol(atol=2e-7, power=1.5), None, None, "2e-07·k^1.5"),
    (Tol(atol=2e-7, power=1.5), 4, None, "2e-06"),  # 2e-7 * 4**1.5 = 1.6e-6
    (Tol(atol=2e-7, power=1.5, rtol=1e-5), 1, None, "2e-07+1e-05·|b|"),
    (Tol(atol=1e-6, horizon=20), None, None, "1e-06 (judged to step 20)"),
    (Tol(atol=1e-6, rtol=1e-5, horizon=20), 5, None, "1e-06+1e-05·|b|"),  # at a step: no horizon note
    (Tol(atol=2, count=True), None, None, "2"),
    (Tol(atol=2, rtol=0.01, count=True), None, None, "2+1%·n"),
    (Tol(atol=2, rtol=0.01, count=True), None, 300, "5"),  # floor(2 + 0.01 * 300)
    (Tol(atol=0, rtol=0.005, count=True), None, 199, "0"),  # floor(0.995)
])
def test_tolerance_text_whole(tol, step, n, text):
    assert tol.text(step=step, n=n) == text


def test_tolerance_record_carries_its_rule_text():
    d = Tol(atol=1e-6, scale=1e-7, rtol=1e-5, power=1.0, horizon=30, why="measured").to_dict()
    assert d == {"atol": 1e-6, "rtol": 1e-5, "scale": 1e-7, "power": 1.0, "horizon": 30, "count": False,
                 "rule": "1e-06·k^1+1e-07·max|b|+1e-05·|b| (judged to step 30)", "why": "measured"}


def _plugin(tmp_path, monkeypatch, files: dict[str, str], module: str):
    for rel, src in files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(src))
    monkeypatch.syspath_prepend(str(tmp_path))
    top = module.split(".")[0]
    for name in [m for m in sys.modules if m == top or m.startswith(top + ".")]:
        monkeypatch.delitem(sys.modules, name)
    mod = __import__(module, fromlist=["Backend"])
    for name in [m for m in sys.modules if m == top or m.startswith(top + ".")]:
        monkeypatch.setitem(sys.modules, name, sys.modules[name])  # removed again after the test
    return mod.Backend()


def _error(backend):
    try:
        backend.train()
    except Exception as e:  # noqa: BLE001
        return e
    raise AssertionError("no error")


SESSION = """
def steps():
    raise RuntimeError("boom")
"""


def test_a_plugin_in_a_top_level_packages_init_owns_its_sibling_modules(tmp_path, monkeypatch):
    """Backend class in `verdtoy/__init__.py` (module name without a dot): the plugin is the
    whole folder, so a frame in verdtoy/session.py is its own code."""
    b = _plugin(tmp_path, monkeypatch, {"verdtoy/__init__.py": """
        from . import session
        class Backend:
            def train(self):
                session.steps()
        """, "verdtoy/session.py": SESSION}, "verdtoy")
    assert _plugin_root(b) == str(tmp_path / "verdtoy") + "/"
    assert one_line(_error(b), b) == "RuntimeError: boom (in plugin code at verdtoy/session.py:3 in steps)"


def test_a_plugin_in_a_packages_module_owns_the_package(tmp_path, monkeypatch):
    b = _plugin(tmp_path, monkeypatch, {"verdtoy2/__init__.py": "", "verdtoy2/backend.py": """
        from . import session
        class Backend:
            def train(self):
                session.steps()
        """, "verdtoy2/session.py": SESSION}, "verdtoy2.backend")
    assert _plugin_root(b) == str(tmp_path / "verdtoy2") + "/"
    assert one_line(_error(b), b) == "RuntimeError: boom (in plugin code at verdtoy2/session.py:3 in steps)"


def test_a_one_file_plugin_owns_only_its_file(tmp_path, monkeypatch):
    """A top-level module file: its folder holds other code (here a helper module), not the plugin's."""
    b = _plugin(tmp_path, monkeypatch, {"verdtoy3.py": """
        import verdtoy3_helper
        class Backend:
            def train(self):
                verdtoy3_helper.steps()
        """, "verdtoy3_helper.py": SESSION}, "verdtoy3")
    assert _plugin_root(b) == str(tmp_path / "verdtoy3.py")
    assert one_line(_error(b), b) == (
        f"RuntimeError: boom (in plugin code at {tmp_path.name}/verdtoy3.py:5 in train)")
