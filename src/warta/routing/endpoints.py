"""A recipient's endpoints: where it takes deliveries, one row per address, several of a kind.

An email endpoint holds an address; a webhook endpoint a URL (checked by `delivery.netguard`), its
signing secret and its format; a private feed and a live stream a capability token as their secret.
Secrets and tokens are made here and shown once, in the answer that made (or rotated) them.
Every change counts as a change of the recipient (its `updated_at`), so routing's audience index,
which is rebuilt when recipients change, picks it up.

The recipient's `email`, `webhook_url` and `webhook_format` (API, CSV) are shorthand for its first
endpoint of that channel: given, they set it (adding it where there is none); given empty, they
remove every endpoint of that channel.
"""

from __future__ import annotations

import secrets
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from warta.clock import stamp, utcnow
from warta.config import Settings
from warta.delivery.netguard import UnsafeTarget, check_url_sync
from warta.delivery.signing import new_secret
from warta.errors import NotFound
from warta.intake.sanitize import ContentError, sanitize_text
from warta.model import Endpoint, Recipient
from warta.model.states import EndpointState, RecipientStatus

# channels an editor gives an address for; the feed and the stream get a token instead
ADDRESSED = ("email", "webhook")
FORMATS = ("ninjs", "newsml")


class EndpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channel: Literal["email", "webhook"]
    address: str
    format: Literal["ninjs", "newsml"] | None = None


class EndpointPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    address: str | None = None
    format: Literal["ninjs", "newsml"] | None = None
    state: Literal["active", "disabled"] | None = None


class EndpointError(ContentError):
    """A change the endpoint's channel does not allow (a format for an email address, say)."""


def clean_email(value: str | None, fld: str = "email") -> str | None:
    if not value:
        return None
    value = sanitize_text(value, fld, 320)
    local, _, domain = value.rpartition("@")
    if not local or "." not in domain or " " in value:
        raise ContentError(fld, f"{value!r} is not an email address")
    return value


def clean_webhook(value: str | None, settings: Settings, fld: str = "webhook_url") -> str | None:
    if not value:
        return None
    try:
        check_url_sync(value, settings.webhook_allow)
    except UnsafeTarget as exc:
        raise ContentError(fld, str(exc)) from exc
    return value


def clean_address(channel: str, value: str | None, settings: Settings, fld: str) -> str:
    cleaned = clean_email(value, fld) if channel == "email" else clean_webhook(value, settings, fld)
    if not cleaned:
        raise ContentError(fld, "is required")
    return cleaned


def new_token() -> str:
    """A private feed's or live stream's capability token."""
    return secrets.token_urlsafe(24)


def _touch(recipient: Recipient) -> None:
    recipient.updated_at = utcnow()


def add(
    session: Session,
    recipient: Recipient,
    channel: str,
    address: str | None = None,
    fmt: str | None = None,
) -> Endpoint:
    """A new endpoint of `recipient` (its address already checked), with a fresh secret where its
    channel has one."""
    if channel == "webhook":
        secret: str | None = new_secret()
        fmt = fmt or "ninjs"
    elif channel in ("feed", "stream"):
        secret, fmt = new_token(), None
    else:
        secret, fmt = None, None
    endpoint = Endpoint(recipient=recipient, channel=channel, address=address, format=fmt, secret=secret)
    session.add(endpoint)
    _touch(recipient)
    return endpoint


def add_endpoint(session: Session, settings: Settings, recipient: Recipient, data: EndpointIn) -> Endpoint:
    """An endpoint an editor adds (a second webhook URL, another email address)."""
    address = clean_address(data.channel, data.address, settings, "address")
    if data.channel == "email" and data.format is not None:
        raise EndpointError("format", "an email endpoint has no format")
    endpoint = add(session, recipient, data.channel, address, data.format)
    session.flush()
    return endpoint


def update_endpoint(
    session: Session, settings: Settings, endpoint: Endpoint, patch: EndpointPatch
) -> Endpoint:
    given = patch.model_dump(exclude_unset=True)
    if "address" in given:
        if endpoint.channel not in ADDRESSED:
            raise EndpointError("address", f"a {endpoint.channel} endpoint has a token, not an address")
        endpoint.address = clean_address(endpoint.channel, given["address"], settings, "address")
        if endpoint.channel == "webhook":  # a new URL is vouched for by the editor who gave it
            endpoint.state, endpoint.disabled_reason = EndpointState.ACTIVE, None
    if given.get("format") is not None:
        if endpoint.channel != "webhook":
            raise EndpointError("format", f"a {endpoint.channel} endpoint has no format")
        endpoint.format = given["format"]
    if given.get("state") is not None:
        endpoint.state = given["state"]
        endpoint.disabled_reason = None if given["state"] == EndpointState.ACTIVE else "disabled by an editor"
    endpoint.updated_at = utcnow()
    _touch(endpoint.recipient)
    return endpoint


def remove(endpoint: Endpoint) -> None:
    """No further deliveries to this endpoint; its address and secret are erased, and the ledger
    keeps the row it names."""
    endpoint.state, endpoint.address, endpoint.secret = EndpointState.REMOVED, None, None
    endpoint.updated_at = utcnow()
    _touch(endpoint.recipient)


def enable(endpoint: Endpoint) -> None:
    """An endpoint an operator vouches for again (a resend to a webhook that answered 410)."""
    if endpoint.state == EndpointState.DISABLED:
        endpoint.state, endpoint.disabled_reason = EndpointState.ACTIVE, None
        endpoint.updated_at = utcnow()
        _touch(endpoint.recipient)


def rotate(endpoint: Endpoint) -> str:
    """A new secret (a webhook's) or token (a feed's, a stream's); the old one stops working."""
    endpoint.secret = new_secret() if endpoint.channel == "webhook" else new_token()
    endpoint.updated_at = utcnow()
    _touch(endpoint.recipient)
    return endpoint.secret


def live(recipient: Recipient, channel: str | None = None) -> list[Endpoint]:
    """The recipient's endpoints that are not removed (of one channel), oldest first."""
    return [
        e for e in recipient.endpoints if e.state != EndpointState.REMOVED and channel in (None, e.channel)
    ]


def first(recipient: Recipient, channel: str) -> Endpoint | None:
    found = live(recipient, channel)
    return found[0] if found else None


def apply_shorthand(session: Session, recipient: Recipient, values: dict[str, Any]) -> None:
    """Set the recipient's endpoints from the shorthand fields in `values` (already checked):
    `email`, `webhook_url`, `webhook_format`."""
    for channel, key in (("email", "email"), ("webhook", "webhook_url")):
        if key not in values:
            continue
        address = values[key]
        have = first(recipient, channel)
        if not address:
            for endpoint in live(recipient, channel):
                remove(endpoint)
        elif have is None:
            add(session, recipient, channel, address, values.get("webhook_format"))
        else:
            have.address, have.updated_at = address, utcnow()
            if channel == "webhook":  # as before: a URL given again is used again
                have.state, have.disabled_reason = EndpointState.ACTIVE, None
            _touch(recipient)
    fmt = values.get("webhook_format")
    if fmt is not None:
        for endpoint in live(recipient, "webhook"):
            endpoint.format = fmt
        _touch(recipient)


def remove_all(recipient: Recipient) -> None:
    for endpoint in live(recipient):
        remove(endpoint)


def by_token(session: Session, channel: str, token: str) -> Recipient | None:
    """The recipient whose active feed or stream endpoint has this token."""
    return session.scalar(
        select(Recipient)
        .join(Endpoint, Endpoint.recipient_id == Recipient.id)
        .where(Endpoint.channel == channel, Endpoint.secret == token, Endpoint.state == EndpointState.ACTIVE)
    )


def unsubscribed_address(session: Session, email: str) -> bool:
    """Whether an unsubscribed recipient has this email address (any case)."""
    found = session.scalar(
        select(Endpoint.id)
        .join(Recipient, Recipient.id == Endpoint.recipient_id)
        .where(
            Endpoint.channel == "email",
            func.lower(Endpoint.address) == email.lower(),
            Recipient.status == RecipientStatus.UNSUBSCRIBED,
        )
        .limit(1)
    )
    return found is not None


def get(session: Session, recipient: Recipient, endpoint_id: str) -> Endpoint:
    """One of the recipient's endpoints (not a removed one), or NotFound."""
    endpoint = session.get(Endpoint, endpoint_id)
    if endpoint is None or endpoint.recipient_id != recipient.id or endpoint.state == EndpointState.REMOVED:
        raise NotFound(f"no endpoint {endpoint_id} of recipient {recipient.id}")
    return endpoint


def endpoint_json(e: Endpoint, reveal: bool = False) -> dict[str, Any]:
    """An endpoint as the API shows it; its secret only with `reveal` (the answer that made it)."""
    out: dict[str, Any] = {
        "id": e.id,
        "channel": e.channel,
        "address": e.address,
        "format": e.format,
        "state": e.state,
        "disabled_reason": e.disabled_reason,
        "created_at": stamp(e.created_at),
    }
    if reveal:
        out["secret"] = e.secret
    return out
