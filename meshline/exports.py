"""Lazy package exports (PEP 562), so a package's ``__init__`` can declare its public API without importing it.

Each package lists what other packages may import in ``__all__`` and maps each name to the module that
defines it; importing one module of a package then loads only what that module needs (a service's
sandbox worker, or the orchestrator, never pays for the rest), and packages that use each other's
public API cannot form an import cycle through their ``__init__`` files.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """A module-level ``__getattr__`` for ``package`` that imports ``name`` from ``exports[name]`` on first use."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)  # found directly from now on
        return value

    # A name that is also a submodule's (``tool`` in ``tools.kit``) is bound now: once that submodule
    # is imported, Python sets the package attribute to the module and ``__getattr__`` is never asked.
    for name in exports:
        if name.islower() and importlib.util.find_spec(f"{package}.{name}") is not None:
            __getattr__(name)
    return __getattr__
