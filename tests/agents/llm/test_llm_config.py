"""The ``models:`` section of meshline.yaml: parsing, env references, overrides, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import SecretStr

from meshline.agents.llm.config import ConfigError, load_config, parse_config
from meshline.errors import InvalidConfig, MeshlineError

REPO_CONFIG = Path(__file__).resolve().parents[3] / "meshline.yaml"


def test_repo_config_points_default_and_fast_at_the_local_model() -> None:
    # The local model server's key comes from the variable `meshline up` gives the LLM layer.
    config = load_config(REPO_CONFIG, environ={"MESHLINE_LOCAL_MODEL_API_KEY": "k-local"})
    groups = config.aliases()
    assert set(groups) == {"default", "fast"}
    for alias in ("default", "fast"):
        [deployment] = groups[alias]
        assert deployment.litellm_params(60) == {
            "model": "openai/smollm2",
            "api_base": "http://127.0.0.1:8400/v1",
            "api_key": "k-local",
            "timeout": 60,
        }


def test_env_references_resolve_and_keys_stay_secret() -> None:
    raw = {
        "models": [
            {"alias": "default", "model": "openai/a", "api_key": "${KEY_A}", "api_base": "http://${HOST}:1/v1"},
            {"alias": "default", "model": "openai/b", "api_key": "os.environ/KEY_B", "params": {"rpm": 10}},
        ]
    }
    config = parse_config(raw, {"KEY_A": "sk-a", "KEY_B": "sk-b", "HOST": "gpu1"})
    first, second = config.aliases()["default"]
    assert first.api_base == "http://gpu1:1/v1"
    assert isinstance(first.api_key, SecretStr)
    assert "sk-a" not in repr(first)
    assert second.litellm_params(5) == {"model": "openai/b", "api_key": "sk-b", "timeout": 5, "rpm": 10}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"models": [{"alias": "default", "model": "openai/a", "api_key": "${NOPE}"}]}, "NOPE, which is not set"),
        ({"models": [{"alias": "default"}]}, "models.0.model: Field required"),
        ({"models": [{"alias": "fast", "model": "openai/a"}]}, "must define the 'default' model alias"),
        ({"models": []}, "models: List should have at least 1 item"),
        ({"routes": {}}, "models: Field required"),
        ({"models": [{"alias": "default", "model": "m", "params": {"api_key": "x"}}]}, "not under params"),
        ({"models": [{"alias": "default", "model": "m", "key": "typo"}]}, "models.0.key: Extra inputs"),
    ],
)
def test_invalid_configs_fail_with_a_clear_message(raw: object, message: str) -> None:
    with pytest.raises(ConfigError, match="meshline.yaml") as caught:
        parse_config(raw, {}, "meshline.yaml")
    assert message in str(caught.value)


def test_unreadable_or_missing_files_are_config_errors(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("models: [unclosed")
    with pytest.raises(ConfigError, match="cannot read model config"):
        load_config(broken, environ={})
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "absent.yaml", environ={})


def test_override_replaces_only_the_default_alias(tmp_path: Path) -> None:
    path = tmp_path / "meshline.yaml"
    # The default entry's missing variable does not matter: the override replaces it.
    path.write_text(
        "models:\n"
        "  - {alias: default, model: openai/local, api_key: '${UNSET}'}\n"
        "  - {alias: fast, model: openai/local-fast}\n"
    )
    config = load_config(path, override_model="openai/gpt-4o-mini", environ={})
    groups = config.aliases()
    assert [d.model for d in groups["default"]] == ["openai/gpt-4o-mini"]
    assert groups["default"][0].api_key is None  # litellm reads OPENAI_API_KEY itself
    assert [d.model for d in groups["fast"]] == ["openai/local-fast"]


def test_the_commented_llm_example_in_the_repo_config_parses() -> None:
    lines = REPO_CONFIG.read_text().splitlines()
    start = lines.index("# models:")  # the commented example, to the end of the file
    example = yaml.safe_load("\n".join(line.removeprefix("#").removeprefix(" ") for line in lines[start:]))
    config = parse_config(example, {"OPENAI_API_KEY": "sk-o", "ANTHROPIC_API_KEY": "sk-a"}, "example")
    assert set(config.aliases()) == {"default", "fast", "smart", "long"}
    assert config.llm.fallbacks == {"default": ["smart", "fast"], "smart": ["default"]}
    assert config.llm.context_window_fallbacks == {"default": ["long"], "fast": ["long"]}
    assert config.llm.limits_for("acme").budget_usd == 500
    assert config.llm.limits_for("anyone").requests_per_minute == 600


def test_config_error_is_in_the_error_tree_and_still_a_value_error() -> None:
    error = ConfigError("bad")
    assert isinstance(error, InvalidConfig) and isinstance(error, MeshlineError)
    assert isinstance(error, ValueError)
    assert error.detail == "bad" and error.code == "invalid_config"
