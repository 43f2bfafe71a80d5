"""The backends' module paths before each framework became one package, kept importing for a
deprecation period: each old module (backends/torch_backend.py, backends/jax_net.py, ...) is a
shim that calls `reexport`, which warns (DeprecationWarning) and copies the public names of the
modules that now hold its code. A name re-exported is the same object as the new module's: a
monkeypatch through an old path does not reach the new module.
"""
from __future__ import annotations

import importlib
import warnings

# old module (under backends.) -> the modules now holding what it held, and old private names
# that callers used, -> their new public names
MOVED: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
    "torch_backend": (("backends.torch", "backends.torch.framework", "backends.torch.settings",
                       "backends.torch.network", "backends.torch.eager"), {"_torch": "import_torch"}),
    "torch_fast": (("backends.torch.graphs", "backends.torch.compiled"), {}),
    "torch_func": (("backends.torch.functional",), {}),
    "torch_fused": (("backends.torch.fused",), {}),
    "torch_fused_kernel": (("backends.torch.fused_kernel",), {}),
    "torch_kernels": (("backends.torch.kernels",), {}),
    "torch_sdlm": (("backends.torch.sdlm",), {}),
    "jax_backend": (("backends.jax", "backends.jax.framework", "backends.jax.functions",
                     "backends.jax.optimizers", "backends.jax.session"),
                    {"_jax": "import_jax", "_net": "net_module"}),
    "jax_fused": (("backends.jax.fused",), {}),
    "jax_fused_kernel": (("backends.jax.fused_kernel",), {}),
    "jax_kernels": (("backends.jax.kernels",), {}),
    "jax_layout": (("backends.jax.layout",), {}),
    "jax_net": (("backends.jax.network",), {}),
    "jax_sdlm": (("backends.jax.sdlm", "backends.jax.optimizers"), {}),
    "jax_threads": (("backends.jax.threads",), {}),
}


def reexport(old: str, namespace: dict) -> None:
    """Fill the namespace of old module `old` ("backends.torch_fast") with the public names of
    the modules that replaced it, after a DeprecationWarning naming them."""
    modules, aliases = MOVED[old.rpartition(".")[2]]
    warnings.warn(f"{old} is deprecated and will be removed; import from {' / '.join(modules)} instead",
                  DeprecationWarning, stacklevel=3)
    for name in modules:
        new = importlib.import_module(name)
        namespace.update({k: v for k, v in vars(new).items() if not k.startswith("_")})
        namespace.update({k: getattr(new, v) for k, v in aliases.items() if hasattr(new, v)})
