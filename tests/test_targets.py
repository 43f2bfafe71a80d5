"""Declared support, the one resolver of backend x strategy x device, and the one error hierarchy."""
import json
from dataclasses import replace

import pytest

from harness import errors, plugins
from harness.backend import unsupported_reason
from harness.cli import main
from harness.config import BenchConfig, RunConfig, read_config
from harness.targets import resolve, resolve_config, resolve_matrix


class _Declared:
    name = "only1989"
    strategies = ("eager",)
    variants = ("1989",)
    dtypes = ("float32",)


class _Rule(_Declared):
    variants = dtypes = None  # None, like absent, = everything

    def supports(self, strategy, variant, dtype):
        return "needs float32 for scan" if (strategy, dtype) == ("scan", "float64") else None


class _Silent:
    name = "silent"
    strategies = ("eager",)


def test_unsupported_reason_names_what_the_backend_supports():
    assert unsupported_reason(_Declared(), "eager", "1989", "float32") is None
    why = unsupported_reason(_Declared(), "eager", "modern", "float32")
    assert "variant 'modern'" in why and "supports: 1989" in why and "\n" not in why
    why = unsupported_reason(_Declared(), "eager", "1989", "float64")
    assert "dtype 'float64'" in why and "supports: float32" in why


def test_unsupported_reason_asks_supports_and_defaults_to_everything():
    assert unsupported_reason(_Silent(), "eager", "modern", "float64") is None
    assert unsupported_reason(_Rule(), "eager", "modern", "float32") is None
    assert "needs float32 for scan" in unsupported_reason(_Rule(), "scan", "1989", "float64")


# ----------------------------------------------------------------------------- the resolver


class _Fake:
    """No framework: resolving names never needs one."""

    name = "fake"
    strategies = ("plain", "gpu")
    description = "test backend"

    def check(self):
        pass

    def devices(self):
        return ["cpu"]

    def strategy_devices(self, strategy):
        return ["cpu"] if strategy == "plain" else []


@pytest.fixture
def fake():
    with plugins.backends_registered(_Fake(), name="fake-test"):
        yield plugins.get_registry()


@pytest.mark.parametrize("call, error, needle", [
    (lambda r: resolve(r, "nosuch", None, "cpu", variant="1989", dtype="float32"),
     errors.UnknownBackend, "unknown backend 'nosuch'; known backends: .*fake"),
    (lambda r: resolve(r, "fake", "warp", "cpu", variant="1989", dtype="float32"),
     errors.UnknownStrategy, "no strategy 'warp'; available: plain, gpu"),
    (lambda r: resolve(r, "fake", None, "tpu", variant="1989", dtype="float32"),
     errors.DeviceUnavailable, "cannot reach device 'tpu' here; available: cpu"),
    (lambda r: resolve(r, "fake", "gpu", "cpu", variant="1989", dtype="float32"),
     errors.DeviceUnavailable, "cannot reach device 'cpu' here; available: none"),
    (lambda r: resolve_matrix(r, ["fake"], ["warp"], None, variant="1989", dtype="float32"),
     errors.UnknownStrategy, "no selected backend has a strategy 'warp'; available: fake:plain, fake:gpu"),
    (lambda r: resolve_matrix(r, ["fake"], ["other:plain"], None, variant="1989", dtype="float32"),
     errors.UnknownStrategy, "names backend 'other', which is not among the selected backends \\(fake\\)"),
])
def test_resolver_errors_name_what_is_available(fake, call, error, needle):
    with pytest.raises(error, match=needle) as e:
        call(fake)
    assert e.value.exit_code == 2


def test_matrix_notes_what_it_leaves_out(fake):
    m = resolve_matrix(fake, ["fake"], None, None, variant="1989", dtype="float32")
    assert [t.label_with_device for t in m.targets] == ["fake:plain@cpu"]
    assert m.notes == ["fake:gpu skipped: cannot reach any device here (reaches: none)"]
    m = resolve_matrix(fake, ["fake"], ["plain"], ["cuda"], variant="1989", dtype="float32")
    assert not m.targets and "cannot reach device 'cuda' here (reaches: cpu)" in m.notes[0]


def test_errors_form_one_hierarchy_and_keep_their_old_homes():
    from harness import backend, data, results, train
    from harness.report import ReportError

    usage = [plugins.UnknownBackend, plugins.PluginError, backend.BackendUnavailable, backend.DeviceUnavailable,
             data.DataError, results.ResultsDirError, errors.UnknownStrategy, errors.UnknownVariant,
             errors.Unsupported, ReportError]
    assert all(issubclass(c, errors.UsageError) and c.exit_code == 2 for c in usage)
    assert all(issubclass(c, errors.Failure) and c.exit_code == 1
               for c in (train.NonFiniteLoss, errors.BackendFailure))
    assert issubclass(errors.UsageError, errors.HarnessError) and issubclass(errors.Failure, errors.HarnessError)


# ----------------------------------------------------------------------------- declared support, end to end


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


@pytest.fixture
def only1989():
    """torch eager, declaring only the 1989 variant in float32."""
    pytest.importorskip("torch")
    from backends.torch import TorchBackend

    class Only1989(TorchBackend):
        name = "only1989"
        strategies = ("eager",)
        description = "torch eager, declaring only 1989 in float32 (test only)"
        variants = ("1989",)
        dtypes = ("float32",)

    with plugins.backends_registered(Only1989(), name="only1989-test"):
        yield


QUICK_RUN = ["--dataset", "synthetic", "--epochs", "1", "--window", "32", "--quiet"]
QUICK_BENCH = ["--dataset", "synthetic", "--window", "16", "--rounds", "1"]


@pytest.mark.parametrize("command", [
    ["run", "--backend", "only1989", *QUICK_RUN],
    ["bench", "--backends", "only1989", *QUICK_BENCH],
    ["bench", "--backends", "torch,only1989", "--strategies", "only1989:eager", *QUICK_BENCH],
])
@pytest.mark.parametrize("unsupported, needle", [
    (["--variant", "modern"], "does not support variant 'modern' (supports: 1989)"),
    (["--dtype", "float64"], "does not support dtype 'float64' (supports: float32)"),
])
def test_run_and_bench_refuse_what_a_backend_does_not_support(only1989, tmp_path, capsys, command, unsupported,
                                                                  needle):
    assert main([*command, *unsupported, "--results-dir", str(tmp_path)]) == 2
    assert needle in _one_line(capsys)
    assert not list(tmp_path.glob("*.json"))


def test_bench_over_the_matrix_skips_with_the_reason(only1989, tmp_path, capsys):
    # no --backends: every available backend; plain `eager`: every backend that has it
    assert main(["bench", "--strategies", "eager", "--dtype", "float64", *QUICK_BENCH,
                 "--results-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    why = "backend 'only1989' does not support dtype 'float64' (supports: float32)"
    assert f"only1989:eager skipped: {why}" in out
    (path,) = tmp_path.glob("bench-*.json")
    result = json.loads(path.read_text())
    # every other available backend with an `eager` strategy ran it (torch; tensorflow where installed)
    others = [n for n in plugins.get_registry().available() if n != "only1989"
              and "eager" in plugins.get_registry().get(n).strategies]
    assert sorted((r["backend"], r["strategy"]) for r in result["rows"]) == sorted((n, "eager") for n in others)
    assert ("torch", "eager") in [(r["backend"], r["strategy"]) for r in result["rows"]]
    assert result["skipped"] == [{"backend": "only1989", "strategy": "eager", "device": "cpu", "reason": why}]
    # the configuration is recorded, and reads back as the one the command built
    assert read_config(result) == BenchConfig(strategies=("eager",), dtype="float64", dataset="synthetic",
                                              window=16, rounds=1)


@pytest.mark.parametrize("raised, code, reason", [
    (errors.DeviceUnavailable("refuses: this device is taken (test)"), 2, "refuses: this device is taken (test)"),
    (RuntimeError("plugin bug (test)"), 1, "backend 'refuses' strategy 'eager' failed: RuntimeError: plugin bug"),
])
def test_bench_keeps_the_rows_measured_when_a_later_target_is_refused(tmp_path, capsys, raised, code, reason):
    """torch is timed, then the second target refuses (or its plugin raises) while building its
    session: the torch row is written (the refusal noted and listed as skipped), one error line,
    exit 2 for a refusal, 1 for a plugin's failure."""
    pytest.importorskip("torch")
    from backends.torch_backend import TorchBackend

    class Refuses(TorchBackend):
        name = "refuses"
        strategies = ("eager",)
        description = "torch eager that refuses every session (test only)"

        def session(self, **kw):
            raise raised

    with plugins.backends_registered(Refuses(), name="refuses-test"):
        got = main(["bench", "--backends", "torch,refuses", "--strategies", "eager", *QUICK_BENCH,
                    "--results-dir", str(tmp_path)])
    assert got == code
    captured = capsys.readouterr()
    (error,) = [ln for ln in captured.err.splitlines() if not ln.startswith("timing ")]
    assert "1 target(s) refused" in error and reason in error and "the 1 measured" in error
    (path,) = tmp_path.glob("bench-*.json")
    result = json.loads(path.read_text())
    assert [(r["backend"], r["us_per_example"] > 0) for r in result["rows"]] == [("torch", True)]
    (skipped,) = result["skipped"]
    assert skipped["backend"] == "refuses" and skipped["device"] == "cpu" and reason in skipped["reason"]
    assert any(n.startswith("refuses:eager@cpu refused: ") and reason in n for n in result["notes"])
    # refused first, nothing measured: the refusal alone, nothing written
    with plugins.backends_registered(Refuses(), name="refuses-test"):
        assert main(["bench", "--backends", "refuses", *QUICK_BENCH, "--results-dir", str(tmp_path / "b")]) == code
    assert reason in capsys.readouterr().err
    assert not list((tmp_path / "b").glob("*.json"))


@pytest.mark.parametrize("args, needle", [
    (["--strategies", "warp"], "no selected backend has a strategy 'warp'; available: torch:eager"),
    (["--backends", "torch", "--strategies", "torch:warp"], "backend 'torch' has no strategy 'warp'; available: eager"),
    (["--backends", "torch", "--devices", "tpu"], "backend torch was asked for but nothing of it can run: torch:eager skipped: cannot reach device 'tpu'"),
])
def test_bench_with_an_unknown_name_is_an_error_not_dropped(tmp_path, capsys, args, needle):
    pytest.importorskip("torch")
    assert main(["bench", *args, *QUICK_BENCH, "--results-dir", str(tmp_path)]) == 2
    assert needle in _one_line(capsys)


def _parity(tmp_path, *args):
    out = tmp_path / f"results{len(list(tmp_path.iterdir()))}"  # one folder per call
    code = main(["parity", "--dataset", "synthetic", "--steps", "1", "--passes", "0", "--results-dir", str(out),
                 *args])
    files = sorted(out.glob("parity-*.json")) if out.is_dir() else []
    return code, (json.loads(files[-1].read_text()) if files else None)


@pytest.mark.usefixtures("torch_one_thread")
def test_parity_refuses_a_named_backend_where_unsupported_compares_it_where_supported(only1989, tmp_path, capsys):
    # named, it is refused with the reason (never torch compared with itself as a PASS)
    code, res = _parity(tmp_path, "--backends", "torch,only1989", "--strategies", "eager", "--dtype", "float64")
    assert code == 2 and res is None
    assert "backend 'only1989' does not support dtype 'float64' (supports: float32)" in _one_line(capsys)
    # where it is supported, it is compared
    code, res = _parity(tmp_path, "--backends", "torch,only1989", "--strategies", "eager", "--dtype", "float32")
    assert code == 0 and res["config"]["targets"] == ["only1989:eager"]
    # a reference that cannot run what is asked is a usage error, not a failure
    capsys.readouterr()
    code, res = _parity(tmp_path, "--reference", "only1989", "--variant", "modern")
    assert code == 2 and res is None
    assert "does not support variant 'modern'" in _one_line(capsys)
    code, res = _parity(tmp_path, "--backends", "only1989", "--dtype", "float64")  # nothing left to compare
    assert code == 2 and res is None
    assert "nothing to compare on device 'cpu': only1989:eager skipped: backend 'only1989' does not support " \
           "dtype 'float64'" in _one_line(capsys)


@pytest.mark.parametrize("config, strategy, epochs", [
    (RunConfig(backend="fake"), "plain", 23),  # no --epochs: the variant's own count made explicit
    (RunConfig(backend="fake", variant="modern"), "plain", 80),
    (RunConfig(backend="fake", strategy="plain", epochs=2), "plain", 2),  # --epochs N wins over the variant's
    (RunConfig(backend="fake", recipe={"passes": 5}), "plain", 5),  # --set passes=5 is the run's epochs
    (RunConfig(backend="fake", variant="modern", epochs=1), "plain", 1),
])
def test_resolve_config_makes_strategy_and_passes_explicit(fake, config, strategy, epochs):
    """Data-free: what `harness run` trains and records. --epochs N (or --set passes=N) wins; without it the
    variant's pass count is filled in; the backend's first strategy stands in for none."""
    target, resolved = resolve_config(fake, config)
    assert (target.label_with_device, resolved.strategy, resolved.epochs) == (f"fake:{strategy}@cpu", strategy, epochs)
    assert resolved == replace(config, strategy=strategy, epochs=epochs)


def test_get_variant_gives_the_spec_or_names_every_variant():
    from harness.spec import VARIANTS
    from harness.targets import get_variant

    assert all(get_variant(name) is VARIANTS[name] for name in VARIANTS)
    with pytest.raises(errors.UnknownVariant) as e:
        get_variant("1990")
    assert str(e.value) == f"unknown variant '1990'; available: {', '.join(VARIANTS)}"
    assert e.value.exit_code == 2


class _Mixed:
    """Strategies that each leave the matrix another way: a plain one on cpu, cuda and cuda:0 (one device
    twice), a cuda:0-only one, one whose strategy_devices() raises, two that support float64 only."""

    name, description = "mixed", "test backend"
    strategies = ("plain", "gpu", "broken", "f64", "f64b")

    def check(self):
        pass

    def devices(self):
        return ["cpu"]

    def strategy_devices(self, strategy):
        if strategy == "broken":
            raise RuntimeError("boom")
        return {"plain": ["cpu", "cuda", "cuda:0"], "gpu": ["cuda:0"]}.get(strategy, ["cpu"])

    def supports(self, strategy, variant, dtype):
        return "float64 only" if strategy.startswith("f64") and dtype != "float64" else None


@pytest.fixture
def mixed():
    with plugins.backends_registered(_Mixed(), name="mixed-test"):
        yield plugins.get_registry()


def _f64_reason(strategy):
    return f"backend 'mixed' does not support strategy {strategy!r} with variant '1989' in float32: float64 only"


def test_matrix_keeps_every_target_and_says_why_each_other_is_left_out(mixed):
    m = resolve_matrix(mixed, ["mixed"], None, None, variant="1989", dtype="float32")
    # "cuda" and "cuda:0" are one device, timed once as "cuda"; a cuda:0-only strategy keeps its name
    assert [t.label_with_device for t in m.targets] == ["mixed:plain@cpu", "mixed:plain@cuda", "mixed:gpu@cuda:0"]
    assert m.notes[0].startswith("mixed:broken skipped: strategy_devices() raised RuntimeError: boom")
    assert m.notes[1:] == [f"mixed:f64 skipped: {_f64_reason('f64')}", f"mixed:f64b skipped: {_f64_reason('f64b')}"]
    assert m.skipped == [{"backend": "mixed", "strategy": s, "device": "cpu", "reason": _f64_reason(s)}
                         for s in ("f64", "f64b")]
    # variant and dtype not known yet: support is not asked
    m = resolve_matrix(mixed, ["mixed"], None, None, variant=None, dtype=None)
    assert [t.label_with_device for t in m.targets][-2:] == ["mixed:f64@cpu", "mixed:f64b@cpu"] and not m.skipped


def test_a_named_strategy_left_out_is_refused_with_the_reason(mixed):
    def refused(strategies, devices=None, backends=("mixed",)):
        with pytest.raises(errors.UsageError) as e:
            resolve_matrix(mixed, backends, strategies, devices, variant="1989", dtype="float32", refuse_named=True)
        return type(e.value), str(e.value)

    assert refused(["mixed:f64"]) == (errors.Unsupported, _f64_reason("f64"))
    kind, why = refused(["mixed:broken", "plain"])
    assert kind is errors.UnknownStrategy
    assert why.startswith("mixed:broken was asked for but cannot run: mixed:broken skipped: strategy_devices() raised")
    assert refused(["mixed:gpu"], ["cpu"]) == (
        errors.DeviceUnavailable, ("backend mixed was asked for but nothing of it can run: "
                                   "mixed:gpu skipped: cannot reach device 'cpu' here (reaches: cuda:0)"))
    # a plain NAME no backend can run, every available backend selected: refused, not an empty matrix
    assert refused(["f64b"], backends=None) == (
        errors.UnknownStrategy, f"strategy f64b was asked for but runs nowhere: mixed:f64b skipped: {_f64_reason('f64b')}")


def test_resolve_asks_about_the_recipe_not_only_the_variant(mixed):
    from harness.recipe import Recipe

    assert resolve(mixed, "mixed", "plain", "cpu", variant="1989", dtype="float32",
                   recipe=Recipe("1989")).label_with_device == "mixed:plain@cpu"
    with pytest.raises(errors.Unsupported) as e:
        resolve(mixed, "mixed", "plain", "cpu", variant="1989", dtype="float32",
                recipe=Recipe("1989", {"activation": "scaled_tanh"}))
    assert str(e.value) == ("backend 'mixed' does not support recipe '1989 activation=scaled_tanh': mixed:plain does "
                            "not implement activation=scaled_tanh (it declares no values of knob activation: only the "
                            "1989 variant's own, tanh)")
    with pytest.raises(errors.Unsupported, match=r"^backend 'mixed' does not support strategy 'f64'"):
        resolve(mixed, "mixed", "f64", "cpu", variant="1989", dtype="float32")


def test_why_a_named_backend_or_strategy_was_left_out_is_its_own_reason_never_another_ones():
    """Several backends and strategies skipped at once: each name gets the reason its own backend
    declared (for a BACKEND:NAME, that strategy's), and with none declared, its own notes."""
    from harness.errors import DeviceUnavailable, UnknownStrategy, Unsupported
    from harness.targets import Matrix, _why_left_out

    m = Matrix(skipped=[{"backend": "a", "strategy": "s", "device": "cpu", "reason": "a says no to s"},
                        {"backend": "b", "strategy": "t", "device": "cpu", "reason": "b says no to t"},
                        {"backend": "b", "strategy": "u", "device": "cpu", "reason": "b says no to u"}],
               notes=["backend c skipped: c is not installed", "a:v: unknown strategy", "b:x: cannot reach cuda"])
    assert _why_left_out(m, "b") == (Unsupported, "b says no to t")
    assert _why_left_out(m, "b", "u") == (Unsupported, "b says no to u")
    assert _why_left_out(m, "a", "s") == (Unsupported, "a says no to s")
    assert _why_left_out(m, "a", "t") == (UnknownStrategy, "nothing of it was selected")
    assert _why_left_out(m, "a", "v") == (UnknownStrategy, "a:v: unknown strategy")
    assert _why_left_out(m, "c") == (UnknownStrategy, "backend c skipped: c is not installed")
    assert _why_left_out(m, "b", "x") == (DeviceUnavailable, "b:x: cannot reach cuda")
