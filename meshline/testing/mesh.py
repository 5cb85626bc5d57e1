"""A whole local mesh of real processes with a fake LLM provider, for e2e tests and benchmarks.

It runs the same process specs as ``meshline up`` on free ports (never the dev ports), with a
private Redis and the fake OpenAI-compatible provider standing in for the model.
"""

from __future__ import annotations

import dataclasses
import signal
import subprocess
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from meshline.cli import (
    DEFAULT_PORTS,
    LOCAL_MODEL_KEY_VAR,
    LocalSecrets,
    ProcessSpec,
    Supervisor,
    ensure_admin_key,
    ensure_keys,
    free_port,
    private_dir,
    redis_url_for,
    register_agents_and_mint_key,
    service_specs,
    start_redis,
    write_private,
)
from meshline.testing.fake_openai import start_fake_openai

READY_TIMEOUT_S = 180.0
# Load tests and benchmarks send dozens of concurrent turns on one key: the public API's per-tenant and
# per-key limits (sized for `meshline up`) are raised here; a test of the limits sets its own (``env``).
LOAD_TEST_LIMITS = {
    "MESHLINE_ORCHESTRATOR_TENANT_RATE_LIMIT_RPS": "10000",
    "MESHLINE_ORCHESTRATOR_TENANT_MAX_CONCURRENT_TURNS": "256",
    "MESHLINE_ORCHESTRATOR_KEY_RATE_LIMIT_RPS": "10000",
    "MESHLINE_ORCHESTRATOR_KEY_MAX_CONCURRENT_TURNS": "256",
}
# Tests make tenants as they go: the demo tool services seed any tenant on its first call.
DEMO_EVERY_TENANT = {"MESHLINE_CRM_DEMO_TENANTS": '["dev", "*"]', "MESHLINE_COMMERCE_DEMO_TENANTS": '["dev", "*"]'}


@dataclass
class TestMesh:
    url: str
    api_key: str = field(repr=False)  # a failing test prints the mesh: no secrets in its repr
    admin_key: str = field(repr=False)
    home: Path
    fake_llm_url: str
    supervisor: Supervisor
    specs: dict[str, ProcessSpec]
    secrets: LocalSecrets = field(repr=False)
    redis_port: int = 0
    redis_proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    __test__ = False  # not a pytest test class

    def agent_env(self) -> dict[str, str]:
        """The settings a new agent process next to this mesh needs (the bundled agents' but their profile and port)."""
        own = ("MESHLINE_ASSISTANT_PROFILE", "MESHLINE_ASSISTANT_PORT")
        return {k: v for k, v in self.specs["commerce"].env.items() if k not in own}

    def restart(self, name: str) -> None:
        self.supervisor.stop(name)
        self.start(name)

    def kill(self, name: str) -> None:
        """SIGKILL one process, as a crash would: no graceful shutdown, connections reset."""
        _, proc = self.supervisor.procs.pop(name)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    def start(self, name: str) -> None:
        """(Re)start a process of the mesh and wait until it is ready."""
        self.supervisor.start(self.specs[name])
        self.supervisor.wait_ready(self.specs[name], READY_TIMEOUT_S)

    def kill_redis(self) -> None:
        assert self.redis_proc is not None
        self.redis_proc.send_signal(signal.SIGKILL)
        self.redis_proc.wait(timeout=10)

    def start_redis(self) -> None:
        """Restart Redis on its port from its append-only file, as an operator would after a crash."""
        self.redis_proc = start_redis(self.redis_port, self.home / "redis", password=self.secrets.redis_password)

    @property
    def redis_url(self) -> str:
        """The URL (with the password) every process of the mesh connects to Redis with."""
        return redis_url_for(self.redis_port, self.secrets.redis_password)

    @property
    def metrics_headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.secrets.metrics_token}"}

    def provider(self, path: str, method: str = "GET", **params: str) -> dict[str, object]:
        """Call one of the fake provider's control endpoints (``/_behave``, ``/_hanging``...)."""
        response = httpx.request(method, self.fake_llm_url.removesuffix("/v1") + path, params=params, timeout=5)
        response.raise_for_status()
        return dict(response.json())

    def logs(self) -> dict[str, str]:
        return {p.stem: p.read_text(errors="replace") for p in (self.home / "logs").glob("*.log")}

    def provider_requests(self) -> list[dict[str, object]]:
        """What the fake provider has been asked, oldest first."""
        response = httpx.get(self.fake_llm_url.removesuffix("/v1") + "/_requests", timeout=5)
        return list(response.json())


def _config(path: Path, api_base: str, model: str, api_key: str = "fake") -> Path:
    lines = ["models:"]
    for alias in ("default", "fast"):
        lines += [f"  - alias: {alias}", f"    model: {model}", f"    api_base: {api_base}", f"    api_key: {api_key}"]
    return write_private(path, "\n".join(lines) + "\n")


def _replica(spec: ProcessSpec, number: int) -> ProcessSpec:
    """Another instance of ``spec`` on its own port; it registers under the same service name."""
    port = free_port()
    assert spec.port_var is not None, f"{spec.name} cannot be replicated: its port setting is unknown"
    return dataclasses.replace(
        spec, name=f"{spec.name}-{number}", port=port, env={**spec.env, spec.port_var: str(port)}
    )


@contextmanager
def run_test_mesh(
    home: Path,
    provider_latency_ms: float = 0.0,
    *,
    local_model: bool = False,
    services: Collection[str] | None = None,
    replicas: Mapping[str, int] | None = None,
    env: Mapping[str, Mapping[str, str]] | None = None,
    config: str | None = None,
) -> Iterator[TestMesh]:
    """The mesh on free ports; the model is the fake provider, or the bundled one with ``local_model``.

    ``services`` keeps only those of the registered agents and tools (memory, llm and the
    orchestrator always run); ``replicas`` runs that many instances of a service; ``env`` adds
    settings per process; ``config`` replaces the generated models file (``{fake}`` is the fake
    provider's URL). Redis keeps an append-only file so a test can kill and restart it.
    """
    private_dir(home)
    ensure_keys(home)
    admin_key = ensure_admin_key(home)
    secrets = LocalSecrets.ensure(home)
    ports = {name: free_port() for name in DEFAULT_PORTS}
    redis_port, llm_port = free_port(), free_port()
    redis_proc = start_redis(redis_port, home / "redis", password=secrets.redis_password)
    fake = start_fake_openai(llm_port, provider_latency_ms)
    fake_url = f"http://127.0.0.1:{llm_port}/v1"
    if config is not None:
        models = home / "meshline.yaml"
        write_private(models, config.replace("{fake}", fake_url))
    elif local_model:
        local = f"http://127.0.0.1:{ports['local-model']}/v1"
        models = _config(home / "meshline.yaml", local, "openai/smollm2", f"os.environ/{LOCAL_MODEL_KEY_VAR}")
    else:
        models = _config(home / "meshline.yaml", fake_url, "openai/fake-model")
    specs = service_specs(
        redis_url_for(redis_port, secrets.redis_password),
        admin_key,
        home,
        secrets=secrets,
        use_local_model=local_model,
        ports=ports,
        extra_env={"MESHLINE_LLM_CONFIG": str(models), **DEMO_EVERY_TENANT, **LOAD_TEST_LIMITS},
    )
    if services is not None:
        specs = [s for s in specs if not s.register or s.name in services]
    for spec in specs:
        spec.env.update((env or {}).get(spec.name, {}))
    specs = [
        replica
        for spec in specs
        for replica in [spec, *(_replica(spec, n) for n in range(2, (replicas or {}).get(spec.name, 1) + 1))]
    ]
    supervisor = Supervisor(home / "logs")
    mesh: TestMesh | None = None
    try:
        for spec in specs:
            supervisor.start(spec)
        for spec in specs:
            supervisor.wait_ready(spec, READY_TIMEOUT_S)
        orchestrator = next(s for s in specs if s.name == "orchestrator")
        api_key = register_agents_and_mint_key(orchestrator.url, admin_key, [s for s in specs if s.register])
        mesh = TestMesh(
            orchestrator.url,
            api_key,
            admin_key,
            home,
            fake_url,
            supervisor,
            {s.name: s for s in specs},
            secrets,
            redis_port,
        )
        mesh.redis_proc = redis_proc
        yield mesh
    finally:
        supervisor.stop_all()
        for proc in (fake, mesh.redis_proc if mesh is not None else redis_proc):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=10)
