"""`harness run`: one backend x strategy x device, a whole training run, one result file (harness.run)."""
from __future__ import annotations

import click

from .. import plugins
from ..config import RunConfig
from ..data import load_dataset, resolve_data_dir
from ..progress import pass_progress
from ..recipe import of_config
from ..results import ensure_writable
from ..run import run_training
from ..targets import resolve_config
from ..timing import busy_warning
from .idiom import ROUNDS as IDIOM_ROUNDS
from .idiom import idiom_cost as idiom_line
from .options import bounds, common_options


@click.command()
@click.option("--backend", "-b", default="torch", show_default=True, help="Backend to train with (see `harness backends`).")
@click.option("--device", "-d", default="cpu", show_default=True, help="Device: cpu, cuda, cuda:N, mps, tpu (as the backend reaches).")
@click.option("--strategy", "-s", default=None,
              help="Strategy of the backend (default: its first, the idiomatic loop most ports write, e.g. torch "
                   "eager: slow on a CPU, ~5 min for 23 passes on 2 cores; `--strategy compiled` trains them in "
                   "under a minute there). `harness backends` lists each backend's strategies.")
@common_options
@click.option("--epochs", type=bounds("epochs"), default=None,
              help="Training passes (default: the variant's, 23 for 1989, 80 for modern).")
@click.option("--window", type=bounds("window"), default=256, show_default=True,
              help="Examples per timed window; us/example is the median over windows after warm-up.")
@click.option("--limit", type=bounds("limit"), default=None,
              help="Train on the first N training examples only (quick checks; recorded in the result).")
@click.option("--save-params", is_flag=True, help="Also write the final canonical parameters as .npz next to the result.")
@click.option("--quiet", "-q", is_flag=True, help="No per-pass lines or progress bar.")
@click.option("--idiom-cost/--no-idiom-cost", default=None,
              help="After a run with a strategy other than the backend's idiomatic first one, time the idiom "
                   f"over {IDIOM_ROUNDS} windows here and say what it costs next to this run "
                   "(default: on, off with --quiet).")
def run(backend, device, strategy, variant, sets, dataset, data_dir, seed, dtype, results_dir, epochs, window,
        limit, save_params, quiet, idiom_cost):
    """Train one backend x strategy x device, evaluate train and test after every pass, time
    per-example training, and write one result JSON file into --results-dir."""
    asked = RunConfig(backend=backend, strategy=strategy, device=device, variant=variant, dataset=dataset,
                      dtype=dtype, seed=seed, epochs=epochs, limit=limit, window=window,
                      threads=click.get_current_context().meta.get("harness_threads"), recipe=sets)
    target, config = resolve_config(plugins.get_registry(), asked)
    ensure_writable(results_dir)
    data = load_dataset(config.dataset, resolve_data_dir(data_dir), dtype=config.dtype, seed=config.seed,
                        quiet=quiet)
    epochs = config.epochs
    n_train = len(data.train_x) if config.limit is None else min(config.limit, len(data.train_x))
    click.echo(f"harness run: backend {backend}, strategy {config.strategy}, device {device}, recipe "
               f"{of_config(config).label}, dataset {data.name} ({n_train} train / {len(data.test_x)} test), {epochs} passes, "
               f"{dtype}, seed {seed}")
    if warning := busy_warning():  # on stdout with the run's header: stderr is for errors only
        click.echo(warning)

    with pass_progress(n_train, epochs, enabled=not quiet) as bar:
        def on_epoch(epoch, entry, tr, te):
            bar.epoch_done(epoch)
            if not quiet:
                click.echo(f"pass {epoch + 1}/{epochs}")
                click.echo(tr.line("train"))
                click.echo(te.line("test"))

        path, result = run_training(target, config, data, results_dir, save_params=save_params,
                                    on_epoch=on_epoch, progress=bar.advance)
    fin = result["final"]
    click.echo(f"final: train error {fin['train_error'] * 100:.2f}% ({fin['train_misses']} missed), test error "
               f"{fin['test_error'] * 100:.2f}% ({fin['test_misses']} missed) after {epochs} passes")
    _say_timing(result["timing"], min(window, result.get("n_train") or window))  # a pass is at most one window
    click.echo(f"result: {path}")
    wanted = idiom_cost if idiom_cost is not None else not quiet
    median = result["timing"]["us_per_example_stats"]["median"]
    if wanted and (line := idiom_line(target, config, data, median, n_train)):
        click.echo(line)
    return 0


def _say_timing(t: dict, window: int) -> None:
    s = t["us_per_example_stats"]
    if s["median"] is not None:
        click.echo(f"us_per_example: median {s['median']:.1f} (p25 {s['p25']:.1f}, p75 {s['p75']:.1f}, "
                   f"{s['n']} windows of up to {window} examples); mean {t['us_per_example_mean']:.1f} over those windows; "
                   f"{t['examples_per_s']:.0f} examples/s")
    else:
        click.echo("us_per_example: no steady-state window (run longer or use a smaller --window)")
    click.echo(f"train time {t['train_s_total']:.1f} s (warm-up/compile ~{t['compile_s_estimate'] or 0:.1f} s), "
               f"eval time {t['eval_s_total']:.1f} s")
