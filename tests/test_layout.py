"""The layout's rules, held by a test.

- Services never import each other's code; only the kits (``agents.kit``, ``tools.kit``) are shared.
- Product code never imports the test kit (``meshline.testing``), and the orchestrator nothing of ``memory``.
- Code outside a unit imports only what the unit's ``__init__`` declares (``__all__``). A unit is a
  service (``meshline.orchestrator``, ``meshline.memory``, ``meshline.agents.<name>``,
  ``meshline.tools.<name>``) or a shared package (``meshline.<name>``); modules inside a unit import
  each other freely. ``examples/`` and ``bench/`` are held to the same rule, as a third party would be.
- Every exception class the services define is in the ``MeshlineError`` tree.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from meshline.errors import MeshlineError

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DIRS = {  # source folder -> import name (pyproject.toml's package-dir)
    "meshline": "meshline",
    "orchestrator": "meshline.orchestrator",
    "agents": "meshline.agents",
    "tools": "meshline.tools",
    "memory": "meshline.memory",
}
CONSUMERS = ("examples", "bench")
KITS = ("meshline.agents.kit", "meshline.tools.kit")
CLIENT_SIDE = ("meshline.sdk", "meshline.cli", "meshline.testing")  # raise for their callers, not over HTTP


@dataclass(frozen=True)
class Import:
    path: Path
    line: int
    importer: str  # "" outside the packages
    module: str

    def __str__(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line} imports {self.module}"


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("").parts
    if rel[0] not in PACKAGE_DIRS:
        return ""
    parts = [*PACKAGE_DIRS[rel[0]].split("."), *rel[1:]]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def product_files() -> list[Path]:
    return [p for folder in PACKAGE_DIRS for p in sorted((ROOT / folder).rglob("*.py"))]


PACKAGES = sorted(module_name(p) for p in product_files() if p.name == "__init__.py")


def unit(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "meshline" or len(parts) < 2:
        return None
    if parts[1] in ("agents", "tools"):
        return ".".join(parts[:3]) if len(parts) >= 3 else None
    name = ".".join(parts[:2])
    return name if name in PACKAGES else None  # meshline.errors, meshline.sse...: modules, not units


def imports() -> Iterator[Import]:
    files = product_files() + [p for folder in CONSUMERS for p in sorted((ROOT / folder).rglob("*.py"))]
    for path in files:
        importer = module_name(path)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                yield Import(path, node.lineno, importer, node.module)
            elif isinstance(node, ast.Import):
                yield from (Import(path, node.lineno, importer, alias.name) for alias in node.names)


def within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_services_never_import_each_others_code() -> None:
    services = ("meshline.orchestrator", "meshline.memory", "meshline.agents", "meshline.tools")
    found = []
    for imp in imports():
        mine, theirs = unit(imp.importer), unit(imp.module)
        if not (mine and theirs) or mine == theirs or theirs in KITS:
            continue
        if any(within(mine, s) for s in services) and any(within(theirs, s) for s in services):
            found.append(str(imp))
    assert not found, "\n".join(found)


def test_product_code_never_imports_the_test_kit_and_the_orchestrator_nothing_of_memory() -> None:
    found = [
        str(imp)
        for imp in imports()
        if imp.importer
        and (
            (within(imp.module, "meshline.testing") and not within(imp.importer, "meshline.testing"))
            or (within(imp.module, "meshline.memory") and within(imp.importer, "meshline.orchestrator"))
        )
    ]
    assert not found, "\n".join(found)


def test_code_outside_a_unit_imports_only_its_declared_api() -> None:
    found = []
    for imp in imports():
        target = unit(imp.module)
        if target is None or imp.module == target or target == unit(imp.importer):
            continue
        found.append(str(imp))
    assert not found, "\n".join(found)


@pytest.mark.parametrize("package", [p for p in PACKAGES if unit(p) == p])
def test_every_unit_declares_its_public_api(package: str) -> None:
    module = importlib.import_module(package)
    declared = getattr(module, "__all__", None)
    assert isinstance(declared, list), f"{package} has no __all__"
    assert declared == sorted(set(declared)), f"{package}.__all__ is not sorted and unique"
    missing = [name for name in declared if getattr(module, name, None) is None]
    assert not missing, f"{package}.__all__ names what it does not have: {missing}"
    undeclared = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and not inspect.ismodule(value) and name not in declared
    }
    assert undeclared <= {"TYPE_CHECKING", "annotations", "lazy_exports"}, f"{package} exports undeclared {undeclared}"


def test_every_exception_the_services_define_is_a_meshline_error() -> None:
    outside = []
    for path in product_files():
        name = module_name(path)
        if path.name == "__main__.py" or any(within(name, c) for c in CLIENT_SIDE):
            continue
        tree = ast.parse(path.read_text())
        if not any(isinstance(n, ast.ClassDef) for n in tree.body):
            continue
        module = importlib.import_module(name)
        for cls_name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == name and issubclass(cls, BaseException) and not issubclass(cls, MeshlineError):
                outside.append(f"{name}.{cls_name}")
    assert not outside, "\n".join(outside)
