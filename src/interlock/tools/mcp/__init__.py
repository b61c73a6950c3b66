"""The MCP gateway at ``/mcp``: upstream sessions, the catalog of pinned tools, result inspection, records.

The package imports nothing itself: the modules that speak MCP load the ``mcp`` SDK, which a deployment
without MCP servers never needs.
"""
