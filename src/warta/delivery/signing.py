"""Standard Webhooks 1.0.0 signatures (symmetric, ``v1``).

The signed content is ``{webhook-id}.{webhook-timestamp}.{body}`` over the exact bytes sent. The
key is the base64 part of a ``whsec_`` secret; the signature is ``v1,`` followed by the base64 of
HMAC-SHA256 over the signed content. A ``webhook-signature`` header holds one or more such entries,
separated by spaces, so that a receiver can accept either key during a secret rotation.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping

__all__ = ["SECRET_PREFIX", "InvalidSignature", "headers", "new_secret", "sign", "verify"]

SECRET_PREFIX = "whsec_"
VERSION = "v1"
TOLERANCE = 300  # seconds a timestamp may lie in the past or the future


class InvalidSignature(ValueError):
    """A webhook that does not verify: missing headers, stale timestamp or no matching signature."""


def new_secret(size: int = 32) -> str:
    """A fresh signing secret, ``whsec_`` and the base64 of ``size`` random bytes (24 to 64)."""
    if not 24 <= size <= 64:
        raise ValueError("a webhook secret has 24 to 64 random bytes")
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(size)).decode("ascii")


def _key(secret: str) -> bytes:
    encoded = secret.strip().removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("webhook secret is not base64 after the whsec_ prefix") from exc
    if not key:
        raise ValueError("webhook secret is empty")
    return key


def _body(payload: bytes | str) -> bytes:
    return payload.encode("utf-8") if isinstance(payload, str) else payload


def _digest(key: bytes, msg_id: str, timestamp: int, payload: bytes) -> bytes:
    content = f"{msg_id}.{timestamp}.".encode() + payload
    return hmac.new(key, content, hashlib.sha256).digest()


def sign(secret: str, msg_id: str, timestamp: int, payload: bytes | str) -> str:
    """The ``v1,<base64>`` signature of one message."""
    digest = _digest(_key(secret), msg_id, int(timestamp), _body(payload))
    return f"{VERSION},{base64.b64encode(digest).decode('ascii')}"


def headers(secret: str, msg_id: str, payload: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The three ``webhook-*`` headers for one attempt (timestamp: now unless given)."""
    ts = int(time.time()) if timestamp is None else int(timestamp)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": sign(secret, msg_id, ts, payload),
    }


def verify(
    secret: str,
    headers: Mapping[str, str],
    payload: bytes | str,
    tolerance: int = TOLERANCE,
    *,
    now: float | None = None,
) -> None:
    """Check a received webhook; raise `InvalidSignature` unless one ``v1`` entry matches.

    Header names are matched without regard to case. The timestamp must lie within ``tolerance``
    seconds of ``now`` (the current time unless given), before or after.
    """
    key = _key(secret)
    found = {name.lower(): value for name, value in headers.items()}
    msg_id = found.get("webhook-id")
    stamp = found.get("webhook-timestamp")
    signatures = found.get("webhook-signature")
    if not msg_id or not stamp or not signatures:
        raise InvalidSignature("missing webhook-id, webhook-timestamp or webhook-signature header")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise InvalidSignature("webhook-timestamp is not an integer") from None
    current = time.time() if now is None else now
    if timestamp < current - tolerance:
        raise InvalidSignature("webhook-timestamp is too old")
    if timestamp > current + tolerance:
        raise InvalidSignature("webhook-timestamp is in the future")
    expected = base64.b64encode(_digest(key, msg_id, timestamp, _body(payload)))
    for entry in signatures.split(" "):
        version, _, encoded = entry.partition(",")
        if version == VERSION and hmac.compare_digest(encoded.encode("utf-8"), expected):
            return
    raise InvalidSignature("no matching signature")
