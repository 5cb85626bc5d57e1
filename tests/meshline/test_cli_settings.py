"""The CLI reads its environment through one settings model."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshline.cli.local_mesh import mesh_home
from meshline.cli.settings import CliSettings

CLI_VARS = ("MESHLINE_HOME", "MESHLINE_REDIS_URL", "MESHLINE_LLM_MODEL", "MESHLINE_URL", "MESHLINE_API_KEY")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in CLI_VARS:
        monkeypatch.delenv(name, raising=False)


def test_defaults_are_the_local_mesh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = CliSettings()
    assert settings.mesh_home() == (tmp_path / ".meshline").resolve() == mesh_home()
    assert settings.redis_url is None and settings.llm_model is None


def test_the_environment_names_home_redis_and_a_real_provider(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MESHLINE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("MESHLINE_REDIS_URL", "redis://10.0.0.5:6379/0")
    monkeypatch.setenv("MESHLINE_LLM_MODEL", "openai/gpt-4o-mini")
    settings = CliSettings()
    assert settings.mesh_home() == (tmp_path / "state").resolve() == mesh_home()
    assert settings.redis_url == "redis://10.0.0.5:6379/0"
    assert settings.llm_model == "openai/gpt-4o-mini"
