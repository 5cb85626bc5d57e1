"""Registering replicas: the same tools join as a replica; other tool schemas under a taken name are refused."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from pydantic import BaseModel
from redis.asyncio import Redis

from meshline.errors import Conflict
from meshline.orchestrator.registry import ServiceRegistry
from meshline.resilience.address_guard import AddressGuard
from meshline.testing.serve import serve_in_thread
from meshline.tools.kit import ToolContext, ToolDef, ToolServiceSettings, create_tool_app, tool

LOOPBACK = ["127.0.0.0/8"]  # the test servers' addresses: allow-listed, as `meshline up` does


class Query(BaseModel):
    text: str


class Answer(BaseModel):
    text: str


class Other(BaseModel):
    number: int


@tool()
async def echo(args: Query, ctx: ToolContext) -> Answer:
    """Echo the text."""
    return Answer(text=args.text)


@tool(name="echo")
async def echo_number(args: Other, ctx: ToolContext) -> Answer:
    """Echo a number."""
    return Answer(text=str(args.number))


def tool_app(tmp_path: Path, variant: str, fn: ToolDef) -> FastAPI:
    settings = ToolServiceSettings(name="echo-tools", database_url=f"sqlite+aiosqlite:///{tmp_path / variant}.sqlite")
    return create_tool_app(settings=settings, tools=[fn], description="echoes")


async def test_replicas_must_share_tool_schemas(mesh_env: dict[str, str], redis_url: str, tmp_path: Path) -> None:
    redis = Redis.from_url(redis_url)
    registry = ServiceRegistry(redis, guard=AddressGuard(LOOPBACK))
    try:
        with (
            serve_in_thread(tool_app(tmp_path, "a", echo), lifespan="on") as first,
            serve_in_thread(tool_app(tmp_path, "b", echo), lifespan="on") as replica,
            serve_in_thread(tool_app(tmp_path, "c", echo_number), lifespan="on") as different,
        ):
            await registry.register(first)
            entry = await registry.register(replica)
            assert [i.url for i in entry.instances] == sorted([first, replica])
            try:
                await registry.register(different)
            except Conflict as exc:
                assert exc.status == 409 and exc.code == "schema_conflict"
            else:
                raise AssertionError("a different schema under a registered name must be refused")
            after = await registry.get("echo-tools")
            assert after is not None and len(after.instances) == 2
            assert after.manifest.tools[0].input_schema["properties"].keys() == {"text"}, "registry unchanged"
    finally:
        await registry.aclose()
        await redis.aclose()
