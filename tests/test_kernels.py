"""Kernels per example (harness.kernels, backends/{torch,jax}/kernels.py): the profilers' counts on the CPU.

Counts are deterministic for a given program, so the orderings asserted here are not noise:
jax scan dispatches one executable per window where jax step dispatches one per example, and
XLA's fused program runs fewer operations per example than torch eager dispatches aten ops.
"""
import json

import pytest

from harness import plugins
from harness.cli import main
from harness.data import load_dataset
from harness.draws import pass_steps
from harness.kernels import count_kernels, kernels_cell
from harness.spec import VARIANTS, init_params

N = 32


@pytest.fixture(scope="module")
def steps():
    v = VARIANTS["1989"]
    return pass_steps(v, load_dataset("synthetic"), 0, 0, v.epochs, "float32")


def measured(backend: str, strategy: str, steps) -> dict:
    v = VARIANTS["1989"]
    session = plugins.get_registry().get(backend).session(
        variant=v, params=init_params(0, "float32", v), dtype="float32", device="cpu", strategy=strategy)
    session.train_steps(steps.slice(0, N))  # compiled for this window's length before the count
    return count_kernels(session, steps.slice(N, 2 * N))


@pytest.fixture(scope="module")
def counts(steps, torch_one_thread):
    pytest.importorskip("torch", reason="the orderings compare torch with jax")
    pytest.importorskip("jax", reason="the orderings compare torch with jax")
    return {(b, s): measured(b, s, steps) for b, s in (("jax", "step"), ("jax", "scan"), ("torch", "eager"))}


def test_counts_have_their_structure(counts):
    for (backend, strategy), c in counts.items():
        assert set(c) >= {"kernels", "unit", "dispatches", "examples", "how"}, (backend, strategy, c)
        assert c["examples"] == N and c["how"]
        total = c["kernels"] * N  # events counted over the window: a whole number, >= 1 per example
        assert total == pytest.approx(round(total)) and total >= N, (backend, strategy, c)
    # on the CPU nothing is a kernel launch, and the unit says what was counted instead
    assert counts["jax", "step"]["unit"] == counts["jax", "scan"]["unit"] == "XLA thunks"
    assert counts["torch", "eager"]["unit"] == "aten ops"


def test_orderings_that_are_not_noise(counts):
    step, scan, eager = counts["jax", "step"], counts["jax", "scan"], counts["torch", "eager"]
    assert step["dispatches"] >= 1  # one executable per example
    assert scan["dispatches"] * N <= 2  # one per window (and the inputs' transfer, if any)
    assert scan["dispatches"] < step["dispatches"]
    assert scan["kernels"] < eager["kernels"]


class _Failing:
    def kernels_per_example(self, steps):
        raise RuntimeError("no trace\nsecond line")


def test_a_session_without_a_count_or_with_a_failing_one(steps):
    assert count_kernels(object(), steps.slice(0, 4)) is None
    c = count_kernels(_Failing(), steps.slice(0, 4))
    assert c["kernels"] is None and c["how"].startswith("not counted: ") and "\n" not in c["how"]
    assert kernels_cell({"kernel_count": c}) == "-" and kernels_cell({}) == "-"
    assert kernels_cell({"kernel_count": {"kernels": 12.0, "unit": "kernels", "dispatches": 0.5}}) \
        == "12.0 kernels (0.50 dispatches)"


def test_bench_kernels_fills_the_field(tmp_path, capsys):
    pytest.importorskip("jax", reason="it counts jax scan's thunks")
    code = main(["bench", "--backends", "jax", "--strategies", "scan", "--devices", "cpu", "--dataset",
                 "synthetic", "--window", "16", "--rounds", "1", "--kernels", "--results-dir", str(tmp_path)])
    assert code == 0
    (path,) = tmp_path.glob("bench-*.json")
    (row,) = json.loads(path.read_text())["rows"]
    assert row["kernels_per_example"] == row["kernel_count"]["kernels"] > 1
    assert row["kernel_count"]["unit"] == "XLA thunks"
    assert "XLA thunks" in capsys.readouterr().out
    pytest.importorskip("matplotlib")
    assert main(["report", "--results-dir", str(tmp_path)]) == 0  # the throughput table shows it too
    report = (tmp_path / "REPORT.md").read_text()
    assert "per example (profiler)" in report and "XLA thunks (0.06 dispatches)" in report


def test_report_cell_of_rows_with_and_without_a_count():
    from harness.report.timings import kernels_text

    assert kernels_text({}) == "-"
    assert kernels_text({"kernel_count": {"kernels": None, "how": "not counted: x"}}) == "-"
    assert kernels_text({"kernel_count": "garbage", "kernels_per_example": float("nan")}) == "-"
    assert kernels_text({"kernels_per_example": 3}) == "3.0"
    assert kernels_text({"kernel_count": {"kernels": 12, "unit": "kernels", "dispatches": 0.25}}) \
        == "12.0 kernels (0.25 dispatches)"


# ---- the GPU paths, on recorded shapes of the profilers' output (no GPU here)
class _Ev:
    def __init__(self, name, kind=None):
        self._name, self._kind = name, kind

    def name(self):
        return self._name

    def activity_type(self):
        return self._kind


def test_torch_cuda_counts_kernels_and_launches_not_copies():
    torch_kernels = pytest.importorskip("backends.torch.kernels")
    events = [_Ev("triton_poi_fused_0", "kernel"), _Ev("void gemv2T_kernel", "kernel"),  # two kernels
              _Ev("Memcpy HtoD (Pageable -> Device)", "gpu_memcpy"), _Ev("Memset (Device)", "gpu_memset"),
              _Ev("cudaLaunchKernel", "cuda_runtime"), _Ev("cuLaunchKernelEx", "cuda_driver"),
              _Ev("cudaGraphLaunch", "cuda_runtime"), _Ev("cudaMemcpyAsync", "cuda_runtime"),
              _Ev("aten::mm", "cpu_op")]

    class Prof:
        class profiler:
            class kineto_results:
                @staticmethod
                def events():
                    return events

    assert torch_kernels.cuda_counts(Prof) == (2, 3)


class _Named:
    def __init__(self, name, children=(), attr="lines"):
        self.name = name
        setattr(self, attr, list(children))


def test_jax_gpu_counts_stream_kernels_and_dispatches():
    jax_kernels = pytest.importorskip("backends.jax.kernels")
    ev = lambda *names: [_Named(n, attr="_") for n in names]
    profile = _Named("x", [
        _Named("/host:CPU", [_Named("python", ev("PjRtStreamExecutorLoadedExecutable::Execute",
                                                 "PjRtStreamExecutorLoadedExecutable::Execute", "ParseArguments"),
                                    attr="events")]),
        _Named("/device:GPU:0", [
            _Named("Stream #13(Compute)", ev("loop_fusion", "gemm_fusion", "MemcpyD2D", "input_reduce_fusion"),
                   attr="events"),
            _Named("XLA Ops", ev("loop_fusion", "gemm_fusion"), attr="events"),  # derived: not counted again
        ]),
    ], attr="planes")
    assert jax_kernels._gpu_kernels(profile) == 3
    assert jax_kernels._dispatches(profile) == 2
    assert jax_kernels._gpu_kernels(_Named("x", [_Named("/host:CPU")], attr="planes")) is None
