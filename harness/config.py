"""One run's configuration: what `harness run` is asked, what a result records, what a sweep point is.

The *identity* of a run is the part that decides what is computed: backend, strategy, device,
variant, dataset, dtype, seed, passes and the training-set limit. Two results with the same
identity measured the same thing (resuming a sweep and grouping by seed rely on this, never on
file names). The rest (window, threads, where the data lives) shapes how it is measured or
found, not what is computed.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

# The fields that make up a run's identity, in the order results and tables show them.
IDENTITY = ("backend", "strategy", "device", "variant", "dataset", "dtype", "seed", "epochs", "limit")


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
        """The configuration of a `run` result: its recorded `config`, or, for results that
        predate that field, one derived from the top-level fields. Derived: `epochs` is the
        number of passes recorded, `limit` is n_train where that is fewer than the data set's
        training examples (its `dataset_source` says how many), else None; `threads`, which
        such results do not record, is None."""
        if isinstance(result.get("config"), dict):
            return cls.from_dict(result["config"])
        full = (result.get("dataset_source") or {}).get("n_train")
        n_train = result.get("n_train")
        limit = n_train if isinstance(full, int) and isinstance(n_train, int) and n_train < full else None
        return cls(
            backend=result["backend"], strategy=result["strategy"], device=result["device"],
            variant=result["variant"], dataset=result["dataset"], dtype=result["dtype"], seed=result["seed"],
            epochs=len(result["epochs"]), limit=limit,
            window=(result.get("timing") or {}).get("window") or cls.window,
        )

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
