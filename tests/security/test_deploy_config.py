"""compose.yaml and the Kubernetes manifests close the surface as ``meshline up`` does.

Redis is reached only with a password taken from a secret, /metrics wants its token, API docs
are off, and the local model server's key goes to it and the LLM layer alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from meshline.agents.llm.config import load_config
from meshline.cli.local_mesh import LOCAL_MODEL_KEY_VAR

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return loaded


def meshline_services(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: service
        for name, service in spec["services"].items()
        if "meshline." in " ".join(map(str, service.get("command", []))) and name != "register"
    }


def test_compose_services_reach_redis_with_its_password_and_close_metrics_and_docs() -> None:
    spec = compose()
    services = meshline_services(spec)
    assert {"orchestrator", "llm", "memory", "crm", "agent-general"} <= services.keys()
    for name, service in services.items():
        env = service["environment"]
        assert env["MESHLINE_REDIS_URL"].startswith("redis://:${MESHLINE_REDIS_PASSWORD:?"), name
        assert env["MESHLINE_METRICS_TOKEN"].startswith("${MESHLINE_METRICS_TOKEN:?"), name
        assert env["MESHLINE_DOCS"] == "false", name
        assert "ports" not in service or name == "orchestrator", name  # one published port


def test_compose_redis_requires_the_password_without_putting_it_on_its_command_line() -> None:
    redis = compose()["services"]["redis"]
    script = redis["command"][-1]
    assert "requirepass" in script and "redis-server /tmp/redis.conf" in script
    assert "--requirepass" not in script
    assert "REDISCLI_AUTH" in redis["healthcheck"]["test"][1]


def test_compose_gives_the_local_model_key_to_the_model_server_and_the_llm_layer_only() -> None:
    spec = compose()
    holders = {
        name
        for name, service in spec["services"].items()
        if "MESHLINE_LOCAL_MODEL_API_KEY" in str(service.get("environment", {}))
    }
    assert holders == {"local-model", "llm"}
    assert spec["services"]["local-model"]["environment"]["API_KEY"].startswith("${MESHLINE_LOCAL_MODEL_API_KEY:?")
    assert "8400" not in str(spec["services"]["local-model"].get("ports", ""))


def test_the_container_model_config_sends_the_local_model_key() -> None:
    config = load_config(ROOT / "deploy" / "meshline.container.yaml", environ={LOCAL_MODEL_KEY_VAR: "k-container"})
    for deployments in config.aliases().values():
        for deployment in deployments:
            assert deployment.litellm_params(5)["api_key"] == "k-container"


def k8s_documents() -> list[dict[str, Any]]:
    paths = sorted((ROOT / "deploy" / "k8s").glob("*.yaml"))
    return [doc for path in paths for doc in yaml.safe_load_all(path.read_text())]


def test_k8s_takes_the_redis_url_and_the_metrics_token_from_secrets() -> None:
    documents = k8s_documents()
    [config_map] = [d for d in documents if d["kind"] == "ConfigMap"]
    assert "MESHLINE_REDIS_URL" not in config_map["data"]  # it carries the password
    assert config_map["data"]["MESHLINE_DOCS"] == "false"
    deployments = [d for d in documents if d["kind"] == "Deployment"]
    assert deployments
    for deployment in deployments:
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            env = {e["name"]: e for e in container["env"]}
            assert env["MESHLINE_REDIS_URL"]["valueFrom"]["secretKeyRef"]["name"] == "meshline-redis"
            assert env["MESHLINE_METRICS_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "meshline-metrics"
