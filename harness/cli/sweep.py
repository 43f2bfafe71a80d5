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
from ..signals import EXIT_INTERRUPTED, EXIT_TERMINATED
from ..sweep import local, ray_exec
from ..sweep.driver import SweepInterrupted, run_sweep
from ..sweep.grid import (
    AXES,
    MAX_POINTS,
    SET,
    Grid,
    GridError,
    check_resources,
    expand,
    load_toml,
    parse_ints,
)
from ..sweep.manifest import point_id
from ..sweep.match import finished_points, point_key, result_for, result_key
from ..sweep.progress import echo_points
from ..sweep.ray_exec import RayUnavailable
from .jsonout import emit, json_option
from .options import PLURAL, _dir_not_empty, _list_not_empty, bounds, list_option

EXECUTORS = ("local", "ray")


def _parse_resources(text: str | None) -> dict[str, float]:
    """`h100=1,big=2` or JSON `{"h100": 1}` -> {name: amount}."""
    if not text:
        return {}
    try:
        if text.strip().startswith("{"):
            return check_resources(json.loads(text), "--resources")
        return check_resources({k.strip(): float(v) for k, v in (p.split("=", 1) for p in text.split(",")
                                                                   if p.strip())}, "--resources")
    except (ValueError, AttributeError, TypeError):
        raise GridError(f"--resources: {text!r} is not name=amount[,name=amount] or a JSON object") from None


def build_grid(grid_file: Path | None, lists: dict, window: int, resources: dict, max_points: int = MAX_POINTS):
    reg = plugins.get_registry()
    strategies_of = {n: tuple(reg.backends[n].strategies) for n in reg.names() if n in reg.backends}
    given = {k: v for k, v in lists.items() if v is not None}
    if grid_file is not None:
        ignored = [k for k in given if k not in ("seeds", SET)]  # a list the file's grid would silently drop
        if ignored:
            opts = ", ".join(f"--{k}" for k in ignored)
            raise GridError(f"{opts} {'is' if len(ignored) == 1 else 'are'} for grids given by options; with a "
                            f"grid file (only --seeds replaces the file's), write "
                            f"{', '.join(f'{k} = ...' for k in ignored)} in the file")
        grid = load_toml(grid_file, strategies_of, max_points)
        if given.get("seeds"):  # the command line's seeds replace the file's
            seeds = parse_ints(given["seeds"], "seeds", max_points)
            # the file's points that differ only in their seed become the same points: count those once
            n = len({replace(c, seed=seeds[0]) for c in grid.points}) * len(seeds)
            if n > max_points:
                raise GridError(f"the grid has {n:,} points, more than the "
                                f"{max_points:,} a sweep may have (--max-points raises the bound)")
            points = list(dict.fromkeys(replace(c, seed=s) for c in grid.points for s in seeds))
            res = {replace(c, seed=s): grid.resources_for(c) for c in grid.points for s in seeds}
            grid = Grid(points, res, {**grid.spec, "seeds": given["seeds"]})
    else:
        points = expand(given, {"window": window}, strategies_of, max_points)
        grid = Grid(points, {}, {**given, "window": window})
    for c in grid.points:
        grid.resources[c] = {**resources, **grid.resources_for(c)}
    grid.spec["resources"] = resources or grid.spec.get("resources")
    return grid


def dry_run_doc(grid: Grid, done: set[str], results_dir) -> dict:
    """`sweep --dry-run --json`: each point, found or pending, with its configuration (keys: docs/cli.md)."""
    points = [{"id": point_id(c), "state": "found" if point_id(c) in done else "pending", "config": c.to_dict(),
               "resources": grid.resources.get(c) or None} for c in grid.points]
    return {"results_dir": str(results_dir), "count": len(points), "found": len(done & {p["id"] for p in points}),
            "pending": sum(p["state"] == "pending" for p in points), "points": points}


def _ray_only(executor: str, **given) -> None:
    """The local executor refuses options only Ray uses, rather than ignore them."""
    named = [f"--{k.replace('_', '-')}" for k, v in given.items() if v]
    if executor == "local" and named:
        raise GridError(f"{', '.join(named)} {'is' if len(named) == 1 else 'are'} for --executor ray; "
                        "add --executor ray, or leave it out")


def _list_option(name: str, help: str):
    """A grid axis takes a list, repeated or comma-separated: the plural and singular names of the
    one vocabulary (--seeds/--seed, ...) where there are both (options.PLURAL), else its one name
    (--epochs, --limit, --threads)."""
    noun = next((n for n, p in PLURAL.items() if p == name), None)
    if noun is not None:
        return list_option(noun, help, name, metavar="RANGE" if name == "seeds" else "NAME[,NAME...]")
    return click.option(f"--{name}", multiple=True, callback=_list_not_empty, metavar="N[,N...]",
                        help=f"{help} Repeat the option or separate with commas.")


LIST_HELP = {
    "seeds": "Seeds: 1-10, 1,2,5 or 1-3,7.", "backends": "Backends (default: torch).",
    "strategies": "Strategies, backend:name or a name every chosen backend has "
                  "(default: each backend's first).",
    "devices": "Devices (default: cpu).", "variants": "Variants (default: 1989).",
    "dtypes": "Dtypes (default: float32).", "datasets": "Data sets (default: usps).",
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
@click.option("--results-dir", type=click.Path(file_okay=False), default="results",
              show_default=True, callback=_dir_not_empty,
              help="Where the driver writes result files and the sweep manifest; sweeps may share it.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Data folder (default: $HARNESS_DATA_DIR); with Ray it must exist on every node.")
@click.option("--window", type=bounds("window"), default=256, show_default=True, help="Examples per timed window.")
@click.option("--save-params", is_flag=True, help="Also write each point's final parameters as .npz.")
@click.option("--dry-run", is_flag=True, help="List the points (found or pending) and run nothing.")
@click.option("--max-points", type=click.IntRange(min=1), default=MAX_POINTS, show_default=True,
              help="Refuse a grid of more points than this (a range such as 1-10000000 is most likely a typo).")
@click.option("--point-timeout", type=click.FloatRange(min=0, min_open=True), default=None, metavar="SECONDS",
              help="Stop a point still running after this long and fail it, saying so (default: no limit).")
@click.option("--set", "sets", multiple=True, metavar="KNOB=V1,V2",
              help="A recipe knob and its values, repeatable: every combination is a point of its own (e.g. "
                   "--set targets=0.8,0.9 --set init=fan_in). In a GRID_FILE: a table `set = {targets = [0.8, "
                   "0.9]}` (a product) or `recipe = {...}` (one recipe, e.g. per [[configs]]). `harness recipes` "
                   "lists the knobs.")
@json_option(help="With --dry-run: print the points as one JSON object on stdout (keys: docs/cli.md).")
def sweep(grid_file, executor, ray_address, resources, share_cores, results_dir, data_dir, window, save_params,
          dry_run, max_points, point_timeout, sets, as_json, **lists):
    """Run a grid of `harness run` points (from lists, or GRID_FILE, a TOML file), each in its own
    process; points that already have a result in --results-dir are skipped (matched by
    configuration), failed ones retried. A manifest (sweep-manifest.json) records each point's
    state; sweeps may share a results directory (each point runs once, the others wait for it).
    Prints a seed table (mean and spread over seeds) at the end. Exit status 1 if a point
    failed, 130 if interrupted, 143 if terminated (finished points are kept)."""
    if as_json and not dry_run:
        raise click.UsageError("--json goes with --dry-run (a sweep's results are the files it writes)")
    try:
        _ray_only(executor, ray_address=ray_address, share_cores=share_cores, resources=resources)
        if sets and grid_file is not None:
            raise GridError("--set is for grids given by options; in a grid file, write its knobs in a "
                            "`set` or `recipe` table")
        grid = build_grid(grid_file, {**lists, SET: list(sets) or None}, window, _parse_resources(resources),
                          max_points)
    except GridError as e:
        raise click.UsageError(str(e)) from None
    if executor == "local" and any(grid.resources.values()):
        click.echo("note: the grid file's resources are for --executor ray; the local executor ignores them",
                   err=True)
    if dry_run:
        found = finished_points(results_dir)
        done = {point_id(c) for c in grid.points if result_for(found, c)}
        if as_json:
            emit("sweep --dry-run", dry_run_doc(grid, done, results_dir))
            return 0
        echo_points(grid.points, done, grid.resources)
        click.echo(f"{len(grid.points)} point(s)")
        return 0
    env = {k: v for k, v in os.environ.items() if k.startswith("HARNESS_") and k != "HARNESS_COTENANTS"}
    if data_dir is not None:
        env["HARNESS_DATA_DIR"] = str(Path(data_dir).resolve())
    if executor == "ray":  # looked up when used: tests stand in for an executor
        run_points, extra = ray_exec.run_ray, {"address": ray_address, "share_cores": share_cores}
    else:
        run_points, extra = local.run_local, {}
    try:
        outcome = run_sweep(grid, results_dir, run_points, env=env, save_params=save_params,
                            executor_name=executor, point_timeout=point_timeout, **extra)
    except RayUnavailable as e:
        raise click.UsageError(str(e)) from None
    except SweepInterrupted as e:
        click.echo(f"harness: {e}", err=True)
        return EXIT_TERMINATED if e.terminated else EXIT_INTERRUPTED
    c = outcome.counts()
    click.echo(f"sweep: {len(grid.points)} point(s): {c['found']} found, {c['run']} run, "
               + "".join(f"{c[k]} {w}, " for k, w in (("recovered", "recovered from a killed sweep"),
                                                     ("elsewhere", "run by another sweep meanwhile")) if c[k])
               + f"{c['failed']} failed; manifest {outcome.manifest}")
    keys = {point_key(c) for c in grid.points}
    mine = [r for _, r in load_results(results_dir)[0] if result_key(r) in keys]
    if mine:
        click.echo(seed_report.seed_tables(mine))
    return 1 if outcome.failed else 0


for _name in AXES:
    sweep = _list_option(_name, LIST_HELP[_name])(sweep)
