"""The whole core's mutation score from a stratified random sample of its mutants.

    python scripts/mutation_sample.py draw [--size N] [--seed S] [PREFIX ...]   # the sample's names
    python scripts/mutation_sample.py run  [--size N] [--seed S] [--max-children K] [PREFIX ...]
    python scripts/mutation_sample.py estimate --sample FILE [--markdown] [--equivalent FILE]

Testing every mutant of harness/ with the tests that call its function is out of reach of a small
machine (mutmut's own worst case for the core is hundreds of hours: a surviving mutant runs every
test that calls its function). A random sample answers "what share of the core's mutants do the
tests kill" to a stated precision instead: `draw` picks N mutant names, spread over the modules in
proportion to their number of mutants (at least 2 per module, a fixed seed, so a sample can be drawn
again); `run` tests the ones without a verdict yet through `mutmut run NAME...` and writes the names
to mutants/sample-seed<S>.txt; `estimate` reads the verdicts mutmut left in mutants/ for the names
in a sample file and prints, per module, the sampled mutants' statuses with a 95 % Wilson interval
for the share killed, then the whole core's share: each module's share weighted by its number of
mutants, with a 95 % interval from the stratified variance (finite-population corrected).

"Killed" counts what mutmut calls killed or timeout (a mutant that made the tests hang was noticed);
"untested" is a mutant whose function no selected test calls. `--equivalent FILE` names sampled
survivors a reader has judged equivalent (no behaviour any caller can observe changes; one name per
line, `# reason` after it): `estimate` then also prints the share killed among the other mutants,
each module's population scaled by the share of its sample that is not equivalent. To judge tests written after a
sample was measured, draw a new sample (another seed): the old one has been looked at.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

# beside this script: its reading of mutmut's exit codes and its table
from mutation_scores import _status_of, print_table

Z95 = 1.959963984540054


def verdicts(mutants: Path) -> tuple[dict[str, str], dict[str, int | None]]:
    """({mutant name: source path}, {mutant name: mutmut's exit code or None}) from the .meta files."""
    module_of: dict[str, str] = {}
    code_of: dict[str, int | None] = {}
    for meta in sorted(mutants.rglob("*.py.meta")):
        path = meta.relative_to(mutants).as_posix()[: -len(".meta")]
        for name, code in json.loads(meta.read_text()).get("exit_code_by_key", {}).items():
            module_of[name] = path
            code_of[name] = code
    return module_of, code_of


def traced_untested(mutants: Path, module_of: dict[str, str]) -> int | None:
    """How many mutants no selected test reaches, counted exactly (not sampled) from mutmut's trace of
    which tests call which function (mutants/mutmut-stats.json); None before mutmut has traced."""
    stats = mutants / "mutmut-stats.json"
    if not stats.is_file():
        return None
    tests_of = json.loads(stats.read_text()).get("tests_by_mangled_function_name", {})
    return sum(1 for name in module_of if not tests_of.get(name.rsplit("__mutmut_", 1)[0]))


def allocate(sizes: dict[str, int], total: int, floor: int = 2) -> dict[str, int]:
    """Sample size per module: proportional to its mutants (largest remainders), at least `floor`
    (or all of a smaller module), never more than it has."""
    n_all = sum(sizes.values())
    if n_all == 0 or total <= 0:
        return {m: 0 for m in sizes}
    exact = {m: total * n / n_all for m, n in sizes.items()}
    out = {m: min(sizes[m], max(min(floor, sizes[m]), int(exact[m]))) for m in sizes}
    # the floors may overshoot: take the excess from the largest allocations
    while sum(out.values()) > total and any(out[m] > min(floor, sizes[m]) for m in out):
        m = max((m for m in out if out[m] > min(floor, sizes[m])), key=lambda m: (out[m] - exact[m], out[m]))
        out[m] -= 1
    short = total - sum(out.values())
    for m in sorted(sizes, key=lambda m: (int(exact[m]) - exact[m], m)):
        if short <= 0:
            break
        if out[m] < sizes[m]:
            out[m] += 1
            short -= 1
    return out


def draw(module_of: dict[str, str], size: int, seed: int, prefixes: list[str]) -> list[str]:
    """A stratified random sample of mutant names, the same for the same mutants, size and seed."""
    by_module: dict[str, list[str]] = {}
    for name, path in module_of.items():
        if not prefixes or any(path.startswith(p) for p in prefixes):
            by_module.setdefault(path, []).append(name)
    take = allocate({m: len(v) for m, v in by_module.items()}, size)
    rng = random.Random(seed)
    out: list[str] = []
    for m in sorted(by_module):
        out += sorted(rng.sample(sorted(by_module[m]), take[m]))
    return out


def wilson(k: int, n: int) -> tuple[float, float]:
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    d = 1 + Z95**2 / n
    c = (p + Z95**2 / (2 * n)) / d
    h = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / d
    return (0.0 if k == 0 else c - h, 1.0 if k == n else c + h)


def stratified(strata: list[tuple[int, int, int]]) -> tuple[float, float]:
    """(estimate, half-width of its 95 % interval) of a share over strata of (N_h, n_h, k_h): N_h
    mutants, n_h of them sampled, k_h of those with the property. Strata with no sample are left out
    (the caller says so)."""
    strata = [s for s in strata if s[1] > 0]
    n_all = sum(s[0] for s in strata)
    if n_all == 0:
        return (float("nan"), float("nan"))
    est = sum(big / n_all * k / n for big, n, k in strata)
    var = 0.0
    for big, n, k in strata:
        p = k / n
        s2 = p * (1 - p) * n / (n - 1) if n > 1 else 0.25  # one draw says nothing about the spread
        var += (big / n_all) ** 2 * (1 - n / big) * s2 / n
    return (est, Z95 * math.sqrt(var))


def read_equivalent(path: Path) -> set[str]:
    """Mutant names, one per line; `#` starts a comment (the reason)."""
    return {line.split("#", 1)[0].strip() for line in path.read_text().splitlines()} - {""}


def estimate(mutants: Path, names: list[str], equivalent: set[str] | None = None
             ) -> tuple[list[list[str]], list[str], Counter]:
    """Rows per module, the whole core's row, and the counts of statuses over the tested sample.
    With `equivalent` (sampled survivors judged equivalent), the whole core's row also gives the
    share killed among the non-equivalent mutants."""
    status_of = _status_of()
    module_of, code_of = verdicts(mutants)
    missing = [n for n in names if n not in module_of]
    if missing:
        raise SystemExit(f"mutation_sample.py: {len(missing)} sampled mutant(s) no longer exist "
                         f"(the code changed since the draw), e.g. {missing[0]}: draw the sample again")
    sizes = Counter(module_of.values())
    equivalent = set(equivalent or ())
    per: dict[str, Counter] = {}
    eq_of: Counter = Counter()
    for n in names:
        code = code_of[n]
        status = "not checked" if code is None else status_of[code]
        per.setdefault(module_of[n], Counter())[status] += 1
        if n in equivalent:
            if status != "survived":  # a test told it apart, or nothing has looked yet
                raise SystemExit(f"mutation_sample.py: {n} is listed as equivalent but is {status}: "
                                 "only a surviving mutant can be equivalent")
            eq_of[module_of[n]] += 1
    rows, strata_k, strata_u, strata_e, total = [], [], [], [], Counter()
    for m in sorted(per):
        c = per[m]
        tested = sum(c.values()) - c["not checked"]
        killed = c["killed"] + c["timeout"]
        lo, hi = wilson(killed, tested)
        rows.append([m, str(sizes[m]), str(sum(c.values())), str(tested), str(killed), str(c["survived"]),
                     str(c["no tests"]), str(c["timeout"]),
                     f"{100 * killed / tested:.0f}" if tested else "-",
                     f"{100 * lo:.0f}-{100 * hi:.0f}" if tested else "-"])
        strata_k.append((sizes[m], tested, killed))
        strata_u.append((sizes[m], tested, c["no tests"]))
        if tested > eq_of[m]:  # the module's population less its estimated share of equivalents
            strata_e.append((sizes[m] * (tested - eq_of[m]) / tested, tested - eq_of[m], killed))
        total += c
    k, kh = stratified(strata_k)
    u, uh = stratified(strata_u)
    covered = sum(sizes[m] for m in per if sum(per[m].values()) > per[m]["not checked"])
    whole = [f"whole core: {covered} of {sum(sizes.values())} mutants in the modules sampled",
             f"killed {100 * k:.1f} % ± {100 * kh:.1f}", f"untested {100 * u:.1f} % ± {100 * uh:.1f}"]
    if equivalent:
        e, eh = stratified(strata_e)
        whole.append(f"excluding the {sum(eq_of.values())} sampled mutants listed as equivalent: "
                     f"killed {100 * e:.1f} % ± {100 * eh:.1f}")
    exact = traced_untested(mutants, module_of)
    if exact is not None:
        whole.append(f"untested by mutmut's trace (all mutants, not sampled): {exact} of {len(module_of)} "
                     f"({100 * exact / len(module_of):.1f} %)")
    return rows, whole, total


def _mutmut() -> str:
    # the `mutmut` beside this interpreter (`python -m mutmut` runs its main module twice)
    here = Path(sys.executable).parent / "mutmut"
    return str(here) if here.exists() else "mutmut"


HEAD = ["module", "mutants", "sampled", "tested", "killed", "survived", "no tests", "timeout", "killed%",
        "95% interval"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("draw", "run"):
        p = sub.add_parser(name)
        p.add_argument("prefixes", nargs="*", help="only modules whose path starts with one of these")
        p.add_argument("--size", type=int, default=600, help="mutants in the sample (default 600)")
        p.add_argument("--seed", type=int, default=1, help="the draw's seed (default 1)")
    sub.choices["run"].add_argument("--max-children", type=int, default=1, help="mutmut's workers (default 1)")
    p = sub.add_parser("estimate")
    p.add_argument("--sample", type=Path, required=True, help="a file of mutant names, one per line")
    p.add_argument("--markdown", action="store_true", help="a markdown table")
    p.add_argument("--equivalent", type=Path, help="sampled survivors judged equivalent, one name per line "
                   "(`# reason` after it): also print the share killed among the other mutants")
    for p in sub.choices.values():
        p.add_argument("--mutants", type=Path, default=Path("mutants"), help="mutmut's directory (default: mutants)")
    args = ap.parse_args(argv)
    if args.cmd != "run" and not args.mutants.is_dir():
        print(f"mutation_sample.py: no {args.mutants}/ here: run `mutmut run` once (it writes the mutants), "
              "or `tox -e mutation-sample`", file=sys.stderr)
        return 2
    if args.cmd == "estimate":
        names = [n.strip() for n in args.sample.read_text().splitlines() if n.strip()]
        rows, whole, _ = estimate(args.mutants, names,
                                  read_equivalent(args.equivalent) if args.equivalent else None)
        print_table(HEAD, rows, args.markdown)
        print("; ".join(whole))
        return 0
    if args.size < 1:
        print("mutation_sample.py: --size must be at least 1", file=sys.stderr)
        return 2
    module_of, code_of = verdicts(args.mutants) if args.mutants.is_dir() else ({}, {})
    if not module_of and args.cmd == "run":
        # mutmut writes every mutant at the start of any run: the smallest module's few are tested
        # meanwhile (their verdicts are real and kept)
        rc = subprocess.call([_mutmut(), "run", "--max-children", str(args.max_children), "harness.errors.*"])
        if rc:
            return rc
        module_of, code_of = verdicts(args.mutants)
    if not module_of:
        print(f"mutation_sample.py: no mutants in {args.mutants}/: run `mutmut run` once", file=sys.stderr)
        return 2
    names = draw(module_of, args.size, args.seed, args.prefixes)
    if args.cmd == "draw":
        print("\n".join(names))
        return 0
    out = args.mutants / f"sample-seed{args.seed}.txt"
    out.write_text("\n".join(names) + "\n")
    todo = [n for n in names if code_of[n] is None]
    print(f"mutation_sample.py: {len(names)} sampled ({out}), {len(todo)} without a verdict yet", flush=True)
    if todo:
        # mutmut re-tests every name it is given: only the ones not tested yet, so a run can resume.
        rc = subprocess.call([_mutmut(), "run", "--max-children", str(args.max_children), *todo])
        if rc:
            return rc
    return main(["estimate", "--sample", str(out), "--mutants", str(args.mutants)])


if __name__ == "__main__":
    sys.exit(main())
