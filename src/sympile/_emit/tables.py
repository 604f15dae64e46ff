"""The spelling tables that backends share; a backend's own table lists only how it differs.

As in SymPy's printers and tinygrad's renderers, a backend's table is a shared base plus its
differences (``{**ARRAY, "erf": "torch.special.erf({0})"}``). Two bases serve all backends:

- `ARRAY`, for the array libraries (NumPy, PyTorch, JAX, PyTensor): Python's operators, the
  batched ops, and, for any op not listed, ``{ns}.<OpSpec.array>(...)``: the op's NumPy name
  in the library's namespace (`sympile._emit.emit.Spelling`);
- `LIBM`, the C math library's names, which Python's ``math`` module shares: the C backend
  spells them as they are and the NumPy backend's scalar path as ``math`` functions.

An op that a backend does not spell is decomposed into ops it does, where the op table says
how (`sympile._transforms.decompose`); else it is unsupported there.
"""

from __future__ import annotations

import math

from .._core.constants import const_value
from .._core.ops import OPS

#: The operators that Python and C write alike.
OPERATORS = {
    "add": "{0} + {1}",
    "sub": "{0} - {1}",
    "mul": "{0} * {1}",
    "div": "{0} / {1}",
    "neg": "-{0}",
    "lt": "{0} < {1}",
    "le": "{0} <= {1}",
    "gt": "{0} > {1}",
    "ge": "{0} >= {1}",
    "eq": "{0} == {1}",
    "ne": "{0} != {1}",
}

#: Python's operators: the same spelling in every Python backend.
INFIX = {**OPERATORS, "powi": "{0} ** {a}", "pow": "{0} ** {1}"}

#: The array libraries' base (``{ns}``: the library's module prefix).
ARRAY = {
    **INFIX,
    # no "sinc": the libraries' is the normalised sin(pi u)/(pi u), and sinc(x) as sinc(x/pi) rounds x/pi
    # first (0.5 absolute off at x = 1e17, wrong digits near multiples of pi); it is decomposed
    # the batched ops (`sympile._transforms.batch`)
    "lift": "{0}[..., None]",
    "vsum": "{ns}.sum({0}, -1)",
    "vprod": "{ns}.prod({0}, -1)",
    "vmin": "{ns}.amin({0}, -1)",
    "vmax": "{ns}.amax({0}, -1)",
    "vdot": "{0} @ {1}",
    # data sums as matrix products (`sympile._transforms.point_dots`)
    "pdot": "{0} @ {1}",
    "prows": "({0} @ {1}).tolist()",
    "pick": "{0}[{a}]",
}

#: Op -> its name in C's <math.h>, which Python's ``math`` module shares.
LIBM = {
    op: op
    for op in (
        "sqrt",
        "cbrt",
        "exp",
        "expm1",
        "log",
        "log1p",
        "sin",
        "cos",
        "tan",
        "asin",
        "acos",
        "atan",
        "atan2",
        "sinh",
        "cosh",
        "tanh",
        "asinh",
        "acosh",
        "atanh",
        "erf",
        "erfc",
    )
}


def calls(names: dict[str, str], prefix: str = "") -> dict[str, str]:
    """Spellings that call ``prefix + name`` with the op's arguments, for ``{op: name}``."""
    return {op: f"{prefix}{name}({', '.join(f'{{{k}}}' for k in range(OPS[op].arity))})" for op, name in names.items()}


def vector_literal(attrs: tuple, ns: str) -> str:
    """Source text for a ``vconst``'s values as an array of the module ``ns``."""

    def number(v) -> str:
        if type(v) is complex:
            return f"complex({number(v.real)}, {number(v.imag)})"
        v = float(v)
        if math.isnan(v):
            return f"{ns}.nan"
        if math.isinf(v):
            return f"{ns}.inf" if v > 0 else f"(-{ns}.inf)"
        return repr(v)

    return f"{ns}.asarray([{', '.join(number(const_value(a)) for a in attrs)}])"


#: A Python number of each kind of NumPy dtype: array libraries promote a dtype with it weakly
#: (float32 and 0.0 give float32), which is how an output that literals alone decide takes the
#: inputs' precision.
WEAK_NUMBERS = {"i": 0, "u": 0, "f": 0.0, "c": 0j}
