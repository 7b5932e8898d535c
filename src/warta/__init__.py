"""Warta: a self-hosted, multilingual newswire."""

__version__ = "0.1.0"
