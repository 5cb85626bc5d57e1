"""``create_app``: the commerce tool service."""

from __future__ import annotations

from fastapi import FastAPI

from meshline import __version__
from meshline.tools.commerce.models import CommerceBase
from meshline.tools.commerce.seed import KINDS, generate
from meshline.tools.commerce.settings import CommerceSettings
from meshline.tools.commerce.tools import TOOLS
from meshline.tools.kit import DemoStore, create_tool_app

DESCRIPTION = (
    "The shop's catalog and the customer's orders: search products, list and look up orders, track shipments, "
    "cancel or redirect pending orders, start returns, issue refunds and fetch invoices."
)


def create_app(settings: CommerceSettings | None = None) -> FastAPI:
    settings = settings or CommerceSettings()
    demo = DemoStore(settings, lambda tenant: generate(settings.seed, settings.demo_customers, tenant), KINDS)

    return create_tool_app(
        settings=settings,
        tools=TOOLS,
        description=DESCRIPTION,
        version=__version__,
        metadata=[CommerceBase.metadata],
        on_startup=demo.seed_listed,
        tenant_setup=demo.tenant_setup,
        outdated_schema=demo.outdated_schema,
    )
