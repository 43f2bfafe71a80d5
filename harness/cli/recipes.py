"""`harness recipes`: every recipe knob and which strategy implements which of its values."""
from __future__ import annotations

import click

from .. import plugins
from ..progress import out_console
from .tables import knob_support_table, knobs_table


@click.command()
def recipes():
    """List every recipe knob that run, bench, parity and sweep accept as --set KNOB=VALUE: the
    values it allows, whether the core or a backend computes it, its value in each named
    variant and what it sets (formulas: docs/spec.md, "Recipe knobs"); then, for each
    available backend:strategy, the values of the backend-computed knobs it implements."""
    console = out_console()
    console.print(knobs_table())
    console.print(knob_support_table(plugins.get_registry()))
