"""One chaos mesh (real processes, LLM faked at the HTTP boundary) for the whole chaos suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from meshline.testing.chaos_mesh import run_chaos_mesh
from meshline.testing.mesh import TestMesh


@pytest.fixture(scope="module")
def chaos_mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestMesh]:
    with run_chaos_mesh(tmp_path_factory.mktemp("chaos") / ".meshline") as mesh:
        yield mesh
