"""Random expressions over the op table (hypothesis strategies) and points to evaluate them at, shared by the
differential tests of every backend and by the save/load tests."""

import sympy as sp
from hypothesis import strategies as st

x, y, z = sp.symbols("x y z")
SYMBOLS = [x, y, z]

# Functions applied to any real argument (the domain-restricted ones are fed a safe argument).
UNARY = [
    sp.sin,
    sp.cos,
    sp.atan,
    sp.sinh,
    sp.tanh,
    sp.asinh,
    sp.exp,
    sp.erf,
    sp.erfc,
    sp.Abs,
    sp.sign,
    sp.floor,
    sp.ceiling,
    sp.frac,
    sp.sech,
    sp.sinc,
    lambda u: sp.cos(u) ** 2,
    lambda u: sp.log(u**2 + 1),
    lambda u: sp.sqrt(u**2 + sp.Rational(1, 4)),
    lambda u: sp.asin(sp.tanh(u)),
    lambda u: sp.acos(sp.tanh(u) / 2),
    lambda u: sp.atanh(sp.tanh(u) * sp.Rational(9, 10)),
    lambda u: sp.acosh(u**2 + 1),
    lambda u: sp.gamma(sp.Abs(u) + sp.Rational(1, 2)),
    lambda u: sp.loggamma(u**2 + 1),
    lambda u: sp.cbrt(u**2 + 1),
    lambda u: sp.exp(u) - 1,
    lambda u: sp.log(1 + u**2),
    lambda u: sp.re(sp.exp(sp.I * u) * (u + 2 * sp.I)),
    lambda u: sp.Abs(u + sp.I),
    lambda u: sp.besselj(1, u),
    lambda u: sp.LambertW(u**2),
    lambda u: sp.erfinv(sp.tanh(u) / 2),
    lambda u: sp.coth(u**2 + 1),
    lambda u: sp.acot(u),
    lambda u: (u**2 + 1) ** sp.Rational(-3, 2),
]
BINARY = [
    lambda u, v: u + v,
    lambda u, v: u - v,
    lambda u, v: u * v,
    lambda u, v: u / (v**2 + 1),
    lambda u, v: (u**2 + 1) ** (sp.tanh(v)),
    lambda u, v: u**3 * v,
    lambda u, v: sp.atan2(u, v**2 + 1),
    lambda u, v: sp.Min(u, v),
    lambda u, v: sp.Max(u, v, 0),
    lambda u, v: sp.Mod(u, v**2 + 1),
    lambda u, v: sp.Piecewise((u, u > v), (v**2, u < -1), (u * v, True)),
    lambda u, v: sp.Piecewise((sp.sqrt(u), (u > 0) & (v > 0)), (-v, True)),
    lambda u, v: sp.Heaviside(u - v) * u,
    lambda u, v: sp.atan(u * v),
]
LEAVES = st.sampled_from(
    [*SYMBOLS, sp.Integer(2), sp.Integer(-3), sp.Rational(1, 3), sp.Float(0.75), sp.pi, sp.E, sp.GoldenRatio]
)


def expressions():
    def extend(children):
        return st.one_of(
            st.tuples(st.sampled_from(UNARY), children).map(lambda t: t[0](t[1])),
            st.tuples(st.sampled_from(BINARY), children, children).map(lambda t: t[0](t[1], t[2])),
        )

    return st.recursive(LEAVES, extend, max_leaves=8)


points = st.lists(st.floats(-3, 3, allow_nan=False, allow_subnormal=False), min_size=3, max_size=3)
