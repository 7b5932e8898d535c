"""What the feeds index offers: the countries and issuers that have public releases."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from warta.editions.queries import is_public
from warta.model import Organisation, Release


@dataclass(frozen=True)
class FeedChoices:
    countries: list[str]
    issuers: list[tuple[str, str]]  # (slug, name)


def feed_choices(session: Session) -> FeedChoices:
    """Only filters that give a feed with something in it today: countries and issuers of
    released items (languages and sectors are the wire's fixed lists)."""
    countries = session.scalars(
        select(Release.dateline_country).where(is_public()).distinct().order_by(Release.dateline_country)
    ).all()
    issuers = session.execute(
        select(Organisation.slug, Organisation.name)
        .where(Organisation.id.in_(select(Release.org_id).where(is_public())))
        .order_by(Organisation.name)
    ).all()
    return FeedChoices(countries=list(countries), issuers=[(slug, name) for slug, name in issuers])
