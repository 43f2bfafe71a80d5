"""What a recipe knob is: a named setting of a variant, its allowed values, how a value is read.

The knobs themselves (targets, activation, init, optimiser constants, ...) are defined once, in
harness/spec.py's KNOBS, each with its default in every named variant; docs/spec.md gives each
one's formula. harness/recipe.py turns a variant and `--set key=value` overrides into a recipe.
A value comes from the command line as text or from a TOML grid or Python as a number or a
string; `Knob.parse` accepts either and says, in one line, what is allowed when it cannot.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

# How a backend is involved in a knob (Knob.backend):
CORE = ""  # the core computes it entirely (targets, initial values, step sizes, draws): no support needed
VALUE = "value"  # the backend computes with the value: it must declare each value it implements
NONZERO = "nonzero"  # the backend only needs to implement "on" (value != 0), e.g. applying dropout masks
ANY = "any"  # in a backend's declared knob values (Backend.knobs): every value the knob allows


@dataclass(frozen=True)
class Knob:
    """One setting of a recipe.

    kind: "choice" (one of `choices`), "number" (a finite float from lo to hi; `open` names the
    ends excluded: "lo", "hi", "both" or ""), "int" (a whole number from lo to hi).
    applies: the (knob, values) the setting needs to have any effect, e.g. ("optimizer",
    ("sgd",)) for SGD's learning rate; None: always. backend: CORE, VALUE or NONZERO (above).
    """

    name: str
    kind: str
    doc: str
    choices: tuple[str, ...] = ()
    lo: float | None = None
    hi: float | None = None
    open: str = ""
    applies: tuple[str, tuple[str, ...]] | None = None
    backend: str = CORE

    def allowed(self) -> str:
        """The values allowed, in words: 'one of tanh, scaled_tanh, relu', 'a number in (0, 2]'."""
        if self.kind == "choice":
            return "one of " + ", ".join(self.choices)
        if self.kind == "int":
            return f"a whole number from {show(self.lo)} to {show(self.hi)}"
        left = "(" if self.open in ("lo", "both") else "["
        right = ")" if self.open in ("hi", "both") else "]"
        return f"a number in {left}{show(self.lo)}, {show(self.hi)}{right}"

    def parse(self, value):
        """`value` (text, or a number / string from TOML or Python) as this knob's type, or
        ValueError with one line naming the knob and what it allows."""
        out = self._parse(value)
        if out is None:
            text = value if isinstance(value, str) else repr(value)
            raise ValueError(f"knob {self.name}={text}: must be {self.allowed()}")
        return out

    def _parse(self, value):
        if self.kind == "choice":
            return value if isinstance(value, str) and value in self.choices else None
        if isinstance(value, bool):
            return None
        if isinstance(value, str):
            try:
                value = int(value) if self.kind == "int" else float(value)
            except ValueError:
                return None
        if self.kind == "int":
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            ok = isinstance(value, int) and self.lo <= value <= self.hi
            return int(value) if ok else None
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            return None
        v = float(value)
        above = v > self.lo if self.open in ("lo", "both") else v >= self.lo
        below = v < self.hi if self.open in ("hi", "both") else v <= self.hi
        return v if above and below else None

    def feature(self, value):
        """What a backend must implement for `value` (NONZERO: whether it is on)."""
        return bool(value) if self.backend == NONZERO else value


def show(value) -> str:
    """A knob value as a label and the command line write it: 0.8, 3e-04 as 0.0003, tanh."""
    if isinstance(value, float):
        return repr(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return str(value)
