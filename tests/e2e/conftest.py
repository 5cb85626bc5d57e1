"""One mesh of real processes per session (fake LLM provider at the HTTP boundary)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from meshline.testing.mesh import TestMesh, run_test_mesh


@pytest.fixture(scope="session")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestMesh]:
    with run_test_mesh(tmp_path_factory.mktemp("mesh") / ".meshline") as running:
        yield running
