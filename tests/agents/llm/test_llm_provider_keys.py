"""Provider keys never sit in Redis: the registry holds references, resolved in the LLM layer's process.

A literal key in the config stays in the process (the registry says ``config``); an admin-deployed
version names an environment variable (``os.environ/NAME``) and a literal is refused. The
provider is faked at the HTTP boundary (respx) so the test can see the key it is sent.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import litellm
import pytest
import respx

from meshline.agents.llm.versions import Registry
from meshline.testing.redis_dump import dump_redis
from meshline.testing.scripted_model import Reply, Usage, Wire, completion_json
from tests.agents.llm.llm_helpers import RunLlm, admin_headers, chat, served_by, write_config

PROVIDER = "http://provider.test/v1"
COMPLETION = completion_json(Reply(text="hi", usage=Usage(prompt_tokens=1, completion_tokens=1)), Wire(model="m"))


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch) -> Iterator[respx.Route]:
    monkeypatch.setattr(litellm, "disable_aiohttp_transport", True)  # respx sees httpx only
    with respx.mock(assert_all_called=False) as mock:
        yield mock.post(f"{PROVIDER}/chat/completions").mock(return_value=httpx.Response(200, json=COMPLETION))


@pytest.fixture
def admin(issue_token: Callable[..., str]) -> dict[str, str]:
    return admin_headers(issue_token(audience=["llm"], scopes=("admin",)))


def sent_key(route: respx.Route) -> str:
    return route.calls.last.request.headers["authorization"].removeprefix("Bearer ")


async def test_redis_holds_no_provider_key_yet_each_deployment_is_called_with_its_own(
    run_llm: RunLlm,
    provider: respx.Route,
    admin: dict[str, str],
    tmp_path: Path,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config_key, env_key = f"sk-config-{secrets.token_hex(8)}", f"sk-env-{secrets.token_hex(8)}"
    monkeypatch.setenv("CANARY_API_KEY", env_key)
    entry = {"alias": "default", "model": "openai/m", "api_base": PROVIDER, "api_key": config_key}
    config = write_config(tmp_path / "meshline.yaml", [entry])
    async with run_llm(config=config) as client:
        assert served_by(await client.post("/v1/chat/completions", json=chat("a"))) == "default@v1"
        assert sent_key(provider) == config_key
        deployed = await client.post(
            "/v1/admin/models/default/deploy",
            json={"version": "v2", "model": "openai/m", "api_base": PROVIDER, "api_key": "os.environ/CANARY_API_KEY",
                  "canary": 100},
            headers=admin,
        )  # fmt: skip
        assert deployed.status_code == 200, deployed.text
        assert served_by(await client.post("/v1/chat/completions", json=chat("b"))) == "default@v2"
        assert sent_key(provider) == env_key
        reads = [deployed.text, (await client.get("/v1/admin/models", headers=admin)).text]
        reads.append((await client.get("/v1/admin/models/history", headers=admin)).text)
    stored = dump_redis(redis_url)
    assert "os.environ/CANARY_API_KEY" in stored  # the reference is what the registry keeps
    for text in [stored, *reads]:
        assert config_key not in text
        assert env_key not in text
    assert "os.environ/" not in "".join(reads)  # admin reads show neither keys nor where they come from


@pytest.mark.parametrize(
    ("api_key", "code"),
    [
        ("sk-live-literal-0123456789", "literal_api_key"),
        ("os.environ/MESHLINE_REDIS_URL", "api_key_not_allowed"),  # not a provider key variable
        ("os.environ/NOT_SET_API_KEY", "api_key_not_set"),
    ],
)
@pytest.mark.parametrize("shape", ["model", "deployments"])
async def test_an_admin_cannot_store_a_key_or_reach_other_variables(
    run_llm: RunLlm,
    fake_config: Path,
    admin: dict[str, str],
    redis_url: str,
    caplog: pytest.LogCaptureFixture,
    api_key: str,
    code: str,
    shape: str,
) -> None:
    deployment = {"model": "openai/m", "api_base": PROVIDER, "api_key": api_key}
    body = {"version": "v2", **deployment} if shape == "model" else {"version": "v2", "deployments": [deployment]}
    async with run_llm(config=fake_config) as client:
        before = (await client.get("/v1/admin/models", headers=admin)).json()
        with caplog.at_level(logging.INFO):
            refused = await client.post("/v1/admin/models/default/deploy", json=body, headers=admin)
        after = (await client.get("/v1/admin/models", headers=admin)).json()
    assert refused.status_code == 400
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == code
    assert after["revision"] == before["revision"]  # nothing changed
    assert "sk-live" not in refused.text  # a literal key is not echoed back
    assert api_key not in dump_redis(redis_url)
    assert not [r for r in caplog.records if r.exc_info]  # a refusal, not a crash: no traceback


def test_a_registry_written_with_literal_keys_loads_without_them() -> None:
    # Before keys became references the registry held them in clear; such a document still loads.
    old = '{"aliases": {"default": {"stable": "v1", "versions": {"v1": {"version": "v1", "deployments": ' \
          '[{"model": "openai/m", "api_key": "sk-old-literal"}], "weight": 100, "status": "stable"}}}}}'  # fmt: skip
    [deployment] = Registry.model_validate_json(old).aliases["default"].versions["v1"].deployments
    assert deployment.api_key is None
