"""Compiling generated C: the compiler, its flags, OpenMP, and an on-disk cache keyed by content.

A kernel library is compiled once per machine: it is stored under the per-user cache
directory (``$SYMPILE_CACHE_DIR``, else ``$XDG_CACHE_HOME/sympile``, else
``~/.cache/sympile``) in a file named by the SHA-256 of the source, the compiler and its
flags, so building the same expression again, in this process or a new one, costs a file
lookup, a checksum and a ``dlopen``. Several processes may build the same kernel at once: each
compiles into a private temporary file and renames it into place (atomic on POSIX), so a reader
never sees half a library; a library's size and SHA-256, recorded beside it, are checked before
it is loaded (`intact`), so one damaged since is compiled again, not mapped. An unusable cache
directory gives way to a private temporary one (`CacheWarning`). Several libraries asked for at
once compile in parallel, one compiler process each.

Kernels are plain C, without Python's headers (parsing them would cost more than compiling
a small kernel). Where the interpreter's headers are installed, the CPython side of every
kernel is one fixed extension module, the runner (its C is ``runner.c``, beside this module),
compiled once per toolchain and kept in the same cache; its entry points cost about as much
as a Python function call. Elsewhere a kernel's loop is called through `ctypes` (ten times
that); ``SYMPILE_C_LOADER=ctypes`` forces the latter.
"""

from __future__ import annotations

import atexit
import ctypes
import dataclasses
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
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType

import numpy as np

from ..._core.errors import CacheWarning, SympileError

CACHE_ENV = "SYMPILE_CACHE_DIR"
LOADER_ENV = "SYMPILE_C_LOADER"
#: Bumped when the flag policy or the generated glue changes, so old libraries are not reused.
POLICY = "sympile-c-5"

#: Without -ffast-math: NaN, infinities and signed zeros keep IEEE semantics. The optimisation
#: level is chosen per library (`compile_libraries`).
BASE_FLAGS = ("-std=c99", "-fPIC", "-shared", "-fno-math-errno", "-fno-trapping-math")
#: The optimisation level of the runner and of the compiler probe.
DEFAULT_OPT = "-O2"


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
    #: the runner's flags besides ``flags``: Python's (and NumPy's) headers
    python_flags: tuple[str, ...] = ()

    @property
    def python(self) -> bool:
        """Whether the runner (a CPython extension module) calls the kernels (else ctypes does)."""
        return self.python_include is not None


def cache_dir() -> Path:
    """The directory holding compiled kernels (created on first use).

    Where it cannot be made or written (under a regular file, read-only, ``/dev/null``), a private
    temporary directory, removed at exit, serves this process instead, with a `CacheWarning`
    saying where and why.
    """
    root = os.environ.get(CACHE_ENV)
    if root:
        path = Path(root).expanduser()
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        path = Path(base) / "sympile"
    return _usable(path / "c")


_ROOTS: dict[Path, Path] = {}  # a cache directory asked for -> the one in use


def _usable(path: Path) -> Path:
    got = _ROOTS.get(path)
    if got is not None and (got != path or path.is_dir()):
        return got
    _ROOTS[path] = got = _probe_dir(path)
    return got


def _probe_dir(path: Path) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".probe.", dir=path)  # as root, os.access says yes to anything
        os.close(fd)
        os.unlink(probe)
        return path
    except OSError as e:
        why = e.strerror or type(e).__name__
    fallback = Path(tempfile.mkdtemp(prefix="sympile-cache-"))
    atexit.register(shutil.rmtree, fallback, ignore_errors=True)
    warnings.warn(
        CacheWarning(
            f"the C kernel cache {path} cannot be used ({why}), so kernels are compiled into {fallback} for "
            f"this process only and compiled again in the next; set {CACHE_ENV} to a writable directory"
        ),
        stacklevel=2,
    )
    return fallback


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
    """Which optional flags the compiler takes: ``-march=native``, `OPTIONAL_FLAGS` and OpenMP.

    One compile with all of them, where the compiler takes them all (the usual case); else one
    compile per flag.
    """
    test = (
        "#include <math.h>\n#ifdef _OPENMP\n#include <omp.h>\n#endif\n"
        "double f(const double *x, long n) { double s = 0;\n"
        "#pragma omp parallel for reduction(+:s)\n"
        "for (long i = 0; i < n; i++) s += exp(x[i]);\n"
        "#ifdef _OPENMP\nreturn s + omp_get_max_threads();\n#else\nreturn s;\n#endif\n}\n"
    )
    openmp = ["-fopenmp"] if sys.platform != "darwin" else ["-Xpreprocessor", "-fopenmp", "-lomp"]
    with tempfile.TemporaryDirectory(prefix="sympile-probe-") as tmp:
        Path(tmp, "t.c").write_text(test)
        base = [*command, *BASE_FLAGS, DEFAULT_OPT, "t.c", "-o", "t.so", "-lm"]

        def loads() -> bool:
            try:
                ctypes.CDLL(os.path.join(tmp, "t.so"))
                return True
            except OSError:
                return False

        every = ["-march=native", *OPTIONAL_FLAGS, *openmp]
        if _run([*base, *every], tmp).returncode == 0 and loads():
            return {"march": ["-march=native"], "openmp": openmp, "extra": list(OPTIONAL_FLAGS)}
        found = {"march": [], "openmp": None, "extra": []}
        if _run(base, tmp).returncode != 0:
            raise CompilerError(f"the C compiler {' '.join(command)} cannot build a shared library here")
        for march in (["-march=native"], ["-mcpu=native"]):
            if _run([*base, *march], tmp).returncode == 0:
                found["march"] = march
                break
        for flag in OPTIONAL_FLAGS:
            if _run([*base, flag], tmp).returncode == 0:
                found["extra"].append(flag)
        if _run([*base, *openmp], tmp).returncode == 0 and loads():
            found["openmp"] = openmp
    return found


@cache
def _toolchain(command: tuple[str, ...], python_include: str | None) -> Toolchain:
    st = os.stat(command[0])
    compiler = repr((os.path.realpath(command[0]), st.st_size, st.st_mtime_ns, command[1:]))
    abi = (sys.implementation.cache_tag, importlib.machinery.EXTENSION_SUFFIXES[0], sys.version)
    python_flags = []
    if python_include is not None:
        python_flags += [f"-I{python_include}"]
        if sys.platform == "darwin":
            python_flags += ["-undefined", "dynamic_lookup"]
        numpy_include = np.get_include()
        if os.path.exists(os.path.join(numpy_include, "numpy", "arrayobject.h")):
            python_flags += [f"-I{numpy_include}", "-DSYMPILE_NUMPY"]  # the one-point path makes its arrays
            abi += (np.__version__,)
    identity = repr((compiler, POLICY, abi if python_include else None, _cpu()))
    probe_file = cache_dir() / f"toolchain-{hashlib.sha256((compiler + POLICY).encode()).hexdigest()[:24]}.json"
    unprobed = Toolchain(command, (), False, python_include, identity, python_flags=tuple(python_flags))
    try:
        found = json.loads(probe_file.read_text())
    except (OSError, ValueError):
        # the first use of this compiler here: the runner, which does not depend on what the
        # probe finds, compiles meanwhile
        with ThreadPoolExecutor(1) as pool:
            probing = pool.submit(_probe, command)
            if python_include is not None:
                try:
                    compile_libraries([runner_unit(unprobed)], unprobed)
                except CompilerError:
                    pass  # the probe says why, or load_runner will
            found = probing.result()
        _write_atomic(probe_file, json.dumps(found).encode())
    flags = [*BASE_FLAGS, *found["march"], *found.get("extra", [])]
    flags += found["openmp"] if found["openmp"] else ["-fopenmp-simd"]
    return dataclasses.replace(unprobed, flags=tuple(flags), openmp=bool(found["openmp"]))


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


def library_key(source: str, tools: Toolchain, flags: tuple[str, ...]) -> str:
    """The cache key: a hash of the source, the compiler and its flags."""
    h = hashlib.sha256()
    for part in (tools.identity, " ".join(tools.command), " ".join(flags), source):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


def _seal(data: bytes) -> bytes:
    return f"{len(data)} {hashlib.sha256(data).hexdigest()}".encode()


def intact(path: Path) -> bool:
    """Whether the cached library ``path`` is the one compiled there: its size and SHA-256 are those
    recorded beside it (``key.sum``, written after the library). A library truncated, damaged or
    replaced since (a full disk, a copy gone wrong) would crash the process that maps it, or run
    other code: it is compiled again instead."""
    try:
        seal = path.with_suffix(".sum").read_bytes()
        if int(seal.split(b" ", 1)[0]) != path.stat().st_size:
            return False
        return _seal(path.read_bytes()) == seal
    except (OSError, ValueError):
        return False


#: Between the translation units of one library in its cached source.
UNIT_SEPARATOR = "\n/* -- sympile: the next translation unit -- */\n"


@dataclass(frozen=True)
class Unit:
    """A library to compile: its C source (translation units joined by `UNIT_SEPARATOR`, each
    compiled by its own compiler process) and the compiler's flags (`kernel_unit`, `runner_unit`)."""

    source: str
    flags: tuple[str, ...]

    def key(self, tools: Toolchain) -> str:
        return library_key(self.source, tools, self.flags)


def compile_libraries(units: list[Unit], tools: Toolchain | None = None) -> list[tuple[Path, str, bool]]:
    """The shared library of each unit: from the cache, or compiled into it, all at once.

    Every translation unit of the missing libraries compiles in its own compiler process, all in
    parallel; a library of several is then linked. Returns ``(path, key, compiled)`` per unit;
    ``compiled`` is False on a cache hit.
    """
    tools = toolchain() if tools is None else tools
    root = cache_dir()
    results, building = [], []
    try:
        for unit in units:
            key = unit.key(tools)
            path = root / f"{key}.so"
            present = key in _LOADED or intact(path)
            results.append((path, key, not present))
            if present or any(b[0] == key for b in building):
                continue
            tmp_dir = tempfile.mkdtemp(prefix=f"{key[:16]}.", suffix=".build", dir=root)
            sources = unit.source.split(UNIT_SEPARATOR)
            define = f"-DSYMPILE_MODULE={module_name(key)}"  # the runner's name
            command = [*tools.command, *unit.flags, define]
            processes = []
            for i, text in enumerate(sources):
                Path(tmp_dir, f"u{i}.c").write_text(text)
                out = ["-o", "kernel.so", "-lm"] if len(sources) == 1 else ["-c", "-o", f"u{i}.o"]
                processes.append(
                    subprocess.Popen(
                        [*command, f"u{i}.c", *out],
                        cwd=tmp_dir,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.PIPE,
                        text=True,
                    )
                )
            building.append((key, tmp_dir, unit, processes))
        for key, tmp_dir, unit, processes in building:
            errors = [p.communicate()[1] for p in processes]
            failed = [e for p, e in zip(processes, errors) if p.returncode != 0]
            if not failed and len(processes) > 1:
                objects = [f"u{i}.o" for i in range(len(processes))]
                done = _run([*tools.command, *unit.flags, *objects, "-o", "kernel.so", "-lm"], tmp_dir)
                failed = [done.stderr] if done.returncode != 0 else []
            if failed:
                kept = root / f"{key}.failed.c"
                _write_atomic(kept, unit.source.encode())
                raise CompilerError(
                    f"the C compiler rejected a generated kernel (source kept in {kept}); this is a bug "
                    f"in sympile, please report it. Compiler output:\n{failed[0][-3000:]}"
                )
            _write_atomic(root / f"{key}.c", unit.source.encode())  # the source, for reading
            built = Path(tmp_dir, "kernel.so")
            seal = _seal(built.read_bytes())
            os.replace(built, root / f"{key}.so")
            _write_atomic(root / f"{key}.sum", seal)
    finally:
        for _, tmp_dir, _, processes in building:
            for p in processes:
                if p.poll() is None:
                    p.kill()
                    p.wait()
            shutil.rmtree(tmp_dir, ignore_errors=True)
    return results


def kernel_unit(source: str, tools: Toolchain, *opt: str) -> Unit:
    """A kernel library: the toolchain's flags and the optimisation flags (`DEFAULT_OPT` if none)."""
    return Unit(source, (*tools.flags, *(opt or (DEFAULT_OPT,))))


def module_name(key: str) -> str:
    return f"_sympile_{key[:20]}"


_LOADED: dict[str, object] = {}


def load_library(path: Path, key: str) -> ctypes.CDLL:
    """Load a compiled kernel library (once per process)."""
    got = _LOADED.get(key)
    if got is None:
        got = _LOADED[key] = ctypes.CDLL(str(path))
    return got


def build_and_load(units: list[Unit], tools: Toolchain | None = None) -> list[tuple[ctypes.CDLL, str, bool]]:
    """Compile (or find in the cache) and load each unit; ``(library, key, compiled)`` per unit.

    A cached file that does not match its recorded size and checksum (`intact`) is rebuilt
    before it is loaded; one that still cannot be loaded is rebuilt once.
    """
    tools = toolchain() if tools is None else tools
    built = compile_libraries(units, tools)
    out = []
    for unit, (path, key, compiled) in zip(units, built):
        try:
            out.append((load_library(path, key), key, compiled))
        except OSError:
            if compiled:
                raise
            _unlink(path)
            path, key, compiled = compile_libraries([unit], tools)[0]
            out.append((load_library(path, key), key, compiled))
    return out


# -- the runner: the CPython side of every kernel -------------------------------------------------

RUNNER_SOURCE = (Path(__file__).resolve().parent / "runner.c").read_text(encoding="utf-8")


def runner_unit(tools: Toolchain) -> Unit:
    """The runner: the base flags and Python's headers (nothing the probe finds: it may compile meanwhile)."""
    return Unit(RUNNER_SOURCE, (*BASE_FLAGS, DEFAULT_OPT, *tools.python_flags))


def load_runner(tools: Toolchain) -> ModuleType | None:
    """The runner extension module (compiled once per toolchain, then loaded from the cache); None
    where Python's headers are missing. The first build in an empty cache compiles it beside the
    kernel (`runner_unit` among the units of `compile_libraries`)."""
    if not tools.python:
        return None
    unit = runner_unit(tools)
    key = unit.key(tools)
    got = _LOADED.get(key)
    if got is not None:
        return got
    for attempt in range(2):
        path, key, compiled = compile_libraries([unit], tools)[0]
        name = module_name(key)
        try:
            loader = importlib.machinery.ExtensionFileLoader(name, str(path))
            spec = importlib.util.spec_from_file_location(name, str(path), loader=loader)
            got = importlib.util.module_from_spec(spec)
            loader.exec_module(got)
            break
        except (ImportError, OSError):
            if compiled or attempt:
                raise
            _unlink(path)
    _LOADED[key] = got
    return got


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


def remember(request: str, key: str, unit: Unit) -> None:
    _write_atomic(cache_dir() / f"{request}.request", "\n".join([key, *unit.flags]).encode())


def recall(request: str, tools: Toolchain) -> tuple[ctypes.CDLL, str, str] | None:
    """``(library, key, source)`` for a request built before, or None."""
    root = cache_dir()
    try:
        key, *flags = (root / f"{request}.request").read_text().split("\n")
        source = (root / f"{key}.c").read_text()
    except (OSError, ValueError):
        return None
    path = root / f"{key}.so"
    if len(key) != 64 or library_key(source, tools, tuple(flags)) != key:
        return None
    if key not in _LOADED and not intact(path):
        return None
    try:
        return load_library(path, key), key, source
    except OSError:
        return None


# -- the two ways a kernel meets Python ------------------------------------------------------------
# The runner (runner.c, above) calls the kernels where Python's headers are there; elsewhere
# ctypes calls a kernel's loop, as below.


class CtypesKernel:
    """A kernel's loop called through ctypes, with the runner's ``eval`` (and no ``point``); the
    library is loaded, compiled first if need be, by ``library()`` on the first call."""

    point = None

    def __init__(self, library, n_in: int, n_out: int, dtype: np.dtype):
        self._c = ctypes
        self._library = library
        self._fn = None
        self.n_in, self.n_out, self.dtype = n_in, n_out, dtype

    def _loop(self):
        if self._fn is None:
            fn = self._library().sympile_eval
            fn.restype = ctypes.c_int
            fn.argtypes = [
                ctypes.c_int64,
                ctypes.POINTER(ctypes.c_void_p),
                ctypes.POINTER(ctypes.c_int64),
                ctypes.c_void_p,
                ctypes.c_int,
                ctypes.c_int,
            ]
            self._fn = fn
        return self._fn

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
        return self._loop()(n, pointers, (c.c_int64 * k)(*strides), out.ctypes.data, int(point_major), threads)
