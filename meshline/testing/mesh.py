"""A whole local mesh of real processes with a fake LLM provider, for e2e tests and benchmarks.

It runs the same process specs as ``meshline up`` on free ports (never the dev ports), with a
private Redis and the fake OpenAI-compatible provider standing in for the model.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from meshline.cli.local_mesh import DEFAULT_PORTS, ProcessSpec, ensure_admin_key, ensure_keys, service_specs
from meshline.cli.supervisor import Supervisor
from meshline.cli.up_cmd import register_agents_and_mint_key
from meshline.testing.fake_openai import start_fake_openai
from meshline.testing.redis_process import free_port, start_redis

READY_TIMEOUT_S = 180.0


@dataclass
class TestMesh:
    url: str
    api_key: str
    admin_key: str
    home: Path
    fake_llm_url: str
    supervisor: Supervisor
    specs: dict[str, ProcessSpec]

    __test__ = False  # not a pytest test class

    def restart(self, name: str) -> None:
        self.supervisor.stop(name)
        self.supervisor.start(self.specs[name])
        self.supervisor.wait_ready(self.specs[name], READY_TIMEOUT_S)

    def logs(self) -> dict[str, str]:
        return {p.stem: p.read_text(errors="replace") for p in (self.home / "logs").glob("*.log")}

    def provider_requests(self) -> list[dict[str, object]]:
        """What the fake provider has been asked, oldest first."""
        response = httpx.get(self.fake_llm_url.removesuffix("/v1") + "/_requests", timeout=5)
        return list(response.json())


def _config(path: Path, api_base: str, model: str) -> Path:
    lines = ["models:"]
    for alias in ("default", "fast"):
        lines += [f"  - alias: {alias}", f"    model: {model}", f"    api_base: {api_base}", "    api_key: fake"]
    path.write_text("\n".join(lines) + "\n")
    return path


@contextmanager
def run_test_mesh(home: Path, provider_latency_ms: float = 0.0, *, local_model: bool = False) -> Iterator[TestMesh]:
    """The mesh on free ports; the model is the fake provider, or the bundled one with ``local_model``."""
    home.mkdir(parents=True, exist_ok=True)
    ensure_keys(home)
    admin_key = ensure_admin_key(home)
    ports = {name: free_port() for name in DEFAULT_PORTS}
    redis_port, llm_port = free_port(), free_port()
    redis_proc = start_redis(redis_port)
    fake = start_fake_openai(llm_port, provider_latency_ms)
    fake_url = f"http://127.0.0.1:{llm_port}/v1"
    if local_model:
        config = _config(home / "meshline.yaml", f"http://127.0.0.1:{ports['local-model']}/v1", "openai/smollm2")
    else:
        config = _config(home / "meshline.yaml", fake_url, "openai/fake-model")
    specs = service_specs(
        f"redis://127.0.0.1:{redis_port}/0",
        admin_key,
        home,
        use_local_model=local_model,
        ports=ports,
        extra_env={"MESHLINE_LLM_CONFIG": str(config)},
    )
    supervisor = Supervisor(home / "logs")
    try:
        for spec in specs:
            supervisor.start(spec)
        for spec in specs:
            supervisor.wait_ready(spec, READY_TIMEOUT_S)
        orchestrator = next(s for s in specs if s.name == "orchestrator")
        api_key = register_agents_and_mint_key(orchestrator.url, admin_key, [s for s in specs if s.register])
        yield TestMesh(orchestrator.url, api_key, admin_key, home, fake_url, supervisor, {s.name: s for s in specs})
    finally:
        supervisor.stop_all()
        for proc in (fake, redis_proc):
            proc.terminate()
            proc.wait(timeout=10)
