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

from warta.clock import aware, utcnow
from warta.editions.sectors import normalise_sector
from warta.errors import Forbidden, NotFound
from warta.intake.keys import Principal
from warta.intake.sanitize import ContentError
from warta.intake.submission import clean_country, clean_language
from warta.model import Edition, Organisation, Release, ReleaseVersion
from warta.model.states import SHOWN_EDITION_STATES, ReleaseStatus
from warta.store import search


def is_public(now: datetime | None = None) -> ColumnElement[bool]:
    """The public's visibility as a query's condition: published, and its `public_at` (the
    moment the embargo gate lets the untrusted have it, `embargo.public_at`) has come."""
    now = now or utcnow()
    return (Release.status == ReleaseStatus.PUBLISHED) & (Release.public_at <= now)


def release_is_public(release: Release, now: datetime | None = None) -> bool:
    """`is_public` for a release already read."""
    public_at = aware(release.public_at)
    return (
        release.status == ReleaseStatus.PUBLISHED and public_at is not None and public_at <= (now or utcnow())
    )


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
            Release.status == ReleaseStatus.WITHDRAWN, Release.published_at.is_not(None)
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


# --- one release, as the API and the pages read it ------------------------------------------------


def release_by_id(session: Session, release_id: str) -> Release | None:
    """The release, whatever its state; callers apply the visibility rule."""
    return session.get(Release, release_id)


def viewable_release(session: Session, release_id: str, who: Principal | None) -> Release:
    """The release if `who` may see it (the public once it is out); else NotFound, so an
    unreleased item's existence is not given away."""
    release = session.get(Release, release_id)
    if release is None or not can_view(release, who):
        raise NotFound(f"no release {release_id}")
    return release


def owned_release(session: Session, release_id: str, who: Principal) -> Release:
    """A release `who` may change: its issuer's own, or any for editors."""
    release = viewable_release(session, release_id, who)
    if not who.is_editor and who.org_id != release.org_id:
        raise Forbidden("not your organisation's release")
    return release


def unreleased_view(session: Session, release_id: str, who: Principal) -> Release:
    """A release as its issuer and the desk see it, in any state (its ledger, its report)."""
    release = session.get(Release, release_id)
    if release is None or not who.can_see_unreleased(release.org_id):
        raise NotFound(f"no release {release_id}")
    return release


def organisation_of(session: Session, release: Release) -> Organisation:
    org = session.get(Organisation, release.org_id)
    assert org is not None  # releases keep their organisation: organisations are never deleted
    return org


def release_versions(session: Session, release: Release) -> list[ReleaseVersion]:
    """Every version of the release, oldest first, drafts and rejected ones included."""
    return list(
        session.scalars(
            select(ReleaseVersion)
            .where(ReleaseVersion.release_id == release.id)
            .order_by(ReleaseVersion.version)
        )
    )


def version_of(session: Session, release: Release, number: int) -> ReleaseVersion | None:
    return session.scalar(
        select(ReleaseVersion).where(
            ReleaseVersion.release_id == release.id, ReleaseVersion.version == number
        )
    )


def current_edition(session: Session, release: Release, lang: str) -> Edition | None:
    """The `lang` edition of the release's current version, whatever its state."""
    return session.scalar(
        select(Edition).where(
            Edition.release_id == release.id, Edition.version == release.version, Edition.lang == lang
        )
    )


def version_editions(session: Session, release: Release, number: int, shown_only: bool) -> list[Edition]:
    """The editions of one version; with `shown_only`, those readers could see (the public history
    lists no drafts and no placeholders)."""
    stmt = select(Edition).where(Edition.release_id == release.id, Edition.version == number)
    if shown_only:
        stmt = stmt.where(Edition.status.in_(SHOWN_EDITION_STATES))
    return list(session.scalars(stmt.order_by(Edition.lang)))


# --- lists for issuers and the desk ---------------------------------------------------------------


def releases_with_status(
    session: Session, who: Principal, status: str, limit: int, offset: int
) -> list[Release]:
    """Releases in one state, newest first: an issuer's own, or all of them for editors."""
    stmt = select(Release).where(Release.status == status).order_by(Release.created_at.desc())
    if not who.is_editor:
        stmt = stmt.where(Release.org_id == who.org_id)
    return list(session.scalars(stmt.limit(limit).offset(offset)))


def review_queue(session: Session) -> list[Release]:
    """Held releases, and releases with a held correction or held editions, oldest first."""
    waiting = select(Edition.release_id).where(
        Edition.pending.is_not(None), Edition.version == Release.version
    )
    return list(
        session.scalars(
            select(Release)
            .where(
                (Release.status == ReleaseStatus.HELD)
                | Release.pending_version.is_not(None)
                | (
                    Release.status.in_((ReleaseStatus.APPROVED, ReleaseStatus.PUBLISHED))
                    & Release.id.in_(waiting)
                )
            )
            .order_by(Release.created_at)
        )
    )


def translation_queue(session: Session, status: str, limit: int = 500) -> list[tuple[Edition, Release]]:
    """Current editions in `status` (machine drafts, or languages waiting for a translator) of
    releases still going out, oldest first."""
    rows = session.execute(
        select(Edition, Release)
        .join(Release, (Release.id == Edition.release_id) & (Release.version == Edition.version))
        .where(
            Edition.status == status,
            Release.status.in_((ReleaseStatus.HELD, ReleaseStatus.APPROVED, ReleaseStatus.PUBLISHED)),
        )
        .order_by(Edition.created_at)
        .limit(limit)
    ).all()
    return [(e, r) for e, r in rows]


# --- the newsroom's choices -----------------------------------------------------------------------


def issuer_choices(session: Session) -> list[tuple[str, str]]:
    """(slug, name) of every organisation, by name: the newsroom's issuer filter."""
    rows = session.execute(select(Organisation.slug, Organisation.name).order_by(Organisation.name)).all()
    return [(slug, name) for slug, name in rows]


def public_countries(session: Session) -> list[str]:
    """The datelines' countries of released items, sorted."""
    rows = session.execute(select(Release.dateline_country).where(is_public()).distinct()).all()
    return sorted({c for (c,) in rows})


def organisation_by_slug(session: Session, slug: str) -> Organisation | None:
    return session.scalar(select(Organisation).where(Organisation.slug == slug))
