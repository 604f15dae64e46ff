"""The PyTorch backend: its spelling table, its leaves (packed parameters and constants) and wrappers.

The same straight-line source as the NumPy backend, over ``torch``. What differs:

- PyTorch differentiates the code it runs, so untaken branches are masked first
  (`mask_branches`, the double-where pattern): a ``Piecewise`` never gets a NaN gradient
  from a value it does not select.
- Eager PyTorch pays a fixed cost per op, so isomorphic sibling terms are batched into
  vector ops (`_batch.batch_siblings`), and parameters, buffers and constants each arrive as
  one packed vector (a *bank*) that the function splits once.
- Constants (integers, rationals, pi, E, folded subexpressions) are a bank of tensors in the
  dtype and on the device of the computation, made from their exact values: in float64,
  ``pi * x`` uses pi correctly rounded to float64.
- Special functions come from ``torch.special``; those PyTorch lacks (``LambertW``, Bessel
  functions of orders other than 0 and 1) raise `UnsupportedFunctionError`.

`build` serves ``lambdify(..., backend="torch")``; `compile_graph` serves
`sympile.torch.SymPyModule`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import torch

from .._core.constants import const_value
from .._core.graph import Graph
from .._core.rewrite import rewrite
from .._emit.emit import Emitted, Spelling, compile_source, emit
from .._emit.pipeline import pipeline
from .._emit.tables import ARRAY
from .._emit.wrapper import LRU, Built, Inputs, array_of, entry_frame
from .._transforms.batch import batch_siblings
from .._transforms.fuse import multiply_adds
from .special_functions import FACTORIALS, reflected_polygamma

#: PyTorch's spellings: the array libraries' base and what differs. PyTorch has no gamma function
#: (`_gamma` computes it from ``gammaln``, and for complex arguments by `_complex_gamma`); cbrt and
#: heaviside are decomposed (`OpSpec.decompose`): PyTorch has no differentiable heaviside.
TORCH = {
    **ARRAY,
    "cbrt": None,
    "heaviside": None,  # torch.heaviside has no derivative
    "vdot": "_vdot({0}, {1})",
    "fma": "torch.addcmul({0}, {1}, {2})",
    "sign": "_sign({0})",
    "mod": "torch.remainder({0}, {1})",
    "im": "_imag({0})",
    "erf": "torch.special.erf({0})",
    "erfc": "torch.special.erfc({0})",
    "erfinv": "torch.special.erfinv({0})",
    "gamma": "_gamma({0})",
    "loggamma": "torch.special.gammaln({0})",
    "polygamma": "_polygamma({a}, {0})",
}
SPELLING = Spelling("torch", "torch", TORCH)


def _vdot(u, w):
    """``u @ w`` (matmul does not promote dtypes: a float32 input and a float64 vector...)."""
    if u.dtype != w.dtype:
        dt = torch.promote_types(u.dtype, w.dtype)
        u, w = u.to(dt), w.to(dt)
    return u @ w


def _sign(x):
    return torch.where(torch.isnan(x), x, torch.sgn(x))  # sign(nan) is nan, as in NumPy


_FACTORIALS: dict = {}  # FACTORIALS as a tensor, per dtype and device


def _gamma(x):
    """Γ(x) as sign · exp(log|Γ(x)|), with SciPy's values where that formula has none.

    Exact at the integers 1, ..., 171 (where exp(gammaln) is off by an ulp or more, so that
    ``floor(gamma(n))`` could be ``(n-1)! - 1``), with the formula's derivative; ±inf at ±0;
    NaN at the poles (negative integers) and at -inf. Complex tensors: `_complex_gamma`.
    """
    if x.is_complex():
        return _complex_gamma(x)
    if not x.is_floating_point():
        x = x.to(torch.get_default_dtype())
    key = (x.dtype, x.device)
    table = _FACTORIALS.get(key)
    if table is None:
        table = _FACTORIALS[key] = torch.tensor(FACTORIALS, dtype=x.dtype, device=x.device)
    whole = torch.floor(x) == x
    odd = torch.remainder(torch.floor(x), 2) == 1
    y = torch.where((x < 0) & odd, -1.0, 1.0).to(x.dtype) * torch.exp(torch.special.gammaln(x))
    small = whole & (x >= 1) & (x <= len(FACTORIALS))
    exact = table[torch.where(small, x, 1.0).long() - 1]
    y = torch.where(small, y + (exact - y).detach(), y)
    pole = whole & (x <= 0)  # -inf included
    return torch.where(pole, torch.where(x == 0, torch.copysign(torch.full_like(x, math.inf), x), math.nan), y)


#: The terms of Stirling's series of log Γ(w) past (w - 1/2) log w - w + log(2π)/2: the
#: coefficient of w^(1 - 2k) is B_2k / (2k (2k - 1)), B_2k the Bernoulli numbers, k = 1, 2, ...
_STIRLING = tuple(
    float(c)
    for c in (
        Fraction(1, 12),
        Fraction(-1, 360),
        Fraction(1, 1260),
        Fraction(-1, 1680),
        Fraction(1, 1188),
        Fraction(-691, 360360),
        Fraction(1, 156),
        Fraction(-3617, 122400),
    )
)
#: Γ(w) = Γ(w + n) / (w (w + 1) ... (w + n - 1)) with this n, so that Stirling's series is taken at
#: |w + n| >= 12.5, where its eight terms leave an error below 1e-19 of the value.
_GAMMA_SHIFT = 12
_HALF_LOG_2PI = 0.9189385332046727418
_LOG_PI = 1.1447298858494001741


def _complex_gamma(z):
    """Γ(z) for complex tensors (torch.special has no complex gamma): Stirling's series at
    ``w + 12`` brought down by the recurrence, for Re(w) >= 1/2, and the reflection formula
    Γ(z) = π / (sin(πz) Γ(1 - z)) left of that, with sin(πz) reduced exactly by the nearest
    integer of Re(z). Accurate to a few units in 1e-14 in complex128 where Γ is finite and
    |z| < 100 (the rounding of the exponent's imaginary part grows with |z| log|z|)."""
    left = z.real < 0.5
    w = torch.where(left, 1 - z, z)  # Re(w) >= 1/2
    product = w
    for k in range(1, _GAMMA_SHIFT):
        product = product * (w + k)
    v = w + _GAMMA_SHIFT
    t = 1 / v
    u = t * t
    series = _STIRLING[-1]
    for c in reversed(_STIRLING[:-1]):
        series = c + u * series
    # in logs: Γ(w + 12) or Γ(1 - z) may overflow where Γ(z) does not (w = 170.5)
    log_g = (v - 0.5) * torch.log(v) - v + _HALF_LOG_2PI + t * series - torch.log(product)
    # sin(πz) = (-1)^n sin(π(z - n)), n the integer nearest Re(z): exact reduction, no π*z rounding
    n = torch.round(z.real)
    sin_pi_z = (1 - 2 * torch.remainder(n, 2)) * torch.sin(math.pi * (z - n))
    sin_pi_z = torch.where(left, sin_pi_z, 1)  # no log(0) on the side not taken (its gradient)
    return torch.exp(torch.where(left, _LOG_PI - torch.log(sin_pi_z) - log_g, log_g))


def _imag(x):
    return x.imag if x.is_complex() else torch.zeros_like(x)


#: Where PyTorch's Bessel functions are off (torch 2.x, float64 too: 5e-7 absolute between 5 and 8,
#: 1e-8 between 1 and 25), sympile integrates instead: |x| in [1, 25] for J0 and J1, x in [1, 25] for
#: Y0 and Y1 (elsewhere PyTorch's are within a few ulps of SciPy).
_BESSEL_QUADRATURE = (1.0, 25.0)
#: J_n(x) = (1/2π) ∫ cos(nθ - x sin θ) dθ over a period: the trapezoid rule on 64 points is exact to
#: J_64(x) ~ 1e-17 for |x| <= 25; by symmetry, 17 distinct sines of weights 1, 2, ..., 2, 1 (/32).
_J_POINTS = 16
#: Y_n(x) = (1/π) ∫_0^π sin(x sin θ - nθ) dθ - (1/π) ∫_0^∞ (e^{nt} + (-1)^n e^{-nt}) e^{-x sinh t} dt,
#: both by 48-point Gauss-Legendre (the second on [0, asinh(50/x)], past which e^{-x sinh t} < e^{-50}).
_Y_NODES = 48


def _j_quadrature(x, order: int):
    k = torch.arange(_J_POINTS + 1, dtype=x.dtype, device=x.device)
    s = torch.sin(k * (math.pi / (2 * _J_POINTS)))
    w = torch.full_like(s, 2.0)
    w[0] = w[-1] = 1.0
    xs = x[..., None] * s
    terms = torch.cos(xs) if order == 0 else s * torch.sin(xs)
    return (terms * w).sum(-1) / (2 * _J_POINTS)


@functools.cache
def _gauss_legendre(n: int):
    import numpy as np

    return np.polynomial.legendre.leggauss(n)


def _y_quadrature(x, order: int):
    nodes, weights = (torch.as_tensor(a, dtype=x.dtype, device=x.device) for a in _gauss_legendre(_Y_NODES))
    theta, wt = (nodes + 1) * (math.pi / 2), weights * (math.pi / 2)
    oscillating = (wt * torch.sin(x[..., None] * torch.sin(theta) - order * theta)).sum(-1)
    top = torch.asinh(50 / x)[..., None]
    t, wu = (nodes + 1) * top / 2, weights * top / 2
    decaying = (
        wu * (torch.exp(order * t) + (-1) ** order * torch.exp(-order * t)) * torch.exp(-x[..., None] * torch.sinh(t))
    )
    return (oscillating - decaying.sum(-1)) / math.pi


def _accurate(special: Callable, kind: str, order: int):
    """``special`` (a ``torch.special`` Bessel function), integrated where it is inaccurate."""
    lo, hi = _BESSEL_QUADRATURE

    def f(x):
        r = x.abs() if kind == "j" else x
        mid = (r >= lo) & (r <= hi)
        safe = torch.where(mid, x, lo)  # the quadrature's branch stays finite where it is not taken
        quad = _j_quadrature(safe, order) if kind == "j" else _y_quadrature(safe, order)
        return torch.where(mid, quad, special(x))

    return f


def _bessel(special: Callable, derivative: Callable, name: str):
    """A Bessel function of ``torch.special`` with its derivative (PyTorch gives none)."""

    def forward(x):
        return special(x)

    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * derivative(x)

    return type(
        name,
        (torch.autograd.Function,),
        {
            "generate_vmap_rule": True,
            "forward": staticmethod(forward),
            "setup_context": staticmethod(lambda ctx, inputs, output: ctx.save_for_backward(inputs[0])),
            "backward": staticmethod(backward),
        },
    ).apply


def _over_x(f):
    """f(x)/x with its limit f'(0) = 1/2 at x = 0 (for J1)."""

    def g(x):
        zero = x == 0
        safe = torch.where(zero, 1.0, x)
        return torch.where(zero, 0.5, f(safe) / safe)

    return g


_J0 = _bessel(_accurate(torch.special.bessel_j0, "j", 0), lambda x: -_J1(x), "BesselJ0")
_J1 = _bessel(_accurate(torch.special.bessel_j1, "j", 1), lambda x: _J0(x) - _over_x(_J1)(x), "BesselJ1")
_Y0 = _bessel(_accurate(torch.special.bessel_y0, "y", 0), lambda x: -_Y1(x), "BesselY0")
_Y1 = _bessel(_accurate(torch.special.bessel_y1, "y", 1), lambda x: _Y0(x) - _Y1(x) / x, "BesselY1")
_BESSEL = {("besselj", 0): _J0, ("besselj", 1): _J1, ("bessely", 0): _Y0, ("bessely", 1): _Y1}


def _common(*args):
    """What broadcasting an output to the inputs needs: their shape together and a device (once per call)."""
    ref = next((a for a in args if isinstance(a, torch.Tensor)), None)
    return torch.broadcast_shapes(*(a.shape for a in args)), None if ref is None else ref.device


def _broadcast(value, like):
    """``value`` broadcast to the inputs' shape (``like``: `_common`), for outputs that ignore some."""
    shape, device = like
    if not isinstance(value, torch.Tensor):
        value = torch.as_tensor(value, device=device)
    return value if value.shape == shape else torch.broadcast_to(value, shape)


def _stack(outs, args):
    """Outputs broadcast together (and with the inputs), stacked on a new last axis."""
    outs = [o if isinstance(o, torch.Tensor) else torch.as_tensor(o) for o in outs]
    return torch.stack(torch.broadcast_tensors(*outs, *args)[: len(outs)], -1)


def _stack_entries(entries):
    entries = [e if isinstance(e, torch.Tensor) else torch.as_tensor(e) for e in entries]
    return torch.stack(torch.broadcast_tensors(*entries))


def _trigamma_by_zeta(n, x):
    """``polygamma(n, x)``; for ``n = 1`` as the Hurwitz zeta ``zeta(2, x)``: PyTorch's own trigamma
    is up to 5e-10 relative off for ``0 < x < 5`` in float64, its zeta (which its polygamma of higher
    orders uses) within 5e-16, with the same autograd."""
    return torch.special.zeta(2.0, x) if n == 1 else torch.special.polygamma(n, x)


NAMESPACE = {
    "torch": torch,
    "_vdot": _vdot,
    "_sign": _sign,
    "_gamma": _gamma,
    "_polygamma": reflected_polygamma(_trigamma_by_zeta, torch),
    "_imag": _imag,
    "_broadcast": _broadcast,
    "_common": _common,
    "_stack": _stack,
    "_array": array_of(_stack_entries, torch.zeros),
}

# -- dtypes and devices ------------------------------------------------------------------

_REAL = {torch.complex32: torch.float16, torch.complex64: torch.float32, torch.complex128: torch.float64}
_COMPLEX = {torch.float16: torch.complex32, torch.float32: torch.complex64, torch.float64: torch.complex128}
_NUMBERS = (bool, int, float, complex)


def coerce_inputs(values, dtype=None, device=None) -> tuple[list, torch.dtype, torch.device]:
    """The inputs as tensors, and the real dtype and the device to compute in.

    The dtype is the promotion of the tensors' dtypes and ``dtype`` (a module's), or the
    default dtype; Python numbers follow it (weakly, as in PyTorch) and integer or boolean
    tensors are cast to it. The device is the first tensor's, else ``device``.
    """
    values = [v if isinstance(v, torch.Tensor) or type(v) in _NUMBERS else torch.as_tensor(v) for v in values]
    dt, found = dtype, None
    for v in values:
        if type(v) not in _NUMBERS:
            dt = v.dtype if dt is None else torch.promote_types(dt, v.dtype)
            if found is None:
                found = v.device
    device = found if found is not None else device
    if dt is None:
        dt = torch.get_default_dtype()
    elif not (dt.is_floating_point or dt.is_complex):
        dt = torch.promote_types(dt, torch.get_default_dtype())
    rdt = _REAL.get(dt, dt)
    out = []
    for v in values:
        if type(v) in _NUMBERS:
            v = torch.as_tensor(
                v, dtype=_COMPLEX.get(rdt, torch.complex64) if type(v) is complex else rdt, device=device
            )
        elif not (v.dtype.is_floating_point or v.dtype.is_complex):
            v = v.to(rdt)
        out.append(v)
    return out, rdt, device


# -- preparing and emitting a graph --------------------------------------------------------


def bessel_calls(graph: Graph) -> Graph:
    """Bessel functions of order 0 and 1 as ``call`` nodes of their ``torch.special`` versions
    (with derivatives); PyTorch has no others."""
    nodes = graph.nodes
    if not any(n.op in ("besselj", "bessely") for n in nodes):
        return graph

    def rule(b, i, n, args):
        if n.op not in ("besselj", "bessely"):
            return None
        o = nodes[n.args[0]]
        order = None
        if o.op == "const" and type(o.attr) in (int, Fraction, float) and o.attr in (0, 1):
            order = int(o.attr)
        fn = _BESSEL.get((n.op, order))
        if fn is None:
            raise SPELLING.unsupported(n.op, " of an order other than 0 or 1")
        return b.node("call", (args[1],), (n.op, fn))

    return rewrite(graph, rule)


#: The functions ``torch.special`` computes for real arguments only (`RealOnly`).
REAL_ONLY = frozenset({"erf", "erfc", "besselj", "bessely"})
#: Constants folded, untaken branches masked (PyTorch differentiates the code it runs),
#: Bessel functions resolved, isomorphic sibling terms batched, multiply-adds fused.
PIPELINE = pipeline(SPELLING, mask=True, extra=(bessel_calls, batch_siblings, multiply_adds), real_only=REAL_ONLY)
#: The same without batching (for comparisons).
UNBATCHED = pipeline(SPELLING, mask=True, extra=(bessel_calls, multiply_adds), real_only=REAL_ONLY)


def prepare(graph: Graph, batch: bool = True) -> Graph:
    """The graph as PyTorch will run it (`PIPELINE`; ``batch=False``: `UNBATCHED`)."""
    return (PIPELINE if batch else UNBATCHED)(graph)


@dataclass
class Compiled:
    """An emitted function ``fn(P, B, K, a0, a1, ...)`` and how to feed it.

    ``P``, ``B`` and ``K`` are 1-D tensors: the parameters in the order ``param_order``
    (slots of the graph's ``params``; None: all of them, in slot order), the buffers in
    ``buffer_order``, and the constants, whose exact values are ``constants``.
    """

    fn: Callable
    source: str
    param_order: tuple | None
    buffer_order: tuple | None
    constants: tuple


class _Bank:
    """The leaves that one packed vector feeds: vectors first, then scalars, each once."""

    def __init__(self, var: str):
        self.var = var
        self.vectors: dict = {}  # key -> its entries
        self.scalars: dict = {}  # key -> its entries (one, or two for a complex constant)

    def order(self) -> list:
        return [e for v in self.vectors.values() for e in v] + [e for s in self.scalars.values() for e in s]

    def prologue(self, texts: dict) -> list[str]:
        """Statements that split the bank; fills ``texts``: key -> source text."""
        v, lines = self.var, []
        sizes = [len(e) for e in self.vectors.values()]
        n_scalar = sum(len(e) for e in self.scalars.values())
        if not sizes and not n_scalar:
            return lines
        names = [f"{v}v{j}" for j in range(len(sizes))]
        scalar_block = v
        if sizes:
            if n_scalar:
                names.append(f"{v}s")
                sizes.append(n_scalar)
                scalar_block = f"{v}s"
            if len(names) == 1:
                lines.append(f"{names[0]} = {v}")
            else:
                lines.append(f"{', '.join(names)}, = {v}.split_with_sizes({list(sizes)!r})")
            for key, name in zip(self.vectors, names):
                texts[key] = name
        if n_scalar:
            lines.append(f"{v}_ = {scalar_block}.unbind()")
            j = 0
            for key, entries in self.scalars.items():
                # a complex constant is made once, from its real and imaginary parts
                texts[key] = f"{v}_[{j}]" if len(entries) == 1 else f"_c{j}"
                if len(entries) == 2:
                    lines.append(f"_c{j} = torch.complex({v}_[{j}], {v}_[{j + 1}])")
                j += len(entries)
        return lines


def _float(v) -> float | complex:
    if type(v) is complex:
        return v
    try:
        return float(v)
    except OverflowError:
        return math.copysign(math.inf, v)


def compile_graph(
    graph: Graph,
    returns: Callable[[list[str]], str],
    *,
    prologue=(),
    signature=None,
    namespace=None,
    constants: str | None = None,
) -> Compiled:
    """Emit a prepared graph as ``_f(P, B, K, a0, ...)`` (or ``signature``) over torch.

    ``returns`` spells the return value from the outputs' texts; ``prologue`` statements run
    first (they may define ``P``, ``B``, ``K``); ``namespace`` adds globals; ``constants``
    names a global that holds the constants' bank (a float64 tensor).
    """
    P, B, K = _Bank("P"), _Bank("B"), _Bank("K")
    complex_vectors = {}
    for n in graph.nodes:
        op = n.op
        if op == "param":
            P.scalars.setdefault(("param", n.attr), (n.attr,))
        elif op == "buffer":
            B.scalars.setdefault(("buffer", n.attr), (n.attr,))
        elif op == "vparam":
            P.vectors.setdefault(("vparam", n.attr), n.attr)
        elif op == "vbuffer":
            B.vectors.setdefault(("vbuffer", n.attr), n.attr)
        elif op == "const" and type(n.attr) is not bool:
            v = _float(const_value(n.attr))
            if type(v) is complex:
                K.scalars.setdefault(("const", type(n.attr), n.attr), (v.real, v.imag))
            else:
                K.scalars.setdefault(("const", type(n.attr), n.attr), (v,))
        elif op == "vconst":
            values = [_float(const_value(a)) for a in n.attr]
            if any(type(v) is complex for v in values):
                complex_vectors[n.attr] = True
                K.vectors.setdefault(("vconst-re", n.attr), tuple(complex(v).real for v in values))
                K.vectors.setdefault(("vconst-im", n.attr), tuple(complex(v).imag for v in values))
            else:
                K.vectors.setdefault(("vconst", n.attr), tuple(values))
    texts: dict = {}
    lines = [*prologue, *P.prologue(texts), *B.prologue(texts), *K.prologue(texts)]
    for attr in complex_vectors:
        name = f"_cv{len(lines)}"
        lines.append(f"{name} = torch.complex({texts[('vconst-re', attr)]}, {texts[('vconst-im', attr)]})")
        texts[("vconst", attr)] = name

    table = {
        **TORCH,
        "param": lambda args, attr: texts[("param", attr)],
        "buffer": lambda args, attr: texts[("buffer", attr)],
        "vparam": lambda args, attr: texts[("vparam", attr)],
        "vbuffer": lambda args, attr: texts[("vbuffer", attr)],
        "vconst": lambda args, attr: texts[("vconst", attr)],
    }

    def const(attr):
        if type(attr) is bool:
            return repr(attr)
        return texts[("const", type(attr), attr)]

    n_in = len(graph.inputs)
    signature = signature if signature is not None else ["P", "B", "K", *(f"a{k}" for k in range(n_in))]
    namespace = {**NAMESPACE, **(namespace or {})}
    if constants is not None:
        namespace[constants] = torch.tensor(K.order(), dtype=torch.float64)
    emitted = emit(
        graph,
        Spelling("torch", "torch", table, namespace),
        name="_f",
        signature=signature,
        prologue=lines,
        returns=returns,
        const=const,
    )
    fn = compile_source(Emitted(emitted.source, emitted.namespace, "_f"), "torch")
    p_order, b_order = tuple(P.order()), tuple(B.order())
    return Compiled(
        fn,
        emitted.source,
        None if p_order == tuple(range(len(graph.params))) else p_order,
        None if b_order == tuple(range(len(graph.buffers))) else b_order,
        tuple(K.order()),
    )


_CACHE = LRU()


def cached(key: tuple, make: Callable[[], Compiled]) -> Compiled:
    """``make()``, cached in-process under ``key`` (the graph's content hash and options)."""
    return _CACHE.get(key, make)


# -- lambdify ------------------------------------------------------------------------------


def build(graph: Graph, arg_tree: tuple, out_tree: tuple, options: dict) -> Built:
    """Compile ``graph`` into a function over torch for `lambdify`.

    Inputs may be tensors (any dtype and device) or Python numbers; integer tensors and numbers
    are computed in the default dtype. Outputs that do not depend on every input are broadcast
    to the inputs' shape, and a Matrix output keeps its batch dimensions last.
    """
    real = PIPELINE.real_inputs(graph)
    prepared = prepare(graph)
    frame = entry_frame(prepared, arg_tree, out_tree)
    flat = "".join(f"a{k}, " for k in range(len(prepared.inputs)))
    coerce = [f"_args, K = _inputs(({flat}), _K)", *([f"{flat}= _args"] if flat else [])]
    inputs = (
        _lambdify_inputs if real is None else lambda values, constants: _lambdify_inputs(real.check(values), constants)
    )
    compiled = compile_graph(
        prepared,
        frame.returns,
        prologue=[*frame.unpack, *coerce, *frame.ready],
        signature=[*frame.params, "/"] if frame.params else [],
        namespace={"_inputs": inputs},
        constants="_K",
    )
    return Built(compiled.fn, compiled.source, inputs=INPUTS)


#: What a torch function takes as an input: tensors as they are, and numbers and NumPy arrays
#: (`Inputs`), these in native byte order and without negative strides, as ``torch.as_tensor`` needs.
INPUTS = Inputs(own=(torch.Tensor,), own_name="torch tensors", native=True)


def _lambdify_inputs(values, constants):
    values, rdt, device = coerce_inputs(INPUTS.convert(values))
    return values, constants.to(device=device, dtype=rdt)
