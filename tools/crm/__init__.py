"""CRM tool service: the customer profile, contact details, newsletter and support tickets."""

from __future__ import annotations

from typing import TYPE_CHECKING

from meshline.exports import lazy_exports

if TYPE_CHECKING:
    from meshline.tools.crm.app import create_app
    from meshline.tools.crm.settings import CRMSettings

__all__ = ["CRMSettings", "create_app"]
__getattr__ = lazy_exports(
    __name__, {"CRMSettings": "meshline.tools.crm.settings", "create_app": "meshline.tools.crm.app"}
)
