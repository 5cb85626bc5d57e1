"""Commerce tool service: catalog, orders, shipments, invoices, returns and refunds."""

from __future__ import annotations

from typing import TYPE_CHECKING

from meshline.exports import lazy_exports

if TYPE_CHECKING:
    from meshline.tools.commerce.app import create_app
    from meshline.tools.commerce.settings import CommerceSettings

__all__ = ["CommerceSettings", "create_app"]
__getattr__ = lazy_exports(
    __name__, {"CommerceSettings": "meshline.tools.commerce.settings", "create_app": "meshline.tools.commerce.app"}
)
