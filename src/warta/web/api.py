"""The JSON API under /api/v1."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.orm import Session

from warta.clock import stamp
from warta.config import Settings
from warta.editions import queries
from warta.editions import service as editions
from warta.editions.queries import (
    Filters,
    current_version,
    organisation_of,
    owned_release,
    public_items,
    release_editions,
    release_is_public,
    viewable_release,
)
from warta.editions.render import wire_text
from warta.editions.sectors import normalise_sector
from warta.formats.ninjs import edition_to_ninjs, edition_url
from warta.intake import keys, people
from warta.intake.convert import file_to_html, first_heading
from warta.intake.sanitize import ContentError, sanitize_text
from warta.intake.service import submit
from warta.intake.submission import (
    CorrectionIn,
    EditionIn,
    ReleaseIn,
    clean,
    clean_about,
    clean_body,
    clean_contact,
    clean_country,
    clean_language,
)
from warta.model.states import SHOWN_EDITION_STATES, EditionStatus, ReleaseStatus, VersionState
from warta.review import decide, revisions
from warta.web.deps import (
    Admin,
    Editor,
    MaybeWho,
    NoStore,
    SettingsDep,
    Who,
    get_settings,
    retried_on_race,
    unit_of_work,
)
from warta.web.errors import ApiError
from warta.web.schemas import (
    ERRORS,
    EditionOut,
    MeOut,
    NinjsOut,
    Offset,
    OrganisationOut,
    PublicList,
    ReleaseList,
    ReleaseOut,
    TranslationList,
    UserOut,
    VersionNumber,
    VersionOut,
)

if TYPE_CHECKING:
    from warta.model import Edition, Organisation, Release

router = APIRouter(prefix="/api/v1", tags=["api"], responses=ERRORS)

# --- shapes -----------------------------------------------------------------------------------


def release_json(session: Session, settings: Settings, release: Release, full: bool = True) -> dict[str, Any]:
    """The release as its issuer and the desk see it; with `full=False`, as the public may
    (no drafts or missing-translation placeholders, no review record)."""
    org = organisation_of(session, release)
    versions = queries.release_versions(session, release)
    return {
        "id": release.id,
        "status": release.status,
        "visible": release_is_public(release),
        "organisation": {"id": org.id, "name": org.name, "slug": org.slug},
        "language": release.language,
        "language_detection": {"source": release.language_source, "confidence": release.language_confidence},
        "dateline": {"city": release.dateline_city, "country": release.dateline_country},
        "sectors": release.sectors,
        "targets": {
            "countries": release.target_countries,
            "languages": release.target_languages,
            "circuits": release.target_circuits,
        },
        "release_at": stamp(release.release_at),
        "embargo_until": stamp(release.embargo_until),
        "public_at": stamp(release.public_at),
        "version": release.version,
        "review": release.review,
        "reject_reason": release.reject_reason,
        "withdrawal_note": release.withdrawal_note,
        "created_at": stamp(release.created_at),
        "approved_at": stamp(release.approved_at),
        "published_at": stamp(release.published_at),
        "editions": [
            edition_json(settings, e, release)
            for e in release_editions(session, release, shown_only=not full)
        ],
        "versions": [
            {
                "version": v.version,
                "headline": v.headline,
                "note": v.note,
                "created_at": stamp(v.created_at),
                "url": f"/api/v1/releases/{release.id}/versions/{v.version}",
            }
            for v in versions
            if v.state == VersionState.APPROVED and (full or v.version <= release.version)
        ],
        **({"pending": revisions.pending_json(session, release)} if full else {}),
    }


# what a publishable edition is while its release is not out: it says so instead of "published"
_EDITION_STATE_OF_RELEASE: dict[str, str] = {
    ReleaseStatus.HELD: "held",
    ReleaseStatus.APPROVED: "scheduled",
    ReleaseStatus.REJECTED: "rejected",
    ReleaseStatus.WITHDRAWN: "withdrawn",
}


def edition_status(e: Edition, release: Release | None) -> str:
    if e.pending is not None and e.status not in SHOWN_EDITION_STATES:
        return "held"  # an issuer's edition for a language readers do not have yet, held by review
    if e.status == EditionStatus.PUBLISHED and release is not None:
        return _EDITION_STATE_OF_RELEASE.get(release.status, e.status)
    return e.status


def edition_json(settings: Settings, e: Edition, release: Release | None = None) -> dict[str, Any]:
    return {
        "lang": e.lang,
        "version": e.version,
        "headline": e.headline,
        "origin": e.origin,
        "engine": e.engine,
        "route": e.route,
        "tier": e.tier,
        "status": edition_status(e, release),
        "held": e.pending is not None,
        "digest": e.digest,
        "signature": e.signature,
        "url": f"/api/v1/releases/{e.release_id}/editions/{e.lang}",
        "page": edition_url(settings, e.release_id, e.lang),
    }


# --- intake -----------------------------------------------------------------------------------

# The submission's JSON schema goes to the document's components (with the models it refers to),
# so its `$ref`s resolve; the route reads the body itself, to take multipart too.
_SUBMIT_SCHEMA = ReleaseIn.model_json_schema(ref_template="#/components/schemas/{model}")
SUBMIT_COMPONENTS: dict[str, Any] = {**_SUBMIT_SCHEMA.pop("$defs", {}), "ReleaseIn": _SUBMIT_SCHEMA}
_SUBMIT_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/ReleaseIn"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "release"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": ".docx, .md or .html body",
                        },
                        "release": {"type": "string", "description": "JSON: the other fields of a release"},
                    },
                }
            },
        },
    }
}


async def _read_submission(request: Request) -> ReleaseIn:
    ctype = request.headers.get("content-type", "")
    try:
        if ctype.startswith("multipart/form-data"):
            form = await request.form(max_files=1, max_fields=10)
            upload = form.get("file")
            meta = form.get("release")
            if upload is None or isinstance(upload, str):
                raise ContentError("file", "a .docx, .md or .html file is required")
            if not isinstance(meta, str):
                raise ContentError("release", "a JSON object with the release's other fields is required")
            data = await upload.read()
            body_html = await run_in_threadpool(file_to_html, upload.filename or "", data)
            try:
                fields = json.loads(meta)
            except RecursionError as exc:
                raise ContentError("release", "not valid JSON: nested too deeply") from exc
            if not isinstance(fields, dict):
                raise ContentError("release", "must be a JSON object")
            fields["body"], fields["body_format"] = body_html, "html"
            heading = first_heading(body_html)
            if heading and not str(fields.get("headline") or "").strip():
                fields["headline"] = heading  # a file's title is its first heading
            return ReleaseIn.model_validate(fields)
        if not ctype.startswith("application/json"):
            raise ApiError(415, "unsupported_media_type", "send application/json or multipart/form-data")
        return ReleaseIn.model_validate_json(await request.body())
    except json.JSONDecodeError as exc:
        raise ContentError("release", f"not valid JSON: {exc.msg}") from exc
    except ValidationError as exc:
        from fastapi.exceptions import RequestValidationError

        raise RequestValidationError(exc.errors()) from exc


@router.post("/releases", status_code=201, openapi_extra=_SUBMIT_DOC, response_model=ReleaseOut)
async def create_release(request: Request, who: Who) -> dict[str, Any]:
    """Submit a release (JSON, or multipart with a .docx/.md/.html file). It is reviewed at once."""
    settings = get_settings(request)
    if not who.org_id:
        raise ApiError(403, "forbidden", "only a user of an issuing organisation can submit releases")
    data = await _read_submission(request)

    def work() -> dict[str, Any]:
        cleaned = clean(data, settings.limits)
        with unit_of_work(request) as s:
            org = people.organisation(s, who.org_id)
            if org is None:
                raise ApiError(403, "forbidden", "your organisation no longer exists")
            release = submit(s, settings, who, org, cleaned)
            return release_json(s, settings, release)

    return await run_in_threadpool(work)


@router.get("/releases", response_model=PublicList)
def list_releases(
    request: Request,
    who: MaybeWho,
    settings: SettingsDep,
    lang: str | None = None,
    sector: str | None = None,
    country: str | None = None,
    org: str | None = Query(None, description="organisation slug"),
    q: str | None = None,
    status: str | None = Query(None, description="for issuers and editors: held, approved, published, ..."),
    limit: int = Query(20, ge=1, le=100),
    offset: Offset = 0,
) -> dict[str, Any]:
    """Released items for everyone; with a key and `status`, your own (issuer) or all (editor) releases."""
    with unit_of_work(request) as s:
        if status is not None:
            if who is None:
                raise ApiError(401, "unauthorised", "filtering by status needs an API key")
            rows = queries.releases_with_status(s, who, status, limit, offset)
            return {"items": [release_json(s, settings, r) for r in rows]}
        filters = _filters(lang, sector, country, org, q)
        items = public_items(s, filters, limit=limit, offset=offset)
        return {
            "items": [
                {
                    "id": it.release.id,
                    "lang": it.edition.lang,
                    "headline": it.edition.headline,
                    "summary": it.edition.summary,
                    "organisation": it.org.name,
                    "sectors": it.release.sectors,
                    "country": it.release.dateline_country,
                    "released_at": stamp(it.release.public_at),
                    "url": f"/api/v1/releases/{it.release.id}/editions/{it.edition.lang}",
                }
                for it in items
            ]
        }


def _filters(
    lang: str | None, sector: str | None, country: str | None, org: str | None, q: str | None
) -> Filters:
    try:
        return Filters(
            lang=clean_language(lang, "lang") if lang else None,
            sector=(normalise_sector(sector) or sector) if sector else None,
            country=clean_country(country, "country") if country else None,
            org=org or None,
            q=(q or "").strip()[:200] or None,
        )
    except ContentError as exc:
        raise ApiError(400, "invalid_filter", str(exc), exc.field) from exc


@router.get("/search", response_model=PublicList)
def search_releases(
    request: Request, settings: SettingsDep, q: str, lang: str | None = None
) -> dict[str, Any]:
    """Full-text search over released editions."""
    return list_releases(
        request,
        None,
        settings,
        lang=lang,
        q=q,
        limit=50,
        sector=None,
        country=None,
        org=None,
        status=None,
        offset=0,
    )


@router.get("/releases/{release_id}", response_model=ReleaseOut, response_model_exclude_unset=True)
def get_release(request: Request, release_id: str, who: MaybeWho, settings: SettingsDep) -> dict[str, Any]:
    """Status, review outcome, editions and versions of a release."""
    with unit_of_work(request) as s:
        release = viewable_release(s, release_id, who)
        full = who is not None and who.can_see_unreleased(release.org_id)
        out = release_json(s, settings, release, full=full)
        if not full:
            out.pop("review", None)
            out.pop("reject_reason", None)
            out.pop("withdrawal_note", None)
        return out


@router.get(
    "/releases/{release_id}/editions/{lang}",
    response_model=None,
    responses={
        200: {
            "model": NinjsOut,
            "content": {"text/plain": {"schema": {"type": "string"}}},
            "description": "ninjs 3.1, or with `format=text` the wire's plain text",
        }
    },
)
def get_edition(
    request: Request,
    release_id: str,
    lang: str,
    who: MaybeWho,
    settings: SettingsDep,
    format: str = Query("ninjs", pattern="^(ninjs|text)$"),
) -> Response | dict[str, Any]:
    """One language edition as ninjs 3.1 (default) or the wire's plain text (`format=text`)."""
    with unit_of_work(request) as s:
        release = viewable_release(s, release_id, who)
        edition = queries.current_edition(s, release, lang)
        shown = edition is not None and edition.status in SHOWN_EDITION_STATES
        if edition is None or not (shown or (who is not None and who.can_see_unreleased(release.org_id))):
            raise ApiError(404, "not_found", f"release {release_id} has no {lang} edition")
        org = organisation_of(s, release)
        version = current_version(s, release)
        text = wire_text(settings, release, version, edition, org)
        if format == "text":
            return Response(text.plain_text(), media_type="text/plain; charset=utf-8")
        others = release_editions(s, release, shown_only=True)
        return edition_to_ninjs(settings, release, version, edition, org, text, others)


@router.get("/releases/{release_id}/versions/{number}", response_model=VersionOut)
def get_version(request: Request, release_id: str, number: VersionNumber, who: MaybeWho) -> dict[str, Any]:
    """An earlier (or the current) version of a release, as it was."""
    with unit_of_work(request) as s:
        release = viewable_release(s, release_id, who)
        version = queries.version_of(s, release, number)
        if version is None:
            raise ApiError(404, "not_found", f"release {release_id} has no version {number}")
        full = who is not None and who.can_see_unreleased(release.org_id)
        if not full and (version.state != VersionState.APPROVED or number > release.version):
            raise ApiError(404, "not_found", f"release {release_id} has no version {number}")
        eds = queries.version_editions(s, release, number, shown_only=not full)
        return {
            "release_id": release.id,
            "version": version.version,
            "current": version.version == release.version,
            "state": version.state,
            "note": version.note,
            "headline": version.headline,
            "summary": version.summary,
            "body_html": version.body_html,
            "about": version.about,
            "contact": version.contact,
            "created_at": stamp(version.created_at),
            "editions": [
                {
                    "lang": e.lang,
                    "headline": e.headline,
                    "origin": e.origin,
                    "status": edition_status(e, release) if number == release.version else e.status,
                    "digest": e.digest,
                }
                for e in eds
            ],
        }


@router.put("/releases/{release_id}/editions/{lang}", response_model=EditionOut)
def put_edition(
    request: Request, release_id: str, lang: str, body: EditionIn, who: Who, settings: SettingsDep
) -> dict[str, Any]:
    """Supply (or replace) a language edition of the current version."""
    lang_code = clean_language(lang, "lang")
    headline = sanitize_text(body.headline, "headline", settings.limits.headline_chars)
    if not headline:
        raise ContentError("headline", "is required")
    summary = sanitize_text(body.summary, "summary", settings.limits.summary_chars)
    body_html, _ = clean_body(body.body, body.body_format, settings.limits)
    about = clean_about(body.about, settings.limits) if body.about is not None else None

    def supply(s: Session) -> dict[str, Any]:
        release = owned_release(s, release_id, who)
        try:
            edition = revisions.supply_edition(
                s,
                settings,
                who,
                release,
                lang_code,
                headline=headline,
                summary=summary,
                body_html=body_html,
                about=about,
            )
        except revisions.ReviewConflict as exc:
            raise ApiError(409, "conflict", str(exc)) from exc
        except ValueError as exc:
            raise ApiError(409, "conflict", str(exc), "lang") from exc
        s.flush()  # a unique key another writer took first fails here, inside the retry
        out = edition_json(settings, edition, release)
        if edition.pending is not None:  # held by the review chain: say why
            out["review"] = edition.pending.get("review")
        return out

    return retried_on_race(request, supply)


@router.post("/releases/{release_id}/corrections", status_code=201, response_model=ReleaseOut)
def correct_release(
    request: Request, release_id: str, body: CorrectionIn, who: Who, settings: SettingsDep
) -> dict[str, Any]:
    """Correct a release: a new version; the previous one stays in the history."""
    note = sanitize_text(body.note, "note", 1000)
    if not note:
        raise ContentError("note", "say what was corrected")
    limits = settings.limits
    headline = (
        sanitize_text(body.headline, "headline", limits.headline_chars) if body.headline is not None else None
    )
    if headline == "":
        raise ContentError("headline", "cannot be empty")
    summary = (
        sanitize_text(body.summary, "summary", limits.summary_chars) if body.summary is not None else None
    )
    body_html = clean_body(body.body, body.body_format, limits)[0] if body.body is not None else None
    about = clean_about(body.about, limits) if body.about is not None else None
    contact = clean_contact(body.contact) if body.contact is not None else None
    with unit_of_work(request) as s:
        release = owned_release(s, release_id, who)
        change = revisions.Correction(
            note=note, headline=headline, summary=summary, body_html=body_html, about=about, contact=contact
        )
        try:
            revisions.correct(s, settings, who, release, change)
        except revisions.ReviewConflict as exc:
            raise ApiError(409, "conflict", str(exc)) from exc
        return release_json(s, settings, release)


# --- translations ---------------------------------------------------------------------------


@router.get("/translations", response_model=TranslationList)
def translation_queue(
    request: Request,
    who: Editor,
    settings: SettingsDep,
    status: str = Query("draft", pattern="^(draft|needs_translation)$"),
) -> dict[str, Any]:
    """Machine drafts waiting for an editor, or languages no engine could translate."""
    with unit_of_work(request) as s:
        rows = queries.translation_queue(s, status)
        return {
            "items": [
                {
                    **edition_json(settings, e),
                    "release_id": r.id,
                    "release_status": r.status,
                    "original": r.language,
                }
                for e, r in rows
            ]
        }


@router.post("/releases/{release_id}/editions/{lang}/approve", response_model=EditionOut)
def approve_edition(
    request: Request, release_id: str, lang: str, who: Editor, settings: SettingsDep
) -> dict[str, Any]:
    """An editor publishes a machine draft (after reading it, or after a PUT that corrected it)."""
    with unit_of_work(request) as s:
        release = viewable_release(s, release_id, who)
        edition, was_held = editions.approve_draft(s, settings, release, lang)
        # an issuer's held edition reads as its release's state; a machine draft as published
        return edition_json(settings, edition, release if was_held else None)


@router.post("/releases/{release_id}/editions/{lang}/request", status_code=201, response_model=EditionOut)
def request_translation(
    request: Request, release_id: str, lang: str, who: Who, settings: SettingsDep
) -> dict[str, Any]:
    """Ask for a human translation: the language shows as needing translation until someone
    uploads the edition with PUT."""
    lang_code = clean_language(lang, "lang")
    with unit_of_work(request) as s:
        release = owned_release(s, release_id, who)
        edition = editions.request_translation(s, release, lang_code, who.name)
        return edition_json(settings, edition)


# --- review -----------------------------------------------------------------------------------


class RejectIn(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


class ApproveIn(BaseModel):
    note: str = Field("", max_length=2000)


@router.get("/review", response_model=ReleaseList)
def review_queue(request: Request, who: Editor, settings: SettingsDep) -> dict[str, Any]:
    """Held releases, and releases with a held correction or held editions, oldest first, with each
    rule's reason and (under `pending`) what changed against the approved text."""
    with unit_of_work(request) as s:
        return {"items": [release_json(s, settings, r) for r in queries.review_queue(s)]}


@router.post("/releases/{release_id}/approve", response_model=ReleaseOut)
def approve_release(
    request: Request, release_id: str, who: Editor, settings: SettingsDep, body: ApproveIn | None = None
) -> dict[str, Any]:
    with unit_of_work(request) as s:
        release = viewable_release(s, release_id, who)
        try:
            decide.approve(s, release, who, body.note if body else "", settings=settings)
        except decide.DecisionError as exc:
            raise ApiError(409, "conflict", str(exc)) from exc
        return release_json(s, settings, release)


@router.post("/releases/{release_id}/reject", response_model=ReleaseOut)
def reject_release(
    request: Request, release_id: str, body: RejectIn, who: Editor, settings: SettingsDep
) -> dict[str, Any]:
    with unit_of_work(request) as s:
        release = viewable_release(s, release_id, who)
        try:
            decide.reject(s, release, who, sanitize_text(body.reason, "reason", 2000))
        except decide.DecisionError as exc:
            raise ApiError(409, "conflict", str(exc), "reason") from exc
        return release_json(s, settings, release)


# --- people -----------------------------------------------------------------------------------


class OrganisationIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    domain: str | None = Field(None, max_length=255)
    verified: bool = False
    auto_approve: bool = False
    about: str = Field("", max_length=5000)
    website: str | None = Field(None, max_length=500)


class OrganisationPatch(BaseModel):
    verified: bool | None = None
    auto_approve: bool | None = None
    about: str | None = Field(None, max_length=5000)
    glossary: list[str] | None = Field(None, max_length=500, description="do-not-translate terms")


class UserIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    role: str = Field(pattern="^(issuer|editor|admin)$")
    org_id: str | None = None
    email: str | None = Field(None, max_length=320)


def org_json(org: Organisation) -> dict[str, Any]:
    return {
        "id": org.id,
        "name": org.name,
        "slug": org.slug,
        "domain": org.domain,
        "verified": org.verified,
        "auto_approve": org.auto_approve,
        "about": org.about,
        "website": org.website,
        "glossary": org.glossary,
        "created_at": stamp(org.created_at),
    }


@router.get("/me", response_model=MeOut)
def me(who: Who) -> dict[str, Any]:
    return {"user_id": who.user_id, "name": who.name, "role": who.role, "org_id": who.org_id}


@router.post("/organisations", status_code=201, response_model=OrganisationOut)
def create_organisation(
    request: Request, body: OrganisationIn, who: Admin, settings: SettingsDep
) -> dict[str, Any]:
    with unit_of_work(request) as s:
        org = keys.create_org(
            s,
            sanitize_text(body.name, "name", 200),
            body.domain,
            verified=body.verified,
            auto_approve=body.auto_approve,
            about=clean_about(body.about, settings.limits) if body.about else "",
            website=body.website,
        )
        return org_json(org)


@router.patch("/organisations/{org_id}", response_model=OrganisationOut)
def patch_organisation(
    request: Request, org_id: str, body: OrganisationPatch, who: Who, settings: SettingsDep
) -> dict[str, Any]:
    """Editors verify issuers and grant auto-approve to trusted ones; an issuer may change its own
    "About" boilerplate and glossary of do-not-translate terms."""
    with unit_of_work(request) as s:
        org = people.patch_organisation(
            s,
            settings,
            who,
            org_id,
            verified=body.verified,
            auto_approve=body.auto_approve,
            about=body.about,
            glossary=body.glossary,
        )
        return org_json(org)


@router.post("/users", status_code=201, response_model=UserOut, dependencies=[NoStore])
def create_user(request: Request, body: UserIn, who: Admin) -> dict[str, Any]:
    """A user and an API key. The key is in this answer only; it is stored as a digest."""
    with unit_of_work(request) as s:
        user, key = people.create_user(s, body.name, body.role, body.org_id, body.email)
        return {"id": user.id, "role": user.role, "org_id": user.org_id, "api_key": key}
