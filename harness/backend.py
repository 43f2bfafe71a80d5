"""The Backend / Session protocol every plugin implements.

The core owns *what* is computed (spec, data, hyper-parameters, randomness,
evaluation arithmetic, timing); a backend owns *how*: turning canonical
parameters into its own layout, training steps one example at a time, the
forward pass, gradients for parity, and handing parameters back.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from .spec import Variant


class BackendUnavailable(Exception):
    """Raised by Backend.check() when the framework is missing or broken: the reason."""


class DeviceUnavailable(Exception):
    """Raised when a backend cannot reach the device asked for: says which it can."""


def refuse_interpreted(session, command: str) -> None:
    """`run` and `bench` never time an interpreter: refuse a session whose optional
    environment() says {"interpreted": True} (a fused kernel run through Triton's or
    Pallas's interpreter on the CPU, which only tests opt in to)."""
    env = session.environment() if hasattr(session, "environment") else {}
    if env.get("interpreted"):
        raise DeviceUnavailable(f"{command} never times an interpreter: this session runs its kernel "
                                "interpreted on the CPU (HARNESS_FUSED_INTERPRET=1, a test opt-in); "
                                "unset it and use a cuda device")


@dataclass
class Steps:
    """What one call of Session.train_steps consumes: n examples, in order, one update each.

    Everything random or scheduled was decided by the core: `x` is already
    augmented (rolled), `lr` is the learning rate of each step, `mask` the
    dropout mask of each step (already scaled by 1/(1-p)), or None.
    """

    x: np.ndarray  # (n, 1, 16, 16)
    targets: np.ndarray  # (n, 10): ±1 targets (used by the mse loss)
    labels: np.ndarray  # (n,) int64 (used by the xent loss)
    lr: np.ndarray  # (n,) float64
    mask: np.ndarray | None = None  # (n, 12, 4, 4) or None

    def __len__(self) -> int:
        return len(self.x)

    def slice(self, start: int, stop: int) -> "Steps":
        return Steps(
            self.x[start:stop],
            self.targets[start:stop],
            self.labels[start:stop],
            self.lr[start:stop],
            None if self.mask is None else self.mask[start:stop],
        )


@runtime_checkable
class Session(Protocol):
    """One model on one device, in one dtype, trained with one strategy.

    Optional: ``environment() -> dict``, settings only the session knows (e.g. the
    thread count it trains with), recorded with a run's result.
    """

    def train_steps(self, steps: Steps) -> np.ndarray:
        """Train on each example of `steps` in order, one optimiser update per example.

        :return: the loss of each example before its update, shape (n,), float64
            (returning it synchronises the device).
        """

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Outputs of the network on a batch, evaluation mode (no dropout): (n, 10)."""

    def loss_and_grads(self, steps: Steps) -> tuple[float, dict[str, np.ndarray]]:
        """Loss and gradient of every parameter on a single example (len(steps) == 1).

        Gradients come back in canonical layout. Parameters are not changed.
        """

    def get_params(self) -> dict[str, np.ndarray]:
        """Current parameters in canonical layout, as NumPy arrays."""

    def sync(self) -> None:
        """Wait until all queued device work has finished (before reading a clock)."""


@runtime_checkable
class Backend(Protocol):
    """A framework, with its strategies and the devices it reaches.

    Attributes: `name` (str), `strategies` (tuple of str, the first is the
    default), `description` (one line).
    """

    name: str
    strategies: tuple[str, ...]
    description: str

    def check(self) -> None:
        """Import the framework; raise BackendUnavailable(reason) if it cannot be used."""

    def devices(self) -> list[str]:
        """Devices reachable here, named like torch: "cpu", "cuda", "cuda:0", "mps", "tpu"."""

    def strategy_devices(self, strategy: str) -> list[str]:
        """Devices on which `strategy` runs (e.g. torch cudagraph: cuda only)."""

    def environment(self, device: str) -> dict:
        """Versions and settings to record with a result (framework version, device name, precision)."""

    def session(
        self,
        *,
        variant: Variant,
        params: dict[str, np.ndarray],
        dtype: str,
        device: str,
        strategy: str,
    ) -> Session:
        """A fresh model initialised from canonical `params` (copied, never aliased)."""
