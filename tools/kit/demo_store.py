"""Demo data of the bundled tool services, seeded per tenant: the same customer ids, other people.

Which tenants get demo data is a setting, ``MESHLINE_<SERVICE>_DEMO_TENANTS`` (a JSON list,
default ``["dev"]``, the tenant ``meshline up`` mints its key for): each is seeded at startup.
``"*"`` in the list also seeds any other tenant before its first call (tests and demos that
create tenants on the fly; never for real data). Seeding a tenant is idempotent and safe across
processes: it runs in one write transaction that first checks the tenant has no rows yet, under
the database's write lock (SQLite) or an advisory lock on the tenant (Postgres).

The demo database is recreated when its tables are older than the models (the default SQLite
file under ``.meshline/`` from before tool data carried the tenant would otherwise mix every
tenant into one tenant-less store); a configured ``database_url`` never is: the service stops at
startup naming the outdated tables (``MESHLINE_<SERVICE>_RECREATE_OUTDATED_DEMO_DB=false`` makes
the default file stop too).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pydantic import Field
from sqlalchemy import func, select

from meshline.scoped_keys import join_key
from meshline.tools.kit.calls import TenantSetup
from meshline.tools.kit.database import Database
from meshline.tools.kit.demo_people import DEV_TENANT
from meshline.tools.kit.schema_check import OutdatedSchemaPolicy
from meshline.tools.kit.settings import ToolServiceSettings
from meshline.tools.kit.tenancy import TenantOwned

ANY_TENANT = "*"
Generate = Callable[[str], list[Any]]  # one tenant's rows, tenant and customer set on each


class DemoStoreSettings(ToolServiceSettings):
    seed: int = Field(
        default=7, description="Seed of the demo data; the same in both bundled services keeps names in step."
    )
    demo_customers: int = Field(default=300, ge=0, le=100_000)
    demo_tenants: list[str] = Field(
        default_factory=lambda: [DEV_TENANT],
        description='Tenants seeded with demo data at startup; "*" also seeds any tenant on its first call.',
    )
    recreate_outdated_demo_db: bool = Field(
        default=True,
        description="Recreate (and re-seed) the default SQLite demo database when its tables are outdated; "
        "a configured database_url is never recreated.",
    )


class DemoStore:
    """Seeds one service's demo tenants: ``kinds`` in insertion order (parents first), the first
    of them telling whether a tenant is seeded already."""

    def __init__(self, settings: DemoStoreSettings, generate: Generate, kinds: Sequence[type[TenantOwned]]) -> None:
        self.settings = settings
        self.generate = generate
        self.kinds = list(kinds)

    @property
    def outdated_schema(self) -> OutdatedSchemaPolicy:
        demo_file = self.settings.database_url is None and self.settings.recreate_outdated_demo_db
        return "recreate" if demo_file else "error"

    @property
    def tenant_setup(self) -> TenantSetup | None:
        return self.seed_tenant if ANY_TENANT in self.settings.demo_tenants else None

    async def seed_listed(self, database: Database) -> None:
        """Startup: every listed tenant (``*`` is not a tenant)."""
        for tenant in self.settings.demo_tenants:
            if tenant != ANY_TENANT:
                await self.seed_tenant(database, tenant)

    async def seed_tenant(self, database: Database, tenant: str) -> bool:
        """Fill ``tenant``'s part of the store unless it has one; True when it did."""
        marker = self.kinds[0]
        async with database.writing(lock_key=join_key("demo-seed", tenant)) as session:
            count = await session.scalar(select(func.count()).select_from(marker).where(marker.tenant == tenant))
            if count:
                return False
            rows = self.generate(tenant)
            # Parents first: without relationships the unit of work does not order inserts by foreign key.
            for kind in self.kinds:
                session.add_all([r for r in rows if type(r) is kind])
                await session.flush()
            await session.commit()
        return True
