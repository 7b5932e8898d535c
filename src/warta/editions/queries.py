"""Reading releases back, with the one visibility rule every public surface shares.

The public (pages, feeds, search, anonymous API) sees a release once it is published and its
public time (release time, or embargo lift if later) has passed. Issuers see their own
releases at any stage; editors see everything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import String, cast, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from warta.clock import utcnow
from warta.intake.keys import Principal
from warta.intake.sanitize import ContentError
from warta.model import Edition, Organisation, Release, ReleaseVersion
from warta.store import search

SHOWN_EDITION_STATES = ("published", "outdated")


def is_public(now: datetime | None = None) -> ColumnElement[bool]:
    now = now or utcnow()
    return (Release.status == "published") & (Release.public_at <= now)


def release_is_public(release: Release, now: datetime | None = None) -> bool:
    from warta.clock import aware

    public_at = aware(release.public_at)
    return release.status == "published" and public_at is not None and public_at <= (now or utcnow())


def can_view(release: Release, who: Principal | None) -> bool:
    return release_is_public(release) or (who is not None and who.can_see_unreleased(release.org_id))


@dataclass(frozen=True)
class Item:
    release: Release
    version: ReleaseVersion
    edition: Edition
    org: Organisation


@dataclass(frozen=True)
class Filters:
    lang: str | None = None
    sector: str | None = None
    country: str | None = None
    org: str | None = None  # organisation slug
    q: str | None = None


def parse_filters(
    lang: str | None = None,
    sector: str | None = None,
    country: str | None = None,
    org: str | None = None,
    q: str | None = None,
) -> Filters:
    """Filters from query parameters; an unknown language, sector or country is a ContentError."""
    from warta.editions.sectors import normalise_sector
    from warta.intake.submission import clean_country, clean_language

    sector_code = None
    if sector:
        sector_code = normalise_sector(sector)
        if sector_code is None:
            raise ContentError("sector", f"{sector!r} is neither an IPTC Media Topic nor a wire section")
    return Filters(
        lang=clean_language(lang, "lang") if lang else None,
        sector=sector_code,
        country=clean_country(country, "country") if country else None,
        org=org or None,
        q=(q or "").strip()[:200] or None,
    )


def _json_has(column: ColumnElement[object] | object, value: str) -> ColumnElement[bool]:
    return cast(column, String).like(f'%"{value}"%')


def public_items(session: Session, filters: Filters, limit: int = 20, offset: int = 0) -> list[Item]:
    """Released items, newest first: one edition per release (the filtered language, else the original)."""
    stmt = (
        select(Release, ReleaseVersion, Edition, Organisation)
        .join(Organisation, Organisation.id == Release.org_id)
        .join(
            ReleaseVersion,
            (ReleaseVersion.release_id == Release.id) & (ReleaseVersion.version == Release.version),
        )
        .join(Edition, (Edition.release_id == Release.id) & (Edition.version == Release.version))
        .where(is_public(), Edition.status.in_(SHOWN_EDITION_STATES))
    )
    if filters.lang:
        stmt = stmt.where(Edition.lang == filters.lang)
    else:
        stmt = stmt.where(Edition.lang == Release.language)
    if filters.sector:
        stmt = stmt.where(_json_has(Release.sectors, filters.sector))
    if filters.country:
        stmt = stmt.where(
            or_(
                Release.dateline_country == filters.country,
                _json_has(Release.target_countries, filters.country),
            )
        )
    if filters.org:
        stmt = stmt.where(Organisation.slug == filters.org)
    if filters.q:
        ids = search.search_edition_ids(session, filters.q, limit=1000)
        if not ids:
            return []
        # a match in any edition finds the release; show it in the filtered or original language
        matched_releases = select(Edition.release_id).where(Edition.id.in_(ids))
        stmt = stmt.where(Release.id.in_(matched_releases))
    stmt = stmt.order_by(Release.public_at.desc(), Release.id.desc()).limit(limit).offset(offset)
    return [Item(*row) for row in session.execute(stmt).all()]


def last_withdrawal(session: Session) -> datetime | None:
    """When a published release was last withdrawn: a list it left changed then, so a feed's or
    page's Last-Modified is never earlier."""
    from sqlalchemy import func

    found: datetime | None = session.scalar(
        select(func.max(Release.updated_at)).where(
            Release.status == "withdrawn", Release.published_at.is_not(None)
        )
    )
    return found


def release_editions(session: Session, release: Release, shown_only: bool = False) -> list[Edition]:
    """The current version's editions; with `shown_only`, only those readers may see (no drafts,
    no placeholders for missing translations)."""
    stmt = select(Edition).where(Edition.release_id == release.id, Edition.version == release.version)
    if shown_only:
        stmt = stmt.where(Edition.status.in_(SHOWN_EDITION_STATES))
    return list(session.scalars(stmt.order_by(Edition.lang)))


def current_version(session: Session, release: Release) -> ReleaseVersion:
    version = session.scalar(
        select(ReleaseVersion).where(
            ReleaseVersion.release_id == release.id, ReleaseVersion.version == release.version
        )
    )
    assert version is not None
    return version
