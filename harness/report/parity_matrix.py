"""The parity matrix: every compared target of every parity result, one row per variant x dtype x
device x backend:strategy (the latest result wins), with the largest difference of each check and
the verdict. A verdict needs rows: a target with none is shown as such, never as PASS."""
from __future__ import annotations

from ..config import PARITY_CHECKS
from .fmt import fmt_g, num
from .load import Loaded

NO_ROWS = "no rows (not judged)"


def _verdict(rows: list[dict]) -> str:
    """FAIL if any row failed; PASS if every row passed (noting a judgement stopped at a horizon);
    NO_ROWS without rows; '-' when some row carries no verdict."""
    if not rows:
        return NO_ROWS
    passed = [r.get("passed") for r in rows]
    if False in passed:
        return "FAIL"
    if not all(p is True for p in passed):
        return "-"
    horizon = [r["judged_to"] for r in rows if r.get("within_tol") is False and isinstance(r.get("judged_to"), int)]
    if any(r.get("within_tol") is False for r in rows):
        return f"PASS to step {min(horizon)}" if horizon else "PASS to a horizon"
    return "PASS"


def _largest(rows: list[dict]) -> tuple[float | None, str]:
    """The largest max |a - b| over rows that compare values (not counts of misses), and where."""
    best, where = None, ""
    for check, r in rows:
        v = num(r.get("max_abs"))
        if r.get("count") or v is None:
            continue
        if best is None or v > best:
            best, where = v, f"{check} {r.get('tensor', '-')}"
    return best, where


def _by_target(d: dict) -> dict[str, list[tuple[str, dict]]]:
    out: dict[str, list[tuple[str, dict]]] = {}
    for t in (d.get("config") or {}).get("targets") or []:  # asked for, even if no row came back
        out.setdefault(str(t), [])
    for c in d["checks"]:
        for r in c.get("rows") or []:
            out.setdefault(str(r.get("target", "-")), []).append((str(c.get("name", "check")), r))
    return out


def matrix(parities: list[Loaded]) -> tuple[list[str], list[dict]]:
    """(check names in order, rows): per (variant, dtype, device, target) the latest result's
    {variant, dtype, device, target, reference, checks: {name: (largest, verdict)}, largest, where,
    verdict, path}. `parities` are sorted oldest first."""
    latest: dict[tuple, dict] = {}
    names: list[str] = []
    for p in parities:
        cfg = p.data.get("config") or {}
        ref = str(cfg.get("reference") or "-") + (" (self-check)" if cfg.get("self_check") else "")
        for target, rows in _by_target(p.data).items():
            checks = {}
            for name in dict.fromkeys(n for n, _ in rows):
                mine = [(n, r) for n, r in rows if n == name]
                checks[name] = (_largest(mine)[0], _verdict([r for _, r in mine]))
                names.append(name)
            largest, where = _largest(rows)
            key = tuple(str(cfg.get(k, "-")) for k in ("variant", "dtype", "device")) + (target,)
            latest[key] = {"variant": key[0], "dtype": key[1], "device": key[2], "target": target,
                           "reference": ref, "checks": checks, "largest": largest, "where": where,
                           "verdict": _verdict([r for _, r in rows]), "path": p.path}
    order = [n for n in PARITY_CHECKS if n in names] + [n for n in dict.fromkeys(names) if n not in PARITY_CHECKS]
    rows = sorted(latest.values(), key=lambda r: (r["variant"] != "1989", r["variant"], r["dtype"], r["device"],
                                                  r["target"]))
    return order, rows


def cells(row: dict, checks: list[str]) -> list[str]:
    """A row's plain-text cells for the checks' columns: the largest difference, with the check's
    verdict where it is not PASS."""
    out = []
    for name in checks:
        if name not in row["checks"]:
            out.append("-")
            continue
        v, verdict = row["checks"][name]
        out.append(fmt_g(v) + ("" if verdict == "PASS" else f" ({verdict})"))
    return out
