"""numpify: tracing, argument checks, dtypes, structures, pickling, backends."""

import multiprocessing
import pickle
import subprocess
import sys

import numpy as np
import pytest
import sympy as sp
from helpers import require
from hypothesis import given, settings
from hypothesis import strategies as st

import sympile.numpy as snp
from sympile import (
    ArgumentError,
    NumpifiedFunction,
    ShapeError,
    SymbolicArray,
    SympileError,
    named_array,
    numpify,
    numpify_func,
)


def readme(x):
    """SymNum's README function."""
    return snp.array([[1.0, -0.5], [-2.0, 3.0]]) @ snp.array([snp.cos(-(x[1] ** 2) + 3 * x[0]), snp.sin(x[0] - 1)])


def readme_numpy(x):
    return np.array([[1.0, -0.5], [-2.0, 3.0]]) @ np.array([np.cos(-(x[1] ** 2) + 3 * x[0]), np.sin(x[0] - 1)])


point = st.lists(st.floats(-3, 3), min_size=2, max_size=2).map(np.array)


@settings(max_examples=30)
@given(x=point)
def test_readme_function_matches_numpy(x):
    f = numpify_func(readme, 2)
    np.testing.assert_allclose(f(x), readme_numpy(x), rtol=1e-13, atol=1e-15)
    assert f(x).shape == (2,) and f(x).dtype == np.float64


def test_decorator_scalars_and_tuple_outputs():
    @numpify((2, 2), None, ())
    def f(a, s, t):
        return snp.sum(a) * s, (a * t, [s + t])

    a = np.arange(4.0).reshape(2, 2)
    value, (scaled, [total]) = f(a, 2.0, 3.0)
    assert value == 12.0 and type(value) is np.float64
    assert np.array_equal(scaled, a * 3.0) and scaled.shape == (2, 2)
    assert total == 5.0
    # NumPy scalars and 0-d arrays are scalars too
    assert f(a, np.float64(2.0), np.array(3.0))[0] == 12.0


def test_lambdas_and_star_args():
    f = numpify_func(lambda *xs: snp.concatenate(xs), 2, 3)
    assert f.arg_names == ("xs_0", "xs_1")
    assert np.array_equal(f(np.ones(2), np.zeros(3)), [1, 1, 0, 0, 0])
    g = numpify_func(lambda x, y=2: x * y, 2)
    assert np.array_equal(g(np.array([1.0, 2.0])), [2.0, 4.0])


def test_wrong_shape_and_stacked_batch_raise():
    f = numpify_func(readme, 2)
    with pytest.raises(ShapeError, match=r"must have shape \(2,\), got \(3,\)"):
        f(np.ones(3))
    with pytest.raises(ShapeError, match="stack"):
        f(np.ones((5, 2)))  # SymNum would silently use the first two rows
    with pytest.raises(ShapeError):
        f(1.0)
    with pytest.raises(ArgumentError, match="takes 1 argument"):
        f(np.ones(2), np.ones(2))
    with pytest.raises(ArgumentError, match="takes 1 argument"):
        f()
    with pytest.raises(ArgumentError, match="dtype"):
        f(np.array(["a", "b"]))
    with pytest.raises(ArgumentError, match="shape"):
        numpify_func(readme, 2, 3)
    with pytest.raises(ArgumentError):
        numpify_func(lambda x, y: x, 2)


def test_lists_and_other_sequences_are_accepted():
    f = numpify_func(readme, 2)
    np.testing.assert_allclose(f([0.2, 1.1]), readme_numpy(np.array([0.2, 1.1])))
    np.testing.assert_allclose(f(np.array([0.2, 1.1])[::1]), f((0.2, 1.1)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_float_outputs_come_back_in_the_input_dtype(dtype):
    f = numpify_func(lambda x: (x * 2, snp.sum(x), x > 0), 3)
    vec, total, positive = f(np.array([1.0, -2.0, 3.0], dtype=dtype))
    assert vec.dtype == dtype and type(total) is dtype and positive.dtype == bool
    assert np.array_equal(vec, np.array([2.0, -4.0, 6.0], dtype=dtype))


def test_integer_inputs_and_constant_outputs_give_floats():
    f = numpify_func(lambda x: snp.array([x[0] * 0 + 1, 2 * x[1]]), 2)
    out = f(np.array([3, 4]))
    assert out.dtype == np.float64 and np.array_equal(out, [1.0, 8.0])
    assert f(np.array([3.0, 4.0])).dtype == np.float64


def test_complex_inputs_give_complex_outputs():
    f = numpify_func(lambda x: snp.exp(x) * 2, 2)
    z = np.array([1j, 1.0 + 0.5j])
    np.testing.assert_allclose(f(z), np.exp(z) * 2)
    assert f(z.astype(np.complex64)).dtype == np.complex64
    # complex constants with real inputs: small and large outputs keep their imaginary parts
    for n in (2, 20):
        g = numpify_func(lambda x: x * 1j + 1, n)
        x = np.arange(float(n))
        np.testing.assert_array_equal(g(x), x * 1j + 1)


def test_symbolic_arguments_evaluate_symbolically():
    f = numpify_func(readme, 2)
    y = named_array("y", 2)
    got = f(y)
    assert isinstance(got, SymbolicArray)
    traced = readme(y)
    for g, t in zip(got.flat, traced.flat):
        assert sp.simplify(g - t) == 0
    # a numpified function composes inside another traced function
    h = numpify_func(lambda x: f(x) * 2, 2)
    np.testing.assert_allclose(h(np.array([0.2, 1.1])), 2 * readme_numpy(np.array([0.2, 1.1])))
    assert numpify_func(f)(np.array([0.2, 1.1])).shape == (2,)


def test_value_dependent_branching_is_explained():
    def f(x):
        return x[0] if x[0] > 0 else -x[0]

    with pytest.raises(SympileError, match="where"):
        numpify_func(f, 2)


def test_unknown_options_are_refused():
    with pytest.raises(ArgumentError, match="jit="):
        numpify_func(readme, 2, jit=True)
    with pytest.raises(ArgumentError, match="printer="):
        numpify(2, printer=None)


def test_generated_code_holds_no_symbol_names():
    f = numpify_func(lambda secret_name: snp.sin(secret_name) * 2, 3)
    assert "secret_name" not in f.source
    assert isinstance(f, NumpifiedFunction) and f.arg_shapes == ((3,),)


def test_pickles_in_a_fresh_interpreter():
    f = numpify_func(lambda x: (readme(x), snp.sum(x**2)), 2)
    code = (
        "import pickle, sys, numpy as np\n"
        "f = pickle.loads(sys.stdin.buffer.read())\n"
        "v, s = f(np.array([0.2, 1.1]))\n"
        "print(repr(v.tolist()), repr(float(s)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], input=pickle.dumps(f), capture_output=True, check=True
    ).stdout.decode()
    v, s = f(np.array([0.2, 1.1]))
    assert out.strip() == f"{v.tolist()!r} {float(s)!r}"


def test_pickles_into_spawn_workers():
    f = numpify_func(readme, 2)
    xs = [np.array([0.1 * k, 1.0 - 0.2 * k]) for k in range(3)]
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        results = [pool.apply(f, (x,)) for x in xs]
    for x, r in zip(xs, results):
        np.testing.assert_array_equal(r, f(x))


BACKENDS = [("torch", "torch"), ("jax", "jax"), ("c", None), ("pytensor", "pytensor")]


@pytest.mark.parametrize("backend, package", BACKENDS, ids=[b for b, _ in BACKENDS])
def test_other_backends_agree_with_numpy(backend, package):
    if package is not None:
        require(package)
    f = numpify_func(lambda x, s: (readme(x) * s, snp.sum(x) ** 2), 2, None, backend=backend)
    x = np.array([0.2, 1.1])
    if backend == "torch":
        import torch

        args = (torch.tensor(x), torch.tensor(1.5, dtype=torch.float64))
    else:
        args = (x, 1.5)
    vec, total = f(*args)
    np.testing.assert_allclose(np.asarray(vec), readme_numpy(x) * 1.5, rtol=1e-6)
    np.testing.assert_allclose(float(total), x.sum() ** 2, rtol=1e-6)
    with pytest.raises(ShapeError):
        f(np.ones(3), 1.5)
