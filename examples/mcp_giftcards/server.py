"""An MCP server that is not a Meshline service: gift cards, written with the ``mcp`` package alone.

It stands for the MCP servers people already run. Meshline registers it by URL, lists its tools
over MCP and lets agents call them: ``check_balance`` is annotated read-only, so it runs when the
model asks; ``redeem`` says nothing about side effects, so the agent asks the user first.

Run:  python examples/mcp_giftcards/server.py --port 9310
Then: meshline register http://127.0.0.1:9310/mcp
"""

from __future__ import annotations

import argparse

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import BaseModel

SEED_BALANCES = {"GIFT-1000": 5000, "GIFT-2000": 2500}  # cents


class Balance(BaseModel):
    code: str
    balance_cents: int


def create_server() -> MCPServer:
    """A fresh server with its own in-memory cards (the state of a real one lives elsewhere)."""
    server = MCPServer("Gift Cards", version="1.0.0", instructions="Gift card balances and redemptions.")
    balances = dict(SEED_BALANCES)

    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    def check_balance(code: str) -> Balance:
        """The remaining balance of a gift card, by its code."""
        if code not in balances:
            raise ToolError(f"no gift card {code}")
        return Balance(code=code, balance_cents=balances[code])

    @server.tool()
    def redeem(code: str, amount_cents: int) -> Balance:
        """Take an amount off a gift card; returns what is left."""
        if not 0 < amount_cents <= balances.get(code, 0):
            raise ToolError(f"cannot redeem {amount_cents} from {code}")
        balances[code] -= amount_cents
        return Balance(code=code, balance_cents=balances[code])

    return server


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9310)
    args = parser.parse_args()
    create_server().run("streamable-http", host=args.host, port=args.port)
