"""sympile.array: SymNum's ``symnum.array`` names over sympile's arrays (`_arrays/array_helpers.py`)."""

import numpy as np
import pytest
import sympy as sp

import sympile
import sympile.array
from sympile import ShapeError, SymbolicArray
from sympile.array import (
    as_symbolic_array,
    binary_broadcasting_func,
    infer_array_dtype,
    infer_scalar_dtype,
    is_array,
    is_scalar,
    is_sympy_array,
    is_valid_shape,
    named_array,
    unary_elementwise_func,
)

x, y = sp.symbols("x y")
VALUES = [
    x,
    x + 1,
    sp.true,
    sp.Float(1.5),
    1,
    2.5,
    1j,
    True,
    np.float32(1.0),
    np.int64(3),
    np.array([1.0]),
    np.array(1.0),
    sp.Array([x, y]),
    sp.Matrix([[x]]),
    sp.ImmutableMatrix([[1]]),
    [1, 2],
    (1, 2),
    sp.Tuple(1, 2),
    "text",
    None,
]


def test_the_faces_hold_symnums_names():
    assert sympile.array.SymbolicArray is sympile.SymbolicArray is sympile.numpy.SymbolicArray
    assert sympile.array.named_array is sympile.named_array
    assert sympile.array is __import__("sympile.array").array  # `import sympile` reaches it, as symnum.array


def test_as_symbolic_array():
    a = named_array("a", (2, 2))
    assert as_symbolic_array(a) is a
    numbers = np.array([[1.5, -2.0]])
    got = as_symbolic_array(numbers)
    assert isinstance(got, SymbolicArray) and got.shape == (1, 2)
    assert np.array_equal(np.asarray(got, dtype=float), numbers)
    from_sympy = as_symbolic_array(sp.Array([[x, 1], [y, 2]]))
    assert from_sympy.tolist() == [[x, 1], [y, 2]]
    assert as_symbolic_array(sp.Matrix([[x, y]])).shape == (1, 2)
    assert as_symbolic_array(np.array(2.0)).shape == ()


def test_predicates():
    assert is_array(named_array("a", 2)) and is_array(np.zeros(2)) and is_array(sp.Array([x]))
    assert is_array(sp.Matrix([[x]])) and not is_array([1, 2]) and not is_array(x)
    assert is_sympy_array(sp.Array([x])) and is_sympy_array(sp.Matrix([[1]]))
    assert not is_sympy_array(np.zeros(1)) and not is_sympy_array(named_array("a", 1))
    assert is_scalar(x) and is_scalar(x > 0) and is_scalar(sp.true) and is_scalar(1.5) and is_scalar(np.float32(1))
    assert not is_scalar(np.zeros(2)) and not is_scalar([1]) and not is_scalar(named_array("a", 2))
    assert is_valid_shape(3) and is_valid_shape((2, 3)) and is_valid_shape(()) and is_valid_shape(sp.Tuple(2, 3))
    assert not is_valid_shape([2, 3]) and not is_valid_shape(None)


def test_dtype_inference():
    n = named_array("n", 2, dtype=np.int64)
    assert infer_array_dtype(n) == np.int64
    assert infer_array_dtype(named_array("r", 2)) == np.float64
    assert infer_array_dtype(named_array("c", 2, dtype=np.complex128)) == np.complex128
    assert infer_array_dtype(SymbolicArray([sp.Symbol("u"), 1])) == np.dtype(object)  # no assumptions
    assert infer_array_dtype(SymbolicArray([1, 2.5])) == np.float64
    # the entries decide, not a dtype the array was made with
    assert infer_array_dtype(SymbolicArray([1, 2], dtype=np.float64)) == np.int64
    assert infer_scalar_dtype(np.float32(1.0)) == np.float32
    assert infer_scalar_dtype(2) == np.dtype(int) and infer_scalar_dtype(2.5) == np.float64
    assert infer_scalar_dtype(1j) == np.complex128
    assert infer_scalar_dtype(sp.Integer(2)) == np.int64 and infer_scalar_dtype(sp.Float(2.5)) == np.float64
    assert infer_scalar_dtype(sp.I + 1) == np.complex128 and infer_scalar_dtype(sp.Symbol("u")) == np.dtype(object)
    with pytest.raises(TypeError):
        infer_scalar_dtype("text")


def test_broadcasting_wrappers():
    hyp = binary_broadcasting_func(lambda a, b: sp.sqrt(a**2 + b**2), "hyp", "hypotenuse")
    assert hyp.__name__ == "hyp" and hyp.__doc__ == "hypotenuse"
    assert hyp(3, 4) == 5
    a, b = named_array("a", (2, 1)), named_array("b", 3)
    got = hyp(a, b)
    assert isinstance(got, SymbolicArray) and got.shape == (2, 3)
    assert got[1, 2] == sp.sqrt(a[1, 0] ** 2 + b[2] ** 2)
    assert hyp(np.array([3.0]), 4).tolist() == [5.0]
    with pytest.raises(ShapeError):
        hyp(named_array("a", 2), named_array("b", 3))
    square = unary_elementwise_func(lambda v: v**2)
    assert square(x) == x**2
    a = named_array("a", 2)
    assert square(a).tolist() == [a[0] ** 2, a[1] ** 2]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_predicates_agree_with_symnum(value):
    symnum_array = pytest.importorskip("symnum.array")
    for name in ("is_array", "is_sympy_array", "is_scalar", "is_valid_shape"):
        assert getattr(sympile.array, name)(value) == getattr(symnum_array, name)(value), name
