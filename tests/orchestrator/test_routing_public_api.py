"""The routing package and the shared encoders declare what others import; the import graph points one way."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

PACKAGES = ["meshline.embeddings", "meshline.orchestrator.routing"]
LAZY_MACHINERY = {"TYPE_CHECKING", "annotations", "lazy_exports"}  # meshline.exports: the __init__'s own imports


@pytest.mark.parametrize("name", PACKAGES)
def test_all_lists_every_public_name_once(name: str) -> None:
    package = importlib.import_module(name)
    declared = list(package.__all__)
    assert len(declared) == len(set(declared))
    assert all(hasattr(package, n) for n in declared)
    public = {n for n, v in vars(package).items() if not n.startswith("_") and not _is_submodule(name, v)}
    assert public - LAZY_MACHINERY <= set(declared)


def _is_submodule(package: str, value: object) -> bool:
    return getattr(value, "__name__", "").startswith(package + ".") and type(value).__name__ == "module"


def test_the_orchestrator_imports_neither_the_memory_service_nor_chromadb() -> None:
    """The router shares the encoders, not the memory service: no memory module, no chromadb, no torch yet."""
    probe = (
        "import sys, meshline.orchestrator.app; "
        "print(sorted(m for m in sys.modules if m.startswith(('meshline.memory', 'chromadb', 'torch'))))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]"


def test_the_product_cli_imports_nothing_from_the_test_kit() -> None:
    """The local Redis and port helpers are the CLI's; meshline.testing imports them, never the reverse."""
    probe = "import sys, meshline.cli.main; print(sorted(m for m in sys.modules if m.startswith('meshline.testing')))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]"
