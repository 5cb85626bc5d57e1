"""``meshline up`` and ``meshline down``: the whole mesh on one machine, as separate processes."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Annotated

import httpx
import typer

from meshline.cli.ingest_cmd import seed_knowledge_base
from meshline.cli.local_mesh import (
    LocalSecrets,
    ProcessSpec,
    ensure_admin_key,
    ensure_keys,
    mesh_home,
    service_specs,
    write_state,
)
from meshline.cli.ports import free_port
from meshline.cli.private_files import PRIVATE_UMASK, private_dir
from meshline.cli.redis_server import redis_url_for, start_redis
from meshline.cli.settings import CliSettings
from meshline.cli.supervisor import Supervisor
from meshline.sdk import Client

READY_TIMEOUT_S = 300.0
KNOWLEDGE_DIR = Path(__file__).resolve().parents[2] / "knowledge"


def register_agents_and_mint_key(orchestrator: str, admin_key: str, agents: list[ProcessSpec]) -> str:
    headers = {"authorization": f"Bearer {admin_key}"}
    with httpx.Client(base_url=orchestrator, headers=headers, timeout=30.0) as client:
        for spec in agents:
            response = client.post("/v1/services", json={"url": spec.url})
            if response.status_code >= 400:
                raise RuntimeError(f"registering {spec.name} failed: {response.text}")
        response = client.post(
            "/v1/keys", json={"tenant": "dev", "user": "dev", "scopes": ["chat", "ingest"], "name": "dev"}
        )
        if response.status_code >= 400:
            raise RuntimeError(f"minting the dev key failed: {response.text}")
        created = response.json()
        # Keys are durable now: revoke the dev keys of earlier runs rather than pile them up.
        listed = client.get("/v1/keys", params={"tenant": "dev"})
        for old in listed.json().get("keys", []) if listed.status_code == 200 else []:
            if old["name"] == "dev" and old["id"] != created["id"]:
                client.delete(f"/v1/keys/{old['id']}")
        return str(created["key"])


def up(
    ready_timeout: Annotated[float, typer.Option(help="Seconds to wait for every service.")] = READY_TIMEOUT_S,
) -> None:
    """Start the whole mesh locally (Redis, local model, every service) and run until Ctrl-C."""
    # Before anything is written: every file this process or its children create is private.
    os.umask(PRIVATE_UMASK)
    env = CliSettings()
    home = private_dir(env.mesh_home())
    ensure_keys(home)
    admin_key = ensure_admin_key(home)
    secrets = LocalSecrets.ensure(home)
    supervisor = Supervisor(home / "logs")
    redis_proc = None
    redis_url = env.redis_url
    stop = {"requested": False}

    def request_stop(signum: int, frame: object) -> None:
        stop["requested"] = True

    signal.signal(signal.SIGTERM, request_stop)
    try:
        if not redis_url:
            port = free_port()
            redis_proc = start_redis(
                port, data_dir=home / "redis", log_file=home / "logs" / "redis.log", password=secrets.redis_password
            )
            redis_url = redis_url_for(port, secrets.redis_password)
        use_local_model = not env.llm_model
        specs = service_specs(redis_url, admin_key, home, secrets=secrets, use_local_model=use_local_model, docs=True)
        for spec in specs:
            typer.echo(f"starting {spec.name:<13} {spec.url}")
            supervisor.start(spec)  # all start at once; readiness is awaited below
        for spec in specs:
            supervisor.wait_ready(spec, ready_timeout)
            typer.echo(f"ready    {spec.name:<13} {spec.url}")
        orchestrator = next(s for s in specs if s.name == "orchestrator")
        api_key = register_agents_and_mint_key(orchestrator.url, admin_key, [s for s in specs if s.register])
        with Client(base_url=orchestrator.url, api_key=api_key) as client:  # first start: the demo store's policies
            seeded = seed_knowledge_base(client, KNOWLEDGE_DIR)
        if seeded:
            typer.echo(f"ingested {seeded} knowledge-base document(s) from {KNOWLEDGE_DIR}")
        state = {
            "url": orchestrator.url,
            "api_key": api_key,
            "admin_key": admin_key,
            "redis_url": redis_url,
            "services": {s.name: s.url for s in specs},
            "pids": supervisor.pids(),
            "supervisor_pid": os.getpid(),
        }
        path = write_state(home, state)
        typer.echo(
            f"\nMeshline is up: {orchestrator.url}\n  API key: {api_key}\n  state:   {path}\n"
            f"  docs:    {orchestrator.url}/docs\n"
            f"  metrics: send 'Authorization: Bearer <{home / 'metrics_token'}>' to /metrics\n"
            f'  try:     meshline chat "hello"\nCtrl-C (or `meshline down`) stops everything.'
        )
        while not stop["requested"]:
            dead = supervisor.dead()
            if dead:
                typer.echo(f"\n{dead[0]} stopped unexpectedly:\n{supervisor.log_tail(dead[0])}", err=True)
                raise typer.Exit(1)
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    except RuntimeError as exc:
        typer.echo(f"meshline up failed: {exc}", err=True)
        raise typer.Exit(1) from exc
    finally:
        typer.echo("stopping the mesh...")
        supervisor.stop_all()
        if redis_proc is not None:
            redis_proc.terminate()
            redis_proc.wait(timeout=10)
        (home / "mesh.json").unlink(missing_ok=True)
        typer.echo("stopped.")


def down() -> None:
    """Stop a mesh started with ``meshline up``."""
    path = mesh_home() / "mesh.json"
    if not path.exists():
        typer.echo("no running mesh found (no .meshline/mesh.json)")
        return
    pid = int(json.loads(path.read_text())["supervisor_pid"])
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        path.unlink(missing_ok=True)
        typer.echo("the mesh was not running; cleaned up its state file")
        return
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.2)
    typer.echo("still stopping; check `meshline status`" if _alive(pid) else "stopped.")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
