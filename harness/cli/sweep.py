"""The `harness sweep` command (harness.sweep runs the grid)."""
from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import click

from .. import plugins
from ..report import seeds as seed_report
from ..results import load_results
from ..sweep.driver import SweepInterrupted, run_sweep
from ..sweep.grid import AXES, Grid, GridError, expand, load_toml, parse_ints
from ..sweep.local import run_local
from ..sweep.manifest import point_id
from ..sweep.match import finished_points, point_key, result_for, result_key
from ..sweep.progress import echo_points
from ..sweep.ray_exec import RayUnavailable, run_ray
from .options import bounds

EXECUTORS = ("local", "ray")


def _parse_resources(text: str | None) -> dict[str, float]:
    """`h100=1,big=2` or JSON `{"h100": 1}` -> {name: amount}."""
    if not text:
        return {}
    try:
        if text.strip().startswith("{"):
            return {str(k): float(v) for k, v in json.loads(text).items()}
        return {k.strip(): float(v) for k, v in (p.split("=", 1) for p in text.split(",") if p.strip())}
    except (ValueError, AttributeError):
        raise GridError(f"--resources: {text!r} is not name=amount[,name=amount] or a JSON object") from None


def build_grid(grid_file: Path | None, lists: dict, window: int, resources: dict):
    reg = plugins.get_registry()
    strategies_of = {n: tuple(reg.backends[n].strategies) for n in reg.names() if n in reg.backends}
    given = {k: v for k, v in lists.items() if v is not None}
    if grid_file is not None:
        grid = load_toml(grid_file, strategies_of)
        if given.get("seeds"):  # the command line's seeds replace the file's
            seeds = parse_ints(given["seeds"])
            points = list(dict.fromkeys(replace(c, seed=s) for c in grid.points for s in seeds))
            res = {replace(c, seed=s): grid.resources_for(c) for c in grid.points for s in seeds}
            grid = Grid(points, res, {**grid.spec, "seeds": given["seeds"]})
    else:
        points = expand(given, {"window": window}, strategies_of)
        grid = Grid(points, {}, {**given, "window": window})
    for c in grid.points:
        grid.resources[c] = {**resources, **grid.resources_for(c)}
    grid.spec["resources"] = resources or grid.spec.get("resources")
    return grid


def _list_option(name: str, help: str):
    return click.option(f"--{name}", default=None, help=help)


LIST_HELP = {
    "seeds": "Seeds: 1-10, 1,2,5 or 1-3,7.", "backends": "Comma-separated backends (default: torch).",
    "strategies": "Comma-separated strategies, backend:name or a name every chosen backend has "
                  "(default: each backend's first).",
    "devices": "Comma-separated devices (default: cpu).", "variants": "Comma-separated variants (default: 1989).",
    "dtypes": "Comma-separated dtypes (default: float32).", "datasets": "Comma-separated data sets (default: usps).",
    "epochs": "Passes, one or a list (default: each variant's own).",
    "limit": "Train on the first N examples; one or a list.", "threads": "CPU threads per point; one or a list "
    "(default: none declared, the point claims the whole machine).",
}


@click.command()
@click.argument("grid_file", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--executor", type=click.Choice(EXECUTORS), default="local", show_default=True,
              help="local: points one after another here; ray: each point a Ray task on whichever node fits.")
@click.option("--ray-address", default=None, help="Ray cluster: auto or HOST:PORT (default: start Ray locally).")
@click.option("--resources", default=None, help="Custom Ray resources every point needs, e.g. h100=1.")
@click.option("--share-cores", is_flag=True, help="Ray: let points share a node's cores (one nominal CPU each); "
              "timings of points that share cores are not clean.")
@click.option("--results-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("results"),
              show_default=True, help="Where the driver writes result files and the sweep manifest.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Data folder (default: $HARNESS_DATA_DIR); with Ray it must exist on every node.")
@click.option("--window", type=bounds("window"), default=256, show_default=True, help="Examples per timed window.")
@click.option("--save-params", is_flag=True, help="Also write each point's final parameters as .npz.")
@click.option("--dry-run", is_flag=True, help="List the points (found or pending) and run nothing.")
def sweep(grid_file, executor, ray_address, resources, share_cores, results_dir, data_dir, window, save_params,
          dry_run, **lists):
    """Run a grid of `harness run` points (from lists, or GRID_FILE, a TOML file), each in its own
    process; points that already have a result in --results-dir are skipped (matched by
    configuration), failed ones retried. A manifest (sweep-manifest.json) records each point's
    state. Prints a seed table (mean and spread over seeds) at the end. Exit status 1 if a
    point failed, 130 if interrupted (finished points are kept)."""
    try:
        grid = build_grid(grid_file, lists, window, _parse_resources(resources))
    except GridError as e:
        raise click.UsageError(str(e)) from None
    if dry_run:
        found = finished_points(results_dir)
        echo_points(grid.points, {point_id(c) for c in grid.points if result_for(found, c)}, grid.resources)
        click.echo(f"{len(grid.points)} point(s)")
        return 0
    env = {k: v for k, v in os.environ.items() if k.startswith("HARNESS_") and k != "HARNESS_COTENANTS"}
    if data_dir is not None:
        env["HARNESS_DATA_DIR"] = str(Path(data_dir).resolve())
    if executor == "ray":
        run_points, extra = run_ray, {"address": ray_address, "share_cores": share_cores}
    else:
        run_points, extra = run_local, {}
    try:
        outcome = run_sweep(grid, results_dir, run_points, env=env, save_params=save_params, **extra)
    except RayUnavailable as e:
        raise click.UsageError(str(e)) from None
    except SweepInterrupted as e:
        click.echo(f"harness: {e}", err=True)
        return 130
    click.echo(f"sweep: {len(grid.points)} point(s): {len(outcome.found)} found, {len(outcome.done)} run, "
               f"{len(outcome.failed)} failed; manifest {outcome.manifest}")
    keys = {point_key(c) for c in grid.points}
    mine = [r for _, r in load_results(results_dir)[0] if result_key(r) in keys]
    if mine:
        click.echo(seed_report.seed_tables(mine))
    return 1 if outcome.failed else 0


for _name in AXES:
    sweep = _list_option(_name, LIST_HELP[_name])(sweep)
