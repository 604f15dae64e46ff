"""The registry of backends: each is a module with ``build(graph, arg_tree, out_tree, options)``.

Backends import lazily, so the core needs only SymPy and NumPy; asking for one whose
package is missing names the extra that installs it.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from .._core.errors import BackendNotAvailableError, SympileError

#: backend name -> (module, the package it needs, the extra that installs it)
BACKENDS: dict[str, tuple[str, str | None, str | None]] = {
    "numpy": ("sympile._backends.numpy", None, None),
    "torch": ("sympile._backends.torch", "torch", "torch"),
    "jax": ("sympile._backends.jax", "jax", "jax"),
    "c": ("sympile._backends.c.backend", None, None),
    "pytensor": ("sympile._backends.pytensor", "pytensor", "pytensor"),
}

#: ``sympy.lambdify``'s ``modules`` names, for drop-in use.
MODULE_ALIASES = {"numpy": "numpy", "math": "numpy", "scipy": "numpy", "cmath": "numpy"}


def register(name: str, module: str, package: str | None = None, extra: str | None = None) -> None:
    BACKENDS[name] = (module, package, extra)


def get_backend(name: str) -> ModuleType:
    try:
        module, package, extra = BACKENDS[name]
    except (KeyError, TypeError):
        known = ", ".join(repr(b) for b in BACKENDS)
        raise SympileError(f"unknown backend {name!r}; the backends are {known}") from None
    try:
        return importlib.import_module(module)
    except ImportError as e:
        if package is not None and getattr(e, "name", None) and e.name.split(".")[0] == package:
            raise BackendNotAvailableError(
                f"the {name} backend needs {package}, which is not installed: pip install 'sympile[{extra}]'"
            ) from e
        raise
