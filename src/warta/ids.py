"""Identifiers: time-ordered, URL-safe, unguessable."""

from __future__ import annotations

import base64
import secrets
import time

# RFC 4648 base32 digits, mapped to Crockford's lower-case alphabet (same order, so ids sort by time)
_TO_CROCKFORD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "0123456789abcdefghjkmnpqrstvwxyz")


def new_id(prefix: str = "") -> str:
    """A 26-character id that sorts by creation time: 48-bit millisecond clock, 80 random bits."""
    raw = int(time.time() * 1000).to_bytes(6, "big") + secrets.token_bytes(10)
    return prefix + base64.b32encode(raw).decode("ascii")[:26].translate(_TO_CROCKFORD)
