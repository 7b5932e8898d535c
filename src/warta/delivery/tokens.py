"""Signed tokens in URLs: one-click unsubscribe links that need no login and cannot be forged."""

from __future__ import annotations

import functools
import hashlib
import hmac

from warta.config import Settings


def _sig(settings: Settings, purpose: str, subject: str) -> str:
    # one link per email sent: the keyed HMAC is set up once per secret and copied for each
    mac = _keyed(settings.secret).copy()
    mac.update(f"{purpose}:{subject}".encode())
    return mac.hexdigest()[:32]


@functools.lru_cache(maxsize=4)
def _keyed(secret: str) -> hmac.HMAC:
    return hmac.new(secret.encode(), digestmod=hashlib.sha256)


def unsubscribe_token(settings: Settings, recipient_id: str) -> str:
    return f"{recipient_id}.{_sig(settings, 'unsubscribe', recipient_id)}"


def unsubscribe_url(settings: Settings, recipient_id: str) -> str:
    """RFC 8058 one-click target: a POST here unsubscribes; a GET shows a confirmation button."""
    return f"{settings.base_url}/unsubscribe/{unsubscribe_token(settings, recipient_id)}"


def check_unsubscribe_token(settings: Settings, token: str) -> str | None:
    """The recipient id if the token is genuine."""
    recipient_id, _, sig = token.partition(".")
    if not recipient_id or not hmac.compare_digest(sig, _sig(settings, "unsubscribe", recipient_id)):
        return None
    return recipient_id
