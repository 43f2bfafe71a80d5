"""One run's configuration: what `harness run` is asked, what a result records, what a sweep point is.

The *identity* of a run is the part that decides what is computed: backend, strategy, device,
variant, dataset, dtype, seed, passes and the training-set limit. Two results with the same
identity measured the same thing (resuming a sweep and grouping by seed rely on this, never on
file names). The rest (window, threads, where the data lives) shapes how it is measured or
found, not what is computed.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from .data import MNIST_SIZES, SYNTHETIC_SIZES, USPS_CLASS_COUNTS

# The fields that make up a run's identity, in the order results and tables show them.
IDENTITY = ("backend", "strategy", "device", "variant", "dataset", "dtype", "seed", "epochs", "limit")

# Training examples of each data set (checked when it is loaded): a limit of at least this many is no limit.
TRAIN_SIZES = {"usps": sum(USPS_CLASS_COUNTS["train"]), "mnist": MNIST_SIZES["train"],
               "synthetic": SYNTHETIC_SIZES["train"]}


def norm_limit(dataset: str, limit: int | None) -> int | None:
    """`limit`, or None where it covers the whole training set (the same run as no limit)."""
    full = TRAIN_SIZES.get(dataset)
    return None if limit is None or (full is not None and limit >= full) else int(limit)


@dataclass(frozen=True)
class RunConfig:
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

    def identity(self) -> dict:
        """The fields that decide what is computed (see IDENTITY)."""
        return {k: getattr(self, k) for k in IDENTITY}

    def key(self) -> tuple:
        """A hashable form of identity(), for matching runs against results."""
        return tuple(getattr(self, k) for k in IDENTITY)

    def resolved(self, *, strategy: str, epochs: int) -> RunConfig:
        """The same configuration with defaults made explicit (what a result records)."""
        return replace(self, strategy=strategy, epochs=epochs)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> RunConfig:
        """From a dict with (at least) some of the fields; unknown keys are ignored."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    @classmethod
    def from_result(cls, result: dict) -> RunConfig:
        """The configuration of a `run` result, however old: the one reader of configurations
        from result files (sweep resume, grouping by seed, the report).

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
            dataset = result["dataset"]
            n_train = result.get("n_train")
            return cls(
                backend=result["backend"], strategy=result["strategy"], device=result["device"],
                variant=result["variant"], dataset=dataset, dtype=result["dtype"], seed=int(result["seed"]),
                epochs=len(result["epochs"]), limit=norm_limit(dataset, n_train if isinstance(n_train, int) else None),
                window=(result.get("timing") or {}).get("window") or cls.window,
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
        return args

    def label(self) -> str:
        """One short line naming the run, e.g. `jax:scan@cpu 1989 usps float32 seed 1337`."""
        extra = "" if self.limit is None else f" limit {self.limit}"
        return (f"{self.backend}:{self.strategy or 'default'}@{self.device} {self.variant} {self.dataset} "
                f"{self.dtype} seed {self.seed}" + ("" if self.epochs is None else f" {self.epochs} passes") + extra)


def recorded_config(result: dict) -> dict | None:
    """The configuration a result records: its own `config`, or the sweep point that made it."""
    for cfg in (result.get("config"), (result.get("sweep") or {}).get("config")):
        if isinstance(cfg, dict):
            return cfg
    return None


def result_config(result: dict) -> RunConfig | None:
    """RunConfig.from_result, or None where `result` is not a run result it can read."""
    try:
        return RunConfig.from_result(result)
    except ValueError:
        return None
