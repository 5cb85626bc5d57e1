"""The tool-service kit: typed async Python functions become a Meshline tool service.

A tool is ``async def name(args: InModel, ctx: ToolContext) -> OutModel`` decorated with
:func:`tool`; :func:`create_tool_app` serves a list of them with a manifest, service-token
auth, problem+json errors and durable idempotency for side-effecting tools.
"""

from meshline.tools.kit.app import create_tool_app
from meshline.tools.kit.database import Database
from meshline.tools.kit.settings import ToolServiceSettings
from meshline.tools.kit.tool import ToolContext, ToolDef, tool

__all__ = ["Database", "ToolContext", "ToolDef", "ToolServiceSettings", "create_tool_app", "tool"]
