"""Recipients, circuits and alerts: validation shared by the API and the CSV import."""

from __future__ import annotations

import zoneinfo
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from warta import formats
from warta.clock import stamp, utcnow
from warta.config import Settings
from warta.editions.sectors import normalise_sector
from warta.intake.keys import slugify
from warta.intake.sanitize import ContentError, sanitize_text
from warta.intake.submission import clean_country, clean_language
from warta.model import Alert, Circuit, Delivery, Recipient, Release
from warta.model.states import DeliveryState, EndpointState, RecipientStatus, ReleaseStatus
from warta.routing import endpoints
from warta.routing.alerts import QueryError, parse
from warta.routing.endpoints import clean_email, clean_webhook

KINDS = ("outlet", "journalist", "desktop")
# a recipient's fields that stand for its first endpoint of a channel (`warta.routing.endpoints`)
SHORTHAND = ("email", "webhook_url", "webhook_format")
MODES = ("realtime", "hourly", "daily")


def _webhook_format(value: str) -> str:
    """A format the registry offers for webhooks."""
    allowed = formats.names(webhooks=True)
    if value not in allowed:
        raise ValueError(f"must be one of: {', '.join(allowed)}")
    return value


WebhookFormat = Annotated[
    str,
    AfterValidator(_webhook_format),
    Field(json_schema_extra={"enum": list(formats.names(webhooks=True))}),
]


class RecipientIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["outlet", "journalist", "desktop"]
    name: str
    country: str
    languages: list[str] = Field(default_factory=list, description="BCP 47, in order of preference")
    sectors: list[str] = Field(default_factory=list, description="empty: every sector")
    email: str | None = None
    webhook_url: str | None = None
    webhook_format: WebhookFormat = "ninjs"
    embargo_trusted: bool = False
    locale: str | None = None
    timezone: str = "UTC"
    status: Literal["active", "paused"] = "active"
    external_id: str | None = None


class RecipientPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    country: str | None = None
    languages: list[str] | None = None
    sectors: list[str] | None = None
    email: str | None = None
    webhook_url: str | None = None
    webhook_format: WebhookFormat | None = None
    embargo_trusted: bool | None = None
    locale: str | None = None
    timezone: str | None = None
    status: Literal["active", "paused", "unsubscribed"] | None = None


class CircuitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    slug: str | None = None
    countries: list[str] = Field(default_factory=list)
    languages: list[str] = Field(default_factory=list)
    sectors: list[str] = Field(default_factory=list)
    kinds: list[Literal["outlet", "journalist", "desktop"]] = Field(default_factory=list)


class AlertIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query: str = Field(description='keywords with AND, OR, NOT, "phrases" and parentheses')
    name: str = ""
    countries: list[str] = Field(default_factory=list)
    languages: list[str] = Field(default_factory=list)
    sectors: list[str] = Field(default_factory=list)
    mode: Literal["realtime", "hourly", "daily"] = "realtime"


def clean_languages(values: list[str], fld: str) -> list[str]:
    return list(dict.fromkeys(clean_language(v, f"{fld}[{i}]") for i, v in enumerate(values)))


def clean_sectors(values: list[str], fld: str) -> list[str]:
    out = []
    for i, v in enumerate(values):
        code = normalise_sector(v)
        if code is None:
            raise ContentError(f"{fld}[{i}]", f"{v!r} is neither an IPTC Media Topic nor a wire section")
        out.append(code)
    return list(dict.fromkeys(out))


def clean_countries(values: list[str], fld: str) -> list[str]:
    return sorted({clean_country(v, f"{fld}[{i}]") for i, v in enumerate(values)})


def clean_timezone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ContentError("timezone", f"{value!r} is not an IANA time zone") from exc
    return value


def recipient_values(data: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """Validated values from (part of) a recipient, its endpoint shorthand (`email`, `webhook_url`,
    `webhook_format`) included; raises ContentError naming the field."""
    out: dict[str, Any] = {}
    if "name" in data and data["name"] is not None:
        out["name"] = sanitize_text(data["name"], "name", 200)
        if not out["name"]:
            raise ContentError("name", "is required")
    if data.get("country") is not None:
        out["country"] = clean_country(data["country"], "country")
    if data.get("languages") is not None:
        out["languages"] = clean_languages(data["languages"], "languages")
    if data.get("sectors") is not None:
        out["sectors"] = clean_sectors(data["sectors"], "sectors")
    if "email" in data:
        out["email"] = clean_email(data["email"])
    if "webhook_url" in data:
        out["webhook_url"] = clean_webhook(data["webhook_url"], settings)
    for key in ("webhook_format", "embargo_trusted", "status"):
        if data.get(key) is not None:
            out[key] = data[key]
    if data.get("locale") is not None:
        out["locale"] = clean_language(data["locale"], "locale")
    if data.get("timezone") is not None:
        out["timezone"] = clean_timezone(data["timezone"])
    return out


def create_recipient(session: Session, settings: Settings, data: RecipientIn) -> Recipient:
    values = recipient_values(data.model_dump(), settings)
    if data.kind == "journalist" and not values.get("email"):
        raise ContentError("email", "a journalist needs an email address")
    if data.kind == "outlet" and not values.get("webhook_url") and not values.get("email"):
        raise ContentError("webhook_url", "an outlet needs a webhook URL or an email address")
    if not values.get("languages"):
        raise ContentError("languages", "at least one language")
    if data.external_id and session.scalar(
        select(Recipient.id).where(Recipient.external_id == data.external_id)
    ):
        raise ContentError("external_id", f"{data.external_id!r} is already used")
    shorthand = {key: values.pop(key) for key in SHORTHAND if key in values}
    recipient = Recipient(
        kind=data.kind,
        external_id=data.external_id,
        locale=values.pop("locale", None) or values["languages"][0],
        **values,
    )
    session.add(recipient)
    endpoints.apply_shorthand(session, recipient, shorthand)
    endpoints.add(session, recipient, "feed")
    if data.kind == "desktop":
        endpoints.add(session, recipient, "stream")
    session.flush()
    return recipient


class UnsubscribedError(ContentError):
    """A change of status the recipient did not ask for: an unsubscribe is the recipient's own
    decision, and only the recipient undoes it."""


def update_recipient(
    session: Session, settings: Settings, recipient: Recipient, patch: RecipientPatch
) -> Recipient:
    values = recipient_values(patch.model_dump(exclude_unset=True), settings)
    wanted = values.get("status")
    if (
        recipient.status == RecipientStatus.UNSUBSCRIBED
        and wanted is not None
        and wanted != RecipientStatus.UNSUBSCRIBED
    ):
        raise UnsubscribedError(
            "status", f"the recipient unsubscribed; only the recipient can subscribe again (not {wanted!r})"
        )
    shorthand = {key: values.pop(key) for key in SHORTHAND if key in values}
    for key, value in values.items():
        setattr(recipient, key, value)
    endpoints.apply_shorthand(session, recipient, shorthand)
    recipient.updated_at = utcnow()
    return recipient


def recipient_json(r: Recipient) -> dict[str, Any]:
    """A recipient as the API shows it: its endpoints, and the shorthand of its first endpoint of
    each channel (`email`, `webhook_url`, … as before endpoints had their own table)."""
    email, webhook = endpoints.first(r, "email"), endpoints.first(r, "webhook")
    feed, stream = endpoints.first(r, "feed"), endpoints.first(r, "stream")
    return {
        "id": r.id,
        "kind": r.kind,
        "name": r.name,
        "country": r.country,
        "languages": r.languages,
        "sectors": r.sectors,
        "email": email.address if email else None,
        "webhook_url": webhook.address if webhook else None,
        "webhook_secret": webhook.secret if webhook else None,
        "webhook_format": webhook.format if webhook else None,
        "webhook_disabled": webhook.disabled_reason
        if webhook and webhook.state == EndpointState.DISABLED
        else None,
        "feed_token": feed.secret if feed and feed.state == EndpointState.ACTIVE else None,
        "stream_token": stream.secret if stream and stream.state == EndpointState.ACTIVE else None,
        "endpoints": [endpoints.endpoint_json(e) for e in endpoints.live(r)],
        "embargo_trusted": r.embargo_trusted,
        "locale": r.locale,
        "timezone": r.timezone,
        "status": r.status,
        "external_id": r.external_id,
        "created_at": stamp(r.created_at),
        "updated_at": stamp(r.updated_at),
    }


def create_circuit(session: Session, data: CircuitIn) -> Circuit:
    name = sanitize_text(data.name, "name", 200)
    if not name:
        raise ContentError("name", "is required")
    slug = slugify(data.slug or name)
    if session.scalar(select(Circuit.id).where(Circuit.slug == slug)):
        raise ContentError("slug", f"a circuit {slug!r} exists")
    circuit = Circuit(
        name=name,
        slug=slug,
        countries=clean_countries(data.countries, "countries"),
        languages=clean_languages(data.languages, "languages"),
        sectors=clean_sectors(data.sectors, "sectors"),
        kinds=list(dict.fromkeys(data.kinds)),
    )
    session.add(circuit)
    session.flush()
    return circuit


def circuit_json(c: Circuit) -> dict[str, Any]:
    return {
        "id": c.id,
        "slug": c.slug,
        "name": c.name,
        "countries": c.countries,
        "languages": c.languages,
        "sectors": c.sectors,
        "kinds": c.kinds,
    }


def create_alert(session: Session, recipient: Recipient, data: AlertIn) -> Alert:
    try:
        parse(data.query)
    except QueryError as exc:
        raise ContentError("query", str(exc)) from exc
    alert = Alert(
        recipient_id=recipient.id,
        name=sanitize_text(data.name, "name", 200),
        query=data.query.strip(),
        countries=clean_countries(data.countries, "countries"),
        languages=clean_languages(data.languages, "languages"),
        sectors=clean_sectors(data.sectors, "sectors"),
        mode=data.mode,
    )
    session.add(alert)
    session.flush()
    return alert


def alert_json(a: Alert) -> dict[str, Any]:
    return {
        "id": a.id,
        "recipient_id": a.recipient_id,
        "name": a.name,
        "query": a.query,
        "countries": a.countries,
        "languages": a.languages,
        "sectors": a.sectors,
        "mode": a.mode,
        "created_at": stamp(a.created_at),
    }


def resend_refusal(delivery: Delivery, release: Release) -> str | None:
    """Why a failed or cancelled delivery may not be sent again, if it may not."""
    if delivery.kind == "withdrawal":
        return None  # a withdrawal notice that failed should reach its holder
    if release.status == ReleaseStatus.WITHDRAWN:
        return "the release was withdrawn; its editions are not sent again"
    if (
        delivery.kind == "edition"
        and delivery.state == DeliveryState.CANCELLED
        and delivery.version < release.version
    ):
        # a copy still waiting when the correction came: its recipient was routed the new version
        return f"version {delivery.version} was superseded by version {release.version}"
    return None
