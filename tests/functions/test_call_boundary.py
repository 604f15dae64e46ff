"""The call boundary of compiled functions (`sympile._emit.wrapper.Inputs`), on every Python backend.

Every input is checked and converted once, the same way on the NumPy, PyTorch, JAX and PyTensor
backends: numbers and arrays of numbers (any byte order and strides), the backend's own arrays,
objects with ``__array__`` and lists of numbers are taken and converted exactly; anything else is
an `ArgumentError` naming the argument; shapes that do not broadcast are a `ShapeError`; keywords
are an `ArgumentError`.
"""

from __future__ import annotations

import datetime
import decimal
import fractions

import numpy as np
import pytest
import sympy as sp

from sympile import ArgumentError, ShapeError, lambdify

torch = pytest.importorskip("torch")
jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
pytest.importorskip("pytensor")

BACKENDS = ["numpy", "torch", "jax", "pytensor"]
x, y, z = sp.symbols("x y z")


class _Holder:
    """An object that only exposes ``__array__`` (as pandas, xarray and others do)."""

    def __init__(self, a):
        self.a = a

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.a, dtype=dtype)


REFUSED = {
    "None": None,
    "str": "1.5",
    "bytes": b"1.5",
    "bytearray": bytearray(b"12"),
    "Decimal": decimal.Decimal("0.5"),
    "Fraction": fractions.Fraction(1, 3),
    "object": object(),
    "dict": {"a": 1.0},
    "object array": np.array([1.0, 2.0], dtype=object),
    "str array": np.array(["1.0", "2.0"]),
    "datetime64": np.datetime64("2020-01-01"),
    "timedelta64 array": np.array([1, 2], dtype="timedelta64[s]"),
    "datetime": datetime.datetime(2020, 1, 1),
    "list of Decimal": [decimal.Decimal("1"), decimal.Decimal("2")],
    "list with None": [1.0, None],
    "ragged list": [[1.0, 2.0], [3.0]],
    "masked array": np.ma.masked_array([1.0, 2.0], mask=[False, True]),
    "__array__ of text": _Holder(["a", "b"]),
}


def _values(out):
    """An output as a float64 NumPy array."""
    if isinstance(out, torch.Tensor):
        out = out.detach().numpy()
    return np.asarray(out, dtype=np.float64)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", list(REFUSED))
def test_inputs_that_are_not_numbers_are_refused_naming_the_argument(backend, kind):
    f = lambdify([x, y], x * y + 1, backend=backend)
    with pytest.raises(ArgumentError, match=r"^y \(argument 2\) is .*; the \w+ backend takes .*Python numbers") as e:
        f(2.0, REFUSED[kind])
    assert "lists or tuples of numbers" in str(e.value)
    assert backend in str(e.value)


@pytest.mark.parametrize("backend", BACKENDS)
def test_decimal_never_computes_in_object_arithmetic(backend):
    # NumPy would multiply Decimals exactly in object arithmetic and return a Decimal: silently not float64
    f = lambdify([x], 2 * x, backend=backend)
    for v in (decimal.Decimal("0.1"), np.array([decimal.Decimal("0.1")], dtype=object)):
        with pytest.raises(ArgumentError, match=r"x \(argument 1\)"):
            f(v)


@pytest.mark.parametrize("backend", BACKENDS)
def test_refused_input_inside_a_nested_argument_is_named(backend):
    f = lambdify([x, [y, z]], x + y * z, backend=backend)
    with pytest.raises(ArgumentError, match=r"^z \(in argument 2\) is None"):
        f(1.0, [2.0, None])
    with pytest.raises(ArgumentError, match=r"argument 2 \(\[y, z\]\): expected a sequence of 2"):
        f(1.0, [2.0])


def _accepted(backend):
    """(description, value, the float64 values it stands for)."""
    base = np.array([0.5, -1.25, 3.0, 7.5, -2.0, 0.125])
    big = base.astype(">f8")
    cases = [
        ("float", 1.5, 1.5),
        ("int", 3, 3.0),
        ("bool", True, 1.0),
        ("np.float64", np.float64(0.25), 0.25),
        ("np.float32", np.float32(0.25), 0.25),
        ("np.int16", np.int16(-7), -7.0),
        ("np.bool_", np.bool_(True), 1.0),
        ("float64 array", base.copy(), base),
        ("float32 array", base.astype(np.float32), base),
        ("int32 array", np.arange(6, dtype=np.int32), np.arange(6.0)),
        ("uint8 array", np.arange(6, dtype=np.uint8), np.arange(6.0)),
        ("bool array", base > 0, (base > 0).astype(float)),
        ("big-endian float64", big, base),
        ("big-endian int32", np.arange(6, dtype=">i4"), np.arange(6.0)),
        ("negative strides", base[::-1], base[::-1]),
        ("strided", np.repeat(base, 2)[::2], base),
        ("big-endian, negative strides", big[::-1], base[::-1]),
        ("negative stride on a size-1 axis", base[None, :][::-1], base[None, :]),  # C-contiguous all the same
        ("unaligned", _unaligned(base), base),
        ("Fortran order", np.asfortranarray(np.outer(base, [1.0, 2.0])), np.outer(base, [1.0, 2.0])),
        ("0-d array", np.array(0.75), 0.75),
        ("list of floats", [0.1, 0.2, 0.3], np.array([0.1, 0.2, 0.3])),
        ("tuple of ints", (1, 2, 3), np.array([1.0, 2.0, 3.0])),
        ("nested lists", [[0.1, 0.2], [0.3, 0.4]], np.array([[0.1, 0.2], [0.3, 0.4]])),
        ("__array__", _Holder(base), base),
        ("np.matrix", np.matrix([[0.5, 1.5]]), np.array([[0.5, 1.5]])),
    ]
    if backend == "torch":
        cases.append(("tensor", torch.tensor(base), base))
        cases.append(("float32 tensor", torch.tensor(base, dtype=torch.float32), base))
    if backend == "jax":
        cases.append(("jax array", jnp.asarray(base), base))
    return cases


def _unaligned(a):
    raw = np.zeros(a.nbytes + 1, np.uint8)
    out = raw[1:].view(a.dtype)
    out[...] = a
    assert not out.flags.aligned
    return out


@pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")
@pytest.mark.parametrize("backend", BACKENDS)
def test_every_accepted_kind_converts_exactly(backend):
    # x*2 + y with y = 0.0625: exact in float64 and in float32 for every value used
    f = lambdify([x, y], 2 * x + y, backend=backend)
    for name, value, exact in _accepted(backend):
        with jax.enable_x64(True):
            out = f(value, 0.0625)
        got = _values(out)
        want = 2 * np.asarray(exact, dtype=np.float64) + 0.0625
        assert got.shape == want.shape, name
        np.testing.assert_array_equal(got, want, err_msg=name)


@pytest.mark.parametrize("backend", BACKENDS)
def test_lists_are_converted_exactly_not_to_the_default_float_dtype(backend):
    # 0.1 is not a float32: a list of Python floats is float64, as np.asarray makes it
    f = lambdify([x], x * 1, backend=backend)
    with jax.enable_x64(True):
        got = _values(f([0.1, 1 / 3]))
    np.testing.assert_array_equal(got, [0.1, 1 / 3])


@pytest.mark.parametrize("backend", BACKENDS)
def test_big_endian_and_negative_stride_inputs_give_the_values_of_native_ones(backend):
    f = lambdify([x, y], sp.sin(x) * y + x**2, backend=backend)
    a = np.linspace(-2, 3, 11)
    b = np.linspace(1, 2, 11)
    with jax.enable_x64(True):
        want = _values(f(a, b))
        for aa, bb in [(a.astype(">f8"), b), (a, b.astype(">f8")), (a[::-1].copy()[::-1], b[::-1].copy()[::-1])]:
            np.testing.assert_array_equal(_values(f(aa, bb)), want)
        np.testing.assert_array_equal(_values(f(a[::-1], b[::-1])), want[::-1])
    np.testing.assert_allclose(want, np.sin(a) * b + a**2, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("backend", BACKENDS)
def test_shapes_that_do_not_broadcast_raise_shape_error_listing_them(backend):
    f = lambdify([x, y], x * y, backend=backend)
    with pytest.raises(ShapeError, match=r"x: \(3,\), y: \(4,\)"):
        f(np.ones(3), np.ones(4))
    with pytest.raises(ShapeError, match=r"x: \(2,\), y: \(3,\)"):
        f([1.0, 2.0], [1.0, 2.0, 3.0])
    g = lambdify([x, y], [x, y + 1], backend=backend)  # outputs that ignore an input
    with pytest.raises(ShapeError, match=r"x: \(2, 3\), y: \(2,\)"):
        g(np.ones((2, 3)), np.ones(2))


def test_shapes_of_torch_tensors_are_listed():
    f = lambdify([x, y], x * y, backend="torch")
    with pytest.raises(ShapeError, match=r"x: \(3,\), y: \(4,\)"):
        f(torch.ones(3), torch.ones(4))


@pytest.mark.parametrize("backend", BACKENDS)
def test_keyword_calls_are_refused_saying_the_arguments_are_positional(backend):
    f = lambdify([x, y], x + y, backend=backend)
    with pytest.raises(ArgumentError, match=r"takes its 2 argument\(s\) \(x, y\) by position.*got x=, y="):
        f(x=1.0, y=2.0)
    with pytest.raises(ArgumentError, match=r"by position.*got y="):
        f(1.0, y=2.0)
    with pytest.raises(ArgumentError, match=r"by position.*got z="):
        f(1.0, 2.0, z=3.0)  # all positional arguments given: the keyword is still refused
    with pytest.raises(ArgumentError, match=r"by position.*got a0="):
        f(a0=1.0, a1=2.0)  # the generated names are not keywords either


def test_numpy_one_point_path_refuses_keywords_even_with_every_argument_given():
    f = lambdify([x], x + 1)
    assert f(1.0) == 2.0
    with pytest.raises(ArgumentError, match="got out="):
        f(1.0, out=None)


@pytest.mark.parametrize("backend", BACKENDS)
def test_count_of_arguments_is_diagnosed(backend):
    f = lambdify([x, y], x + y, backend=backend)
    with pytest.raises(ArgumentError, match=r"takes 2 argument\(s\) \(x, y\), but 3 were given"):
        f(1.0, 2.0, 3.0)


def test_jax_takes_lists_and_stays_traceable():
    f = lambdify([x, y], sp.sin(x) * y, backend="jax")
    with jax.enable_x64(True):
        np.testing.assert_array_equal(np.asarray(f([0.5, 1.0], 2.0)), np.sin([0.5, 1.0]) * 2.0)
        g = jax.grad(lambda a: f(a, 2.0))(0.5)
        assert float(g) == pytest.approx(2 * np.cos(0.5), rel=1e-15)
        v = jax.jit(jax.vmap(lambda a: f(a, 3.0)))(jnp.arange(3.0))
        np.testing.assert_allclose(np.asarray(v), np.sin(np.arange(3.0)) * 3.0, rtol=1e-15)


def test_torch_gradients_flow_through_the_boundary():
    f = lambdify([x, y], sp.sin(x) * y, backend="torch")
    a = torch.tensor([0.5, 1.0], dtype=torch.float64, requires_grad=True)
    f(a, 2.0).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), 2 * np.cos([0.5, 1.0]), rtol=1e-15)


def test_numpy_backend_refuses_a_tensor_that_needs_a_gradient_clearly():
    f = lambdify([x], x + 1)
    with pytest.raises(ArgumentError, match=r"x \(argument 1\) is a Tensor, of which NumPy cannot make an array"):
        f(torch.ones(2, requires_grad=True))


def test_numpy_python_scalars_beside_lists_keep_numpy_typing():
    # a list is an array of points; a Python float beside a float32 array stays float32 (weak scalar)
    f = lambdify([x, y], x + y)
    out = f(np.ones(2, np.float32), 0.5)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(f([1.0, 2.0], 0.5), [1.5, 2.5])
