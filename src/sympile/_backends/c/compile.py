"""Compiling generated C: the compiler, its flags, OpenMP, and an on-disk cache keyed by content.

A kernel is compiled once per machine: the shared library is stored under the per-user
cache directory (``$SYMPILE_CACHE_DIR``, else ``$XDG_CACHE_HOME/sympile``, else
``~/.cache/sympile``) in a file named by the SHA-256 of the source, the compiler and its
flags, so building the same expression again, in this process or a new one, costs a file
lookup and a ``dlopen``. Several processes may build the same kernel at once: each compiles
into a private temporary file and renames it into place (atomic on POSIX), so a reader
never sees half a library.

When the interpreter's headers are installed the library is also a CPython extension
module (its C is ``python.c``, beside this module), whose entry points cost about as much
as a Python function call; otherwise it is loaded with `ctypes` (ten times that).
``SYMPILE_C_LOADER=ctypes`` forces the latter.
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib.machinery
import importlib.util
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType

import numpy as np

from ..._core.errors import SympileError

CACHE_ENV = "SYMPILE_CACHE_DIR"
LOADER_ENV = "SYMPILE_C_LOADER"
#: Bumped when the flag policy or the generated glue changes, so old libraries are not reused.
POLICY = "sympile-c-3"

#: Optimisation without -ffast-math: NaN, infinities and signed zeros keep IEEE semantics.
BASE_FLAGS = ("-O3", "-std=c99", "-fPIC", "-shared", "-fno-math-errno", "-fno-trapping-math")


#: Used where the compiler takes them. No vectorised remainder loop: blocks are a multiple of
#: the vector width, and one copy fewer of a large body saves a third of the compile time.
OPTIONAL_FLAGS = ("--param=vect-epilogues-nomask=0",)


class CompilerError(SympileError, RuntimeError):
    """The C backend found no working C compiler, or the compiler rejected a kernel."""


@dataclass(frozen=True)
class Toolchain:
    """How kernels are compiled here: the compiler's command, its flags, and what it supports."""

    command: tuple[str, ...]
    flags: tuple[str, ...]
    openmp: bool
    python_include: str | None
    identity: str

    @property
    def python(self) -> bool:
        """Whether libraries are built as CPython extension modules (else loaded by ctypes)."""
        return self.python_include is not None


def cache_dir() -> Path:
    """The directory holding compiled kernels (created on first use)."""
    root = os.environ.get(CACHE_ENV)
    if root:
        path = Path(root).expanduser()
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        path = Path(base) / "sympile"
    path = path / "c"
    path.mkdir(parents=True, exist_ok=True)
    return path


def find_compiler() -> tuple[str, ...]:
    """The C compiler's command: ``$CC`` if set, else ``cc``, ``gcc`` or ``clang`` on PATH."""
    env = os.environ.get("CC")
    if env:
        command = shlex.split(env)
        found = shutil.which(command[0]) if command else None
        if found is None:
            raise CompilerError(
                f"CC is set to {env!r}, but that compiler was not found; set CC to a C compiler "
                "(gcc or clang), or use backend='numpy'"
            )
        return (found, *command[1:])
    for name in ("cc", "gcc", "clang"):
        found = shutil.which(name)
        if found:
            return (found,)
    raise CompilerError(
        "the c backend needs a C compiler, and none was found (looked for $CC, cc, gcc and clang "
        "on PATH); install one (for example `apt install gcc` or Xcode's command line tools), or "
        "use backend='numpy'"
    )


def _python_include() -> str | None:
    if os.environ.get(LOADER_ENV, "").lower() == "ctypes":
        return None
    # Where sysconfig puts the headers in a standard installation, without sysconfig's
    # 10 ms of start-up; sysconfig where that guess fails.
    version = f"python{sys.version_info.major}.{sys.version_info.minor}{getattr(sys, 'abiflags', '')}"
    for include in (os.path.join(sys.base_prefix, "include", version), None):
        if include is None:
            import sysconfig

            include = sysconfig.get_paths().get("include")
        if include and os.path.exists(os.path.join(include, "Python.h")):
            return include
    return None


def _cpu() -> str:
    """What the code is compiled for (``-march=native``): a library is never loaded on another CPU.

    Reading /proc/cpuinfo takes milliseconds, so its answer is kept per boot of the machine.
    """
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            boot = f.read().strip() + platform.node()
    except OSError:
        boot = None
    kept = cache_dir() / f"cpu-{hashlib.sha256(boot.encode()).hexdigest()[:24]}.txt" if boot else None
    if kept is not None:
        try:
            return kept.read_text()
        except OSError:
            pass
    text = platform.machine() + platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("model name", "flags", "Features", "CPU part")):
                    text += line
                if line.strip() == "":
                    break
    except OSError:
        pass
    if kept is not None:
        _write_atomic(kept, text.encode())
    return text


def _run(command: list[str], cwd: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)


def _probe(command: tuple[str, ...]) -> dict:
    """Which optional flags the compiler takes: ``-march=native`` and OpenMP."""
    test = (
        "#include <math.h>\n#ifdef _OPENMP\n#include <omp.h>\n#endif\n"
        "double f(const double *x, long n) { double s = 0;\n"
        "#pragma omp parallel for reduction(+:s)\n"
        "for (long i = 0; i < n; i++) s += exp(x[i]);\n"
        "#ifdef _OPENMP\nreturn s + omp_get_max_threads();\n#else\nreturn s;\n#endif\n}\n"
    )
    found = {"march": [], "openmp": None, "extra": []}
    with tempfile.TemporaryDirectory(prefix="sympile-probe-") as tmp:
        Path(tmp, "t.c").write_text(test)
        base = [*command, *BASE_FLAGS, "t.c", "-o", "t.so", "-lm"]
        if _run(base, tmp).returncode != 0:
            raise CompilerError(f"the C compiler {' '.join(command)} cannot build a shared library here")
        for march in (["-march=native"], ["-mcpu=native"]):
            if _run([*base, *march], tmp).returncode == 0:
                found["march"] = march
                break
        for flag in OPTIONAL_FLAGS:
            if _run([*base, flag], tmp).returncode == 0:
                found["extra"].append(flag)
        openmp = ["-fopenmp"] if sys.platform != "darwin" else ["-Xpreprocessor", "-fopenmp", "-lomp"]
        if _run([*base, *openmp], tmp).returncode == 0:
            try:
                ctypes.CDLL(os.path.join(tmp, "t.so"))
                found["openmp"] = openmp
            except OSError:
                pass
    return found


@cache
def _toolchain(command: tuple[str, ...], python_include: str | None) -> Toolchain:
    st = os.stat(command[0])
    identity = repr((os.path.realpath(command[0]), st.st_size, st.st_mtime_ns, command[1:]))
    probe_file = cache_dir() / f"toolchain-{hashlib.sha256((identity + POLICY).encode()).hexdigest()[:24]}.json"
    try:
        found = json.loads(probe_file.read_text())
    except (OSError, ValueError):
        found = _probe(command)
        _write_atomic(probe_file, json.dumps(found).encode())
    flags = [*BASE_FLAGS, *found["march"], *found.get("extra", [])]
    flags += found["openmp"] if found["openmp"] else ["-fopenmp-simd"]
    abi = (sys.implementation.cache_tag, importlib.machinery.EXTENSION_SUFFIXES[0], sys.version)
    if python_include is not None:
        flags += [f"-I{python_include}", "-DSYMPILE_PYTHON"]
        if sys.platform == "darwin":
            flags += ["-undefined", "dynamic_lookup"]
        numpy_include = np.get_include()
        if os.path.exists(os.path.join(numpy_include, "numpy", "arrayobject.h")):
            flags += [f"-I{numpy_include}", "-DSYMPILE_NUMPY"]  # the one-point path makes its arrays
            abi += (np.__version__,)
    identity = repr((identity, POLICY, abi if python_include else None, _cpu()))
    return Toolchain(command, tuple(flags), bool(found["openmp"]), python_include, identity)


def toolchain() -> Toolchain:
    """The compiler and flags in use (probed once per compiler, the result kept in the cache)."""
    return _toolchain(find_compiler(), _python_include())


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        _unlink(tmp)
        raise


def _unlink(path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def library_key(source: str, tools: Toolchain) -> str:
    """The cache key: a hash of the source, the compiler and its flags."""
    h = hashlib.sha256()
    for part in (tools.identity, " ".join(tools.command), " ".join(tools.flags), source):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


def compile_library(source: str, tools: Toolchain | None = None) -> tuple[Path, str, bool]:
    """The shared library for ``source``: from the cache, or compiled into it.

    Returns ``(path, key, compiled)``; ``compiled`` is False on a cache hit.
    """
    tools = toolchain() if tools is None else tools
    key = library_key(source, tools)
    root = cache_dir()
    path = root / f"{key}.so"
    if path.exists():
        return path, key, False
    tmp_dir = tempfile.mkdtemp(prefix=f"{key[:16]}.", suffix=".build", dir=root)
    try:
        src = Path(tmp_dir, f"{module_name(key)}.c")
        src.write_text(source)
        out = Path(tmp_dir, "kernel.so")
        define = f"-DSYMPILE_MODULE={module_name(key)}"
        done = _run([*tools.command, *tools.flags, define, src.name, "-o", out.name, "-lm"], tmp_dir)
        if done.returncode != 0:
            kept = root / f"{key}.failed.c"
            _write_atomic(kept, source.encode())
            raise CompilerError(
                f"the C compiler rejected a generated kernel (source kept in {kept}); this is a bug "
                f"in sympile, please report it. Compiler output:\n{done.stderr[-3000:]}"
            )
        os.replace(src, root / f"{key}.c")  # the source beside its library, for reading
        os.replace(out, path)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return path, key, True


def module_name(key: str) -> str:
    return f"_sympile_{key[:20]}"


_LOADED: dict[str, object] = {}


def load_library(path: Path, key: str, tools: Toolchain) -> ModuleType | ctypes.CDLL:
    """Load a compiled kernel: as an extension module when built with Python's headers, else by ctypes."""
    got = _LOADED.get(key)
    if got is None:
        if tools.python:
            name = module_name(key)
            loader = importlib.machinery.ExtensionFileLoader(name, str(path))
            spec = importlib.util.spec_from_file_location(name, str(path), loader=loader)
            got = importlib.util.module_from_spec(spec)
            loader.exec_module(got)
        else:
            got = ctypes.CDLL(str(path))
        _LOADED[key] = got
    return got


def build_and_load(source: str, tools: Toolchain | None = None) -> tuple[object, str, bool]:
    """Compile (or find in the cache) and load ``source``; returns ``(library, key, compiled)``.

    A cached file that cannot be loaded (truncated by a full disk, say) is rebuilt once.
    """
    tools = toolchain() if tools is None else tools
    path, key, compiled = compile_library(source, tools)
    try:
        return load_library(path, key, tools), key, compiled
    except (ImportError, OSError):
        if compiled:
            raise
        _unlink(path)
        path, key, compiled = compile_library(source, tools)
        return load_library(path, key, tools), key, compiled


# -- an index from what was asked for to what was built -------------------------------------------
# Emitting and folding a large graph costs more than loading its library; the index maps a
# hash of the request (graph, options, toolchain) to the library's key, so that a build that
# was done before, in any process, skips straight to loading.


def request_key(parts: tuple, tools: Toolchain) -> str:
    h = hashlib.sha256()
    for part in (*parts, tools.identity, " ".join(tools.command), " ".join(tools.flags)):
        h.update(str(part).encode())
        h.update(b"\0")
    return h.hexdigest()


def remember(request: str, key: str) -> None:
    _write_atomic(cache_dir() / f"{request}.request", key.encode())


def recall(request: str, tools: Toolchain) -> tuple[object, str, str] | None:
    """``(library, key, source)`` for a request built before, or None."""
    root = cache_dir()
    try:
        key = (root / f"{request}.request").read_text().strip()
        source = (root / f"{key}.c").read_text()
    except OSError:
        return None
    path = root / f"{key}.so"
    if len(key) != 64 or not path.exists() or library_key(source, tools) != key:
        return None
    try:
        return load_library(path, key, tools), key, source
    except (ImportError, OSError):
        return None


# -- the two ways a kernel meets Python ------------------------------------------------------------
# python.c (beside this module; backend.py pastes it into every kernel) makes the library a CPython
# extension module where Python's headers are there; elsewhere ctypes loads it, as below.


class CtypesKernel:
    """A kernel library loaded by ctypes, with the extension module's ``eval`` (and no ``point``)."""

    point = None

    def __init__(self, lib, n_in: int, n_out: int, dtype: np.dtype):
        self._c = ctypes
        self._fn = lib.sympile_eval
        self._fn.restype = ctypes.c_int
        self._fn.argtypes = [
            ctypes.c_int64,
            ctypes.POINTER(ctypes.c_void_p),
            ctypes.POINTER(ctypes.c_int64),
            ctypes.c_void_p,
            ctypes.c_int,
            ctypes.c_int,
        ]
        self.n_in, self.n_out, self.dtype = n_in, n_out, dtype

    def eval(self, out: np.ndarray, point_major: bool, threads: int, *ins: np.ndarray) -> int:
        c = self._c
        n = out.size // self.n_out if self.n_out else 0
        if out.dtype != self.dtype or not out.flags.c_contiguous or out.size != n * self.n_out:
            raise ValueError("sympile kernel: the output buffer has the wrong type or size")
        strides = []
        for a in ins:
            if a.dtype != self.dtype or a.size not in (1, n):
                raise ValueError("sympile kernel: an input has the wrong type or size")
            if a.size == 1 and n != 1:
                strides.append(0)
            elif a.ndim == 1:
                strides.append(a.strides[0] // a.itemsize)
            elif a.flags.c_contiguous:
                strides.append(1)
            else:
                raise ValueError("sympile kernel: an input is neither contiguous nor one-dimensional")
        k = max(1, len(ins))
        pointers = (c.c_void_p * k)(*[a.ctypes.data for a in ins])
        return self._fn(n, pointers, (c.c_int64 * k)(*strides), out.ctypes.data, int(point_major), threads)
