"""`harness backends`: every registered backend, available or not (and why), its strategies and devices."""
from __future__ import annotations

import click

from .. import plugins
from ..progress import out_console
from .tables import backends_table


@click.command()
def backends():
    """List every registered backend, available or not (and why), its strategies and devices."""
    out_console().print(backends_table(plugins.get_registry()))
