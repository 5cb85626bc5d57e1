"""Demo data per tenant, and databases from before tool data carried the tenant (real SQLite files)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from meshline.testing.asgi import asgi_client
from meshline.tools.crm.app import create_app as create_crm
from meshline.tools.crm.settings import CRMSettings
from meshline.tools.kit.schema_check import OutdatedSchema
from tests.tools.tool_processes import DATABASE_URL, postgres_database

Auth = Callable[..., dict[str, str]]


@asynccontextmanager
async def crm_service(settings: CRMSettings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_crm(settings)
    async with asgi_client(app, "http://crm.test") as http:
        yield http


def old_crm_file(path: Path) -> None:
    """A CRM database as the previous version made it: rows keyed by id alone, no tenant."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA foreign_keys=ON")
        db.execute(
            "CREATE TABLE customers (id VARCHAR(64) PRIMARY KEY, name VARCHAR(200), email VARCHAR(200), "
            "phone VARCHAR(64), tier VARCHAR(16), newsletter BOOLEAN, since DATETIME)"
        )
        db.execute(
            "CREATE TABLE tickets (id VARCHAR(32) PRIMARY KEY, customer_id VARCHAR(64) REFERENCES customers (id), "
            "subject VARCHAR(200), status VARCHAR(16), created_at DATETIME)"
        )
        db.execute(
            "CREATE TABLE notes (id INTEGER PRIMARY KEY, ticket_id VARCHAR(32) REFERENCES tickets (id), "
            "author VARCHAR(64), body TEXT, created_at DATETIME)"
        )
        db.execute("INSERT INTO customers VALUES ('dev', 'Old Dev', 'old@example.com', '1', 'gold', 0, '2024-01-01')")
        db.execute("INSERT INTO tickets VALUES ('tkt-00001', 'dev', 'Old', 'open', '2024-01-02')")
        db.execute("INSERT INTO notes VALUES (1, 'tkt-00001', 'customer', 'old note', '2024-01-02')")


async def profile(http: httpx.AsyncClient, auth: Auth, tenant: str, user: str = "dev") -> httpx.Response:
    return await http.post("/v1/tools/get_my_profile", json={}, headers=auth(tenant=tenant, user=user))


async def test_an_outdated_demo_file_is_recreated_and_reseeded(mesh_env: dict[str, str], auth: Auth) -> None:
    settings = CRMSettings(demo_customers=3)
    old_crm_file(Path(settings.resolved_database_url().removeprefix("sqlite+aiosqlite:///")))
    async with crm_service(settings) as http:
        mine = await profile(http, auth, "dev")
        assert mine.status_code == 200 and mine.json()["email"] == "dev@example.com"  # the new demo data
        tickets = (await http.post("/v1/tools/list_my_tickets", json={}, headers=auth())).json()["tickets"]
        assert [n["body"] for t in tickets for n in t["notes"]] == ["Opened by the customer."]


async def test_a_current_postgres_database_starts_again(mesh_env: dict[str, str], auth: Auth) -> None:
    """The schema check reads Postgres's own catalog right: no false alarm on a restart."""
    if not DATABASE_URL:
        pytest.skip("set DATABASE_URL to a PostgreSQL server")
    with postgres_database() as url:
        settings = CRMSettings(demo_customers=3, database_url=url, demo_tenants=["dev", "acme"])
        async with crm_service(settings) as http:
            first = (await profile(http, auth, "acme")).json()
        async with crm_service(settings) as http:
            assert (await profile(http, auth, "acme")).json() == first


async def test_an_outdated_configured_database_stops_the_service(mesh_env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "kept.sqlite"
    old_crm_file(path)
    settings = CRMSettings(demo_customers=3, database_url=f"sqlite+aiosqlite:///{path}")
    with pytest.raises(OutdatedSchema) as stopped:
        async with crm_service(settings):
            pass
    assert "customers lacks customer_id, tenant" in str(stopped.value)
    with sqlite3.connect(path) as db:  # nothing was dropped
        assert db.execute("SELECT name FROM customers").fetchall() == [("Old Dev",)]


async def test_the_same_customer_id_is_another_person_in_each_demo_tenant(mesh_env: dict[str, str], auth: Auth) -> None:
    async with crm_service(CRMSettings(demo_customers=3, demo_tenants=["dev", "acme"])) as http:
        dev, acme = (await profile(http, auth, "dev")).json(), (await profile(http, auth, "acme")).json()
        assert dev["id"] == acme["id"] == "dev" and dev["name"] == "Dev Tester"
        assert (acme["name"], acme["email"]) != (dev["name"], dev["email"])
        unlisted = await profile(http, auth, "newco")
        assert unlisted.status_code == 404 and unlisted.json()["code"] == "customer_not_found"


async def test_any_tenant_is_seeded_on_its_first_call_with_a_star(mesh_env: dict[str, str], auth: Auth) -> None:
    settings = CRMSettings(demo_customers=3, demo_tenants=["dev", "*"])
    async with crm_service(settings) as http:
        first = await profile(http, auth, "newco")
        assert first.status_code == 200 and first.json()["id"] == "dev"
        again = await profile(http, auth, "newco", user="cust-0003")
        assert again.status_code == 200 and again.json()["id"] == "cust-0003"
        assert (await profile(http, auth, "dev")).json()["name"] == "Dev Tester"
    async with crm_service(settings) as http:  # a restart seeds nothing twice and keeps what it had
        assert (await profile(http, auth, "newco")).json() == first.json()
