"""The `harness` command."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from . import plugins
from .cli_options import (  # noqa: F401 -- also importable from here, as before
    SEED,
    _dir_not_empty,
    _list_not_empty,
    _names,
    _set_threads,
    common_options,
    data_options,
)
from .cli_tables import parity_table as _parity_table
from .errors import HarnessError, ResultWriteError, UsageError
from .signals import (
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    Terminated,
    terminate_as_interrupt,
)
from .spec import DTYPES, VARIANTS
from .threads import threads_from_env

EXIT_USAGE = 2
HarnessUsageError = UsageError  # a user mistake found by the CLI itself (its old name here)


def _err(msg: str) -> None:
    click.echo(f"harness: error: {msg}", err=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point: user mistakes give one line on stderr and exit status 2, never a traceback;
    SIGTERM is handled like Ctrl-C (exit 143)."""
    with terminate_as_interrupt():
        code = _dispatch(argv)
    if argv is None:
        sys.exit(code)
    return code


def _write_failed(e: ResultWriteError) -> int:
    _err(str(e))
    if e.fallback is None:
        click.echo(e.text, nl=False)  # the measurements, on stdout: nothing is lost
    return 1


def _dispatch(argv: list[str] | None) -> int:
    try:
        threads_from_env()
        rv = cli.main(args=argv, prog_name="harness", standalone_mode=False)
        code = rv if isinstance(rv, int) else 0
    except click.exceptions.NoArgsIsHelpError as e:
        click.echo(e.ctx.get_help())
        code = EXIT_USAGE
    except click.UsageError as e:
        _err(e.format_message().replace("\n", " "))
        code = EXIT_USAGE
    except ResultWriteError as e:  # a Failure that keeps the data: says where (before HarnessError)
        code = _write_failed(e)
    except HarnessError as e:  # usage errors exit 2, failures 1 (harness.errors)
        _err(str(e))
        code = e.exit_code
    except (KeyboardInterrupt, click.Abort) as e:  # click turns a KeyboardInterrupt into Abort
        if isinstance(e, Terminated) or isinstance(e.__cause__, Terminated):
            _err("terminated (SIGTERM); no result file was written")
            code = EXIT_TERMINATED
        else:
            _err("interrupted; no result file was written")
            code = EXIT_INTERRUPTED
    return code


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="lecun1989-harness")
def cli():
    """Do deep-learning frameworks compute the same thing, and how fast, on LeCun et al.'s
    1989 ConvNet (9,760 parameters, per-example SGD)?

    \b
      harness backends                          what is installed, which devices each reaches
      harness run --backend torch --device cpu  train, evaluate after each pass, time, write results/
    """


@cli.command()
def backends():
    """List every registered backend, available or not (and why), its strategies and devices."""
    from rich.table import Table

    from .progress import out_console

    reg = plugins.get_registry()
    table = Table(title="harness backends")
    for col in ("backend", "status", "strategies", "devices", "description / reason"):
        table.add_column(col)
    for name in reg.names():
        reason = reg.reason_unavailable(name)
        b = reg.backends.get(name)
        if reason is None:
            devs = []
            for s in b.strategies:
                devs.append(f"{s}: {', '.join(b.strategy_devices(s)) or 'no device here'}")
            table.add_row(name, "[green]available[/]", ", ".join(b.strategies), "\n".join(devs), b.description)
        else:
            table.add_row(name, "[red]unavailable[/]", ", ".join(getattr(b, "strategies", ())) if b else "-",
                          "-", reason)
    out_console().print(table)


@cli.command()
@click.option("--backend", "-b", default="torch", show_default=True, help="Backend to train with (see `harness backends`).")
@click.option("--device", "-d", default="cpu", show_default=True, help="Device: cpu, cuda, cuda:N, mps, tpu (as the backend reaches).")
@click.option("--strategy", "-s", default=None, help="Strategy of the backend (default: its first, the idiomatic one).")
@common_options
@click.option("--epochs", type=click.IntRange(min=1), default=None,
              help="Training passes (default: the variant's, 23 for 1989, 80 for modern).")
@click.option("--window", type=click.IntRange(min=1), default=256, show_default=True,
              help="Examples per timed window; us/example is the median over windows after warm-up.")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="Train on the first N training examples only (quick checks; recorded in the result).")
@click.option("--save-params", is_flag=True, help="Also write the final canonical parameters as .npz next to the result.")
@click.option("--quiet", "-q", is_flag=True, help="No per-pass lines or progress bar.")
def run(backend, device, strategy, variant, dataset, data_dir, seed, dtype, results_dir, epochs, window,
        limit, save_params, quiet):
    """Train one backend x strategy x device, evaluate train and test after every pass, time
    per-example training, and write one result JSON file into --results-dir."""
    from .config import RunConfig
    from .data import load_dataset, resolve_data_dir
    from .progress import pass_progress
    from .results import ensure_writable
    from .run import run_training
    from .targets import get_variant, resolve_config

    asked = RunConfig(backend=backend, strategy=strategy, device=device, variant=variant, dataset=dataset,
                      dtype=dtype, seed=seed, epochs=epochs, limit=limit, window=window,
                      threads=click.get_current_context().meta.get("harness_threads"))
    target, config = resolve_config(plugins.get_registry(), asked)
    v = get_variant(config.variant)
    ensure_writable(results_dir)
    data = load_dataset(dataset, resolve_data_dir(data_dir), dtype=dtype, seed=seed)
    epochs = config.epochs
    n_train = len(data.train_x) if limit is None else min(limit, len(data.train_x))
    click.echo(f"harness run: backend {backend}, strategy {config.strategy}, device {device}, variant {v.name}, "
               f"dataset {data.name} ({n_train} train / {len(data.test_x)} test), {epochs} passes, "
               f"{dtype}, seed {seed}")
    from .timing import busy_warning

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
    t = result["timing"]
    s = t["us_per_example_stats"]
    if s["median"] is not None:
        click.echo(f"us_per_example: median {s['median']:.1f} (p25 {s['p25']:.1f}, p75 {s['p75']:.1f}, "
                   f"{s['n']} windows of {window}); mean {t['us_per_example_mean']:.1f} over those windows; "
                   f"{t['examples_per_s']:.0f} examples/s")
    else:
        click.echo("us_per_example: no steady-state window (run longer or use a smaller --window)")
    click.echo(f"train time {t['train_s_total']:.1f} s (warm-up/compile ~{t['compile_s_estimate'] or 0:.1f} s), "
               f"eval time {t['eval_s_total']:.1f} s")
    click.echo(f"result: {path}")
    return 0


@cli.command()
@click.option("--backends", "-b", "backend_list", default=None, callback=_list_not_empty,
              help="Comma-separated backends to compare (default: every available backend, torch first).")
@click.option("--strategies", "-s", default=None, callback=_list_not_empty,
              help="Comma-separated strategies, each NAME (every selected backend that has it) or "
                   "BACKEND:NAME (default: every strategy of each backend, each compared on its own).")
@click.option("--reference", "-r", default=None,
              help="BACKEND or BACKEND:STRATEGY everything is compared against "
                   "(default: the first backend's first strategy).")
@click.option("--device", "-d", default="cpu", show_default=True,
              help="Device; a backend that cannot reach it is skipped with a note.")
@click.option("--dtype", type=click.Choice(DTYPES), default="float64", show_default=True,
              help="Floating-point type (float64: backends must agree to ~1e-10; float32: measured tolerances).")
@click.option("--variant", default="1989", show_default=True, help=f"Network and recipe: {', '.join(VARIANTS)}.")
@data_options
@click.option("--seed", type=SEED, default=1337, show_default=True,
              help="Seed of the initial parameters and of every random draw.")
@click.option("--steps", "steps_text", default="1,10,100", show_default=True,
              help="Comma-separated k: compare parameters after k per-example steps; the per-step "
                   "trajectory runs to the largest k ('0' skips both).")
@click.option("--passes", type=click.IntRange(min=0), default=1, show_default=True,
              help="Whole passes to train and evaluate (0 skips the check).")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="Training examples per pass (default: all).")
@click.option("--results-dir", type=click.Path(file_okay=False), default="results", callback=_dir_not_empty,
              show_default=True, help="Where the parity JSON file is written.")
@click.option("--verbose", "-v", is_flag=True, help="Print every tensor's row, not only the worst per group.")
def parity(backend_list, strategies, reference, device, dtype, variant, dataset, data_dir, seed, steps_text,
           passes, limit, results_dir, verbose):
    """Do the backends compute the same thing? Compare every backend x strategy against a reference,
    from the same seed, parameters, examples and random draws: forward outputs, loss and gradients,
    parameters after k steps and along the trajectory, and whole passes. Exit 0 when everything
    agrees, 1 on a mismatch (the table shows where), 2 on a usage error."""
    from rich.console import Console

    from . import parity as par
    from .data import load_dataset, resolve_data_dir
    from .progress import out_console
    from .results import ensure_writable, write_result
    from .targets import get_variant

    v = get_variant(variant)
    try:
        ks = par.parse_steps(steps_text)
    except ValueError as e:
        raise click.UsageError(str(e))
    if reference and backend_list and reference.split(":")[0] not in _names(backend_list):
        raise click.UsageError(f"--reference {reference} is not among --backends {backend_list}; "
                               "add its backend there, or leave --reference out")
    sel = par.select_targets(plugins.get_registry(), _names(backend_list), _names(strategies), reference, device,
                             variant=v.name, dtype=dtype)
    ensure_writable(results_dir)
    data = load_dataset(dataset, resolve_data_dir(data_dir), dtype=dtype, seed=seed)
    if ks and max(ks) > len(data.train_x):
        raise click.UsageError(f"--steps {max(ks)} exceeds the {len(data.train_x)} training examples of {data.name}")
    console = out_console()
    err = Console(stderr=True, highlight=False)
    for note in sel.notes:
        console.print(f"note: {note}")
    n_train = len(data.train_x) if limit is None else min(limit, len(data.train_x))
    console.print(f"harness parity: {', '.join(t.label for t in sel.targets)} vs reference {sel.reference.label}; "
                  f"device {device}, {dtype}, variant {v.name}, dataset {data.name} ({n_train} train / "
                  f"{len(data.test_x)} test), seed {seed}, steps {','.join(map(str, ks)) or '-'}, passes {passes}")
    result = par.run_parity(sel, variant=v, data=data, dtype=dtype, device=device, seed=seed, steps=ks,
                            passes=passes, limit=limit, log=lambda m: err.print(f"[dim]checking {m}[/]"))
    for check in result["checks"]:
        console.print(f"\n[bold]{check['name']}[/]: {check['title']}")
        console.print(_parity_table(check, verbose))
        console.print(("[green]" if check["passed"] else "[red]") + check["summary"] + "[/]")
    path = write_result(results_dir, result, par.result_stem(result))
    verdict = "[green]PASS[/]: every backend agrees" if result["passed"] else \
        f"[red]FAIL[/]: mismatch in {', '.join(result['failed_targets'])}"
    console.print(f"parity {verdict}")
    console.print(f"result: {path}")
    return 0 if result["passed"] else 1


@cli.command()
@click.option("--results-dir", type=click.Path(file_okay=False), default="results", callback=_dir_not_empty,
              show_default=True, help="Results to read; REPORT.md and the PNG figures are written here too.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder holding usps/ and mnist/, for the gallery of missed digits "
                   "(default: $HARNESS_DATA_DIR, else a per-user cache; no data: no gallery).")
@click.option("--compare", nargs=2, type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              metavar="A B", help="Compare two result files or two pytest-benchmark JSON files: ratio B/A of "
                                  "us/example and final errors, and whether it exceeds the recorded spread.")
def report(results_dir, data_dir, compare):
    """Write REPORT.md and PNG figures into --results-dir from every result there (runs, bench,
    parity, pytest-benchmark JSON): the table of runs, learning curves, throughput, missed test
    digits, parity. Files that are not usable results are listed as skipped. With --compare A B,
    print a comparison table instead (writes nothing)."""
    from .report import ReportError, build_report, compare_files

    try:
        if compare:
            click.echo(compare_files(*compare))
            return 0
        outcome = build_report(results_dir, data_dir)
    except ReportError as e:
        raise HarnessUsageError(str(e)) from e
    for path, why in outcome.skipped:
        click.echo(f"skipped: {path}: {why}", err=True)
    for note in outcome.notes:
        click.echo(f"note: {note}", err=True)
    click.echo(f"wrote {outcome.report}" + (f" and {len(outcome.figures)} figure(s): "
                                             + ", ".join(p.name for p in outcome.figures) if outcome.figures else ""))
    return 0


@cli.command()
@click.option("--backends", "backend_names", default=None, callback=_list_not_empty, help="Comma-separated backends (default: every available one).")
@click.option("--strategies", default=None, callback=_list_not_empty, help="Comma-separated strategies, `name` or `backend:name` (default: all).")
@click.option("--devices", default=None, callback=_list_not_empty, help="Comma-separated devices (default: every device each strategy reaches).")
@common_options
@click.option("--window", type=click.IntRange(min=1), default=256, show_default=True,
              help="Per-example steps in one timed round.")
@click.option("--rounds", type=click.IntRange(min=1), default=10, show_default=True,
              help="Timed rounds after one warm-up round; the median is reported.")
@click.option("--kernels", is_flag=True, help="Also count kernels (GPU) or operators (CPU) per example "
              "with each framework's profiler, over one more window after the timing.")
def bench(backend_names, strategies, devices, variant, dataset, data_dir, seed, dtype, results_dir, window, rounds,
          kernels):
    """Time the whole matrix this machine offers: every available backend x strategy x device,
    --window per-example steps per round after a warm-up round; print one table and write it
    as a result file. What to run first on a new machine."""
    from rich.console import Console
    from rich.table import Table

    from .bench import add_speedups, time_matrix
    from .data import load_dataset, resolve_data_dir
    from .kernels import kernels_cell
    from .progress import out_console
    from .results import ensure_writable, now_iso, write_result
    from .targets import get_variant, resolve_matrix
    from .timing import environment

    v = get_variant(variant)
    m = resolve_matrix(plugins.get_registry(), _names(backend_names), _names(strategies), _names(devices),
                       variant=v.name, dtype=dtype, refuse_named=True)
    tlist = m.targets
    if not tlist:
        raise HarnessUsageError("nothing to time: " + ("; ".join(m.notes) or "no backend is available"))
    ensure_writable(results_dir)
    data = load_dataset(dataset, resolve_data_dir(data_dir), dtype=dtype, seed=seed)
    console = Console(stderr=True)
    timed = time_matrix(tlist, v, data, seed=seed, dtype=dtype, window=window, rounds=rounds, kernels=kernels,
                        on_target=lambda t: console.print(f"timing {t.label_with_device} ({rounds} rounds of "
                                                          f"{window} examples after a warm-up round)..."))
    if not timed.rows:  # nothing measured: the first refusal is the answer
        raise timed.errors[0]
    rows = add_speedups(timed.rows)
    table = Table(title=f"harness bench: variant {v.name}, {data.name}, {dtype}, us per training example")
    for col in ("backend", "strategy", "device", "us/example (median)", "p25-p75", "examples/s",
                "compile s", "speed-up vs slowest") + (("per example (profiler)",) if kernels else ()):
        table.add_column(col, justify="right" if col[0] in "uepcs" and col != "strategy" else "left")
    for r in sorted(rows, key=lambda r: (r["device"], r["us_per_example"])):
        table.add_row(r["backend"], r["strategy"], r["device"], f"{r['us_per_example']:.1f}",
                      f"{r['p25']:.1f}-{r['p75']:.1f}", f"{r['examples_per_s']:.0f}", f"{r['compile_s']:.1f}",
                      f"{r['speedup_vs_slowest']:.1f}x", *((kernels_cell(r),) if kernels else ()))
    out_console().print(table)
    notes = m.notes + [f"{r['backend']}:{r['strategy']}@{r['device']} refused: {r['reason']}" for r in timed.refused]
    for note in notes:  # what the matrix left out, and why
        click.echo(f"note: {note}")
    path = write_result(results_dir, {
        "kind": "bench", "created": now_iso(), "variant": v.name, "dataset": data.name, "seed": seed,
        "dtype": dtype, "window": window, "rounds": rounds, "rows": rows, "skipped": m.skipped + timed.refused,
        "notes": notes, "environment": environment(),
    }, stem=f"bench-{'-'.join(sorted({t.device.replace(':', '') for t in tlist}))}-{v.name}-{dtype}")
    click.echo(f"result: {path}")
    if timed.refused:
        _err(f"{len(timed.refused)} target(s) refused ({'; '.join(n for n in notes[len(m.notes):])}); "
             f"the {len(rows)} measured are in {path}")
    return timed.exit_code


from .sweep.cli import sweep  # its own module: the sweep has many options

cli.add_command(sweep)
cli.add_command(__import__("harness.data.command", fromlist=["data"]).data)  # `harness data fetch|list`

if __name__ == "__main__":
    main()
