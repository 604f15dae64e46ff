"""The op cases shared by the op, backend and module tests: one or more expressions per op of the table,
with the domain of each argument."""

import sympy as sp
from hypothesis import strategies as st

x, y = sp.symbols("x y")
R = (-4.0, 4.0)
POS = (0.05, 6.0)
UNIT = (-0.99, 0.99)
BIG = (1.01, 6.0)

#: (name, expression, domain of x, domain of y): one or more cases per op.
CASES = [
    ("add", x + y, R, R),
    ("sub", x - y, R, R),
    ("mul", x * y, R, R),
    ("div", x / y, R, (0.1, 4.0)),
    ("neg", -x * sp.exp(y), R, R),
    ("powi", x**5 + y**-3, R, (0.2, 3.0)),
    ("pow_real", x**2.5 + y**0.7, POS, POS),
    ("pow_symbolic", x**y, POS, R),
    ("pow_rational", x ** sp.Rational(2, 3) + x ** sp.Rational(-5, 7), POS, R),
    ("pow_base", 2**x * sp.Rational(3, 2) ** y, R, R),
    ("sqrt", sp.sqrt(x) + x ** sp.Rational(3, 2) + y ** sp.Rational(-1, 2), POS, POS),
    ("cbrt", sp.cbrt(x) * sp.Symbol("p", positive=True) ** sp.Rational(1, 3), POS, POS),
    ("exp", sp.exp(x) * sp.exp(-y), R, R),
    ("expm1", sp.exp(x) - 1, (-1e-3, 1e-3), R),
    ("log", sp.log(x) + sp.log(y, 3), POS, POS),
    ("log1p", sp.log(1 + x), (-0.5, 1e-3), R),
    ("sin", sp.sin(x), R, R),
    ("cos", sp.cos(x), R, R),
    ("tan", sp.tan(x), (-1.5, 1.5), R),
    ("cot", sp.cot(x), (0.1, 3.0), R),
    ("sec", sp.sec(x), (-1.5, 1.5), R),
    ("csc", sp.csc(x), (0.1, 3.0), R),
    ("asin", sp.asin(x), UNIT, R),
    ("acos", sp.acos(x), UNIT, R),
    ("atan", sp.atan(x), R, R),
    ("acot", sp.acot(x), (0.1, 4.0), R),
    ("asec", sp.asec(x), BIG, R),
    ("acsc", sp.acsc(x), BIG, R),
    ("atan2", sp.atan2(y, x), R, (0.1, 4.0)),
    ("sinh", sp.sinh(x), R, R),
    ("cosh", sp.cosh(x), R, R),
    ("tanh", sp.tanh(x), R, R),
    ("coth", sp.coth(x), (0.1, 4.0), R),
    ("sech", sp.sech(x), R, R),
    ("csch", sp.csch(x), (0.1, 4.0), R),
    ("asinh", sp.asinh(x), R, R),
    ("acosh", sp.acosh(x), BIG, R),
    ("atanh", sp.atanh(x), UNIT, R),
    ("acoth", sp.acoth(x), BIG, R),
    ("asech", sp.asech(x), (0.05, 0.99), R),
    ("acsch", sp.acsch(x), (0.1, 4.0), R),
    ("abs", sp.Abs(x) * y, R, R),
    ("sign", sp.sign(x) * y, R, R),
    ("floor", sp.floor(x) + y, R, R),
    ("ceiling", sp.ceiling(x) + y, R, R),
    ("frac", sp.frac(x) * y, R, R),
    ("mod", sp.Mod(x, y), R, (0.5, 3.0)),
    ("min", sp.Min(x, y, 0.5 * x + 1), R, R),
    ("max", sp.Max(x, y, x * y), R, R),
    ("heaviside", sp.Heaviside(x) * y + sp.Heaviside(y, 0.25), R, R),
    ("where", sp.Piecewise((x**2, x < y), (sp.sin(x), x > 1), (y, True)), R, R),
    (
        "compare",
        sp.Piecewise(
            (x, sp.Eq(x, y) | sp.Ne(x, 1) & (x >= y)), (y, sp.Not(sp.And(x > 0, y > 0), evaluate=False)), (0, True)
        ),
        R,
        R,
    ),
    ("logic", sp.Piecewise((x, sp.And(x > 0, y > 0) | sp.Xor(x > 1, y < -1)), (y, sp.Not(x > y)), (0, True)), R, R),
    ("ite", sp.Piecewise((x, sp.ITE(x > 0, y > 0, y < -1)), (-y, True)), R, R),
    ("erf", sp.erf(x), R, R),
    ("erfc", sp.erfc(x), R, R),
    ("erfinv", sp.erfinv(x), UNIT, R),
    ("gamma", sp.gamma(x), (0.1, 6.0), R),
    ("loggamma", sp.loggamma(x), (0.1, 6.0), R),
    ("polygamma", sp.digamma(x) + sp.polygamma(2, y), POS, POS),
    ("factorial", sp.factorial(x), (0.1, 6.0), R),
    ("binomial", sp.binomial(x, y), (3.0, 6.0), (0.5, 2.5)),
    ("sinc", sp.sinc(x), R, R),
    ("besselj", sp.besselj(1, x) + sp.besselj(sp.Rational(1, 2), y), R, POS),
    ("bessely", sp.bessely(0, x) * y, POS, R),
    ("lambertw", sp.LambertW(x), (-0.3, 4.0), R),
    ("lambertw_branch", sp.LambertW(x, -1), (-0.36, -0.05), R),
    ("re_im", sp.re(x + sp.I * y) * sp.im(x * sp.exp(sp.I * y)), R, R),
    ("arg", sp.arg(x + sp.I * y), R, R),
    ("conjugate", sp.re(sp.conjugate(x + sp.I * y) * (y + 2 * sp.I)), R, R),
    ("complex", sp.Abs(sp.exp(sp.I * x) + sp.I * y) ** 2, R, R),
    ("constants", sp.pi * x + sp.E * y + sp.EulerGamma + sp.GoldenRatio + sp.Catalan + sp.TribonacciConstant, R, R),
    ("rational", sp.Rational(2, 7) * x + sp.Rational(-3, 11) + y / 3, R, R),
    ("float", 2.5 * x + 0.1, R, R),
]
IDS = [c[0] for c in CASES]
point = st.tuples(st.floats(0, 1), st.floats(0, 1))


def at(case, u, v):
    _, _, (lx, hx), (ly, hy) = case
    return lx + u * (hx - lx), ly + v * (hy - ly)


def symbols_of(expr):
    extra = sorted(expr.free_symbols - {x, y}, key=str)
    return [x, y, *extra]
