"""The ASGI application: JSON API, newsroom pages, feeds."""
