"""Signed tokens in URLs: one-click unsubscribe links that need no login and cannot be forged."""

from __future__ import annotations

import hashlib
import hmac

from warta.config import Settings


def _sig(settings: Settings, purpose: str, subject: str) -> str:
    # one call into OpenSSL: one link per email sent, so the HMAC object's set-up would show
    return hmac.digest(settings.secret.encode(), f"{purpose}:{subject}".encode(), hashlib.sha256).hex()[:32]


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
