"""The API's answers as typed models, so the OpenAPI document says what each route returns.

Routes build plain dicts (the services' `*_json` functions); FastAPI checks them against these
models on the way out, so the document and the answers cannot drift apart. Each model allows
fields it does not name (`extra="allow"`): a field added to an answer shows up at once, and is
documented when it is named here.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import BaseModel, ConfigDict

# bounds on numbers in queries and paths: beyond them an answer is a 422, not a database overflow
MAX_OFFSET = 1_000_000
MAX_VERSION = 2**31 - 1
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description=f"rows to skip, at most {MAX_OFFSET}")]
VersionNumber = Annotated[int, Path(ge=1, le=MAX_VERSION, description="a version of the release, from 1")]


class Out(BaseModel):
    model_config = ConfigDict(extra="allow")


# --- errors ------------------------------------------------------------------------------------


class ErrorDetail(Out):
    reason: str
    field: str | None = None


class ErrorInfo(Out):
    status: int
    code: str
    message: str
    field: str | None = None
    details: list[ErrorDetail] | None = None


class ErrorOut(BaseModel):
    """Every error answer: `{"error": {"status", "code", "message", "field"?, "details"?}}`."""

    error: ErrorInfo


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorOut, "description": description}


ERRORS: dict[int | str, dict[str, Any]] = {
    400: _error("a filter or query that cannot be used"),
    401: _error("no API key, or an unknown or revoked one"),
    403: _error("the key's role may not do this"),
    404: _error("no such thing, or not visible to this key"),
    409: _error("the thing is in a state that does not allow this"),
    413: _error("the request body is over the size limit"),
    415: _error("a body in a media type this route does not take"),
    422: _error("a field that is missing or invalid (named in `field`)"),
}


# --- releases ----------------------------------------------------------------------------------


class OrganisationRef(Out):
    id: str
    name: str
    slug: str


class LanguageDetection(Out):
    source: str | None
    confidence: float | None


class DatelineOut(Out):
    city: str
    country: str


class TargetsOut(Out):
    countries: list[str]
    languages: list[str]
    circuits: list[str]


class EditionOut(Out):
    lang: str
    version: int
    headline: str
    origin: str
    engine: str | None
    route: list[Any]
    tier: str
    status: str
    digest: str
    signature: str
    url: str
    page: str


class VersionRef(Out):
    version: int
    headline: str
    note: str | None
    created_at: str | None
    url: str


class ReleaseOut(Out):
    id: str
    status: str
    visible: bool
    organisation: OrganisationRef
    language: str
    language_detection: LanguageDetection
    dateline: DatelineOut
    sectors: list[str]
    targets: TargetsOut
    release_at: str | None
    embargo_until: str | None
    public_at: str | None
    version: int
    review: dict[str, Any] | None = None  # issuers and editors only
    reject_reason: str | None = None  # issuers and editors only
    withdrawal_note: str | None = None  # issuers and editors only
    created_at: str | None
    approved_at: str | None
    published_at: str | None
    editions: list[EditionOut]
    versions: list[VersionRef]


class ReleaseList(Out):
    items: list[ReleaseOut]


class PublicItem(Out):
    id: str
    lang: str
    headline: str
    summary: str
    organisation: str
    sectors: list[str]
    country: str
    released_at: str | None
    url: str


class PublicList(Out):
    """Released items (anonymous, or without `status`), or with `status` the key's releases."""

    items: list[PublicItem] | list[ReleaseOut]


class VersionEdition(Out):
    lang: str
    headline: str
    origin: str
    status: str
    digest: str


class VersionOut(Out):
    release_id: str
    version: int
    current: bool
    note: str | None
    headline: str
    summary: str
    body_html: str
    about: str
    contact: Any
    created_at: str | None
    editions: list[VersionEdition]


class TranslationItem(EditionOut):
    release_id: str
    release_status: str
    original: str


class TranslationList(Out):
    items: list[TranslationItem]


class NinjsOut(Out):
    """A ninjs 3.1 document (https://iptc.org/standards/ninjs/); every field of the standard may
    appear."""

    uri: str


# --- people ------------------------------------------------------------------------------------


class MeOut(Out):
    user_id: str
    name: str
    role: str
    org_id: str | None


class OrganisationOut(Out):
    id: str
    name: str
    slug: str
    domain: str | None
    verified: bool
    auto_approve: bool
    about: str
    website: str | None
    glossary: list[str] | None
    created_at: str | None


class UserOut(Out):
    id: str
    role: str
    org_id: str | None
    api_key: str


# --- distribution ------------------------------------------------------------------------------


class EndpointOut(Out):
    """One of a recipient's endpoints; `secret` (a webhook's signing secret) only in the answer
    that made it or rotated it."""

    id: str
    channel: str
    address: str | None
    format: str | None
    state: str
    disabled_reason: str | None
    created_at: str | None
    secret: str | None = None


class EndpointList(Out):
    items: list[EndpointOut]


class RecipientOut(Out):
    id: str
    kind: str
    name: str
    country: str | None
    languages: list[str]
    sectors: list[str]
    email: str | None
    webhook_url: str | None
    webhook_secret: str | None
    webhook_format: str | None
    webhook_disabled: str | None
    feed_token: str | None
    stream_token: str | None
    endpoints: list[EndpointOut]
    embargo_trusted: bool
    locale: str | None
    timezone: str | None
    status: str
    external_id: str | None
    created_at: str | None
    updated_at: str | None


class RecipientList(Out):
    total: int
    items: list[RecipientOut]


class AlertOut(Out):
    id: str
    recipient_id: str
    name: str
    query: str
    countries: list[str]
    languages: list[str]
    sectors: list[str]
    mode: str
    created_at: str | None


class AlertList(Out):
    items: list[AlertOut]


class CircuitOut(Out):
    id: str
    slug: str
    name: str
    countries: list[str]
    languages: list[str]
    sectors: list[str]
    kinds: list[str]


class CircuitList(Out):
    items: list[CircuitOut]


class DeliveryOut(Out):
    id: str
    release_id: str
    edition_id: str | None
    version: int
    lang: str | None
    recipient_id: str
    endpoint_id: str | None
    channel: str
    kind: str
    state: str
    embargoed: bool
    attempts: int
    last_error: str | None
    matched_by: Any
    not_before: str | None
    next_attempt_at: str | None
    created_at: str | None
    first_attempt_at: str | None
    delivered_at: str | None


class DeliveryList(Out):
    total: int
    items: list[DeliveryOut]


class WithdrawalOut(Out):
    id: str
    status: str
    reason: str | None
