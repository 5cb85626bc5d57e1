"""The tool-service kit: typed async Python functions become a Meshline tool service.

A tool is ``async def name(args: InModel, ctx: ToolContext) -> OutModel`` decorated with
:func:`tool`; :func:`create_tool_app` serves a list of them with a manifest, service-token
auth (scope ``tools:call``, audience = the service's registry name), problem+json errors and
durable idempotency for side-effecting tools, over HTTP and MCP.

Tenancy, for anyone writing a tool service: the service token's ``tenant`` claim is the business
the call is for and its ``sub`` (``ctx.customer``) that tenant's end user. Partition all data by
the tenant (customer ids repeat across tenants) and never trust a tenant or customer id in the
arguments. Tables that inherit :class:`TenantOwned` or :class:`CustomerOwned` get this from the
kit: the session a tool receives sees, and writes, only the caller's rows (see
:mod:`meshline.tools.kit.tenancy`). Raw SQL and Core statements are the tool's own
responsibility: filter them by ``ctx.tenant`` and ``ctx.customer``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from meshline.exports import lazy_exports

if TYPE_CHECKING:
    from meshline.tools.kit.app import create_tool_app
    from meshline.tools.kit.database import Database
    from meshline.tools.kit.demo_people import demo_id_code, demo_people, tenant_seed
    from meshline.tools.kit.demo_store import DemoStore, DemoStoreSettings
    from meshline.tools.kit.settings import ToolServiceSettings
    from meshline.tools.kit.tenancy import CustomerOwned, TenantOwned, TenantScope
    from meshline.tools.kit.tool import ToolContext, ToolDef, tool

__all__ = [
    "CustomerOwned",
    "Database",
    "DemoStore",
    "DemoStoreSettings",
    "TenantOwned",
    "TenantScope",
    "ToolContext",
    "ToolDef",
    "ToolServiceSettings",
    "create_tool_app",
    "demo_id_code",
    "demo_people",
    "tenant_seed",
    "tool",
]
__getattr__ = lazy_exports(
    __name__,
    {
        "CustomerOwned": "meshline.tools.kit.tenancy",
        "Database": "meshline.tools.kit.database",
        "DemoStore": "meshline.tools.kit.demo_store",
        "DemoStoreSettings": "meshline.tools.kit.demo_store",
        "TenantOwned": "meshline.tools.kit.tenancy",
        "TenantScope": "meshline.tools.kit.tenancy",
        "ToolContext": "meshline.tools.kit.tool",
        "ToolDef": "meshline.tools.kit.tool",
        "ToolServiceSettings": "meshline.tools.kit.settings",
        "create_tool_app": "meshline.tools.kit.app",
        "demo_id_code": "meshline.tools.kit.demo_people",
        "demo_people": "meshline.tools.kit.demo_people",
        "tenant_seed": "meshline.tools.kit.demo_people",
        "tool": "meshline.tools.kit.tool",
    },
)
