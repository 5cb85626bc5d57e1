"""``create_app``: the CRM tool service."""

from __future__ import annotations

from fastapi import FastAPI

from meshline import __version__
from meshline.tools.crm.models import CRMBase
from meshline.tools.crm.seed import KINDS, generate
from meshline.tools.crm.settings import CRMSettings
from meshline.tools.crm.tools import TOOLS
from meshline.tools.kit import DemoStore, create_tool_app

DESCRIPTION = (
    "The customer's account: profile and contact details, newsletter subscription, and support tickets "
    "(list, open, add a note)."
)


def create_app(settings: CRMSettings | None = None) -> FastAPI:
    settings = settings or CRMSettings()
    demo = DemoStore(settings, lambda tenant: generate(settings.seed, settings.demo_customers, tenant), KINDS)
    return create_tool_app(
        settings=settings,
        tools=TOOLS,
        description=DESCRIPTION,
        version=__version__,
        metadata=[CRMBase.metadata],
        on_startup=demo.seed_listed,
        tenant_setup=demo.tenant_setup,
        outdated_schema=demo.outdated_schema,
    )
