"""The backend registry."""

import pytest
import sympy as sp

from sympile import BackendNotAvailableError, SympileError, lambdify
from sympile._backends import BACKENDS, get_backend, register

x = sp.Symbol("x")


def test_a_missing_package_names_the_extra(monkeypatch):
    monkeypatch.setitem(BACKENDS, "fancy", ("sympile_missing_pkg._backend", "sympile_missing_pkg", "fancy"))
    with pytest.raises(BackendNotAvailableError, match=r"pip install 'sympile\[fancy\]'") as e:
        lambdify([x], x, backend="fancy")
    assert isinstance(e.value, ImportError)


def test_unknown_backend_lists_the_known_ones():
    with pytest.raises(SympileError, match="'numpy'"):
        get_backend("nope")


def test_register(monkeypatch):
    monkeypatch.setattr("sympile._backends.BACKENDS", dict(BACKENDS))
    register("numpy2", "sympile._backends.numpy")
    assert lambdify([x], x + 1, backend="numpy2")(1.0) == 2.0
