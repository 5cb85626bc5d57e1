"""Test utilities shipped with Meshline: a fake OpenAI-compatible provider and a private Redis."""

from __future__ import annotations

from typing import TYPE_CHECKING

from meshline.exports import lazy_exports

if TYPE_CHECKING:
    from meshline.testing.fake_openai import start_fake_openai
    from meshline.testing.mesh import TestMesh, run_test_mesh

__all__ = ["TestMesh", "run_test_mesh", "start_fake_openai"]
__getattr__ = lazy_exports(
    __name__,
    {
        "TestMesh": "meshline.testing.mesh",
        "run_test_mesh": "meshline.testing.mesh",
        "start_fake_openai": "meshline.testing.fake_openai",
    },
)
