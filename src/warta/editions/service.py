"""Editions: the original language edition of each version, editions supplied by people, corrections.

Each edition carries a SHA-256 digest of its content and an HMAC signature by the wire's secret,
so a holder of the wire's key can check that an edition is the one the wire released.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from warta.bus import emit
from warta.clock import utcnow
from warta.config import Settings
from warta.model import Edition, Release, ReleaseVersion
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
    session: Session, settings: Settings, release: Release, version: ReleaseVersion
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
        status="published",
        created_by=version.created_by,
    )
    sign(settings, edition)
    session.add(edition)
    session.flush()
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
        status="needs_translation",
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
    current = session.scalar(
        select(Edition).where(
            Edition.release_id == release.id, Edition.version == release.version, Edition.lang == lang
        )
    )
    version = release.versions[-1]
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
    current.status = "published"
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
    """A new version of the release; the old version and its editions stay in the history.

    Other-language editions are carried over marked `outdated` until someone supplies a
    corrected translation, so readers keep a page in their language and see that it lags.
    """
    old = release.versions[-1]
    old_editions = current_editions(session, release)
    new = ReleaseVersion(
        release_id=release.id,
        version=old.version + 1,
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
    release.version = new.version
    release.updated_at = utcnow()
    session.flush()
    search.drop_release(session, release.id)
    make_original_edition(session, settings, release, new)
    for prev in old_editions:
        # machine editions are translated afresh below; only people's work is carried over
        if prev.lang == release.language or prev.origin == "machine":
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
            status="outdated",
            created_by=prev.created_by,
        )
        sign(settings, carried)
        session.add(carried)
        session.flush()
        search.index_edition(session, carried)
    from warta.editions.translations import make_machine_editions

    make_machine_editions(session, settings, release, new)
    emit(
        session,
        "release.corrected",
        f"corrected:{release.id}:{new.version}",
        {"release_id": release.id, "version": new.version},
    )
    return new
