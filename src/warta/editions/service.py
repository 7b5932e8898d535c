"""Editions: the original language edition of each version, editions supplied by people, corrections.

Each edition carries a SHA-256 digest of its content and an HMAC signature by the wire's secret,
so a holder of the wire's key can check that an edition is the one the wire released.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from warta.bus import emit
from warta.clock import stamp, utcnow
from warta.config import Settings
from warta.editions.targets import request_editions, translated
from warta.errors import Conflict
from warta.model import Edition, Release, ReleaseVersion
from warta.model.states import EditionStatus, ReleaseStatus, VersionState
from warta.store import search


def sign(settings: Settings, edition: Edition) -> None:
    canonical = json.dumps(
        {
            "release": edition.release_id,
            "version": edition.version,
            "lang": edition.lang,
            "headline": edition.headline,
            "summary": edition.summary,
            "body": edition.body_html,
            "about": edition.about,
        },
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    edition.digest = hashlib.sha256(canonical).hexdigest()
    edition.signature = hmac.new(
        settings.secret.encode(), edition.digest.encode(), hashlib.sha256
    ).hexdigest()


def make_original_edition(
    session: Session, settings: Settings, release: Release, version: ReleaseVersion, index: bool = True
) -> Edition:
    edition = Edition(
        release_id=release.id,
        version=version.version,
        lang=release.language,
        headline=version.headline,
        summary=version.summary,
        body_html=version.body_html,
        about=version.about,
        origin="original",
        tier="publishable",
        status=EditionStatus.PUBLISHED,
        created_by=version.created_by,
    )
    sign(settings, edition)
    session.add(edition)
    session.flush()
    if index:
        search.index_edition(session, edition)
    return edition


def awaiting_translation(
    release: Release, version: int, lang: str, *, origin: str, tier: str, route: list[Any]
) -> Edition:
    """An empty edition in the `needs_translation` state: the language is wanted, nobody has it yet."""
    now = utcnow()
    return Edition(
        release_id=release.id,
        version=version,
        lang=lang,
        headline="",
        summary="",
        body_html="",
        about="",
        origin=origin,
        tier=tier,
        status=EditionStatus.NEEDS_TRANSLATION,
        route=route,
        created_at=now,
        updated_at=now,
    )


def current_editions(session: Session, release: Release) -> list[Edition]:
    return list(
        session.scalars(
            select(Edition)
            .where(Edition.release_id == release.id, Edition.version == release.version)
            .order_by(Edition.created_at)
        )
    )


def put_edition(
    session: Session,
    settings: Settings,
    release: Release,
    lang: str,
    *,
    headline: str,
    summary: str,
    body_html: str,
    about: str | None,
    user_id: str,
) -> Edition:
    """Create or replace the `lang` edition of the current version with a human translation."""
    if lang == release.language:
        raise ValueError("the original edition changes through a correction, not an edition upload")
    current = edition_of(session, release, lang)
    version = version_row(session, release, release.version)
    now = utcnow()
    if current is None:
        current = Edition(release_id=release.id, version=release.version, lang=lang, created_at=now)
        session.add(current)
    current.headline = headline
    current.summary = summary
    current.body_html = body_html
    current.about = about if about is not None else version.about
    current.origin = "human"
    current.engine = None
    current.route = []
    current.tier = "publishable"
    current.status = EditionStatus.PUBLISHED
    current.pending = None  # what an editor approves, or what replaces a held edition
    current.created_by = user_id
    current.updated_at = now
    sign(settings, current)
    session.flush()
    search.index_edition(session, current)
    release.updated_at = now
    emit(
        session,
        "edition.updated",
        f"edition:{current.id}:{current.digest}",
        {"release_id": release.id, "edition_id": current.id, "lang": lang},
    )
    return current


def edition_of(session: Session, release: Release, lang: str) -> Edition | None:
    """The `lang` edition of the release's current version, if there is one."""
    return session.scalar(
        select(Edition).where(
            Edition.release_id == release.id, Edition.version == release.version, Edition.lang == lang
        )
    )


def hold_edition(
    session: Session,
    release: Release,
    lang: str,
    *,
    headline: str,
    summary: str,
    body_html: str,
    about: str | None,
    user_id: str,
    review: dict[str, Any],
) -> Edition:
    """Keep an issuer's edition that the review chain held until an editor decides. Readers keep
    what they have meanwhile: an edition already shown stays as it is, with the held text beside
    it; a new language gets a `held` edition that no public surface lists and routing never sends."""
    if lang == release.language:
        raise ValueError("the original edition changes through a correction, not an edition upload")
    current = edition_of(session, release, lang)
    now = utcnow()
    if current is None:
        current = Edition(
            release_id=release.id,
            version=release.version,
            lang=lang,
            headline="",
            summary="",
            body_html="",
            about="",
            origin="human",
            tier="publishable",
            status=EditionStatus.HELD,
            created_by=user_id,
            created_at=now,
            updated_at=now,
        )
        session.add(current)
    version = version_row(session, release, release.version)
    current.pending = {
        "headline": headline,
        "summary": summary,
        "body_html": body_html,
        "about": about if about is not None else version.about,
        "by": user_id,
        "at": stamp(now),
        "review": review,
    }
    session.flush()
    return current


def apply_held_edition(session: Session, settings: Settings, release: Release, edition: Edition) -> Edition:
    """An editor passes a held edition: it becomes the published edition of its language."""
    held = edition.pending
    assert held is not None
    return put_edition(
        session,
        settings,
        release,
        edition.lang,
        headline=held["headline"],
        summary=held["summary"],
        body_html=held["body_html"],
        about=held["about"],
        user_id=held["by"],
    )


def drop_held_edition(session: Session, edition: Edition) -> None:
    """An editor turns a held edition down: the language is as it was before it was sent."""
    if edition.status == EditionStatus.HELD:
        session.delete(edition)
    else:
        edition.pending = None
    session.flush()


def correct(
    session: Session,
    settings: Settings,
    release: Release,
    *,
    note: str,
    user_id: str,
    headline: str | None = None,
    summary: str | None = None,
    body_html: str | None = None,
    about: str | None = None,
    contact: dict[str, str] | None = None,
) -> ReleaseVersion:
    """A new version of the release that becomes the current one at once (see `add_version`)."""
    new = add_version(
        session,
        settings,
        release,
        note=note,
        user_id=user_id,
        headline=headline,
        summary=summary,
        body_html=body_html,
        about=about,
        contact=contact,
    )
    make_current(session, release, new)
    return new


def add_version(
    session: Session,
    settings: Settings,
    release: Release,
    *,
    note: str,
    user_id: str,
    headline: str | None = None,
    summary: str | None = None,
    body_html: str | None = None,
    about: str | None = None,
    contact: dict[str, str] | None = None,
) -> ReleaseVersion:
    """Store the next version of the release and its editions, built on the current version, without
    making it current: readers, search and routing keep the current version until `make_current`.

    Other-language editions are carried over marked `outdated` until someone supplies a
    corrected translation, so readers keep a page in their language and see that it lags.
    """
    old = version_row(session, release, release.version)
    old_editions = current_editions(session, release)
    number = 1 + (
        session.scalar(
            select(func.max(ReleaseVersion.version)).where(ReleaseVersion.release_id == release.id)
        )
        or 0
    )
    new = ReleaseVersion(
        release_id=release.id,
        version=number,
        headline=headline if headline is not None else old.headline,
        summary=summary if summary is not None else old.summary,
        body_html=body_html if body_html is not None else old.body_html,
        about=about if about is not None else old.about,
        contact=contact if contact is not None else dict(old.contact),
        media=list(old.media),
        note=note,
        created_by=user_id,
    )
    session.add(new)
    release.updated_at = utcnow()
    session.flush()
    make_original_edition(session, settings, release, new, index=False)
    for prev in old_editions:
        # machine editions are translated afresh by the editions stage; only people's work is carried over
        if prev.lang == release.language or prev.origin == "machine" or prev.status == EditionStatus.HELD:
            continue
        carried = Edition(
            release_id=release.id,
            version=new.version,
            lang=prev.lang,
            headline=prev.headline,
            summary=prev.summary,
            body_html=prev.body_html,
            about=prev.about,
            origin=prev.origin,
            engine=prev.engine,
            route=list(prev.route),
            tier=prev.tier,
            status=EditionStatus.OUTDATED,
            created_by=prev.created_by,
        )
        sign(settings, carried)
        session.add(carried)
        session.flush()
    request_editions(session, release, new.version)  # the editions stage makes the machine ones
    return new


def make_current(session: Session, release: Release, version: ReleaseVersion) -> None:
    """The version becomes the one readers, search and recipients get; a published release's
    recipients get it as a correction."""
    version.state = VersionState.APPROVED
    release.version = version.version
    release.pending_version = None
    release.updated_at = utcnow()
    session.flush()
    search.drop_release(session, release.id)
    for edition in current_editions(session, release):
        if edition.status not in (EditionStatus.NEEDS_TRANSLATION, EditionStatus.HELD):
            search.index_edition(session, edition)
    # a published release's recipients get the correction once its machine editions are made:
    # now, or when the editions stage finishes them (it sends the same event then)
    if release.status == ReleaseStatus.PUBLISHED and translated(session, release, version.version):
        emit(
            session,
            "release.corrected",
            f"corrected:{release.id}:{version.version}",
            {"release_id": release.id, "version": version.version},
        )


def version_row(session: Session, release: Release, number: int) -> ReleaseVersion:
    found = session.scalar(
        select(ReleaseVersion).where(
            ReleaseVersion.release_id == release.id, ReleaseVersion.version == number
        )
    )
    assert found is not None
    return found


def approve_draft(session: Session, settings: Settings, release: Release, lang: str) -> tuple[Edition, bool]:
    """An editor publishes the machine draft of `lang` (after reading it, or after supplying a
    corrected text), or passes an issuer's edition the review chain held. Returns the edition and
    whether it was such a held one."""
    edition = edition_of(session, release, lang)
    if edition is not None and edition.pending is not None:
        return apply_held_edition(session, settings, release, edition), True
    if edition is None or edition.status != EditionStatus.DRAFT:
        raise Conflict(f"no {lang} draft to approve", "lang")
    edition.status = EditionStatus.PUBLISHED
    edition.updated_at = utcnow()
    emit(
        session,
        "edition.updated",
        f"edition:{edition.id}:approved",
        {"release_id": release.id, "edition_id": edition.id, "lang": lang},
    )
    return edition, False


def request_translation(session: Session, release: Release, lang: str, requested_by: str) -> Edition:
    """Ask for a human translation: `lang` shows as needing translation until someone supplies it.
    Asking again, or for a language that has an edition, changes nothing."""
    if lang == release.language:
        raise Conflict("that is the original language", "lang")
    edition = edition_of(session, release, lang)
    if edition is None:
        edition = awaiting_translation(
            release,
            release.version,
            lang,
            origin="human",
            tier="publishable",
            route=[{"requested_by": requested_by}],
        )
        session.add(edition)
        session.flush()
    return edition
