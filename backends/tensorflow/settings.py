"""TensorFlow's process-wide settings: applied once, when the backend first imports it, and recorded.

No tensorflow import at the top: `load()` imports it, the first time anything needs it.

What the import is wrapped in, and why (each recorded by `record()`):
- Logging. TensorFlow's C++ runtime reads TF_CPP_MIN_LOG_LEVEL once, at its import, and
  prints oneDNN and CPU-feature banners to stderr. The import runs with
  TF_CPP_MIN_LOG_LEVEL=2 (errors only; a value the user set wins), stderr's file
  descriptor captured: the banners are kept in the record, anything else is written
  back to stderr. TensorFlow's Python logger is set to ERROR.
- oneDNN. TF_ENABLE_ONEDNN_OPTS=0 unless the user set it: TensorFlow's Eigen kernels
  (oneDNN's custom ops round differently, its banner says, and at batch size 1 they doubled
  the tf.function step's time here: docs/performance.md). Read at import, like the log level.
- Containment. Every environment variable the import set or changed (its own
  TF2_BEHAVIOR, TPU_ML_PLATFORM, HDF5_PLUGIN_PATH..., and the two above) is put back
  as it was, so torch, jax, h5py and child processes see the environment they would have
  seen without TensorFlow. Its libraries are loaded RTLD_LOCAL, and tf.lite's optional
  `import jax` is refused (REFUSED says why).
- Threads. $HARNESS_THREADS sets TensorFlow's intra- and inter-op pools, which it only
  accepts before its runtime starts: applied right after the import, before any op.
  TensorFlow's pools are its own (Eigen threads, not OpenMP): torch's and XLA's (jax's)
  thread counts are untouched (tests/test_tensorflow_settings.py).
- Determinism: tf.config.experimental.enable_op_determinism() (TensorFlow only; no
  measurable cost on the CPU here; TensorFlow's random ops then demand a seed, and the
  harness draws none in TensorFlow). TF32 off (full float32 matrix products on GPUs),
  re-applied by every session. GPUs: memory growth on, so TensorFlow does not take
  a whole GPU that torch or jax share in one process.
"""
from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import time

from harness.backend import BackendUnavailable
from harness.threads import ThreadsError, threads_from_env

INSTALL_HINT = "install with: pip install 'lecun1989-harness[tensorflow]'"
# Applied during the import unless the variable is already set (then the user's value stands).
DEFAULTS = {"TF_CPP_MIN_LOG_LEVEL": "2", "TF_ENABLE_ONEDNN_OPTS": "0"}
PYTHON_LOG_LEVEL = "ERROR"
# Lines the import prints that say nothing a user needs: glog-style INFO/WARNING lines, absl's
# banner about logging before InitializeLog, the CPU-instructions hint.
NOISE = re.compile(r"^([IW]\d{4} \d\d:\d\d:\d\d|WARNING: All log messages before absl::InitializeLog"
                   r"|To enable the following instructions)")
KEPT_LINES = 8  # of the suppressed lines, recorded
# Modules refused (made to raise ImportError) while tensorflow imports:
# - pywrap_dlopen_global_flags: without it TensorFlow loads its libraries RTLD_LOCAL, not
#   RTLD_GLOBAL; global, their LLVM symbols take over the LLVM that Triton (imported by
#   torch._dynamo, so by torch.optim and torch.compile) loads later, which then aborts the
#   process ("Option ... registered more than once"). Only tf.load_op_library's custom ops
#   need the global symbols; the harness loads none.
# - jax: tf.lite imports it when it can; it would run jax's import (and its TF_CPP_MIN_LOG_LEVEL
#   default) under this backend's scoped environment. jax is imported later by whoever needs it.
REFUSED = ("tensorflow.python.pywrap_dlopen_global_flags", "jax")

_STATE: dict = {}


@contextlib.contextmanager
def _captured_stderr():
    """Capture file descriptor 2 (C++ logging writes there directly) into a list of lines."""
    lines: list[str] = []
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no fd 2 here (embedded interpreters)
        yield lines
        return
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield lines
        finally:
            with contextlib.suppress(Exception):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            lines.extend(tmp.read().decode(errors="replace").splitlines())


def _restore_environ(before: dict[str, str]) -> list[str]:
    """Put os.environ back as `before`; the names that had changed."""
    changed = sorted(k for k in set(before) | set(os.environ) if before.get(k) != os.environ.get(k))
    for k in changed:
        if k in before:
            os.environ[k] = before[k]
        else:
            del os.environ[k]
    return changed


def _import(already: bool):
    """Import tensorflow under DEFAULTS, stderr captured, jax refused; the environment restored."""
    before = dict(os.environ)
    chosen = {k: before.get(k) or v for k, v in DEFAULTS.items()}
    os.environ.update(chosen)
    refused = [m for m in REFUSED if m not in sys.modules]
    for m in refused:
        sys.modules[m] = None  # `import m` raises ImportError, which TensorFlow handles
    lines: list[str] = []
    t0 = time.perf_counter()
    try:
        with _captured_stderr() as lines:
            import tensorflow as tf
    finally:
        for m in refused:
            if m in sys.modules and sys.modules[m] is None:
                del sys.modules[m]
        _STATE["import"] = {"seconds": None if already else round(time.perf_counter() - t0, 2),
                            "imports_refused": [] if already else refused,
                            "environment_restored": _restore_environ(before)}
        _record_import(lines, before, chosen, already)
    return tf


def _record_import(lines: list[str], before: dict, chosen: dict, already: bool) -> None:
    """Write back what is not noise; record the log and oneDNN settings the import ran under."""
    noise = [ln for ln in lines if NOISE.match(ln)]
    for ln in lines:
        if not NOISE.match(ln):
            print(ln, file=sys.stderr)
    source = {k: "environment" if before.get(k) else "harness default" for k in DEFAULTS}
    _STATE["log"] = {"TF_CPP_MIN_LOG_LEVEL": chosen["TF_CPP_MIN_LOG_LEVEL"],
                     "source": source["TF_CPP_MIN_LOG_LEVEL"], "python_logger": PYTHON_LOG_LEVEL,
                     "import_lines_suppressed": len(noise), "suppressed": [ln[:200] for ln in noise[:KEPT_LINES]]}
    _STATE["onednn"] = {"TF_ENABLE_ONEDNN_OPTS": chosen["TF_ENABLE_ONEDNN_OPTS"],
                        "source": source["TF_ENABLE_ONEDNN_OPTS"],
                        "custom_ops": chosen["TF_ENABLE_ONEDNN_OPTS"].lower() not in ("0", "false")}
    if already:
        _STATE["log"]["note"] = _STATE["onednn"]["note"] = (
            "tensorflow was imported before this backend ran: the settings of that import stand")


def load():
    """tensorflow, imported and configured on the first call; BackendUnavailable if it cannot be."""
    if "tf" in _STATE:
        return _STATE["tf"]
    if "error" in _STATE:  # a failed import is not retried (it can take tens of seconds)
        raise BackendUnavailable(_STATE["error"])
    try:
        tf = _import(already="tensorflow" in sys.modules)
    except Exception as e:  # ImportError, or a broken install raising something else
        _STATE["error"] = f"tensorflow cannot be imported ({type(e).__name__}: {e}); {INSTALL_HINT}"
        raise BackendUnavailable(_STATE["error"]) from e
    tf.get_logger().setLevel(PYTHON_LOG_LEVEL)
    _apply_threads(tf)
    _STATE["gpu_memory_growth"] = _memory_growth(tf)
    tf.config.experimental.enable_op_determinism()
    pin(tf)
    _STATE["tf"] = tf
    return tf


def pin(tf) -> None:
    """Full float32 precision on GPUs (no TF32); TensorFlow's own flag, re-applied by every session."""
    tf.config.experimental.enable_tensor_float_32_execution(False)


def _apply_threads(tf) -> None:
    """Size TensorFlow's intra- and inter-op pools from $HARNESS_THREADS, before its runtime starts."""
    try:
        n = threads_from_env()
    except ThreadsError as e:
        _STATE["threads"] = {"requested": None, "applied": None, "reason": str(e)}
        return
    if n is None:
        _STATE["threads"] = {"requested": None, "applied": None, "reason": None}
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(n)
        tf.config.threading.set_inter_op_parallelism_threads(n)
    except RuntimeError as e:  # "... cannot be modified after initialization"
        _STATE["threads"] = {"requested": n, "applied": None,
                             "reason": f"TensorFlow's runtime started before this backend ran ({e})"}
        return
    _STATE["threads"] = {"requested": n, "applied": n, "reason": None}


def _memory_growth(tf) -> dict:
    """Memory growth on every GPU (before the runtime starts); what was done, per GPU."""
    out = {}
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
            out[gpu.name] = True
        except (RuntimeError, ValueError) as e:
            out[gpu.name] = f"not set: {e}"
    return out


def threads_record(tf) -> dict:
    """Threads asked for now, the pools as TensorFlow reports them, and whether they agree."""
    st = _STATE.get("threads", {})
    try:
        now = threads_from_env()
    except ThreadsError:
        now = None
    rec = {"requested": now, "intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
           "inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
           "how": "tf.config.threading.set_intra/inter_op_parallelism_threads(N) right after the import "
                  "(0: TensorFlow's default, one per CPU)"}
    rec["honoured"] = now is None or st.get("applied") == now
    if not rec["honoured"]:
        rec["reason"] = st.get("reason") or f"the pools were sized for {st.get('applied')} threads at import"
    return rec


def record(tf) -> dict:
    """Everything above, as it stands, to record with a result."""
    # tf.config has no public getter for op determinism
    from tensorflow.python.framework import config as tf_config

    return {
        "import": _STATE.get("import"),
        "log": _STATE.get("log"),
        "onednn": _STATE.get("onednn"),
        "threads": threads_record(tf),
        "op_determinism": tf_config.is_op_determinism_enabled(),
        "tensor_float_32": tf.config.experimental.tensor_float_32_execution_enabled(),
        "gpu_memory_growth": _STATE.get("gpu_memory_growth"),
        "TF_XLA_FLAGS": os.environ.get("TF_XLA_FLAGS", ""),
    }
