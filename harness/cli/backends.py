"""`harness backends`: every registered backend, available or not (and why), its strategies and devices."""
from __future__ import annotations

import click

from .. import plugins
from ..progress import out_console
from .jsonout import emit, json_option
from .tables import backends_table


def backends_rows(reg) -> list[dict]:
    """Each registered backend as `--json` gives it (keys: docs/cli.md)."""
    rows = []
    for name in reg.names():
        reason = reg.reason_unavailable(name)
        b = reg.backends.get(name)
        strategies = list(getattr(b, "strategies", ()) or ()) if b else []
        rows.append({
            "name": name, "available": reason is None, "reason": reason,
            "description": getattr(b, "description", None) if b else None,
            "strategies": [{"name": s, "idiomatic": i == 0,
                            "devices": list(b.strategy_devices(s)) if reason is None else None}
                           for i, s in enumerate(strategies)],
            "variants": list(v) if (v := getattr(b, "variants", None)) else None,
            "dtypes": list(d) if (d := getattr(b, "dtypes", None)) else None,
        })
    return rows


@click.command()
@json_option
def backends(as_json):
    """List every registered backend, available or not (and why), its strategies and devices."""
    reg = plugins.get_registry()
    if as_json:
        emit("backends", {"backends": backends_rows(reg)})
        return 0
    out_console().print(backends_table(reg))
    return 0
