"""`harness bench`: time the whole matrix; harness.bench times it and builds the result."""
from __future__ import annotations

import click
from rich.console import Console

from .. import plugins
from ..bench import bench_result, result_stem, time_matrix
from ..config import BenchConfig
from ..data import load_dataset, resolve_data_dir
from ..errors import UsageError
from ..progress import out_console
from ..recipe import of_config
from ..results import ensure_writable, write_result
from ..targets import resolve_matrix
from .jsonout import emit, json_option, written
from .options import _err, _names, bounds, common_options, list_option
from .tables import bench_table


@click.command()
@list_option("backend", "Backends (default: every available one).", "backend_names")
@list_option("strategy", "Strategies, `name` or `backend:name` (default: all).", "strategies")
@list_option("device", "Devices (default: every device each strategy reaches).", "devices")
@common_options
@click.option("--window", type=bounds("window"), default=256, show_default=True,
              help="Per-example steps in one timed round.")
@click.option("--rounds", type=bounds("rounds"), default=10, show_default=True,
              help="Timed rounds after one warm-up round; the median is reported.")
@click.option("--kernels", is_flag=True, help="Also count kernels (GPU) or operators (CPU) per example "
              "with each framework's profiler, over one more window after the timing.")
@json_option
def bench(backend_names, strategies, devices, variant, sets, dataset, data_dir, seed, dtype, results_dir, window,
          rounds, kernels, as_json):
    """Time the whole matrix this machine offers: every available backend x strategy x device,
    --window per-example steps per round after a warm-up round; print one table and write it
    as a result file. What to run first on a new machine."""
    c = BenchConfig(backends=_names(backend_names), strategies=_names(strategies), devices=_names(devices),
                    variant=variant, dataset=dataset, dtype=dtype, seed=seed, window=window, rounds=rounds,
                    kernels=kernels, threads=click.get_current_context().meta.get("harness_threads"), recipe=sets)
    m = resolve_matrix(plugins.get_registry(), c.backends, c.strategies, c.devices, variant=c.variant, dtype=c.dtype,
                       recipe=of_config(c),
                       refuse_named=True)
    if not m.targets:
        raise UsageError("nothing to time: " + ("; ".join(m.notes) or "no backend is available"))
    ensure_writable(results_dir)
    data = load_dataset(c.dataset, resolve_data_dir(data_dir), dtype=c.dtype, seed=c.seed)
    console = Console(stderr=True)
    timed = time_matrix(m.targets, c, data,
                        on_target=lambda t: console.print(f"timing {t.label_with_device} ({rounds} rounds of "
                                                          f"{window} examples after a warm-up round)..."))
    if not timed.rows:  # nothing measured: the first refusal is the answer
        raise timed.errors[0]
    result = bench_result(c, m, data, timed)
    if not as_json:
        out_console().print(bench_table(result, data.name, c.kernels))
    for note in result["notes"]:  # what the matrix left out or refused, and why
        click.echo(f"note: {note}", err=as_json)
    path = write_result(results_dir, result, stem=result_stem(c, m))
    if as_json:
        emit("bench", written(path))
    else:
        click.echo(f"result: {path}")
    if timed.refused:
        _err(f"{len(timed.refused)} target(s) refused ({'; '.join(timed.refusal_notes())}); "
             f"the {len(result['rows'])} measured are in {path}")
    return timed.exit_code
