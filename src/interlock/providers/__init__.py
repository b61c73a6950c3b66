"""Upstream model providers and the built-in mock model."""
