"""`harness sweep`: a grid of run configurations, each executed as its own `harness run` child
process (locally one after another, or as Ray tasks), results written by the driver only."""
from .grid import Grid, GridError, expand, load_toml
from .manifest import Ledger, read_manifest

__all__ = ["Grid", "GridError", "Ledger", "expand", "load_toml", "read_manifest"]
