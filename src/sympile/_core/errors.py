"""The errors a user can cause. Each subclasses `SympileError` and the matching built-in."""

from __future__ import annotations


class SympileError(Exception):
    """Base class of every error that sympile raises because of its input."""


class UnsupportedFunctionError(SympileError, NotImplementedError):
    """An expression uses a function that the chosen backend cannot translate."""


class MissingInputError(SympileError, KeyError):
    """A symbol the expression needs was not given."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ""


class ArgumentError(SympileError, TypeError):
    """A compiled function was called with the wrong number or nesting of arguments."""


class ShapeError(SympileError, ValueError):
    """Arrays whose shapes do not broadcast, or that do not match the declared shapes."""


class TracingError(SympileError, TypeError):
    """A function could not be traced with symbolic arrays (it calls plain NumPy on them, or is compiled)."""


class BackendNotAvailableError(SympileError, ImportError):
    """An optional backend was asked for but its package is not installed."""


class DifferentiationError(SympileError, ValueError):
    """A derivative was asked for that sympile cannot build."""


# Shown as ``sympile.ShapeError`` (where users import them from), not as this private module's.
for _cls in (
    SympileError,
    UnsupportedFunctionError,
    MissingInputError,
    ArgumentError,
    ShapeError,
    TracingError,
    BackendNotAvailableError,
    DifferentiationError,
):
    _cls.__module__ = "sympile"


class CacheWarning(UserWarning):
    """The C backend's cache directory cannot be used; kernels go to a private temporary one."""
