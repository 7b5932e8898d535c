"""Editions: one language version of a release version; rendering of the wire text around it."""
