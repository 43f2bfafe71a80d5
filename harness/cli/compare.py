"""`harness compare A B`: B's per-example time against A's, with a statistical test on the timed
windows, and a regression gate for CI (--fail-above PCT) (harness.report.gate)."""
from __future__ import annotations

from pathlib import Path

import click

from ..errors import UsageError
from ..report import ReportError
from ..report.fmt import plain
from ..report.gate import compare_paths, compare_text
from .jsonout import emit, json_option

PATHS = click.Path(exists=True, path_type=Path)


@click.command()
@click.argument("a", type=PATHS)
@click.argument("b", type=PATHS)
@click.option("--fail-above", type=click.FloatRange(min=0), default=None, metavar="PCT",
              help="Exit 1 when B is slower than A by more than PCT percent at --confidence (the lower bound "
                   "of the bootstrap interval of B/A above 1 + PCT/100); exit 2 when a configuration could not "
                   "be tested (no or too few timed windows) or none is in common.")
@click.option("--confidence", type=click.FloatRange(min=0.5, max=1, max_open=True), default=0.95,
              show_default=True, help="Confidence of the interval of B/A and the significance level "
                                      "(1 - confidence) of the Mann-Whitney test.")
@json_option(help="Print one JSON object on stdout instead of text (keys: docs/compare.md, docs/cli.md).")
def compare(a, b, fail_above, confidence, as_json):
    """Compare B's per-example training time with A's, per configuration (backend, strategy, device,
    dtype, variant). A and B are run, bench or pytest-benchmark result files, or directories of them
    (a configuration's windows pooled over its files). Each configuration: the medians, B/A with a
    bootstrap confidence interval, and a Mann-Whitney U test on the timed windows; "slower" or
    "faster" only when both say so. Exit 0, or 1 when --fail-above found B slower."""
    try:
        res = compare_paths(a, b, confidence, fail_above)
    except ImportError as e:
        raise UsageError(f"harness compare needs scipy ({e}): pip install 'lecun1989-harness[report]'") from e
    except ReportError as e:
        raise UsageError(str(e)) from e
    if as_json:
        emit("compare", res)
    else:
        click.echo(compare_text(res))
    if res["exit_code"] == 2:
        raise UsageError("nothing judged: " + ("; ".join(map(plain, res["unjudged"])) + " could not be tested (no or too few "
                         "timed windows)" if res["unjudged"] else "no configuration of A matches one of B"))
    return res["exit_code"]
