"""Tools agents call: the registry, the gate every call passes, and the MCP gateway."""

from interlock.tools.gate import ToolGate, ToolVerdict
from interlock.tools.registry import RegisteredTool, ToolRegistry

__all__ = ["RegisteredTool", "ToolGate", "ToolRegistry", "ToolVerdict"]
