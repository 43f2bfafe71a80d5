"""Which backend x strategy is the reference and which are compared against it (--backends, --strategies,
--reference, --device), through the one resolver (harness.targets)."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import DeviceUnavailable, Unsupported, UsageError
from ..targets import Target, refuse_skipped_names, resolve, resolve_matrix, split_spec

__all__ = ["Selection", "Target", "select_targets"]


@dataclass
class Selection:
    reference: Target
    targets: list[Target]
    notes: list[str] = field(default_factory=list)  # what was skipped and why
    self_check: bool = False  # the reference is its only target: a determinism check


def select_targets(registry, backends: list[str] | None, strategies: list[str] | None,
                   reference: str | None, device: str, *, variant: str | None = None,
                   dtype: str | None = None, recipe=None) -> Selection:
    """Resolve --backends / --strategies / --reference / --device into a reference and targets,
    through the one resolver (harness.targets).

    Unknown names raise the usage errors of harness.errors (exit 2). A backend or strategy
    that cannot reach `device`, or (when `variant` and `dtype` are given) does not support
    them (and `recipe`'s knobs, a harness.recipe.Recipe), is skipped with a note where the
    matrix is swept (no --backends / --strategies); one the user named is refused (exit 2): a
    verdict over the rest would claim what was not compared. Only the reference left: compared with a second session of itself, labelled a
    determinism check (self_check).
    """
    m = resolve_matrix(registry, backends, strategies, [device], variant=variant, dtype=dtype, recipe=recipe)
    if reference:
        ref = resolve(registry, *split_spec(reference), device, variant=variant, dtype=dtype, recipe=recipe)
    elif not m.targets:
        error = Unsupported if m.skipped else DeviceUnavailable
        raise error(f"nothing to compare on device {device!r}: " + "; ".join(m.notes))
    else:
        # The first backend's first strategy (its idiomatic one), even where --strategies left it out.
        try:
            ref = resolve(registry, m.targets[0].backend.name, None, device, variant=variant, dtype=dtype,
                          recipe=recipe)
        except UsageError:
            ref = m.targets[0]
    targets = [t for t in m.targets if t.label != ref.label]
    # a backend that runs as the reference was not skipped, whatever --strategies left out of it
    m.notes = [n for n in m.notes if not n.startswith(f"backend {ref.backend.name} skipped: none of the strategies")]
    refuse_skipped_names(m, backends, strategies, [ref, *targets])
    self_check = False
    if not targets:
        targets = [ref]
        self_check = True
        m.notes.append(f"only {ref.label} selected: compared against a second session of itself "
                       "(a determinism check)")
    return Selection(ref, targets, m.notes, self_check)
