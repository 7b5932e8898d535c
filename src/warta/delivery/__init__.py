"""Delivery: the ledger, the engine that works it, and the channels (email, webhook, stream)."""
