"""`harness parity`: do the backends compute the same thing? (harness.parity builds the result)."""
from __future__ import annotations

import click
from rich.console import Console
from rich.markup import escape

from .. import parity as par
from .. import plugins
from ..config import ParityConfig
from ..data import load_dataset, resolve_data_dir
from ..progress import out_console
from ..recipe import of_config
from ..results import ensure_writable, write_result
from ..spec import DTYPES, VARIANTS
from .jsonout import emit, json_option, written
from .options import (
    SEED,
    _dir_not_empty,
    _names,
    bounds,
    data_options,
    list_option,
    recipe_option,
)
from .tables import parity_table


@click.command()
@list_option("backend", "Backends to compare (default: every available backend, torch first).", "backend_list")
@list_option("strategy", "Strategies, each NAME (every selected backend that has it) or BACKEND:NAME "
             "(default: every strategy of each backend, each compared on its own).", "strategies")
@click.option("--reference", "-r", default=None,
              help="BACKEND or BACKEND:STRATEGY everything is compared against "
                   "(default: the first backend's first strategy).")
@click.option("--device", "-d", default="cpu", show_default=True,
              help="Device; a backend that cannot reach it is skipped with a note.")
@click.option("--dtype", type=click.Choice(DTYPES), default="float64", show_default=True,
              help="Floating-point type (float64: backends must agree to ~1e-10; float32: measured tolerances).")
@click.option("--variant", default="1989", show_default=True,
              help=f"Network and recipe: {', '.join(VARIANTS)} (a named set of knobs: --set).")
@recipe_option
@data_options
@click.option("--seed", type=SEED, default=1337, show_default=True,
              help="Seed of the initial parameters and of every random draw.")
@click.option("--steps", "steps_text", default="1,10,100", show_default=True,
              help="Comma-separated k: compare parameters after k per-example steps; the per-step "
                   "trajectory runs to the largest k ('0' skips both).")
@click.option("--passes", type=bounds("passes"), default=1, show_default=True,
              help="Whole passes to train and evaluate (0 skips the check).")
@click.option("--limit", type=bounds("limit"), default=None,
              help="Training examples per pass (default: all).")
@click.option("--results-dir", type=click.Path(file_okay=False), default="results", callback=_dir_not_empty,
              show_default=True, help="Where the parity JSON file is written.")
@click.option("--verbose", "-v", is_flag=True, help="Print every tensor's row, not only the worst per group.")
@json_option
def parity(backend_list, strategies, reference, device, dtype, variant, sets, dataset, data_dir, seed, steps_text,
           passes, limit, results_dir, verbose, as_json):
    """Do the backends compute the same thing? Compare every backend x strategy against a reference,
    from the same seed, parameters, examples and random draws: forward outputs, loss and gradients,
    parameters after k steps and along the trajectory, and whole passes. Exit 0 when everything
    agrees, 1 on a mismatch (the table shows where), 2 on a usage error."""
    try:
        ks = par.parse_steps(steps_text)
    except ValueError as e:
        raise click.UsageError(str(e))
    c = ParityConfig(backends=_names(backend_list), strategies=_names(strategies), reference=reference,
                     device=device, variant=variant, dataset=dataset, dtype=dtype, seed=seed, steps=ks,
                     passes=passes, limit=limit, recipe=sets)
    sel = par.select(plugins.get_registry(), c)
    ensure_writable(results_dir)
    data = load_dataset(c.dataset, resolve_data_dir(data_dir), dtype=c.dtype, seed=c.seed)
    err = Console(stderr=True, highlight=False)
    console = err if as_json else out_console()  # --json: stdout holds the JSON object alone
    for note in sel.notes:
        console.print(f"note: {note}")
    n_train = len(data.train_x) if c.limit is None else min(c.limit, len(data.train_x))
    console.print(f"harness parity: {', '.join(t.label for t in sel.targets)} vs reference {sel.reference.label}; "
                  f"device {c.device}, {c.dtype}, recipe {of_config(c).label}, dataset {data.name} ({n_train} train / "
                  f"{len(data.test_x)} test), seed {c.seed}, steps {','.join(map(str, c.steps)) or '-'}, "
                  f"passes {c.passes}")
    result = par.run_parity(sel, c, data, log=lambda m: err.print(f"[dim]checking {m}[/]"))
    path = write_result(results_dir, result, par.result_stem(result))
    if as_json:
        emit("parity", written(path, passed=result["passed"]))
        return 0 if result["passed"] else 1
    for check in result["checks"]:
        console.print(f"\n[bold]{check['name']}[/]: {check['title']}")
        console.print(parity_table(check, verbose))
        console.print(("[green]" if check["passed"] else "[red]") + check["summary"] + "[/]")
    head, _, rest = par.verdict(result).partition(" ")
    console.print(f"parity [{'green' if result['passed'] else 'red'}]{head}[/] {escape(rest)}")
    console.print(f"result: {path}")
    return 0 if result["passed"] else 1
