"""An example MCP server (stdio) behind Interlock's MCP gateway: a tiny customer directory.

Declare it under ``mcp.servers`` and register the tools it serves under ``tools:`` (with ``server: crm``);
Interlock lists each caller only the tools policy lets it use, pins their descriptions, checks every
call's arguments and scans every result before the client sees it.
"""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer

server = MCPServer("crm")

CUSTOMERS = {
    "c-100": {"name": "Jane Doe", "email": "jane.doe@example.com", "tier": "gold"},
    "c-200": {"name": "Omar Haddad", "email": "omar@example.org", "tier": "silver"},
}


@server.tool()
def lookup_customer(customer_id: str) -> str:
    """Look up a customer by id: name, e-mail address and tier."""
    customer = CUSTOMERS.get(customer_id)
    if customer is None:
        return f"no customer {customer_id}"
    return f"{customer['name']} <{customer['email']}>, tier {customer['tier']}"


@server.tool()
def update_tier(customer_id: str, tier: str) -> str:
    """Change a customer's tier (bronze, silver, gold)."""
    if customer_id not in CUSTOMERS:
        return f"no customer {customer_id}"
    CUSTOMERS[customer_id]["tier"] = tier
    return f"{customer_id} is now {tier}"


if __name__ == "__main__":
    server.run()
