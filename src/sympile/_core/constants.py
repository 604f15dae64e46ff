"""Literals: the named constants, and the Python numbers and SymPy objects a literal stands for.

A ``const`` node's attr is an ``int``, ``Fraction``, ``float``, ``complex``, ``bool``, or the
name of a SymPy constant (``"pi"``), so that raising gives back ``pi`` and each backend writes
it at its own precision.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import sympy as sp

#: Named constants: SymPy object -> the literal attr that stands for it.
NAMED_CONSTANTS: dict[Any, str] = {
    sp.pi: "pi",
    sp.E: "E",
    sp.EulerGamma: "EulerGamma",
    sp.GoldenRatio: "GoldenRatio",
    sp.Catalan: "Catalan",
    sp.TribonacciConstant: "TribonacciConstant",
    sp.I: "I",
    sp.oo: "oo",
    -sp.oo: "-oo",
    sp.nan: "nan",
    sp.zoo: "zoo",
}
CONSTANT_SYMPY: dict[str, Any] = {v: k for k, v in NAMED_CONSTANTS.items()}
#: Their values as Python numbers, correctly rounded to float64 (``float(c.evalf(30))``, written
#: out: evaluating TribonacciConstant at import would import half of SymPy's combinatorics).
CONSTANT_VALUES: dict[str, Any] = {
    "pi": 3.141592653589793,
    "E": 2.718281828459045,
    "EulerGamma": 0.5772156649015329,
    "GoldenRatio": 1.618033988749895,
    "Catalan": 0.915965594177219,
    "TribonacciConstant": 1.8392867552141612,
    "oo": float("inf"),
    "-oo": float("-inf"),
    "I": 1j,
    "nan": float("nan"),
    "zoo": complex(float("inf"), float("nan")),
}


def const_value(attr) -> Any:
    """The Python number (int, float, complex or bool) that a literal's attr stands for.

    An exact number beyond float64's range stands for its float value (``10**400`` is
    ``inf``, ``3/10**400`` is ``0.0``), as the arithmetic of every backend would give it.
    """
    if type(attr) is str:
        return CONSTANT_VALUES[attr]
    if type(attr) is Fraction or (type(attr) is int and attr.bit_length() > 1023):
        return to_float(attr)
    return attr


def to_float(value) -> float:
    """``float(value)`` for an int or Fraction, rounded to nearest; beyond float64's range it
    overflows to an infinity (as float arithmetic does) rather than raising."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def const_to_sympy(attr) -> Any:
    if type(attr) is str:
        return CONSTANT_SYMPY[attr]
    if type(attr) is bool:
        return sp.true if attr else sp.false
    if type(attr) is Fraction:
        return sp.Rational(attr.numerator, attr.denominator)
    return sp.sympify(attr)
