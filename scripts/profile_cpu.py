"""Where does a CPU training step spend its time? A sampling profile of `harness`'s own training loop.

Runs one backend strategy's per-example training (USPS, 1989 variant, float32 by default) in a
child process, samples it with `perf record -e cpu-clock` once compilation is done, and names
every sample: native symbols through perf, and the kernels XLA:CPU (or Inductor) compiled at run
time through gdb, which reads them from LLVM's GDB JIT registration. Prints a table of the
hottest symbols and of where they belong (compiled kernels, YNNPACK/Eigen matmuls, XLA's thunk
executor, malloc, Python...).

    python scripts/profile_cpu.py --backend jax --strategy scan [--seconds 8] [--top 40]

Needs Linux `perf` (Debian: linux-perf) and `gdb`. Not part of the test suite: the figures it
prints are for notes and for finding what to make faster.
"""
from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

CHILD = r"""
import os, sys, time
import numpy as np
from harness.bench import make_session
from harness.config import BenchConfig
from harness.targets import Target
from harness.data import load_dataset
from harness.draws import pass_steps
from harness.plugins import get_registry
from harness.spec import VARIANTS
backend, strategy, variant, dtype, data_dir, seconds = sys.argv[1:7]
v = VARIANTS[variant]
data = load_dataset("usps", data_dir)
s = make_session(Target(get_registry().get(backend), strategy, "cpu"), BenchConfig(variant=variant, dtype=dtype))
steps = pass_steps(v, data, 1337, 0, v.epochs, dtype).slice(0, 2048)
s.train_steps(steps); s.train_steps(steps)  # compile, warm up
print("ready", flush=True)
t_end = time.perf_counter() + float(seconds)
n, t0 = 0, time.perf_counter()
while time.perf_counter() < t_end:
    s.train_steps(steps); n += len(steps)
print(f"us_per_example {(time.perf_counter() - t0) * 1e6 / n:.1f}", flush=True)
sys.stdin.read()  # stay alive (compiled kernels mapped) until the parent has named them
"""

CATEGORIES = [
    (r"^JIT:(wrapped_)?scatter", "compiled kernel: scatter"),
    (r"^JIT:.*gather", "compiled kernel: gather"),
    (r"^JIT:dot", "compiled kernel: small dot (XLA's own loops)"),
    (r"^JIT:", "compiled kernel: elementwise / other fusions"),
    (r"ynn::|slinky::|YnnFusion|xnn", "YNNPACK matmuls (ynn_fusion)"),
    (r"Eigen::|DotThunk", "Eigen matmul (DotThunk)"),
    (r"dnnl|mkldnn|onednn", "oneDNN"),
    (r"at::|c10::|torch::|THP", "PyTorch runtime"),
    (r"xla::|absl::|tsl::|pjrt|Pjrt|ifrt", "XLA runtime (thunk executor, buffers)"),
    (r"malloc|free|memmove|memset|memcpy|memalign|memcmp|cfree", "libc malloc / memcpy"),
    (r"^\[kernel\]", "kernel"),
    (r"_Py|Py[A-Z]|gc_|visit_|unicode|python", "Python interpreter"),
]


def category(sym: str) -> str:
    for pattern, name in CATEGORIES:
        if re.search(pattern, sym):
            return name
    return "other"


def jit_symbols(pid: int, addresses: list[str]) -> dict[str, str]:
    """Address -> kernel name for run-time compiled code, asked of gdb attached to the live child."""
    args = ["gdb", "-p", str(pid), "-batch", "-nx"]
    for a in addresses:
        args += ["-ex", f"info symbol {a}"]
    out = subprocess.run(args, capture_output=True, text=True, timeout=600, check=False).stdout
    names = [ln for ln in out.splitlines() if " in section " in ln or ln.startswith("No symbol matches")]
    table = {}
    for a, ln in zip(addresses, names):
        # gdb drops XLA's ".N" suffixes (multiply_add_fusion.3 reads multiply_add_fusion), so the
        # in-memory object each kernel came from is appended to tell same-named kernels apart
        m = re.match(r"(\S+?)(?: \+ \d+)? in section .* of <in-memory@(0x[0-9a-f]+)>", ln)
        table[a] = f"{m.group(1)}@{m.group(2)[-6:]}" if m else "unknown"
    return table


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backend", default="jax")
    ap.add_argument("--strategy", default="scan")
    ap.add_argument("--variant", default="1989")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--data-dir", default=os.environ.get("HARNESS_DATA_DIR", "../shared/data"))
    ap.add_argument("--seconds", type=float, default=8.0, help="how long to sample (after compilation)")
    ap.add_argument("--top", type=int, default=30, help="how many symbols to list")
    ap.add_argument("--threads", type=int, default=1, help="HARNESS_THREADS for the child (torch's pool)")
    a = ap.parse_args()
    for tool in ("perf", "gdb"):
        if not shutil.which(tool):
            print(f"profile_cpu: needs `{tool}` on PATH", file=sys.stderr)
            return 2
    # NumPy's OpenBLAS threads only spin beside the loop; torch gets the harness's own thread knob
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "HARNESS_THREADS": str(a.threads)}
    argv = [sys.executable, "-c", CHILD, a.backend, a.strategy, a.variant, a.dtype, a.data_dir, str(a.seconds + 1)]
    child = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    try:
        line = child.stdout.readline()
        while line and not line.startswith("ready"):
            line = child.stdout.readline()
        if not line.startswith("ready"):
            print("profile_cpu: the training child failed to start", file=sys.stderr)
            return 1
        time.sleep(1.0)
        with tempfile.TemporaryDirectory() as tmp:
            data = os.path.join(tmp, "perf.data")
            subprocess.run(["perf", "record", "-q", "-e", "cpu-clock", "-F", "4000", "-p", str(child.pid),
                            "-o", data, "--", "sleep", str(a.seconds)], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            script = subprocess.run(["perf", "script", "-i", data, "-F", "ip,sym,dso"],
                                    capture_output=True, text=True, check=True).stdout
            samples = []
            for ln in script.splitlines():
                parts = ln.split(None, 1)
                if not parts:
                    continue
                ip, rest = parts[0], (parts[1] if len(parts) > 1 else "")
                dso = rest[rest.rfind("(") + 1:rest.rfind(")")] if "(" in rest else ""
                sym = rest[:rest.rfind("(")].strip() if "(" in rest else rest.strip()
                if "kernel.kallsyms" in dso:
                    sym = "[kernel]"
                elif sym in ("", "[unknown]") or dso.startswith("[JIT]") or "//anon" in dso:
                    sym = "?" + ip
                samples.append(sym)
            us_line = child.stdout.readline()  # the child's training loop has ended; it waits on stdin
            unknown = sorted({s[1:] for s in samples if s.startswith("?")})
            names = jit_symbols(child.pid, ["0x" + u for u in unknown]) if unknown else {}
            samples = ["JIT:" + names.get("0x" + s[1:], "unknown") if s.startswith("?") else s
                       for s in samples]
        child.stdin.close()
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    n = len(samples)
    us = re.search(r"us_per_example ([\d.]+)", us_line)
    us = float(us.group(1)) if us else float("nan")
    print(f"{a.backend}:{a.strategy} cpu, {a.variant}, {a.dtype}: {n} samples over {a.seconds:.0f} s; "
          f"{us:.1f} us per example while sampled")
    cats = collections.Counter(category(s) for s in samples)
    print("\nshare   us/example  where")
    for c, k in cats.most_common():
        print(f"{100 * k / n:5.1f}%  {us * k / n:8.2f}    {c}")
    print(f"\nshare   us/example  symbol (top {a.top})")
    for s, k in collections.Counter(samples).most_common(a.top):
        print(f"{100 * k / n:5.1f}%  {us * k / n:8.2f}    {s[:110]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
