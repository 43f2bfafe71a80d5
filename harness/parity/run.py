"""The whole comparison: environments, declared support, every check in order, one JSON-able result."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from ..backend import unsupported_reason
from ..config import PARITY_CHECKS, ParityConfig
from ..data import Dataset
from ..errors import ConfigError, Unsupported
from ..recipe import of_config
from ..results import now_iso
from ..sdlm import is_sdlm
from ..timing import environment
from . import checks as ch
from .compare import one_line
from .hessian import check_hessian
from .select import Selection, select_targets

CHECKS = PARITY_CHECKS
DEFAULT_STEPS = ParityConfig.steps


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


def supported(selection: Selection, variant: str, dtype: str, recipe=None) -> Selection:
    """The selection without the targets whose backend does not support `variant` in `dtype` (and
    `recipe`'s knobs) (each skipped with a note, never a failure). An unsupported reference is a
    usage error (Unsupported)."""
    ref = selection.reference
    reason = unsupported_reason(ref.backend, ref.strategy, variant, dtype, recipe)
    if reason is not None:
        raise Unsupported(f"reference {ref.label}: {reason}; choose another with --reference")
    notes, targets = list(selection.notes), []
    for t in selection.targets:
        reason = unsupported_reason(t.backend, t.strategy, variant, dtype, recipe)
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


def select(registry, config: ParityConfig) -> Selection:
    """The reference and targets `config` names (its backends, strategies, reference, device), through
    the one resolver; what its backends declare they do not support is skipped with a note."""
    return select_targets(registry, config.backends, config.strategies, config.reference, config.device,
                          variant=config.variant, dtype=config.dtype, recipe=of_config(config))


def _run_checks(ctx: ch.Context, sel: Selection, log) -> list[dict]:
    ref, targets, c = sel.reference, sel.targets, ctx.config
    ks, passes = list(c.steps), c.passes
    vs = " ".join(t.label for t in targets)
    todo = [
        ("forward", True, "forward", lambda: ch.check_forward(ctx, ref, targets, c.n_forward)),
        ("grads", True, "grads", lambda: ch.check_grads(ctx, ref, targets, c.n_grad, _forward_first(results))),
        # SDLM's h, checked like a gradient (harness/parity/hessian.py)
        ("grads", is_sdlm(ctx.variant), "hessian (SDLM's h)", lambda: check_hessian(ctx, ref, targets)),
        ("steps", bool(ks), f"steps k={','.join(map(str, ks))}", lambda: ch.check_steps(ctx, ref, targets, ks)),
        ("trajectory", bool(ks), f"trajectory over {max(ks, default=0)} steps",
         lambda: ch.check_trajectory(ctx, ref, targets, max(ks))),
        ("passes", passes > 0, f"passes ({passes})",
         lambda: ch.check_passes(ctx, ref, targets, passes, c.limit, c.chunk)),
    ]
    todo = [(name, what, check) for name, wanted, what, check in todo if wanted and name in c.checks]
    if not todo:  # a verdict over no check at all would be a PASS on nothing
        raise ConfigError(f"nothing to check: checks {','.join(c.checks)} with --steps "
                          f"{','.join(map(str, ks)) or '0'} and --passes {passes} run none of them")
    results = []
    for name, what, check in todo:
        log(f"{what}: {vs} vs {ref.label}")
        results.append(check())
    return results


def _forward_first(results: list[dict]) -> dict | None:
    """The forward check's first differing layer per target, where it ran before."""
    return next((r.get("first_layer") for r in results if r["name"] == "forward"), None)


def verdict(result: dict) -> str:
    """The one-line verdict of a parity result (plain text): agreement only where at least two
    different implementations were compared and every check has rows that passed."""
    cfg = result.get("config") or {}
    targets, ref = cfg.get("targets") or [], cfg.get("reference")
    if not result.get("passed"):
        return f"FAIL: mismatch in {', '.join(result.get('failed_targets') or []) or 'no target (nothing compared)'}"
    if cfg.get("self_check"):
        return (f"PASS as a determinism check only: {ref} against a second session of itself; "
                "no other implementation was compared")
    return f"PASS: every backend agrees ({', '.join(targets)} against the reference {ref})"


def run_parity(selection: Selection, config: ParityConfig, data: Dataset, *,
               log: Callable[[str], None] | None = None) -> dict:
    """Run every check `config` asks for; return the result (JSON-able) with `passed` overall. Never
    raises for a backend's failure: a backend that raises is a failed row naming it, and the others go on."""
    ctx = ch.Context.build(config, data)  # ValueError when the data has fewer examples than max(steps)
    selection = supported(selection, config.variant, config.dtype, of_config(config))
    started = now_iso()
    env = environments(selection, config.device)
    results = _run_checks(ctx, selection, log or (lambda msg: None))
    traj = next((c for c in results if c["name"] == "trajectory"), None)
    ref, targets = selection.reference, selection.targets
    return {
        "kind": "parity",
        "started": started,
        "finished": now_iso(),
        # the configuration (its reference as resolved), the targets compared, the data's provenance
        "config": {
            **replace(config, reference=ref.label).to_dict(), "targets": [t.label for t in targets],
            "self_check": selection.self_check, "variant_config": ctx.variant.to_dict(),
            "dataset": data.name, "dataset_source": data.source,
        },
        "recipe": of_config(config).to_dict(),  # the variant, its label, the knobs set and every knob's value
        "notes": list(selection.notes),
        "tolerances": {k: t.to_dict() for k, t in ctx.tol.items()},
        "environment": env,
        "checks": results,
        "trace": None if traj is None else traj.get("trace"),
        "passed": bool(results) and all(c["passed"] for c in results),
        "failed_targets": sorted({r["target"] for c in results for r in c["rows"] if not r["passed"]}),
        "summary": [c["summary"] for c in results],
    }


def result_stem(result: dict) -> str:
    c = result["config"]
    return f"parity-{c['variant']}-{c['dtype']}-{c['dataset']}-{c['device'].replace(':', '')}"
