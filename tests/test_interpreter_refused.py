"""`run` and `bench` never time an interpreter: the jax fused session opted in to Pallas's
interpreter on the CPU (HARNESS_FUSED_INTERPRET=1, a test opt-in) says so in environment(),
and both commands refuse it in one line, exit 2, writing nothing."""
import pytest

from harness.cli import main

pytest.importorskip("jax")
SMALL = ["--dataset", "synthetic", "--variant", "1989", "--dtype", "float32"]


@pytest.fixture
def interpret(monkeypatch):
    monkeypatch.setenv("HARNESS_FUSED_INTERPRET", "1")


def refusal(capsys) -> str:
    """The one error line (bench's 'timing ...' progress lines aside), no traceback."""
    err = [ln for ln in capsys.readouterr().err.strip().splitlines() if not ln.startswith("timing ")]
    assert len(err) == 1, err
    return err[0]


def test_the_interpreted_session_says_so(interpret):
    from harness import plugins
    from harness.spec import VARIANTS, init_params

    v = VARIANTS["1989"]
    s = plugins.get_registry().get("jax").session(variant=v, params=init_params(0, "float32", v),
                                                  dtype="float32", device="cpu", strategy="fused")
    assert s.environment()["interpreted"] is True


def test_run_refuses_to_time_pallas_interpret(interpret, tmp_path, capsys):
    code = main(["run", "--backend", "jax", "--strategy", "fused", "--device", "cpu", "--limit", "16",
                 "--epochs", "1", *SMALL, "--results-dir", str(tmp_path), "--quiet"])
    assert code == 2
    assert "harness run never times an interpreter" in refusal(capsys)
    assert not list(tmp_path.iterdir())


def test_bench_refuses_to_time_pallas_interpret(interpret, tmp_path, capsys):
    code = main(["bench", "--backends", "jax", "--strategies", "fused", "--devices", "cpu", *SMALL,
                 "--window", "16", "--rounds", "1", "--results-dir", str(tmp_path)])
    assert code == 2
    assert "harness bench never times an interpreter" in refusal(capsys)
    assert not list(tmp_path.iterdir())
