"""The whole comparison: environments, declared support, every check in order, one JSON-able result."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from ..backend import unsupported_reason
from ..data import Dataset
from ..draws import pass_steps
from ..errors import Unsupported
from ..results import now_iso
from ..sdlm import is_sdlm
from ..spec import Variant, init_params
from ..timing import environment
from . import checks as ch
from .compare import one_line
from .hessian import check_hessian
from .select import Selection
from .tolerances import tolerances

CHECKS = ("forward", "grads", "steps", "trajectory", "passes")
DEFAULT_STEPS = (1, 10, 100)


def parse_steps(text: str | list[int] | tuple[int, ...]) -> list[int]:
    """'1,10,100' -> [1, 10, 100] (sorted, unique, each >= 1); '' or '0' -> []."""
    if isinstance(text, (list, tuple)):
        vals = [int(v) for v in text]
    else:
        parts = [p.strip() for p in str(text).split(",") if p.strip()]
        try:
            vals = [int(p) for p in parts]
        except ValueError:
            raise ValueError(f"--steps must be a comma-separated list of integers, not {text!r}") from None
    if any(v < 0 for v in vals):
        raise ValueError(f"--steps must be >= 0, not {text!r}")
    return sorted({v for v in vals if v > 0})


def supported(selection: Selection, variant: str, dtype: str) -> Selection:
    """The selection without the targets whose backend does not support `variant` in `dtype` (each
    skipped with a note, never a failure). An unsupported reference is a usage error (Unsupported)."""
    ref = selection.reference
    reason = unsupported_reason(ref.backend, ref.strategy, variant, dtype)
    if reason is not None:
        raise Unsupported(f"reference {ref.label}: {reason}; choose another with --reference")
    notes, targets = list(selection.notes), []
    for t in selection.targets:
        reason = unsupported_reason(t.backend, t.strategy, variant, dtype)
        if reason is None:
            targets.append(t)
        else:
            notes.append(f"{t.label} skipped: {reason}")
    if targets:
        return replace(selection, targets=targets, notes=notes)
    notes.append(f"no target left: {ref.label} compared against a second session of itself (a determinism check)")
    return replace(selection, targets=[ref], notes=notes, self_check=True)


def environments(selection: Selection, device: str) -> dict:
    """What each backend reports of itself (versions, precision), and the core's environment.
    Recorded only: sessions must not depend on environment() having been called (see harness.backend)."""
    env: dict = {"core": environment(), "backends": {}}
    for t in [selection.reference, *selection.targets]:
        if t.backend.name not in env["backends"]:
            try:
                env["backends"][t.backend.name] = t.backend.environment(device)
            except Exception as e:  # noqa: BLE001 -- recorded; the checks will name the backend
                env["backends"][t.backend.name] = {"error": one_line(e)}
    return env


def _run_checks(ctx: ch.Context, sel: Selection, checks, ks, passes, limit, n_forward, n_grad, chunk, log) -> list[dict]:
    ref, targets = sel.reference, sel.targets
    vs = " ".join(t.label for t in targets)
    todo = [
        ("forward", True, "forward", lambda: ch.check_forward(ctx, ref, targets, n_forward)),
        ("grads", True, "grads", lambda: ch.check_grads(ctx, ref, targets, n_grad)),
        # SDLM's h, checked like a gradient (harness/parity/hessian.py)
        ("grads", is_sdlm(ctx.variant), "hessian (SDLM's h)", lambda: check_hessian(ctx, ref, targets)),
        ("steps", bool(ks), f"steps k={','.join(map(str, ks))}", lambda: ch.check_steps(ctx, ref, targets, ks)),
        ("trajectory", bool(ks), f"trajectory over {max(ks, default=0)} steps",
         lambda: ch.check_trajectory(ctx, ref, targets, max(ks))),
        ("passes", passes > 0, f"passes ({passes})", lambda: ch.check_passes(ctx, ref, targets, passes, limit, chunk)),
    ]
    results = []
    for name, wanted, what, check in todo:
        if wanted and name in checks:
            log(f"{what}: {vs} vs {ref.label}")
            results.append(check())
    return results


def run_parity(
    selection: Selection,
    *,
    variant: Variant,
    data: Dataset,
    dtype: str = "float64",
    device: str = "cpu",
    seed: int = 1337,
    steps: list[int] | tuple[int, ...] = DEFAULT_STEPS,
    passes: int = 1,
    limit: int | None = None,
    n_forward: int = ch.N_FORWARD,
    n_grad: int = ch.N_GRAD,
    chunk: int = ch.CHUNK,
    checks: tuple[str, ...] = CHECKS,
    log: Callable[[str], None] | None = None,
) -> dict:
    """Run every check; return the result (JSON-able) with `passed` overall. Never raises for a
    backend's failure: a backend that raises is a failed row naming it, and the others go on."""
    ks = parse_steps(steps)
    if ks and max(ks) > len(data.train_x):
        raise ValueError(f"--steps {max(ks)} exceeds the {len(data.train_x)} training examples of {data.name}")
    selection = supported(selection, variant.name, dtype)
    started = now_iso()
    env = environments(selection, device)
    first = pass_steps(variant, data, seed, 0, max(passes, variant.epochs), dtype)
    ctx = ch.Context(variant, data, dtype, device, seed, init_params(seed, dtype, variant), first,
                  tolerances(dtype, variant))
    results = _run_checks(ctx, selection, checks, ks, passes, limit, n_forward, n_grad, chunk,
                          log or (lambda msg: None))
    traj = next((c for c in results if c["name"] == "trajectory"), None)
    ref, targets = selection.reference, selection.targets
    return {
        "kind": "parity",
        "started": started,
        "finished": now_iso(),
        "config": {
            "reference": ref.label, "targets": [t.label for t in targets], "self_check": selection.self_check,
            "device": device, "dtype": dtype, "variant": variant.name, "variant_config": variant.to_dict(),
            "dataset": data.name, "dataset_source": data.source, "seed": seed, "steps": ks, "passes": passes,
            "limit": limit, "n_forward": n_forward, "n_grad": n_grad, "chunk": chunk,
        },
        "notes": list(selection.notes),
        "tolerances": {k: t.to_dict() for k, t in ctx.tol.items()},
        "environment": env,
        "checks": results,
        "trace": None if traj is None else traj.get("trace"),
        "passed": all(c["passed"] for c in results),
        "failed_targets": sorted({r["target"] for c in results for r in c["rows"] if not r["passed"]}),
        "summary": [c["summary"] for c in results],
    }


def result_stem(result: dict) -> str:
    c = result["config"]
    return f"parity-{c['variant']}-{c['dtype']}-{c['dataset']}-{c['device'].replace(':', '')}"
