"""The PyTorch backend: its spelling table, its leaves (packed parameters and constants) and wrappers.

The same straight-line source as the NumPy backend, over ``torch``. What differs:

- PyTorch differentiates the code it runs, so untaken branches are masked first
  (`mask_branches`, the double-where pattern): a ``Piecewise`` never gets a NaN gradient
  from a value it does not select.
- Eager PyTorch pays a few microseconds per op, so isomorphic sibling terms are batched into
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

import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import torch

from .._core.errors import UnsupportedFunctionError
from .._core.graph import Graph, Node
from .._core.ops import const_value
from .._core.tree import arg_targets, spell
from .._emit.emit import ARRAY_FORMS, Emitted, Spelling, compile_source, emit
from .._transforms.batch import BATCH_FORMS, batch_siblings
from .._transforms.fold import fold_constants
from .._transforms.mask import mask_branches

TORCH = {
    **ARRAY_FORMS,
    **BATCH_FORMS,
    "vdot": "_vdot({0}, {1})",
    "fma": "torch.addcmul({0}, {1}, {2})",  # made by _fuse_multiply_add
    "cbrt": "_cbrt({0})",
    "sign": "_sign({0})",
    "mod": "torch.remainder({0}, {1})",
    "heaviside": "_heaviside({0}, {1})",
    "im": "_imag({0})",
    "erf": "torch.special.erf({0})",
    "erfc": "torch.special.erfc({0})",
    "erfinv": "torch.special.erfinv({0})",
    "gamma": "_gamma({0})",
    "loggamma": "torch.special.gammaln({0})",
    "polygamma": "torch.special.polygamma({a}, {0})",
    "factorial": "_gamma({0} + 1)",
    "binomial": "_binomial({0}, {1})",
}


def _vdot(u, w):
    """``u @ w`` (matmul does not promote dtypes: a float32 input and a float64 vector...)."""
    if u.dtype != w.dtype:
        dt = torch.promote_types(u.dtype, w.dtype)
        u, w = u.to(dt), w.to(dt)
    return u @ w


def _cbrt(x):
    return torch.sign(x) * torch.abs(x) ** (1 / 3)


def _sign(x):
    return torch.where(torch.isnan(x), x, torch.sgn(x))  # sign(nan) is nan, as in NumPy


def _heaviside(x, h):
    # torch.heaviside has no derivative and wants h as a tensor of x's dtype.
    return torch.where(x > 0, 1.0, torch.where(x < 0, 0.0, torch.where(x == 0, h, x)))


def _imag(x):
    return x.imag if x.is_complex() else torch.zeros_like(x)


def _gamma_sign(x):
    """The sign of Γ(x): negative for x in (-1, 0), (-3, -2), ..."""
    odd = torch.remainder(torch.floor(x), 2) == 1
    return torch.where((x < 0) & odd, -1.0, 1.0)


def _gamma(x):
    """Γ(x) = ±exp(lgamma(x)) (PyTorch has no gamma function)."""
    return _gamma_sign(x) * torch.exp(torch.special.gammaln(x))


def _binomial(n, k):
    """The real binomial coefficient Γ(n+1) / (Γ(k+1) Γ(n-k+1)), as `scipy.special.binom`."""
    a, b, c = n + 1, k + 1, n - k + 1
    sign = _gamma_sign(a) * _gamma_sign(b) * _gamma_sign(c)
    lg = torch.special.gammaln
    return sign * torch.exp(lg(a) - lg(b) - lg(c))


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


_J0 = _bessel(torch.special.bessel_j0, lambda x: -_J1(x), "BesselJ0")
_J1 = _bessel(torch.special.bessel_j1, lambda x: _J0(x) - _over_x(_J1)(x), "BesselJ1")
_Y0 = _bessel(torch.special.bessel_y0, lambda x: -_Y1(x), "BesselY0")
_Y1 = _bessel(torch.special.bessel_y1, lambda x: _Y0(x) - _Y1(x) / x, "BesselY1")
_BESSEL = {("besselj", 0): _J0, ("besselj", 1): _J1, ("bessely", 0): _Y0, ("bessely", 1): _Y1}
_SYMPY_NAME = {"besselj": "besselj", "bessely": "bessely", "lambertw": "LambertW"}


def _broadcast(value, args):
    """``value`` broadcast to the shape of the arguments together (outputs that ignore some)."""
    ref = next((a for a in args if isinstance(a, torch.Tensor)), None)
    if not isinstance(value, torch.Tensor):
        value = torch.as_tensor(value, device=None if ref is None else ref.device)
    shape = torch.broadcast_shapes(*(a.shape for a in args))
    return value if value.shape == shape else torch.broadcast_to(value, shape)


def _stack(outs, args):
    """Outputs broadcast together (and with the inputs), stacked on a new last axis."""
    outs = [o if isinstance(o, torch.Tensor) else torch.as_tensor(o) for o in outs]
    return torch.stack(torch.broadcast_tensors(*outs, *args)[: len(outs)], -1)


def _array(shape, entries):
    """A Matrix/Array output: entries in row-major order, batch dimensions last (as in NumPy)."""
    if not entries:
        return torch.zeros(shape)
    entries = [e if isinstance(e, torch.Tensor) else torch.as_tensor(e) for e in entries]
    a = torch.stack(torch.broadcast_tensors(*entries))
    return a.reshape(tuple(shape) + a.shape[1:])


NAMESPACE = {
    "torch": torch,
    "_vdot": _vdot,
    "_cbrt": _cbrt,
    "_sign": _sign,
    "_heaviside": _heaviside,
    "_imag": _imag,
    "_gamma": _gamma,
    "_binomial": _binomial,
    "_broadcast": _broadcast,
    "_stack": _stack,
    "_array": _array,
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


def prepare(graph: Graph, batch: bool = True) -> Graph:
    """The graph as PyTorch will run it: constants folded, untaken branches masked, sibling
    terms batched, and the special functions PyTorch spells differently resolved."""
    graph = mask_branches(fold_constants(graph))
    graph = _resolve_specials(graph)
    if batch:
        graph = batch_siblings(graph)
    return _fuse_multiply_add(graph)


def _fuse_multiply_add(graph: Graph) -> Graph:
    """``u + v * w`` -> ``torch.addcmul(u, v, w)`` where the product is used only there: one
    pass over the data instead of two (it matters for the wide batched ops)."""
    nodes = list(graph.nodes)
    uses = graph.use_counts()
    changed = False
    for i, n in enumerate(nodes):
        if n.op != "add":
            continue
        for u, m in (n.args, n.args[::-1]):
            if nodes[m].op == "mul" and uses[m] == 1:
                nodes[i] = Node("fma", (u, *nodes[m].args))
                changed = True
                break
    if not changed:
        return graph
    return Graph(nodes, graph.outputs, graph.inputs, graph.params, graph.buffers).pruned()


def _resolve_specials(graph: Graph) -> Graph:
    """Bessel functions of order 0 and 1 -> ``call`` nodes of their torch.special versions."""
    nodes = list(graph.nodes)
    changed = False
    for i, n in enumerate(nodes):
        if n.op not in _SYMPY_NAME:
            continue
        order = None
        if n.op != "lambertw":
            o = nodes[n.args[0]]
            if o.op == "const" and type(o.attr) in (int, Fraction, float) and o.attr in (0, 1):
                order = int(o.attr)
        fn = _BESSEL.get((n.op, order))
        if fn is None:
            name = _SYMPY_NAME[n.op]
            what = name if n.op == "lambertw" else f"{name} of an order other than 0 or 1"
            raise UnsupportedFunctionError(
                f"the torch backend has no implementation of {what} (PyTorch has none); "
                f"pass extra_funcs={{sympy.{name}: <a torch function>}} to supply one"
            )
        nodes[i] = Node("call", (n.args[1],), (n.op, fn))
        changed = True
    if not changed:
        return graph
    return Graph(nodes, graph.outputs, graph.inputs, graph.params, graph.buffers).pruned()


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
    graph: Graph, returns: Callable[[list[str]], str], *, prologue=(), signature=None, namespace=None
) -> Compiled:
    """Emit a prepared graph as ``_f(P, B, K, a0, ...)`` (or ``signature``) over torch.

    ``returns`` spells the return value from the outputs' texts; ``prologue`` statements run
    first (they may define ``P``, ``B``, ``K``); ``namespace`` adds globals.
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
    emitted = emit(
        graph,
        Spelling("torch", "torch", table, {**NAMESPACE, **(namespace or {})}),
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


_CACHE: OrderedDict = OrderedDict()
_CACHE_SIZE = 128


def cached(key: tuple, make: Callable[[], Compiled]) -> Compiled:
    """``make()``, cached in-process under ``key`` (the graph's content hash and options)."""
    hit = _CACHE.get(key)
    if hit is None:
        hit = _CACHE[key] = make()
        if len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    else:
        _CACHE.move_to_end(key)
    return hit


# -- lambdify ------------------------------------------------------------------------------


def _spell_array(shape, items):
    return f"_array({tuple(shape)!r}, [{', '.join(items)}])"


def build(graph: Graph, arg_tree: tuple, out_tree: tuple, options: dict) -> tuple:
    """Compile ``graph`` into a function over torch for `lambdify`; returns ``(function, source)``.

    Inputs may be tensors (any dtype and device) or Python numbers; integer tensors and numbers
    are computed in the default dtype. Outputs that do not depend on every input are broadcast
    to the inputs' shape, and a Matrix output keeps its batch dimensions last.
    """
    prepared = prepare(graph)
    params, unpack = arg_targets(arg_tree)
    n_in = len(prepared.inputs)
    flat = [f"a{k}" for k in range(n_in)]
    deps = prepared.input_dependence()
    full = (1 << n_in) - 1

    def returns(outs):
        # (the inputs' tuple is built once: spelt out per output, n outputs of n inputs would be n*n text)
        outs = [t if deps[o] == full else f"_broadcast({t}, _args)" for t, o in zip(outs, prepared.outputs)]
        return spell(out_tree, outs, _spell_array)

    coerce = [f"_args, K = _inputs(({''.join(f'{a}, ' for a in flat)}), _K)"]
    if n_in:
        coerce.append(f"{''.join(f'{a}, ' for a in flat)}= _args")
    # The constants' values are known only once emitted: the bank is bound in afterwards.
    compiled = compile_graph(
        prepared, returns, prologue=[*unpack, *coerce], signature=params, namespace={"_inputs": _lambdify_inputs}
    )
    compiled.fn.__globals__["_K"] = torch.tensor(compiled.constants, dtype=torch.float64)
    return compiled.fn, compiled.source


def _lambdify_inputs(values, constants):
    values, rdt, device = coerce_inputs(values)
    return values, constants.to(device=device, dtype=rdt)
