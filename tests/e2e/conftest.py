"""A whole mesh of real processes for end-to-end tests: the same specs ``meshline up`` runs,
with the LLM provider replaced by the fake OpenAI-compatible server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from meshline.cli.local_mesh import DEFAULT_PORTS, ensure_admin_key, ensure_keys, service_specs
from meshline.cli.supervisor import Supervisor
from meshline.cli.up_cmd import register_agents_and_mint_key
from meshline.testing.fake_openai import start_fake_openai
from meshline.testing.redis_process import free_port, start_redis
from tests.e2e.harness import READY_TIMEOUT_S, Mesh


@pytest.fixture(scope="session")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    home = tmp_path_factory.mktemp("mesh") / ".meshline"
    home.mkdir()
    ensure_keys(home)
    admin_key = ensure_admin_key(home)
    redis_port, llm_port = free_port(), free_port()
    redis_proc = start_redis(redis_port)
    fake = start_fake_openai(llm_port)
    fake_url = f"http://127.0.0.1:{llm_port}/v1"
    config = home / "meshline.yaml"
    config.write_text(
        "models:\n"
        f"  - alias: default\n    model: openai/fake-model\n    api_base: {fake_url}\n    api_key: fake\n"
        f"  - alias: fast\n    model: openai/fake-model\n    api_base: {fake_url}\n    api_key: fake\n"
    )
    # Free ports, never the dev ports: tests must not collide with a running `meshline up`.
    specs = service_specs(
        f"redis://127.0.0.1:{redis_port}/0",
        admin_key,
        home,
        use_local_model=False,
        ports={name: free_port() for name in DEFAULT_PORTS},
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
        yield Mesh(orchestrator.url, api_key, admin_key, home, fake_url, supervisor, {s.name: s for s in specs})
    finally:
        supervisor.stop_all()
        fake.terminate()
        redis_proc.terminate()
        fake.wait(timeout=10)
        redis_proc.wait(timeout=10)
