"""Interlock: the runtime control layer between AI callers and models and tools."""

__version__ = "0.1.0"
