"""The TensorFlow backend's import: lazy, quiet, contained, and what it records.

Most checks run in a fresh Python process (the import and TensorFlow's runtime happen
once per process). Commands that do not use TensorFlow must never import it: its import
takes seconds to tens of seconds.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.backend_helpers import BUSY_THREADS as BUSY

REPO = Path(__file__).resolve().parents[1]
HAS_TF = importlib.util.find_spec("tensorflow") is not None
needs_tf = pytest.mark.skipif(not HAS_TF, reason="tensorflow is not installed")


def child(code: str, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter from the repository root, with `env` on top of ours."""
    full = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    full = {k: v for k, v in full.items() if v is not None}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO, env=full, capture_output=True,
                          text=True, timeout=timeout, check=False)


def last_json(proc) -> dict:
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- lazy import


def test_importing_the_backend_imports_no_tensorflow():
    out = last_json(child("""
        import json, sys
        import backends.tensorflow as b
        from harness import plugins
        plugins.get_registry()  # every entry point loaded, tensorflow's included
        print(json.dumps({"tf": "tensorflow" in sys.modules, "registered": "tensorflow" in plugins.get_registry().names()}))
    """))
    assert out == {"tf": False, "registered": True}


@pytest.mark.parametrize("backend,strategy", [("jax", "scan"), ("torch", "eager")])
def test_commands_that_do_not_use_tensorflow_never_import_it(tmp_path, backend, strategy):
    """`harness --help` and a run of another backend: no tensorflow in sys.modules afterwards (its
    import costs nothing to commands that do not use it)."""
    pytest.importorskip(backend)
    out = last_json(child(f"""
        import json, sys
        from harness.cli import main
        codes = []
        for args in (["--help"], ["run", "--help"],
                     ["run", "--backend", {backend!r}, "--strategy", {strategy!r}, "--dataset", "synthetic",
                      "--epochs", "1", "--limit", "64", "--window", "32", "--quiet", "--results-dir", {str(tmp_path)!r}]):
            try:
                codes.append(main(args))
            except SystemExit as e:
                codes.append(e.code)
        print(json.dumps({{"codes": codes, "tf": sorted(m for m in sys.modules if m.split(".")[0] == "tensorflow")}}))
    """, {"HARNESS_THREADS": "1"}))
    assert out == {"codes": [0, 0, 0], "tf": []}


UNAVAILABLE = """
    import json, sys
    sys.modules["tensorflow"] = None  # `import tensorflow` raises ImportError, as where it is not installed
    from harness.cli import main
    from harness import plugins
    code = main(["backends"])
    print(json.dumps({"code": code, "reason": plugins.get_registry().reason_unavailable("tensorflow"),
                      "available": plugins.get_registry().available()}))
"""


def test_unavailable_without_tensorflow_says_why_and_everything_else_works():
    proc = child(UNAVAILABLE)
    out = last_json(proc)
    assert out["code"] == 0
    assert "tensorflow cannot be imported" in out["reason"] and "[tensorflow]" in out["reason"]
    assert "tensorflow" not in out["available"]
    table = proc.stdout.strip().splitlines()[:-1]  # the last line is the JSON above
    assert "unavailable" in next(ln for ln in table if "tensorflow cannot be imported" in ln)
    assert any("'lecun1989-harness[tensorflow]'" in ln for ln in table)  # the hint whole, not eaten as markup
    run = child("""
        import sys
        sys.modules["tensorflow"] = None
        from harness.cli import main
        sys.exit(main(["run", "--backend", "tensorflow", "--dataset", "synthetic"]))
    """)
    err = run.stderr.strip().splitlines()
    assert run.returncode == 2 and len(err) == 1 and "tensorflow" in err[0] and "unavailable" in err[0], run.stderr


# ----------------------------------------------------------------------------- quiet and contained

QUIET_AND_CONTAINED = """
    import json, os, sys
    before = dict(os.environ)
    import torch
    torch_threads = (torch.get_num_threads(), torch.get_num_interop_threads())
    from backends.tensorflow import TensorFlowBackend
    from harness.spec import VARIANTS, init_params
    from harness.backend import Steps
    import numpy as np
    b = TensorFlowBackend()
    b.check()
    jax_after_tf = "jax" in sys.modules
    env = b.environment("cpu")
    v = VARIANTS["1989"]
    rng = np.random.default_rng(0)
    steps = Steps(rng.uniform(-1, 1, (4, 1, 16, 16)), -np.ones((4, 10)), np.zeros(4, np.int64), np.full(4, 0.03))
    for s in ("eager", "function", "xla"):
        b.session(variant=v, params=init_params(0, "float64"), dtype="float64", device="cpu", strategy=s).train_steps(steps)
    changed = sorted(k for k in set(before) | set(os.environ) if before.get(k) != os.environ.get(k))
    torch_after = (torch.get_num_threads(), torch.get_num_interop_threads())
    import torch._dynamo  # imports Triton where installed: its LLVM beside TensorFlow's must not abort
    import jax
    print(json.dumps({"env": env, "changed": changed, "torch": [torch_threads, torch_after],
                      "jax_after_tf": jax_after_tf, "jax_log_level": os.environ.get("TF_CPP_MIN_LOG_LEVEL"),
                      "jax_pool": jax.device_count("cpu")}))
"""


@needs_tf
def test_import_is_quiet_and_contained():
    """No log line on stderr; the environment, torch's threads and jax untouched; Triton still loads."""
    pytest.importorskip("torch")
    pytest.importorskip("jax")
    proc = child(QUIET_AND_CONTAINED, {"TF_CPP_MIN_LOG_LEVEL": None, "TF_ENABLE_ONEDNN_OPTS": None,
                                       "HARNESS_THREADS": None})
    out = last_json(proc)
    assert proc.stderr.strip() == "", proc.stderr[-3000:]
    env = out["env"]
    assert out["changed"] == []  # TF2_BEHAVIOR, TPU_ML_PLATFORM, HDF5_PLUGIN_PATH... put back
    assert {"TF2_BEHAVIOR", "TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS"} <= set(env["import"]["environment_restored"])
    assert env["log"] == {**env["log"], "TF_CPP_MIN_LOG_LEVEL": "2", "source": "harness default"}
    assert env["onednn"] == {"TF_ENABLE_ONEDNN_OPTS": "0", "source": "harness default", "custom_ops": False}
    assert env["op_determinism"] is True and env["tensor_float_32"] is False
    assert env["threads"]["requested"] is None and env["threads"]["honoured"] is True
    assert out["torch"][0] == out["torch"][1]
    assert out["jax_after_tf"] is False  # tf.lite's optional jax import was refused
    assert out["jax_log_level"] == "1"  # jax's own default, set by jax's import, not TensorFlow's value


@needs_tf
def test_user_settings_win_and_noise_is_recorded():
    """A user's oneDNN choice stands; its banner (printed whatever the log level) is kept in the record."""
    out = last_json(child("""
        import json
        from backends.tensorflow import TensorFlowBackend
        print(json.dumps(TensorFlowBackend().environment("cpu")))
    """, {"TF_ENABLE_ONEDNN_OPTS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}))
    assert out["onednn"] == {"TF_ENABLE_ONEDNN_OPTS": "1", "source": "environment", "custom_ops": True}
    assert out["log"]["TF_CPP_MIN_LOG_LEVEL"] == "3" and out["log"]["source"] == "environment"
    assert any("oneDNN custom operations are on" in ln for ln in out["log"]["suppressed"])


BUSY_THREADS = BUSY + """
import json
from backends.tensorflow import settings
tf = settings.load()
a = tf.ones((1500, 1500))
f = tf.function(lambda a: tf.tanh(a @ a) @ a)
busy = busy_threads(lambda: f(a).numpy())
print(json.dumps({"threads": settings.threads_record(tf), "busy": busy}))
"""


@needs_tf
@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads through /proc")
def test_harness_threads_sizes_tensorflow_pools():
    """HARNESS_THREADS=1: TensorFlow's pools have one thread and one thread does a large matmul's work."""
    out = last_json(child(BUSY_THREADS, {"HARNESS_THREADS": "1"}))
    assert out["threads"] == {**out["threads"], "requested": 1, "intra_op": 1, "inter_op": 1, "honoured": True}
    assert out["busy"] == 1


@needs_tf
def test_threads_record_says_when_not_honoured(monkeypatch):
    from backends.tensorflow import TensorFlowBackend

    b = TensorFlowBackend()
    applied = b.environment("cpu")["threads"]["intra_op"]
    monkeypatch.setenv("HARNESS_THREADS", str(applied + 5))
    rec = b.environment("cpu")["threads"]
    assert rec["honoured"] is False and rec["reason"] and rec["requested"] == applied + 5


@needs_tf
def test_runtime_started_elsewhere_is_recorded():
    """TensorFlow's runtime started before the backend: threads cannot follow, and the record says so."""
    out = last_json(child("""
        import json, sys
        sys.modules["tensorflow.python.pywrap_dlopen_global_flags"] = None
        import tensorflow as tf
        tf.constant(1.0) + 1  # the runtime starts
        from backends.tensorflow import TensorFlowBackend
        env = TensorFlowBackend().environment("cpu")
        print(json.dumps({"threads": env["threads"], "log": env["log"]}))
    """, {"HARNESS_THREADS": "1"}))
    assert out["threads"]["honoured"] is False and "started before" in out["threads"]["reason"]
    assert "imported before this backend" in out["log"]["note"]
