"""The one carrier of a configuration, and its one validator.

    RunConfig     one training run: `harness run`, a sweep point (a point IS a RunConfig)
    BenchConfig   `harness bench`: the matrix to time and how
    ParityConfig  `harness parity` and harness.testing: what to compare and how far

Every field of every configuration is checked, at construction, by the Rule of its name in
RULES, whichever way it enters (the command line, a sweep's lists or TOML file, `RunConfig(...)`
from Python, harness.testing), with the bounds `harness run` enforces (its options take their
ranges from RULES too). A value out of bounds raises ConfigError: a usage error (one line, exit
2; also a ValueError), naming the field as its command-line option. Values are normalised on
the way in: whole numbers become int, lists tuples, a limit that covers the whole training set
None (the same run as no limit), parity's steps sorted and unique. Every result records its
configuration (`config`); `read_config` reads it back from any result, however old.

The *identity* of a run (IDENTITY) is the part that decides what is computed: backend, strategy,
device, variant, dataset, dtype, seed, passes and the training-set limit. Two results with the
same identity measured the same thing (resuming a sweep and grouping by seed rely on this, never
on file names). The rest (window, threads) shapes how it is measured, not what is computed.

A new field: declare it on its dataclass, give it a Rule in RULES, and name it in IDENTITY if it
changes what is computed. Recipe knobs (spec.KNOBS) travel in one field, `recipe`: the knobs set
otherwise than the variant sets them (`--set`), checked by harness.recipe, in knob order, so two
configurations that compute the same thing are equal. `--set passes=N` is a run's `epochs`.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from numbers import Integral

from .data import DATASETS, MNIST_SIZES, SYNTHETIC_SIZES, USPS_CLASS_COUNTS
from .errors import ConfigError, UnknownVariant
from .knobs import show
from .recipe import check_overrides
from .spec import DTYPES, VARIANTS
from .threads import MAX_THREADS

# The fields that make up a run's identity, in the order results and tables show them.
IDENTITY = ("backend", "strategy", "device", "variant", "recipe", "dataset", "dtype", "seed", "epochs", "limit")

# Training examples of each data set (checked when it is loaded): a limit of at least this many is no limit.
TRAIN_SIZES = {"usps": sum(USPS_CLASS_COUNTS["train"]), "mnist": MNIST_SIZES["train"],
               "synthetic": SYNTHETIC_SIZES["train"]}
SEED_MAX = 2 ** 32 - 1  # what every NumPy generator here accepts

# harness parity's checks and its workload (harness.parity.checks: what each is)
PARITY_CHECKS = ("forward", "grads", "steps", "trajectory", "passes")
N_FORWARD = 256  # test images in the forward check
N_GRAD = 4  # single examples in the gradient check
CHUNK = 256  # examples per train_steps call over a whole pass (as `harness run` trains)


def norm_limit(dataset: str, limit: int | None) -> int | None:
    """`limit`, or None where it covers the whole training set (the same run as no limit)."""
    full = TRAIN_SIZES.get(dataset)
    return None if limit is None or (full is not None and limit >= full) else int(limit)


def _flag(name: str) -> str:
    return "--" + {"recipe": "set"}.get(name, name).replace("_", "-")


@dataclass(frozen=True)
class Rule:
    """How one field is checked. kind: int (lo..hi), text (a non-empty name), texts (a list of
    them), ints (whole numbers >= lo), choice / choices (from `choices`), flag (True or False).
    optional: None is allowed and means `none` (said in the message)."""

    kind: str  # (and "knobs": a mapping of recipe knobs, or (knob, value) pairs; values checked by harness.recipe)
    lo: int | None = None
    hi: int | None = None
    optional: bool = False
    none: str = ""
    choices: tuple = ()
    noun: str = ""  # how an unknown choice is named: "unknown <noun> 'x'; available: ..."

    def expect(self) -> str:
        """What a value must be, in words."""
        if self.kind == "int":
            bound = f"from {self.lo} to {self.hi}" if self.hi is not None else f">= {self.lo}"
            text = f"a whole number {bound}"
        elif self.kind == "ints":
            text = f"whole numbers >= {self.lo}"
        elif self.kind == "flag":
            text = "true or false"
        elif self.kind in ("choice", "choices"):
            text = ("one of " if self.kind == "choice" else "some of ") + ", ".join(self.choices)
        elif self.kind == "knobs":
            text = "recipe knobs, {knob: value} or KNOB=VALUE (`harness recipes` lists them)"
        else:
            text = "a name" if self.kind == "text" else "a list of names"
        return text + (f", or none for {self.none}" if self.optional else "")

    def check(self, name: str, value):
        """`value` normalised (int, tuple), or ConfigError naming the field and what it must be."""
        if value is None:
            if self.optional:
                return None
            raise ConfigError(f"{_flag(name)} is missing: {self.expect()}")
        out = getattr(self, f"_{self.kind}")(value)
        if out is _BAD:
            raise ConfigError(f"{_flag(name)} {_show(value)}: must be {self.expect()}")
        return out

    def _int(self, v):
        if isinstance(v, bool) or not isinstance(v, Integral):
            return _BAD
        v = int(v)
        return v if v >= self.lo and (self.hi is None or v <= self.hi) else _BAD

    def _flag(self, v):
        return v if isinstance(v, bool) else _BAD

    def _text(self, v):
        return v if isinstance(v, str) and v.strip() == v and v else _BAD

    def _texts(self, v):
        if isinstance(v, str) or not isinstance(v, (list, tuple)) or not v:
            return _BAD
        names = tuple(dict.fromkeys(v))
        return names if all(self._text(s) is not _BAD for s in names) else _BAD

    def _ints(self, v):
        if isinstance(v, str) or not isinstance(v, (list, tuple)):
            return _BAD
        vals = [self._int(x) for x in v]
        return _BAD if _BAD in vals else tuple(sorted({x for x in vals if x > 0}))

    def _knobs(self, v):
        pairs = v.items() if isinstance(v, dict) else v
        if isinstance(v, str) or not isinstance(pairs, (list, tuple, type({}.items()))):
            return _BAD
        pairs = [tuple(p) if isinstance(p, (list, tuple)) else p for p in pairs]
        ok = all(isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str) for p in pairs)
        return tuple(pairs) if ok else _BAD

    def _choice(self, v):
        if v in self.choices:
            return v
        error = UnknownVariant if self.noun == "variant" else ConfigError
        raise error(f"unknown {self.noun} {_show(v)}; available: {', '.join(self.choices)}")

    def _choices(self, v):
        if isinstance(v, str) or not isinstance(v, (list, tuple)) or not v:
            return _BAD
        return tuple(dict.fromkeys(v)) if all(x in self.choices for x in v) else _BAD


_BAD = object()


def _show(v) -> str:
    text = repr(v) if isinstance(v, str) else str(v)
    return text if len(text) <= 60 else text[:57] + "..."


# Every field of every configuration, by name: one rule each (tests/test_config.py checks that).
RULES: dict[str, Rule] = {
    "backend": Rule("text"),
    "backends": Rule("texts", optional=True, none="every available backend"),
    "strategy": Rule("text", optional=True, none="the backend's first"),
    "strategies": Rule("texts", optional=True, none="every strategy"),
    "reference": Rule("text", optional=True, none="the first backend's first strategy"),
    "device": Rule("text"),
    "devices": Rule("texts", optional=True, none="every device each strategy reaches"),
    "variant": Rule("choice", choices=tuple(VARIANTS), noun="variant"),
    "dataset": Rule("choice", choices=DATASETS, noun="data set"),
    "dtype": Rule("choice", choices=DTYPES, noun="dtype"),
    "seed": Rule("int", 0, SEED_MAX),
    "epochs": Rule("int", 1, optional=True, none="the variant's own number of passes"),
    "limit": Rule("int", 1, optional=True, none="every training example"),
    "window": Rule("int", 1),
    "threads": Rule("int", 1, MAX_THREADS, optional=True, none="the framework's own choice"),
    "rounds": Rule("int", 1),
    "kernels": Rule("flag"),
    "steps": Rule("ints", 0),
    "passes": Rule("int", 0),
    "n_forward": Rule("int", 1),
    "n_grad": Rule("int", 1),
    "chunk": Rule("int", 1),
    "checks": Rule("choices", choices=PARITY_CHECKS),
    "recipe": Rule("knobs"),
}


class _Validated:
    """The one validator: every field checked and normalised by its Rule, then the checks that
    span fields (`_across`), before the object exists."""

    def __post_init__(self):
        for f in fields(self):
            object.__setattr__(self, f.name, RULES[f.name].check(f.name, getattr(self, f.name)))
        if hasattr(self, "limit"):
            object.__setattr__(self, "limit", norm_limit(self.dataset, self.limit))
        if hasattr(self, "recipe"):  # checked against the variant: RecipeError (a ConfigError) names the knob
            object.__setattr__(self, "recipe", check_overrides(self.variant, dict(self.recipe)))
        self._across()

    def _across(self) -> None:
        pass

    def to_dict(self) -> dict:
        """As a result records it (lists for tuples; the recipe as {knob: value})."""
        return {k: dict(v) if k == "recipe" else list(v) if isinstance(v, tuple) else v
                for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict):
        """From a dict with (at least) some of the fields; unknown keys are ignored."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass(frozen=True)
class RunConfig(_Validated):
    backend: str = "torch"
    strategy: str | None = None  # None: the backend's first (its idiomatic one)
    device: str = "cpu"
    variant: str = "1989"
    dataset: str = "usps"
    dtype: str = "float32"
    seed: int = 1337
    epochs: int | None = None  # None: the variant's own number of passes
    limit: int | None = None  # train on the first N training examples only
    window: int = 256  # examples per timed window
    threads: int | None = None  # CPU threads the run may use; None: the whole machine
    recipe: tuple = ()  # knobs set otherwise than the variant sets them: ((knob, value), ...)

    def _across(self) -> None:
        knobs = dict(self.recipe)
        if "passes" in knobs:  # a run's passes are its epochs: one field, one identity
            passes = knobs.pop("passes")
            if self.epochs is not None and self.epochs != passes:
                raise ConfigError(f"--epochs {self.epochs} and --set passes={passes} disagree; give one of them")
            object.__setattr__(self, "epochs", passes)
            object.__setattr__(self, "recipe", tuple(knobs.items()))

    def identity(self) -> dict:
        """The fields that decide what is computed (see IDENTITY)."""
        return {k: dict(self.recipe) if k == "recipe" else getattr(self, k) for k in IDENTITY}

    def key(self) -> tuple:
        """A hashable form of identity(), for matching runs against results."""
        return tuple(getattr(self, k) for k in IDENTITY)

    def resolved(self, *, strategy: str, epochs: int) -> RunConfig:
        """The same configuration with defaults made explicit (what a result records)."""
        return replace(self, strategy=strategy, epochs=epochs)

    @classmethod
    def from_result(cls, result: dict) -> RunConfig:
        """The configuration of a `run` result, however old (read_config, for runs).

        Its recorded `config`, else the sweep point that made it (`sweep.config`), else, for
        results that predate both, one derived from the top-level fields: `epochs` is the
        number of passes recorded, `limit` is n_train where that is fewer than the data set's
        training examples (TRAIN_SIZES), else None; `threads`, which such results do not
        record, is None. ValueError when `result` is not a run result or lacks what is needed."""
        if not isinstance(result, dict) or result.get("kind", "run") != "run":
            raise ValueError("not a run result")
        recorded = recorded_config(result)
        if recorded is not None:
            return cls.from_dict(recorded)
        try:
            n_train = result.get("n_train")
            return cls(
                backend=result["backend"], strategy=result["strategy"], device=result["device"],
                variant=result["variant"], dataset=result["dataset"], dtype=result["dtype"], seed=result["seed"],
                epochs=len(result["epochs"]), limit=n_train if isinstance(n_train, int) and n_train > 0 else None,
                window=(result.get("timing") or {}).get("window") or cls.window,
                recipe=_recorded_knobs(result),
            )
        except (KeyError, TypeError) as e:
            raise ValueError(f"run result without a readable configuration ({type(e).__name__}: {e})") from None

    def to_args(self) -> list[str]:
        """The arguments of the `harness run` that executes this configuration."""
        args = ["--backend", self.backend, "--device", self.device, "--variant", self.variant,
                "--dataset", self.dataset, "--dtype", self.dtype, "--seed", str(self.seed),
                "--window", str(self.window)]
        for opt, value in (("--strategy", self.strategy), ("--epochs", self.epochs),
                           ("--limit", self.limit), ("--threads", self.threads)):
            if value is not None:
                args += [opt, str(value)]
        return args + [a for k, v in self.recipe for a in ("--set", f"{k}={show(v)}")]

    def label(self) -> str:
        """One short line naming the run, e.g. `jax:scan@cpu 1989 usps float32 seed 1337`."""
        extra = "" if self.limit is None else f" limit {self.limit}"
        recipe = " ".join([self.variant, *(f"{k}={show(v)}" for k, v in self.recipe)])
        return (f"{self.backend}:{self.strategy or 'default'}@{self.device} {recipe} {self.dataset} "
                f"{self.dtype} seed {self.seed}" + ("" if self.epochs is None else f" {self.epochs} passes") + extra)


@dataclass(frozen=True)
class BenchConfig(_Validated):
    backends: tuple[str, ...] | None = None  # None: every available backend
    strategies: tuple[str, ...] | None = None  # NAME or BACKEND:NAME; None: every strategy
    devices: tuple[str, ...] | None = None  # None: every device each strategy reaches
    variant: str = "1989"
    dataset: str = "usps"
    dtype: str = "float32"
    seed: int = 1337
    window: int = 256  # per-example steps in one timed round
    rounds: int = 10  # timed rounds after one warm-up round
    kernels: bool = False  # also count kernels / operators per example (harness.kernels)
    threads: int | None = None
    recipe: tuple = ()  # knobs set otherwise than the variant sets them: ((knob, value), ...)

    def _across(self) -> None:
        full = TRAIN_SIZES[self.dataset]
        if self.window > full:  # rounds are consecutive windows of one pass
            raise ConfigError(f"--window {self.window} is larger than the {full} training examples of {self.dataset}")

    @classmethod
    def from_result(cls, result: dict) -> BenchConfig:
        """A bench result's recorded `config`, or, for older ones, its top-level fields."""
        if isinstance(result.get("config"), dict):
            return cls.from_dict(result["config"])
        return cls.from_dict({**{k: result[k] for k in ("variant", "dataset", "dtype", "seed", "window", "rounds")
                                 if result.get(k) is not None},
                              "kernels": any("kernel_count" in r for r in result.get("rows") or [])})


@dataclass(frozen=True)
class ParityConfig(_Validated):
    backends: tuple[str, ...] | None = None  # None: every available backend, torch first
    strategies: tuple[str, ...] | None = None  # NAME or BACKEND:NAME; None: every strategy
    reference: str | None = None  # BACKEND or BACKEND:STRATEGY; None: the first backend's first
    device: str = "cpu"
    variant: str = "1989"
    dataset: str = "usps"
    dtype: str = "float64"
    seed: int = 1337
    steps: tuple[int, ...] = (1, 10, 100)  # parameters compared after k steps; the trajectory to max(k)
    passes: int = 1  # whole passes trained and evaluated (0: none)
    limit: int | None = None  # training examples per pass
    n_forward: int = N_FORWARD
    n_grad: int = N_GRAD
    chunk: int = CHUNK
    checks: tuple[str, ...] = PARITY_CHECKS
    recipe: tuple = ()  # knobs set otherwise than the variant sets them: ((knob, value), ...)

    def _across(self) -> None:
        full = TRAIN_SIZES[self.dataset]
        if self.steps and self.steps[-1] > full:
            raise ConfigError(f"--steps {self.steps[-1]} exceeds the {full} training examples of {self.dataset}")
        if self.reference and self.backends and self.reference.partition(":")[0] not in self.backends:
            raise ConfigError(f"--reference {self.reference} is not among --backends {','.join(self.backends)}; "
                              "add its backend there, or leave --reference out")

    @classmethod
    def from_result(cls, result: dict) -> ParityConfig:
        """A parity result's `config` (its reference as resolved); older results, which do not record
        the strategies asked for, read back with the targets compared."""
        cfg = dict(result.get("config") or {})
        if "strategies" not in cfg and cfg.get("targets"):
            cfg["strategies"] = cfg["targets"]
        return cls.from_dict(cfg)


_READERS: dict[str, Callable[[dict], _Validated]] = {"run": RunConfig.from_result, "bench": BenchConfig.from_result,
                                                 "parity": ParityConfig.from_result}


def read_config(result: dict) -> RunConfig | BenchConfig | ParityConfig:
    """The configuration any result was made with, by its kind, however old: the one reader of
    configurations from result files. ValueError when there is none to read."""
    kind = result.get("kind", "run") if isinstance(result, dict) else None
    if kind not in _READERS:
        raise ValueError(f"no configuration in a result of kind {_show(kind)}")
    return _READERS[kind](result)


def _recorded_knobs(result: dict) -> dict:
    """The knobs a run result records as set (its `recipe` block), for results without a `config`;
    none where it records no recipe (every result from before knobs existed)."""
    recipe = result.get("recipe")
    knobs = recipe.get("set") if isinstance(recipe, dict) else None
    return knobs if isinstance(knobs, dict) else {}


def recorded_config(result: dict) -> dict | None:
    """The configuration a run result records: its own `config`, or the sweep point that made it (the
    schema leaves `sweep` free-form: it may be anything, not only an object)."""
    sweep = result.get("sweep") if isinstance(result.get("sweep"), dict) else {}
    for cfg in (result.get("config"), sweep.get("config")):
        if isinstance(cfg, dict):
            return cfg
    return None


def result_config(result: dict) -> RunConfig | None:
    """RunConfig.from_result, or None where `result` is not a run result it can read."""
    try:
        return RunConfig.from_result(result)
    except ValueError:
        return None
