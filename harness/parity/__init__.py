"""Cross-backend comparison: does every backend x strategy compute what the reference computes?

Same seed, same canonical initial parameters (spec.init_params), same examples,
same draws (draws.pass_steps): every (backend, strategy) is compared on its own
against one reference (backend, strategy) in five checks:

  forward     outputs on a batch of real examples (evaluation mode), and each
              layer's activations (H1, H2, H3, out) where both sessions offer
              `activations()`: the first layer that differs is named;
  grads       loss and every parameter's gradient on single examples
              (with the dropout masks and shifts of the first training steps);
              the layer whose gradient goes wrong first (out, H3, H2, H1) is named;
  steps       parameters after k per-example steps, for each k (k steps in one
              train_steps call, from the start);
  trajectory  max |a - b| over all parameters after every step, one step per
              train_steps call, up to max(k), and the first step at which any
              tensor goes beyond tolerance;
  passes      whole passes (train_steps in chunks), then evaluation of train and
              test: per-step losses, losses, misses and predictions, and the
              parameters at the end of each pass.

A target whose backend does not support the variant or dtype (its declared
`variants`, `dtypes`, `supports()`) is skipped with the reason, never failed.

The configuration is a harness.config.ParityConfig (validated where it is made); a Context
holds it with what follows from it and the data.

Modules: tolerances (how far, and why), compare (one tensor against the reference's), select
(which targets), rows (rows, check results and `versus`, the one reference-versus-target loop
every check is built on), checks (the five checks), hessian (SDLM's h, compared like a
gradient, for an SDLM variant), run (the whole comparison), fold (the worst row per group, for
the terminal and the report). Everything here is pure: functions return plain data (JSON-able
dicts); the CLI prints. The core never imports a framework: backends are reached only through
the Backend / Session protocol.
"""
from __future__ import annotations

from .checks import (
    CHUNK,
    LAYERS,
    N_FORWARD,
    N_GRAD,
    Context,
    check_forward,
    check_grads,
    check_passes,
    check_steps,
    check_trajectory,
)
from .compare import EPS, compare, compare_count, one_line
from .rows import check_result, error_row, row, versus
from .run import (
    CHECKS,
    DEFAULT_STEPS,
    environments,
    parse_steps,
    result_stem,
    run_parity,
    select,
    supported,
    verdict,
)
from .select import Selection, Target, select_targets
from .tolerances import TOLERANCES, Tol, tolerances

__all__ = [
    "CHECKS", "CHUNK", "DEFAULT_STEPS", "EPS", "LAYERS", "N_FORWARD", "N_GRAD", "TOLERANCES", "Context", "Selection",
    "Target", "Tol", "check_forward", "check_grads", "check_passes", "check_result", "check_steps",
    "check_trajectory", "compare", "compare_count", "environments", "error_row", "one_line", "parse_steps",
    "result_stem", "row", "run_parity", "select", "select_targets", "supported", "tolerances", "verdict", "versus",
]
