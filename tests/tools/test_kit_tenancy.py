"""The kit scopes every ORM statement of a tool to the token's tenant and customer, whatever the tool wrote.

The tools below, over the commerce service's tables (a tenant-owned catalog, customer-owned
orders), filter nothing on purpose: each reads, counts, updates or deletes "everything", and still
only reaches the caller's rows, on SQLite and (with ``DATABASE_URL``) Postgres.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import BaseModel
from sqlalchemy import delete, func, select, update

from meshline.testing.asgi import asgi_client
from meshline.tools.commerce.models import CommerceBase, Order, OrderItem, Product, Refund, Return
from meshline.tools.commerce.seed import KINDS, generate
from meshline.tools.commerce.settings import CommerceSettings
from meshline.tools.kit import Database, TenantScope, ToolContext, create_tool_app, tool
from meshline.tools.kit.database import customer_lock_key
from meshline.tools.kit.demo_store import DemoStore
from tests.tools.tool_processes import DATABASE_URL, postgres_database
from tests.tools.tool_tokens import tool_headers

SERVICE = "unfiltered"
TENANTS = ("t1", "t2")
Call = Callable[..., Any]


class NoArgs(BaseModel):
    pass


class Change(BaseModel):
    text: str = "x"
    order_id: str = ""


class Key(BaseModel):
    owner: str
    id: str


class Found(BaseModel):
    found: bool


class Seen(BaseModel):
    orders: list[str]
    products: int
    items: list[str]
    joined: list[str]


class Done(BaseModel):
    changed: int = 0


@tool()
async def see_everything(args: NoArgs, ctx: ToolContext) -> Seen:
    """Reads with no filter at all: a select, a count, a relationship load and a join."""
    orders = (await ctx.session.scalars(select(Order).order_by(Order.id))).all()
    products = await ctx.session.scalar(select(func.count()).select_from(Product))
    joined = await ctx.session.scalars(select(OrderItem.product_id).join(Order, Order.id == OrderItem.order_id))
    return Seen(
        orders=[f"{o.tenant}/{o.customer_id}/{o.id}" for o in orders],
        products=int(products or 0),
        items=sorted(i.product_id for o in orders for i in o.items),
        joined=sorted(joined.all()),
    )


@tool()
async def get_product_by_key(args: Key, ctx: ToolContext) -> Found:
    """``session.get`` by a full primary key, the tenant taken from the arguments (a buggy tool)."""
    return Found(found=await ctx.session.get(Product, (args.owner, args.id)) is not None)


@tool(side_effects=True)
async def readdress_everything(args: Change, ctx: ToolContext) -> Done:
    """An ORM UPDATE with no WHERE clause."""
    result = await ctx.session.execute(update(Order).values(shipping_address=args.text))
    return Done(changed=getattr(result, "rowcount", 0))


@tool(side_effects=True)
async def delete_every_refund(args: NoArgs, ctx: ToolContext) -> Done:
    """An ORM DELETE with no WHERE clause."""
    result = await ctx.session.execute(delete(Refund))
    return Done(changed=getattr(result, "rowcount", 0))


def new_return(args: Change, **owner: str) -> Return:
    when = datetime.now(UTC)
    return Return(**owner, id=args.text, order_id=args.order_id, reason="r", status="requested", created_at=when)


@tool(side_effects=True)
async def add_return(args: Change, ctx: ToolContext) -> Done:
    """A new row naming neither tenant nor customer: the kit stamps both."""
    ctx.session.add(new_return(args))
    await ctx.session.flush()
    return Done(changed=1)


@tool(side_effects=True)
async def add_return_for_t1(args: Change, ctx: ToolContext) -> Done:
    """A buggy tool that writes a row for a tenant and customer of its own choosing."""
    ctx.session.add(new_return(args, tenant="t1", customer_id="dev"))
    await ctx.session.flush()
    return Done(changed=1)


@tool(side_effects=True)
async def give_order_away(args: Change, ctx: ToolContext) -> Done:
    """A buggy tool that moves the caller's own order to another customer."""
    order = await ctx.session.scalar(select(Order).where(Order.id == args.order_id))
    assert order is not None
    order.customer_id = args.text
    await ctx.session.flush()
    return Done(changed=1)


TOOLS = [
    see_everything,
    get_product_by_key,
    readdress_everything,
    delete_every_refund,
    add_return,
    add_return_for_t1,
    give_order_away,
]


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "postgres":
        if not DATABASE_URL:
            pytest.skip("set DATABASE_URL to a PostgreSQL server")
        with postgres_database() as url:
            yield url
        return
    yield f"sqlite+aiosqlite:///{tmp_path / 'unfiltered.sqlite'}"


@pytest.fixture
async def service(mesh_env: dict[str, str], database_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, Database]]:
    database = Database(database_url)
    settings = CommerceSettings(name=SERVICE, database_url=database_url, demo_customers=3, demo_tenants=list(TENANTS))
    demo = DemoStore(settings, lambda tenant: generate(settings.seed, settings.demo_customers, tenant), KINDS)
    app = create_tool_app(
        settings=settings,
        tools=TOOLS,
        description="t",
        metadata=[CommerceBase.metadata],
        on_startup=demo.seed_listed,
        database=database,
    )
    async with AsyncExitStack() as stack:
        http = await stack.enter_async_context(asgi_client(app, "http://kit.test"))
        stack.push_async_callback(database.dispose)
        yield http, database


@pytest.fixture
def call(service: tuple[httpx.AsyncClient, Database], token_keys: tuple[str, str]) -> Call:
    http = service[0]

    async def run(tool_name: str, tenant: str, customer: str, key: str | None = None, **args: Any) -> Any:
        headers = tool_headers(token_keys[0], SERVICE, key=key, tenant=tenant, user=customer)
        return await http.post(f"/v1/tools/{tool_name}", json=args, headers=headers)

    return run


async def truth(database: Database) -> dict[str, Any]:
    """Every row, read by an unscoped session (startup work), with the filters written out."""
    async with database.session() as session:
        orders = (await session.scalars(select(Order).order_by(Order.tenant, Order.id))).all()
        refunds = (await session.scalars(select(Refund.id).order_by(Refund.tenant, Refund.id))).all()
        returns = (await session.scalars(select(Return).order_by(Return.tenant, Return.id))).all()
        products = await session.scalars(select(Product.tenant))
        return {
            "orders": {
                (o.tenant, o.customer_id, o.id, o.shipping_address): [i.product_id for i in o.items] for o in orders
            },
            "refunds": list(refunds),
            "returns": [(r.tenant, r.customer_id, r.id) for r in returns],
            "products": sorted(products.all()),
        }


def owned(rows: dict[tuple[str, str, str, str], list[str]], tenant: str, customer: str) -> list[tuple[str, ...]]:
    return [key for key in rows if key[:2] == (tenant, customer)]


async def test_a_tool_without_filters_reads_only_its_callers_rows(
    call: Call, service: tuple[httpx.AsyncClient, Database]
) -> None:
    everything = await truth(service[1])
    assert {key[0] for key in everything["orders"]} == set(TENANTS)  # both tenants have orders...
    for tenant in TENANTS:
        for customer in ("dev", "cust-0001"):
            seen = (await call("see_everything", tenant, customer)).json()
            mine = owned(everything["orders"], tenant, customer)
            assert seen["orders"] == sorted(f"{t}/{c}/{o}" for t, c, o, _ in mine)  # ...each sees its own
            items = sorted(p for key in mine for p in everything["orders"][key])
            assert seen["items"] == items and seen["joined"] == items  # relationship load and join scoped too
            assert seen["products"] == everything["products"].count(tenant)  # the tenant's whole catalog
    stranger = (await call("see_everything", "t3", "dev")).json()
    assert stranger == {"orders": [], "products": 0, "items": [], "joined": []}
    async with service[1].session() as session:
        product = await session.scalar(select(Product.id).where(Product.tenant == "t1").limit(1))
    for tenant, found in (("t1", True), ("t2", False)):
        got = (await call("get_product_by_key", tenant, "dev", owner="t1", id=product)).json()
        assert got == {"found": found}


async def test_unfiltered_updates_and_deletes_touch_only_the_callers_rows(
    call: Call, service: tuple[httpx.AsyncClient, Database]
) -> None:
    database = service[1]
    before = await truth(database)
    readdressed = await call("readdress_everything", "t2", "dev", key="r1", text="mine now")
    assert readdressed.status_code == 200
    assert readdressed.json()["changed"] == len(owned(before["orders"], "t2", "dev"))
    deleted = await call("delete_every_refund", "t1", "dev", key="d1")
    assert deleted.status_code == 200 and deleted.json()["changed"] >= 1  # dev's returned order was refunded
    after = await truth(database)
    expected = {
        (t, c, o, "mine now" if (t, c) == ("t2", "dev") else address): items
        for (t, c, o, address), items in before["orders"].items()
    }
    assert after["orders"] == expected
    assert len(after["refunds"]) == len(before["refunds"]) - deleted.json()["changed"]
    async with database.session() as session:  # the other tenant's dev kept its refund
        assert await session.scalar(select(func.count()).select_from(Refund).where(Refund.tenant == "t2"))


async def test_new_rows_are_stamped_and_foreign_rows_refused(
    call: Call, service: tuple[httpx.AsyncClient, Database]
) -> None:
    database = service[1]
    order = owned((await truth(database))["orders"], "t2", "dev")[0][2]
    added = await call("add_return", "t2", "dev", key="a1", text="ret-new", order_id=order)
    assert added.status_code == 200
    assert ("t2", "dev", "ret-new") in (await truth(database))["returns"]
    before = await truth(database)
    foreign = await call("add_return_for_t1", "t2", "dev", key="a2", text="ret-planted", order_id=order)
    assert foreign.status_code == 403 and foreign.json()["code"] == "foreign_row_write"
    assert foreign.headers["content-type"] == "application/problem+json"
    moved = await call("give_order_away", "t2", "dev", key="a3", text="cust-0001", order_id=order)
    assert moved.status_code == 403 and moved.json()["code"] == "foreign_row_write"
    assert await truth(database) == before  # both rolled back


def test_the_write_lock_is_per_customer_of_a_tenant() -> None:
    keys = {customer_lock_key(TenantScope(t, c)) for t, c in (("a", "b:c"), ("a:b", "c"), ("x", "dev"), ("y", "dev"))}
    assert len(keys) == 4
