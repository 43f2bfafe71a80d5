"""Deprecated path, kept importing for a deprecation period: its code now lives in backends/jax/
(backends/_moved.py names the modules); importing it re-exports them with a DeprecationWarning."""
from backends._moved import reexport

reexport(__name__, globals())
