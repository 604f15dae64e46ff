"""The C backend: broadcasting, dtypes, strides, ``out=``, threads, special functions, errors,
and the on-disk cache (new processes, concurrent builders, damaged files, pickling).

Values are checked against the NumPy backend and SymPy; per-op coverage is in
tests/test_backends_differential.py.
"""

import importlib.resources
import math
import os
import pickle
import re
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import sympy as sp
from helpers import assert_close_to_reference
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import sympile
from sympile import ArgumentError, ShapeError, SympileError, UnsupportedFunctionError, lambdify
from sympile._backends.c.backend import CKernel
from sympile._backends.c.compile import CompilerError, find_compiler, library_key, toolchain

x, y, z = sp.symbols("x y z")
EXPR = [sp.sin(x) * sp.exp(-(y**2)) + sp.atan2(y, x**2 + 1), sp.log(1 + x**2) * sp.tanh(z) - sp.sqrt(y**2 + 1)]


pytestmark = pytest.mark.usefixtures("kernel_cache")


@pytest.fixture(scope="module")
def f():
    return lambdify([x, y, z], EXPR, backend="c")


@pytest.fixture(scope="module")
def f_numpy():
    return lambdify([x, y, z], EXPR)


def _run(code: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env={**os.environ, **(env or {})}
    )


shapes = hnp.mutually_broadcastable_shapes(num_shapes=3, max_dims=3, max_side=5)


@settings(max_examples=40)
@given(shapes=shapes, seed=st.integers(0, 2**32 - 1))
def test_broadcast_arrays_match_numpy_backend(f, f_numpy, shapes, seed):
    rng = np.random.default_rng(seed)
    args = [rng.uniform(-3, 3, s) for s in shapes.input_shapes]
    got, want = f(*args), f_numpy(*args)
    for g, w in zip(got, want):
        assert g.shape == shapes.result_shape == np.shape(w)
        np.testing.assert_allclose(g, w, rtol=1e-13, atol=1e-15)


def test_one_point_is_python_floats_and_matches_sympy(f):
    pt = [0.3, -1.2, 2.5]
    got = f(*pt)
    assert all(type(v) is float for v in got)
    for value, e in zip(got, EXPR):
        assert assert_close_to_reference(e, [x, y, z], pt, value, graph=lambdify([x, y, z], e).graph)
    # NumPy scalars and ints take the same path and give the same values
    assert f(np.float64(0.3), -1.2, np.float64(2.5)) == got
    assert f(1, 2, 3) == f(1.0, 2.0, 3.0)


def test_strided_and_non_contiguous_inputs(f, f_numpy):
    rng = np.random.default_rng(0)
    base = rng.uniform(-2, 2, (6, 8))
    cases = [
        (base[:, 1], base[::-1, 2], base[::2, 3].repeat(2)),  # 1-D views with strides, reversed
        (base.T, base.T[::-1], 0.5),  # 2-D non-contiguous
        (base[:, :1], base[:1, :], np.float64(1.5)),  # (6,1) x (1,8): materialised broadcast
    ]
    for args in cases:
        for g, w in zip(f(*args), f_numpy(*args)):
            np.testing.assert_allclose(g, w, rtol=1e-13, atol=1e-15)


def test_dtypes():
    g = lambdify([x, y], x * sp.Rational(1, 3) + y / 7, backend="c")
    a32 = np.linspace(-1, 1, 11, dtype=np.float32)
    assert g(a32, np.float32(2)).dtype == np.float32
    assert g(a32, 2.0).dtype == np.float32  # a Python float beside float32 arrays is float32, as in NumPy
    assert g(a32, np.ones(11)).dtype == np.float64
    assert g(np.arange(5), 2).dtype == np.float64  # integers compute in float64
    np.testing.assert_array_equal(g(a32, np.float32(0)), a32 / np.float32(3))  # the rational in float32
    with pytest.raises(ArgumentError, match="complex"):
        g(np.ones(3, complex), 1.0)


def test_out_is_filled_point_major(f, f_numpy):
    rng = np.random.default_rng(1)
    args = [rng.uniform(-2, 2, (4, 5)) for _ in range(3)]
    out = np.full((4, 5, 2), np.nan)
    assert f(*args, out=out) is out
    np.testing.assert_allclose(np.moveaxis(out, -1, 0), np.array(f_numpy(*args)), rtol=1e-13, atol=1e-15)
    # a non-contiguous out, and an out that overlaps an input, give the same numbers
    wide = np.zeros((4, 5, 4))
    f(*args, out=wide[..., ::2])
    np.testing.assert_array_equal(wide[..., ::2], out)
    shared = np.stack([args[0], args[1]], -1)
    f(shared[..., 0], shared[..., 1], args[2], out=shared)
    np.testing.assert_array_equal(shared, out)
    with pytest.raises(ShapeError, match="point-major"):
        f(*args, out=np.empty((2, 4, 5)))
    with pytest.raises(ArgumentError, match="dtype"):
        f(*args, out=np.empty((4, 5, 2), np.float32))


def test_matrix_outputs_and_nested_arguments():
    a, b = sp.symbols("a b")
    M = sp.Matrix([[a * b, sp.exp(a)], [sp.sin(b), a - b], [1, a**2]])
    g = lambdify([[a, b]], M, backend="c")
    g_np = lambdify([[a, b]], M)
    point = np.array([0.4, -1.1])
    for arg in (point, list(point), tuple(point)):
        got = g(arg)
        assert type(got) is np.ndarray and got.shape == (3, 2)
        np.testing.assert_allclose(got, g_np(arg), rtol=1e-15)
    batch = np.random.default_rng(2).uniform(-1, 1, (2, 7))
    assert g(batch).shape == (3, 2, 7)
    np.testing.assert_allclose(g(batch), g_np(batch), rtol=1e-14)
    mixed = lambdify([a, [b, x]], [(a * b, {1: 2} and x), sp.Matrix([a, x])], backend="c")
    (first, second), col = mixed(1.5, [2.0, 3.0])
    assert (first, second) == (3.0, 3.0) and col.shape == (2, 1)


def test_threads_give_identical_results(f):
    rng = np.random.default_rng(3)
    args = [rng.uniform(-2, 2, 100_003) for _ in range(3)]
    one = f(*args, threads=1)
    for k in (2, 3):
        for a, b in zip(one, f(*args, threads=k)):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(ArgumentError, match="threads"):
        f(*args, threads=0)


def test_special_functions_through_libm():
    n, k = sp.symbols("n k")
    exprs = [sp.factorial(n), sp.binomial(n, k), sp.besselj(2, n), sp.bessely(1, n), sp.loggamma(n), sp.gamma(k)]
    g = lambdify([n, k], exprs, backend="c")
    source = g.source
    for spelling in ("tgamma(", "jn(", "yn(", "lgamma"):
        assert spelling in source
    rng = np.random.default_rng(4)
    for nv, kv in zip(rng.uniform(2, 9, 12), rng.uniform(0.2, 1.9, 12)):
        for value, e in zip(g(nv, kv), exprs):
            assert assert_close_to_reference(e, [n, k], [nv, kv], value, rel=1e-12, graph=lambdify([n, k], e).graph)
    b = lambdify([n, k], sp.binomial(n, k), backend="c")
    assert b(3.0, 5.0) == 0.0 and b(5.0, 2.0) == 10.0
    assert b(300.0, 150.0) == pytest.approx(float(sp.binomial(300, 150)), rel=1e-10)  # past tgamma's range


@pytest.mark.parametrize(
    "expr, match",
    [
        (sp.erfinv(x), "erfinv"),
        (sp.polygamma(1, x), "polygamma"),
        (sp.LambertW(x), "LambertW"),
        (sp.besselj(sp.Rational(1, 2), x), "integer orders"),
        (sp.besselj(y, x), "integer orders"),
        (sp.exp(sp.I * x), "complex"),
    ],
)
def test_what_c_cannot_compute_is_refused(expr, match):
    with pytest.raises(UnsupportedFunctionError, match=match) as info:
        lambdify([x, y], expr, backend="c")
    assert "backend='numpy'" in str(info.value)


def test_extra_funcs_are_refused():
    h = sp.Function("h")
    with pytest.raises(UnsupportedFunctionError, match="extra_funcs"):
        lambdify(x, h(x) + 1, backend="c", extra_funcs={h: np.cos})


def test_nan_and_infinity_keep_ieee_semantics():
    exprs = [1 / x, sp.sqrt(x), sp.log(x), sp.Min(x, y), sp.Max(x, y), sp.sign(x), x * sp.oo, sp.Piecewise((x, x > 5))]
    g = lambdify([x, y], exprs, backend="c")
    g_np = lambdify([x, y], exprs)
    xs = np.array([0.0, -0.0, -1.0, np.inf, -np.inf, np.nan, 2.0, np.nan])
    ys = np.array([1.0, np.nan, 2.0, 0.0, np.nan, 1.0, np.nan, np.nan])
    with np.errstate(all="ignore"):
        for got, want in zip(g(xs, ys), g_np(xs, ys)):
            np.testing.assert_array_equal(got, want)
        for a, b in zip(xs, ys):  # the one-point path too
            np.testing.assert_array_equal(np.array(g(float(a), float(b))), np.array(g_np(float(a), float(b))))


def test_booleans_and_constants():
    g = lambdify(x, [sp.true, x > 1, sp.pi, sp.Piecewise((True, x < 0), (False, True))], backend="c")
    t, gt, pi, neg = g(np.array([-0.5, 2.0]))
    assert t.dtype == gt.dtype == neg.dtype == bool
    assert t.tolist() == [True, True] and gt.tolist() == [False, True] and neg.tolist() == [True, False]
    assert pi.tolist() == [float(sp.pi.evalf(30))] * 2
    assert g(2.0) == [True, True, float(sp.pi.evalf(30)), False]
    assert lambdify([], [sp.E, sp.Catalan], backend="c")() == [float(sp.E.evalf(30)), float(sp.Catalan.evalf(30))]


def test_source_holds_no_user_text():
    evil = sp.Symbol("__import__('os').system('echo pwned')")
    g = lambdify([evil], sp.sin(evil), backend="c")
    assert "pwned" not in g.source and "import" not in g.source.split("The Python entry point")[0].replace(
        "#include", ""
    )
    assert g(0.5) == pytest.approx(np.sin(0.5))


# -- the cache ------------------------------------------------------------------------------------


def test_cache_key_depends_on_source_and_flags():
    tools = toolchain()
    key = library_key("int f(void) { return 1; }", tools, tools.flags)
    assert key == library_key("int f(void) { return 1; }", tools, tools.flags)
    assert key != library_key("int f(void) { return 2; }", tools, tools.flags)
    assert key != library_key("int f(void) { return 1; }", tools, (*tools.flags, "-DX"))


PROGRAM = """
    import sympy as sp, sympile, sympile._backends.c.compile as cc
    calls = []
    original = cc.subprocess.Popen
    cc.subprocess.Popen = lambda command, **kw: calls.append(command) or original(command, **kw)
    x, y = sp.symbols("x y")
    f = sympile.lambdify([x, y], [sp.sin(x) * sp.exp(-y) + sp.atan(x * y), sp.erf(x) - y ** 7], backend="c")
    point = [float(v) for v in f(0.25, 1.5)]
    # the kernels compiled (not the compiler's probe, nor the runner, which has Python's headers)
    kernels = [c for c in calls if "u0.c" in c and not any(a.startswith("-I") for a in c)]
    print(repr(point), len(kernels))
"""


def test_a_new_process_loads_from_the_cache_without_compiling(tmp_path):
    env = {"SYMPILE_CACHE_DIR": str(tmp_path)}
    first = _run(PROGRAM, env)
    assert first.returncode == 0, first.stderr
    value, compiles = first.stdout.rsplit(" ", 1)
    assert int(compiles) == 1
    second = _run(PROGRAM, env)
    assert second.returncode == 0, second.stderr
    assert second.stdout.rsplit(" ", 1) == [value, "0\n"]


def test_concurrent_processes_building_one_kernel(tmp_path):
    env = {**os.environ, "SYMPILE_CACHE_DIR": str(tmp_path)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(PROGRAM)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
        for _ in range(4)
    ]
    results = [p.communicate() for p in procs]
    assert all(p.returncode == 0 for p in procs), [r[1] for r in results]
    values = {r[0].rsplit(" ", 1)[0] for r in results}
    assert len(values) == 1
    libs = list((tmp_path / "c").glob("*.so"))
    assert len(libs) == 2  # the runner and the one-point library, each once
    assert not [p for p in (tmp_path / "c").iterdir() if p.name.endswith((".tmp", ".build"))]
    again = _run(PROGRAM, {"SYMPILE_CACHE_DIR": str(tmp_path)})
    assert again.returncode == 0 and again.stdout.rsplit(" ", 1) == [values.pop(), "0\n"]


def _truncated(data: bytes, other: bytes) -> bytes:
    return data[: len(data) // 2]  # the ELF headers intact, the segments past the end: SIGBUS when mapped


def _bit_flipped(data: bytes, other: bytes) -> bytes:
    rng = np.random.default_rng(14)
    damaged = bytearray(data)
    for at in rng.integers(len(data) // 4, len(data), 8):
        damaged[at] ^= 1 << int(rng.integers(8))
    return bytes(damaged)


DAMAGE = {
    "truncated": _truncated,
    "truncated_to_100_bytes": lambda data, other: data[:100],
    "empty": lambda data, other: b"",
    "garbage": lambda data, other: bytes(np.random.default_rng(7).integers(0, 256, len(data), dtype=np.uint8)),
    "bit_flipped": _bit_flipped,
    "a_foreign_valid_library": lambda data, other: other,  # the runner for the kernel, and back
}


@pytest.fixture(scope="module")
def built_cache(tmp_path_factory):
    """A cache directory that `PROGRAM` has filled (compiled once for the module), and its output."""
    cache = tmp_path_factory.mktemp("built_cache")
    first = _run(PROGRAM, {"SYMPILE_CACHE_DIR": str(cache)})
    assert first.returncode == 0, first.stderr
    return cache, first


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_cache_entry_is_rebuilt_not_loaded(tmp_path, built_cache, damage):
    """Each cached library (the runner module and the kernel's) is checked against the size and
    SHA-256 recorded when it was written before it is loaded: a damaged one, which could crash the
    process (a truncated library is mapped past its end: SIGBUS) or run other code, is compiled
    again, and the values are right."""
    cache, first = built_cache
    shutil.copytree(cache, tmp_path, dirs_exist_ok=True)
    env = {"SYMPILE_CACHE_DIR": str(tmp_path)}
    libs = sorted((tmp_path / "c").glob("*.so"))
    assert len(libs) == 2  # the runner and the kernel's one-point library
    contents = [lib.read_bytes() for lib in libs]
    for lib, data, other in zip(libs, contents, contents[::-1]):
        lib.write_bytes(DAMAGE[damage](data, other))
    second = _run(PROGRAM, env)
    assert second.returncode == 0, (second.returncode, second.stderr[-2000:])
    assert second.stdout.rsplit(" ", 1) == [first.stdout.rsplit(" ", 1)[0], "1\n"]
    assert [lib.read_bytes() == data for lib, data in zip(libs, contents)] == [True, True]
    third = _run(PROGRAM, env)
    assert third.stdout == first.stdout.rsplit(" ", 1)[0] + " 0\n"


def test_a_library_without_its_checksum_is_rebuilt(tmp_path):
    env = {"SYMPILE_CACHE_DIR": str(tmp_path)}
    first = _run(PROGRAM, env)
    for seal in (tmp_path / "c").glob("*.sum"):
        seal.unlink()
    second = _run(PROGRAM, env)
    assert second.returncode == 0, second.stderr
    assert second.stdout.rsplit(" ", 1) == [first.stdout.rsplit(" ", 1)[0], "1\n"]


def _unusable_caches(tmp_path):
    regular = tmp_path / "a-file"
    regular.write_text("not a directory")
    read_only = tmp_path / "read-only"
    read_only.mkdir()
    read_only.chmod(0o555)
    return {
        "under_a_regular_file": str(regular / "cache"),
        "dev_null": "/dev/null",
        "read_only": str(read_only),
    }


@pytest.mark.parametrize("where", ["under_a_regular_file", "dev_null", "read_only"])
def test_an_unusable_cache_directory_falls_back_to_a_private_one_with_a_warning(tmp_path, where):
    """A cache directory that cannot be made or written: the process compiles into a temporary
    directory of its own (removed at exit), says so with a CacheWarning, and computes right."""
    cache = _unusable_caches(tmp_path)[where]
    code = (
        "import warnings\nwarnings.simplefilter('always')\n"
        + textwrap.dedent(PROGRAM)
        + "import numpy as np\nprint(f(np.array([0.25, 0.5]), 1.5)[0].tolist())\n"
    )
    done = _run(code, {"SYMPILE_CACHE_DIR": cache})
    assert done.returncode == 0, done.stderr[-2000:]
    reference = _run(code, {"SYMPILE_CACHE_DIR": str(tmp_path / "good")})
    assert done.stdout.splitlines()[0].rsplit(" ", 1)[0] == reference.stdout.splitlines()[0].rsplit(" ", 1)[0]
    assert done.stdout.splitlines()[1] == reference.stdout.splitlines()[1]
    if where == "read_only" and os.access(cache, os.W_OK):  # root writes anyway: no need to fall back
        assert "CacheWarning" not in done.stderr
        return
    assert "CacheWarning" in done.stderr and "cannot be used" in done.stderr, done.stderr
    assert cache in done.stderr and "sympile-cache-" in done.stderr
    assert not list(tmp_path.glob("a-file/**")) and list((tmp_path / "read-only").iterdir()) == []


def test_the_ctypes_loader_gives_the_same_values(tmp_path):
    code = (
        textwrap.dedent(PROGRAM)
        + "import numpy as np\nprint(f(np.array([0.25, 0.5]), 1.5)[0].tolist(), f.built.kernel.point)\n"
    )
    out = _run(code, {"SYMPILE_CACHE_DIR": str(tmp_path), "SYMPILE_C_LOADER": "ctypes"})
    assert out.returncode == 0, out.stderr
    direct = _run(code, {"SYMPILE_CACHE_DIR": str(tmp_path)})
    lines, direct_lines = out.stdout.splitlines(), direct.stdout.splitlines()
    assert lines[0].rsplit(" ", 1)[0] == direct_lines[0].rsplit(" ", 1)[0]
    assert lines[1].startswith(direct_lines[1].split(" ")[0]) and lines[1].endswith("None")


def test_no_compiler_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("CC", "/nonexistent/sympile-cc")
    with pytest.raises(CompilerError, match="compiler") as info:
        lambdify(x, sp.cos(x) ** 3 + sp.Rational(1, 97), backend="c")
    assert isinstance(info.value, SympileError)
    monkeypatch.delenv("CC")
    monkeypatch.setenv("PATH", "")
    with pytest.raises(CompilerError, match="backend='numpy'"):
        lambdify(x, sp.cos(x) ** 3 + sp.Rational(1, 89), backend="c")


def test_pickles_and_reloads_from_the_cache(f, kernel_cache):
    g = pickle.loads(pickle.dumps(f))
    assert g(0.1, 0.2, 0.3) == f(0.1, 0.2, 0.3)
    code = f"""
        import pickle, sys
        f = pickle.loads({pickle.dumps(f)!r})
        print(repr(f(0.1, 0.2, 0.3)))
    """
    out = _run(code, {"SYMPILE_CACHE_DIR": str(kernel_cache)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == repr(f(0.1, 0.2, 0.3))


def test_each_library_is_built_on_first_use():
    """Nothing is compiled by the build; the one-point function on the first call with numbers, the
    float64 loop on the first call with float64 arrays, the float32 loop on the first float32 call."""
    kernel = CKernel(sympile.lower([sp.cos(x) + sp.Rational(1, 83)], [x]))
    assert set(kernel.sources) == set()
    assert kernel.point(None, 0.5) == pytest.approx(np.cos(0.5) + 1 / 83, rel=1e-15)
    assert set(kernel.sources) == {"point-float64"}
    kernel.eval([np.ones(3, np.float32)])
    assert set(kernel.sources) == {"point-float64", "loop-float32"}
    assert "typedef float sp_real;" in kernel.sources["loop-float32"]
    kernel.eval([np.ones(3)])
    assert set(kernel.sources) == {"point-float64", "loop-float32", "loop-float64"}


def test_differential_operators_take_the_c_backend():
    numpify_func, hessian = sympile.numpify_func, sympile.hessian
    import sympile.numpy as snp

    def fn(v):
        return snp.log(1 + snp.exp(v[0] * v[1])) + snp.sin(v[2]) * v[0] ** 3

    h_c, h_np = hessian(fn, (3,), backend="c"), hessian(fn, (3,))
    point = np.array([0.3, -0.7, 1.1])
    np.testing.assert_allclose(h_c(point), h_np(point), rtol=1e-13)
    v_c = numpify_func(fn, (3,), backend="c")
    assert v_c(point) == pytest.approx(numpify_func(fn, (3,))(point), rel=1e-14)


def test_a_forked_child_of_a_threaded_process_does_not_hang(kernel_cache):
    """libgomp cannot run threads after a fork; sympile's children compute on one thread instead."""
    code = """
        import multiprocessing, numpy as np, sympy as sp, sympile
        x = sp.Symbol("x")
        f = sympile.lambdify(x, sp.sin(x) * sp.exp(x) + sp.Rational(1, 79), backend="c")
        a = np.linspace(0, 1, 300_000)
        parent = float(f(a, threads=2).sum())
        def work(_):
            return float(f(a, threads=2).sum())
        with multiprocessing.get_context("fork").Pool(2) as pool:
            print(set(pool.map(work, range(4))) == {parent})
    """
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "SYMPILE_CACHE_DIR": str(kernel_cache)},
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"


def _gcc_on_x86_64_linux() -> bool:
    if sys.platform != "linux" or os.uname().machine != "x86_64":
        return False
    done = subprocess.run([*toolchain().command, "--version"], capture_output=True, text=True)
    return "Free Software Foundation" in done.stdout  # GCC, not clang under the name cc


def test_the_loop_calls_vector_math(kernel_cache):
    """sin and cos of one argument, exp and atan2: every call goes to libmvec's vector versions
    (GCC would otherwise merge sin and cos into a complex cexpi and leave the loop scalar)."""
    if not _gcc_on_x86_64_linux():
        pytest.skip("glibc's libmvec vector math is used with GCC on x86-64 Linux")
    g = lambdify([x, y], sp.sin(2 * x) * sp.cos(2 * x) + sp.exp(y) * sp.atan2(x, y), backend="c")
    g(np.ones(3), np.ones(3))
    source = g.built.kernel.sources["loop-float64"]
    (lib,) = [p.with_suffix(".so") for p in (kernel_cache / "c").glob("*.c") if p.read_text() == source]
    binary = lib.read_bytes()
    for name in (b"v_sin", b"v_cos", b"v_exp", b"vv_atan2"):
        assert b"_ZGV" in binary and name in binary, name


# -- the C files: package data, and C on their own --------------------------------------------------

C_FILES = ("prelude.h", "helpers.h", "loop.c", "point.c", "runner.c")

#: What kernel_source generates between the C files, spelt by hand for one small kernel (a = in[0],
#: b = in[1]; one output) that calls every helper: with it the files are a whole translation unit.
HARNESS = """\
#include "prelude.h"
typedef @real@ sp_real;
#if SP_MVEC
#define sp_cos sp_cos_@real@
#else
#define sp_cos cos
#endif
#define SP(name) name##_@dtype@
#define SP_NIN 2
#define SP_NIN1 2
#define SP_NOUT 2
#define SP_NOUT1 2
#define SP_NSLOT 1
#define SP_NSLOT1 1
#define SP_NMEMORY1 1
#define SP_BLOCK 256
#define SP_PAD 16
#define SP_COST 1.0
#define SP_PARALLEL_MIN 100000
static const double sp_factorials[171] = {1.0, 1.0, 2.0};
#include "helpers.h"
static const int sp_slot[SP_NOUT1] = {0, -1};
static const int sp_gather[SP_NOUT1] = {0, 2};
static const sp_real sp_outconst[SP_NOUT1] = {0, (sp_real)1.5};
#define SP_DIRECT 0
#ifdef HARNESS_LOOP
static void sp_block(int64_t m, const sp_real *const *x, sp_real *restrict v) {
#pragma omp simd
    for (int64_t j = 0; j < ((m + SP_PAD - 1) & ~(int64_t)(SP_PAD - 1)); j++)
        v[0 * SP_BLOCK + j] = SP(powi)(x[0][j], 3) + sp_cos(x[1][j]) + SP(sign)(x[0][j]);
}
#include "loop.c"
#else
static const sp_real sp_c0[] = {1, 2}, sp_b0[] = {0};
static void sp_point_body(const sp_real *restrict in, sp_real *restrict v) {
    sp_real sp_m0[1];
    SP(matvec)(1, 2, sp_c0, sp_b0, in, sp_m0);
    v[0] = sp_m0[0] + SP(min)(in[0], in[1]) + SP(max)(in[0], in[1]) + SP(mod)(in[0], in[1]) +
           (sp_real)sp_lgamma(in[0]) + SP(gamma)(in[1]);
}
#include "point.c"
#endif
"""


def _c_text(name: str) -> str:
    return (importlib.resources.files("sympile._backends.c") / name).read_text(encoding="utf-8")


def test_the_c_files_are_package_data_pasted_into_every_kernel(f):
    """Each C file is found through importlib.resources (as from an installed wheel), opens with its
    header comment, and all but that comment is in every kernel's source, verbatim."""
    from sympile._backends.c import backend

    f(0.1, 0.2, 0.3)
    f(np.ones(2), 0.2, 0.3)
    kernel = f.built.kernel.sources["loop-float64"] + f.built.kernel.sources["point-float64"]
    for name in C_FILES:
        text = _c_text(name)
        assert text.startswith(f"/* {name}: ") and text == backend.C_FILES[name]
        code = text[text.index("*/\n") + 3 :]
        assert code.strip() and (code in kernel) == (name != "runner.c"), name
    assert set(backend.C_FILES) == set(C_FILES)


def _or_skip_outside_ci(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.mark.parametrize(
    "part, dtype",
    [("loop", "float64"), ("loop", "float32"), ("point", "float64"), ("runner", None), ("runner+numpy", None)],
)
def test_the_c_files_compile_on_their_own(tmp_path, part, dtype):
    """The kernel's C files, with a hand-written harness for the generated parts, and the runner,
    with Python's (and NumPy's) headers, pass the compiler's -fsyntax-only -Wall -Werror, with and
    without OpenMP: C tooling sees the files as the compiler sees the kernel."""
    import sysconfig

    try:
        command = find_compiler()
    except CompilerError:
        _or_skip_outside_ci("no C compiler")
    for name in C_FILES:
        (tmp_path / name).write_text(_c_text(name))
    flags = ["-std=c99", "-fsyntax-only", "-Wall", "-Werror"]
    if part.startswith("runner"):
        include = sysconfig.get_paths()["include"]
        if not os.path.exists(os.path.join(include, "Python.h")):
            _or_skip_outside_ci(f"Python's headers are not installed (no Python.h in {include})")
        flags += [f"-I{include}", "-DSYMPILE_MODULE=_sympile_harness"]
        if part == "runner+numpy":
            flags += [f"-I{np.get_include()}", "-DSYMPILE_NUMPY"]
        target = "runner.c"
    else:
        real = "double" if dtype == "float64" else "float"
        (tmp_path / "harness.c").write_text(HARNESS.replace("@real@", real).replace("@dtype@", dtype))
        flags += ["-DHARNESS_LOOP"] if part == "loop" else []
        target = "harness.c"
    openmp = [["-fopenmp-simd"]]
    if sys.platform != "darwin" and toolchain().openmp:
        openmp.append(["-fopenmp"])
    for omp in openmp:
        done = subprocess.run(
            [*command, *flags, *omp, target], cwd=tmp_path, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, f"{' '.join(omp)}:\n{done.stderr[-3000:]}"


# -- outputs, state vectors and split bodies ---------------------------------------------------------


def test_a_list_of_matrices_comes_back_as_arrays_from_the_one_point_path():
    """[M, F] at one point: each Matrix is an array made by the runner (not rebuilt in Python),
    with the NumPy backend's values; a truth value or a number beside them stays a Python scalar."""
    a, b = sp.symbols("a b")
    M = sp.Matrix([[sp.sin(a) * b, 0], [b, sp.exp(a - b)]])
    F = sp.Matrix([a * b, sp.Rational(3, 7)])
    structure = [M, (F, a + b, a > b)]
    g = lambdify([a, b], structure, backend="c")
    g_np = lambdify([a, b], structure)
    assert "_point([(2, 2), (2, 1), None, None]" in g.source
    got, want = g(0.3, -1.2), g_np(0.3, -1.2)
    assert type(got[0]) is np.ndarray and got[0].shape == (2, 2)
    assert type(got[1][0]) is np.ndarray and got[1][0].shape == (2, 1)
    assert type(got[1][1]) is float and type(got[1][2]) is bool and got[1][2] is True
    np.testing.assert_allclose(got[0], want[0], rtol=1e-15)
    np.testing.assert_allclose(got[1][0], want[1][0], rtol=1e-15)
    assert got[1][1] == pytest.approx(want[1][1], rel=1e-15)
    batch = g(np.array([0.3, 0.5]), np.array([-1.2, 2.0]))  # the array path gives the same structure
    assert batch[0].shape == (2, 2, 2) and batch[1][0].shape == (2, 1, 2)
    np.testing.assert_allclose(batch[0][..., 0], got[0], rtol=1e-15)


def test_state_vectors_and_numpy_scalars_take_the_one_point_path():
    """A float64 vector through a nested argument, and NumPy float64 scalars, are read by the runner
    (no NumPy call: the loop library is never built); other kinds fall back to the loop."""
    ys, ps = sp.symbols("y:3"), sp.symbols("p:2")
    rhs = [ps[0] * ys[1] - ys[0] ** 2, sp.sin(ys[2]) * ps[1], ys[0] * ys[1] * ys[2]]
    g = lambdify([ys, ps], rhs, backend="c")
    g_np = lambdify([ys, ps], rhs)
    y, p = np.array([0.4, -1.3, 2.2]), np.array([1.5, -0.5])
    got = g(y, p)
    assert set(g.built.kernel.sources) == {"point-float64"}
    np.testing.assert_allclose(got, g_np(y, p), rtol=1e-15)
    assert g(y, (np.float64(1.5), np.float64(-0.5))) == got
    assert g(list(y), [1.5, -0.5]) == got
    float32 = g(y.astype(np.float32), p)  # not float64: the loop computes it
    assert "loop-float32" in g.built.kernel.sources or "loop-float64" in g.built.kernel.sources
    np.testing.assert_allclose(np.array(float32, float), got, rtol=1e-6)


def test_long_bodies_split_into_parts_and_units_give_the_same_values(monkeypatch):
    """With tiny parts and units, a body becomes many functions in several translation units,
    values crossing parts in memory; the loop and the one-point function match the NumPy backend."""
    from sympile._backends.c import backend

    monkeypatch.setattr(backend, "C_PART_CHARS", 60)
    monkeypatch.setattr(backend, "C_UNIT_CHARS", 200)
    monkeypatch.setattr(backend.os, "cpu_count", lambda: 3)
    xs = sp.symbols("x:4")
    rng = np.random.default_rng(5)
    exprs = [
        sp.Add(*[sp.sin(xs[i] * (k + 1) + xs[(i + k) % 4]) * sp.Rational(k + 2, 3) for i in range(4)]) + xs[k % 4] ** 3
        for k in range(6)
    ]
    exprs += [exprs[0], sp.Integer(0)]  # a twin and a literal
    g = lambdify(list(xs), exprs, backend="c")
    g_np = lambdify(list(xs), exprs)
    units = g.built.kernel.libraries.text("loop", "float64").split(backend.UNIT_SEPARATOR)
    assert len(units) >= 2 and "sp_loop_part3" in "".join(units) and "t[" in "".join(units)
    point = [float(v) for v in rng.uniform(-1, 1, 4)]
    np.testing.assert_allclose(g(*point), g_np(*point), rtol=1e-13)
    data = [rng.uniform(-1, 1, 37) for _ in range(4)]
    for got, want in zip(g(*data), g_np(*data)):
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-14)


def test_a_sum_over_many_inputs_splits_into_parts_that_read_few_inputs(monkeypatch):
    """A sum over many inputs is split by the inputs a part reads (`C_PART_INPUTS`, between
    statements), and each part reads, and declares, only its own inputs: the loop's C grows
    linearly with the inputs (every input declared in every part would be quadratic). Values
    match the NumPy backend."""
    from sympile._backends.c import backend

    monkeypatch.setattr(backend, "C_PART_INPUTS", 8)
    xs = sp.symbols("x:100")
    expr = sp.Add(*[xs[i] * (i + 1) for i in range(100)]) + sp.sin(xs[0] * xs[99])
    g = lambdify(list(xs), expr, backend="c")
    text = g.built.kernel.libraries.text("loop", "float64")
    parts = text.split("void sp_loop_part")[1:]
    bodies = [p for p in parts if "{" in p.split("\n", 1)[0]]
    assert len(bodies) >= 3
    total = 0
    for body in bodies:  # a statement may read many inputs (it holds several operations): not split
        declared = set(re.findall(r"const sp_real \*restrict (x\d+) = ", body))
        read = set(re.findall(r"\b(x\d+)\[j\]", body))
        assert declared == read and declared, sorted(declared)
        total += len(declared)
    assert total < 2 * 100  # each input in about one part, not in every part
    rng = np.random.default_rng(3)
    point = [float(v) for v in rng.uniform(-1, 1, 100)]
    want = lambdify(list(xs), expr)(*[np.array(v) for v in point])
    np.testing.assert_allclose(g(*point), want, rtol=1e-13)
    data = [rng.uniform(-1, 1, 21) for _ in range(100)]
    np.testing.assert_allclose(g(*data), lambdify(list(xs), expr)(*data), rtol=1e-12)


# -- exact values -------------------------------------------------------------------------------------


def test_gamma_is_exact_at_the_integers_1_to_171():
    """libm's tgamma is a few ulps off from 13 on (floor(gamma(13)) would be 12! - 1); the C backend
    looks the integers up, at one point and in the loop, and computes the rest with tgamma."""
    n = np.arange(1.0, 172.0)
    want = [float(math.factorial(k - 1)) for k in range(1, 172)]
    f = lambdify(x, sp.gamma(x), backend="c")
    assert [f(float(k)) for k in n] == want
    np.testing.assert_array_equal(f(n), want)
    np.testing.assert_array_equal(f(n[:34].astype(np.float32)), np.float32(want[:34]))
    g = lambdify(x, sp.floor(sp.gamma(x)), backend="c")
    np.testing.assert_array_equal(g(n[:23]), want[:23])
    between = np.array([0.5, 1.5, 12.5, 13.0 + 2**-40, 171.5, 172.0, -0.5, -3.0, 0.0])
    np.testing.assert_allclose(f(between), lambdify(x, sp.gamma(x))(between), rtol=1e-13)


@pytest.mark.parametrize("n", [2**31 + 1, 2**32 + 1, 2**40, 2**53 + 1, 2**63 - 1, -(2**31) - 1, -(2**40)])
def test_integer_powers_beyond_a_c_int_are_not_wrapped(n):
    """x**n with |n| past 2**31 (a C int would wrap 2**32 + 1 to 1 and 2**40 to 0): the size and
    parity of n decide the value, exactly (0, 1 or inf in size, the sign of x where n is odd)."""
    f = lambdify(x, x**n, backend="c")
    points = [0.5, -0.5, 1.0, -1.0, 2.0, -2.0]
    size = {0.5: 0.0, 1.0: 1.0, 2.0: math.inf}
    if n < 0:
        size = {0.5: math.inf, 1.0: 1.0, 2.0: 0.0}
    want = [math.copysign(size[abs(p)], p if n % 2 else 1.0) for p in points]
    got = [f(p) for p in points]
    assert got == want and [math.copysign(1, g) for g in got] == [math.copysign(1, w) for w in want]
    np.testing.assert_array_equal(f(np.array(points)), want)


# -- inputs are checked at the boundary ---------------------------------------------------------------


def test_inputs_of_real_kinds_convert_exactly():
    """Python numbers (bool too), NumPy numbers and arrays of bool/int/uint/float dtype, objects with
    __array__ and nested lists: the values the NumPy backend gives."""
    f = lambdify([x, y], x / y + x, backend="c")
    reference = lambdify([x, y], x / y + x)
    cases = [
        (True, 2.0),
        (3, 2),
        (np.int32(3), np.uint8(2)),
        (np.bool_(True), np.float32(4.0)),
        (np.array([1, 2], dtype=np.int64), np.array([True, True])),
        (np.array([1, 2], dtype=np.uint16), 3.0),
        ([1.0, 2.0], [[4.0], [8.0]]),
        ((1, 2), 2.0),
        (np.float16(1.5), np.float16(2.0)),
        (2**60 + 1, 3.0),
    ]
    for a, b in cases:
        got = f(a, b)
        want = reference(np.asarray(a, np.float64), np.asarray(b, np.float64))
        np.testing.assert_array_equal(got, want, err_msg=repr((a, b)))
        small = any(isinstance(v, (np.float16, np.float32)) for v in (a, b))
        assert np.asarray(got).dtype == (np.float32 if small else np.float64)
    np.testing.assert_array_equal(f(_ArrayLike([1, 2]), 2), [1.5, 3.0])


class _ArrayLike:
    def __init__(self, values):
        self.values = values

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.values, dtype=dtype)


@pytest.mark.parametrize(
    "bad, what",
    [
        (None, "None"),
        ("1.0", "str"),
        (b"12345678", "bytes"),
        (np.datetime64("2020-01-01"), "datetime64"),
        (np.timedelta64(3, "D"), "timedelta64"),
        (np.array([np.datetime64("2020-01-01")]), "datetime64"),
        (np.array([1.0, None], dtype=object), "object"),
        (np.array(["1.0"]), "<U3"),
        (__import__("decimal").Decimal("1.5"), "Decimal"),
        (__import__("fractions").Fraction(1, 3), "Fraction"),
        (sp.Float(1.5), "Float"),
        (object(), "object"),
        (_ArrayLike(["a", "b"]), "<U1"),
        (1 + 2j, "complex"),
        (np.complex128(1), "complex128"),
        (10**400, "beyond float64"),
    ],
)
def test_inputs_of_other_kinds_are_refused_naming_the_argument(bad, what):
    """None, text, bytes, dates, objects, Decimal, complex: an ArgumentError that names the argument
    (its symbol and position) and says what is taken, on the one-point path and with arrays."""
    f = lambdify([x, y], x / y, backend="c")
    for args, name in [((bad, 2.0), "x (argument 1)"), ((np.ones(1), bad), "y (argument 2)")]:
        with pytest.raises(ArgumentError) as info:  # the C backend's function: its own message
            f.built.fn(*args)
        message = str(info.value)
        assert name in message and what in message and "takes real numbers" in message, message
        with pytest.raises(ArgumentError, match=re.escape(name)):  # lambdify's, which may say it its way
            f(*args)
    g = lambdify([[x, y]], x / y, backend="c")
    with pytest.raises(ArgumentError, match=r"f\(\[x, y\]\): y \(in argument 1\)"):
        g.built.fn([1.0, bad])
    with pytest.raises(ArgumentError, match=r"y \(in argument 1\)"):
        g([1.0, bad])


def test_a_ragged_list_is_refused_naming_the_argument():
    f = lambdify([x, y], x / y, backend="c")
    with pytest.raises(ArgumentError, match=r"x \(argument 1\) cannot be read as an array"):
        f.built.fn([[1.0], [2.0, 3.0]], 2.0)


def test_object_arrays_are_refused_by_the_kernel_too():
    """The kernel's own entry (numpify_func's and ufuncify's) checks as the function does."""
    kernel = CKernel(sympile.lambdify([x], x + 1).graph)
    with pytest.raises(ArgumentError, match="input 0|x"):
        kernel.eval([np.array([1, None], dtype=object)])
    np.testing.assert_array_equal(kernel.eval([np.array([1, 2], dtype=np.int8)])[0], [2.0, 3.0])


def test_keyword_calls_are_refused():
    """The parameters' generated names (a0, a1) are positional only: f(a0=1, a1=2) is no call."""
    f = lambdify([x, y], x / y, backend="c")
    for kwargs in ({"x": 1.0, "y": 2.0}, {"a0": 1.0, "a1": 2.0}):
        with pytest.raises(ArgumentError):
            f(**kwargs)
    assert f(1.0, 2.0) == 0.5


@pytest.mark.parametrize("layout", ["odd_offset", "record_field", "aligned_record_field", "one_odd_value"])
def test_unaligned_and_strided_inputs_compute_right(layout):
    """Arrays the kernel cannot read in place (a buffer at an odd byte offset, as a cluster or a
    file may deliver one; a field of a record array, 12 bytes apart) are copied, never refused or
    misread."""
    x, y = sp.symbols("x y")
    f = lambdify([x, y], sp.sin(x) * y + 1, backend="c")
    values = np.random.default_rng(3).normal(size=6)
    if layout in ("odd_offset", "one_odd_value"):
        values = values[:1] if layout == "one_odd_value" else values
        a = np.frombuffer(bytearray(b"\0" + values.tobytes()), np.float64, offset=1)
    else:
        r = np.zeros(6, dtype=np.dtype([("a", "f8"), ("b", "f4")], align=layout == "aligned_record_field"))
        r["a"] = values
        a = r["a"]
    np.testing.assert_array_equal(a, values)
    np.testing.assert_allclose(f(a, 1.5), np.sin(values) * 1.5 + 1, rtol=1e-14)
