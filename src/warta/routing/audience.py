"""Who gets a release: an in-memory index of the active audience, matched once per release.

Recipients are bucketed by (country, language, sector) — a recipient with no sector preference
sits under "*" — so selecting an audience is a handful of dictionary lookups and set unions, not
a query per recipient. The index is rebuilt when the recipients table changes.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import String, func, select, type_coerce
from sqlalchemy.orm import Session

from warta.delivery.base import RecipientView
from warta.model import Circuit, Recipient

ANY = "*"


_c = Recipient.__table__.c
# the columns a RecipientView is made of, in the order `view_of` reads them. The two lists are read
# as their stored text where the database stores JSON as text (SQLite): recipients share a few
# dozen distinct lists, each decoded once (`_tags`), not once per recipient by the JSON type
VIEW_COLUMNS = (
    _c.id,
    _c.kind,
    _c.name,
    _c.country,
    type_coerce(_c.languages, String).label("languages"),
    type_coerce(_c.sectors, String).label("sectors"),
    _c.email,
    _c.webhook_url,
    _c.webhook_disabled,
    _c.webhook_secret,
    _c.webhook_format,
    _c.stream_token,
    _c.feed_token,
    _c.embargo_trusted,
    _c.locale,
    _c.timezone,
)


def view_of(values: Any) -> RecipientView:
    """A recipient from a row of `VIEW_COLUMNS` (read by position: a row's attributes by name cost
    about a microsecond each, and routing and delivery make views by the hundred thousand)."""
    (
        rid,
        kind,
        name,
        country,
        languages,
        sectors,
        email,
        url,
        disabled,
        secret,
        fmt,
        stream,
        feed,
        trusted,
        locale,
        timezone,
    ) = values
    # made without the frozen dataclass's __init__, which sets each of the 15 fields through
    # object.__setattr__ (three times the cost of the rest of this function)
    made = _new_view(RecipientView)
    made.__dict__.update(
        id=rid,
        kind=kind,
        name=name,
        country=country,
        languages=_tags(languages) if isinstance(languages, str) else tuple(languages),
        sectors=_tags(sectors) if isinstance(sectors, str) else tuple(sectors),
        email=email,
        webhook_url=None if disabled else url,
        webhook_secret=secret,
        webhook_format=fmt,
        stream_token=stream,
        feed_token=feed,
        embargo_trusted=bool(trusted),  # SQLite's driver gives 0 or 1
        locale=locale,
        timezone=timezone,
    )
    return made


_new_view = object.__new__


@functools.lru_cache(maxsize=4096)
def _tags(stored: str) -> tuple[str, ...]:
    """A JSON list as stored (language codes, sectors), decoded."""
    return tuple(json.loads(stored))


def view(r: Any) -> RecipientView:
    """A recipient (an ORM object or a row of the table) as channels see it."""
    return view_of([getattr(r, column.key) for column in VIEW_COLUMNS])


@dataclass(frozen=True)
class Selector:
    """An audience description; an empty set means 'any'."""

    countries: frozenset[str] = frozenset()
    languages: frozenset[str] = frozenset()
    sectors: frozenset[str] = frozenset()
    kinds: frozenset[str] = frozenset()

    @classmethod
    def of(cls, c: Circuit) -> Selector:
        return cls(frozenset(c.countries), frozenset(c.languages), frozenset(c.sectors), frozenset(c.kinds))


@dataclass
class AudienceIndex:
    recipients: list[RecipientView] = field(default_factory=list)
    by_id: dict[str, int] = field(default_factory=dict)
    # country -> language -> sector (or ANY) -> recipient numbers
    buckets: dict[str, dict[str, dict[str, set[int]]]] = field(default_factory=dict)
    kinds: dict[str, set[int]] = field(default_factory=dict)
    fingerprint: tuple[object, ...] = ()

    @classmethod
    def build(
        cls, recipients: Iterable[RecipientView], fingerprint: tuple[object, ...] = ()
    ) -> AudienceIndex:
        index = cls(fingerprint=fingerprint)
        for r in recipients:
            n = len(index.recipients)
            index.recipients.append(r)
            index.by_id[r.id] = n
            index.kinds.setdefault(r.kind, set()).add(n)
            by_lang = index.buckets.setdefault(r.country, {})
            for lang in r.languages or (ANY,):
                by_sector = by_lang.setdefault(lang, {})
                for sector in r.sectors or (ANY,):
                    by_sector.setdefault(sector, set()).add(n)
        return index

    def select(self, sel: Selector) -> set[int]:
        """Recipients in any of the countries, speaking any of the languages, interested in any of the
        sectors (or in every sector), of any of the kinds."""
        found: set[int] = set()
        countries = sel.countries or self.buckets.keys()
        for country in countries:
            by_lang = self.buckets.get(country)
            if not by_lang:
                continue
            langs = [*sel.languages, ANY] if sel.languages else list(by_lang)
            for lang in langs:
                by_sector = by_lang.get(lang)
                if not by_sector:
                    continue
                if sel.sectors:
                    for sector in (*sel.sectors, ANY):
                        members = by_sector.get(sector)
                        if members:
                            found |= members
                else:
                    for members in by_sector.values():
                        found |= members
        if sel.kinds:
            allowed: set[int] = set()
            for kind in sel.kinds:
                allowed |= self.kinds.get(kind, set())
            found &= allowed
        return found


def fingerprint(session: Session) -> tuple[object, ...]:
    """What changes whenever a recipient is added, changed or deleted: how many there are and the
    latest change. Two scalar subqueries, so each is answered from an index (SQLite counts a
    table's rows without reading them only for a bare count, and finds a maximum by its index only
    for a bare max)."""
    count = select(func.count()).select_from(Recipient).scalar_subquery()
    latest = select(func.max(Recipient.updated_at)).scalar_subquery()
    row = session.execute(select(count, latest)).one()
    return (row[0], str(row[1]))


def load_index(session: Session) -> AudienceIndex:
    fp = fingerprint(session)
    # plain rows, not ORM objects: the whole audience is read, and only read
    active = session.execute(select(*VIEW_COLUMNS).where(_c.status == "active"))
    return AudienceIndex.build((view_of(r) for r in active), fp)


def choose_language(
    preferences: Iterable[str], available: Iterable[str], original: str, fallback: bool
) -> str | None:
    """The recipient's first preferred language that has an edition; else the original, if configured."""
    have = set(available)
    for lang in preferences:
        if lang in have:
            return lang
    return original if fallback and original in have else None
