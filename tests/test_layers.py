"""The package's layers: each folder imports only the layers below it, and no module imports itself
back through others (no cycles), counting imports made inside functions too."""

from __future__ import annotations

import ast
import pathlib

import pytest

SRC = pathlib.Path(__file__).resolve().parent.parent / "src" / "sympile"

#: Each private folder and the folders it may import (besides itself). The same lists are in
#: each folder's README.md and in docs/design.md.
ALLOWED = {
    "_core": set(),
    "_sympy": {"_core"},
    "_transforms": {"_core", "_sympy"},
    "_emit": {"_core", "_transforms"},
    "_backends": {"_core", "_transforms", "_emit"},
    "_functions": {"_core", "_sympy", "_transforms", "_emit", "_backends"},
    "_modules": {"_core", "_sympy", "_transforms", "_emit", "_backends"},
    "_arrays": {"_core", "_sympy", "_transforms", "_emit", "_backends", "_functions"},
    "_discovery": {"_core", "_sympy", "_transforms", "_emit", "_backends", "_functions", "_modules", "_arrays"},
    "_scale": {
        "_core",
        "_sympy",
        "_transforms",
        "_emit",
        "_backends",
        "_functions",
        "_modules",
        "_arrays",
        "_discovery",
    },
}


def _module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: pathlib.Path) -> set[str]:
    """The sympile modules that ``path`` imports, anywhere in the file."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("sympile"):
                # ``from . import x`` may name a module
                found.update(f"{target}.{a.name}" for a in node.names)
                found.add(target)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("sympile"))
    return found


MODULES = {_module_name(p): p for p in SRC.rglob("*.py")}
GRAPH = {name: {t for t in _imports(p) if t in MODULES and t != name} for name, p in MODULES.items()}


def _folder(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in ALLOWED else None


def test_every_private_module_lives_in_a_layer_folder():
    loose = [m for m in MODULES if m.count(".") == 1 and m.split(".")[1].startswith("_") and _folder(m) is None]
    loose = [m for m in loose if m != "sympile.__main__"]  # ``python -m sympile``
    assert loose == [], "private modules belong in a layer folder (see docs/design.md)"
    assert {p.name for p in SRC.iterdir() if p.is_dir() and p.name.startswith("_") and p.name != "__pycache__"} == set(
        ALLOWED
    )


@pytest.mark.parametrize("folder", sorted(ALLOWED))
def test_a_layer_imports_only_the_layers_below_it(folder):
    wrong = []
    for module, targets in GRAPH.items():
        if _folder(module) != folder:
            continue
        for t in targets:
            layer = _folder(t)
            if layer is None and t != "sympile":
                wrong.append(f"{module} imports the public face {t}")
            elif layer is not None and layer != folder and layer not in ALLOWED[folder]:
                wrong.append(f"{module} imports {t}")
    assert wrong == []


@pytest.mark.parametrize("folder", sorted(ALLOWED))
def test_each_layer_folder_has_a_readme_naming_what_it_may_import(folder):
    readme = (SRC / folder / "README.md").read_text()
    for below in ALLOWED[folder]:
        assert f"`{below}`" in readme


def test_public_faces_only_re_export():
    faces = [p for p in SRC.rglob("*.py") if _folder(_module_name(p)) is None and p.name != "__main__.py"]
    assert len(faces) >= 8
    for p in faces:
        for node in ast.parse(p.read_text()).body:
            docstring = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
            ok = isinstance(node, (ast.ImportFrom, ast.Import, ast.Assign)) or docstring
            assert ok, f"{p.relative_to(SRC)} line {node.lineno}: a public face only re-exports"


def test_no_import_cycles():
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    for start in GRAPH:
        if state.get(start):
            continue
        stack = [(start, iter(sorted(GRAPH[start])))]
        state[start] = 1
        path = [start]
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[node] = 2
                stack.pop()
                path.pop()
                continue
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt) :] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append((nxt, iter(sorted(GRAPH[nxt]))))
