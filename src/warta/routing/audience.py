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

from warta.delivery.base import EndpointView, RecipientView
from warta.model import Circuit, Endpoint, Recipient
from warta.model.states import EndpointState, RecipientStatus

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
    _c.embargo_trusted,
    _c.locale,
    _c.timezone,
)


_e = Endpoint.__table__.c
# the columns an EndpointView is made of, in the order `endpoint_of` reads them
ENDPOINT_COLUMNS = (_e.id, _e.channel, _e.address, _e.format, _e.secret)
# every active endpoint, with its recipient: the audience's addresses
_ACTIVE_ENDPOINTS = select(_e.recipient_id, *ENDPOINT_COLUMNS).where(_e.state == EndpointState.ACTIVE)


def endpoint_of(values: Any) -> EndpointView:
    """An endpoint from a row of `ENDPOINT_COLUMNS` (by position, as `view_of` reads recipients)."""
    return EndpointView._make(values)


def view_of(values: Any, endpoints: tuple[EndpointView, ...] = ()) -> RecipientView:
    """A recipient from a row of `VIEW_COLUMNS` (read by position: a row's attributes by name cost
    about a microsecond each, and routing and delivery make views by the hundred thousand)."""
    (
        rid,
        kind,
        name,
        country,
        languages,
        sectors,
        trusted,
        locale,
        timezone,
    ) = values
    # made without the frozen dataclass's __init__, which sets each field through
    # object.__setattr__ (three times the cost of the rest of this function)
    made = _new_view(RecipientView)
    made.__dict__.update(
        id=rid,
        kind=kind,
        name=name,
        country=country,
        languages=_tags(languages) if isinstance(languages, str) else tuple(languages),
        sectors=_tags(sectors) if isinstance(sectors, str) else tuple(sectors),
        embargo_trusted=bool(trusted),  # SQLite's driver gives 0 or 1
        locale=locale,
        timezone=timezone,
        endpoints=endpoints,
    )
    return made


_new_view = object.__new__


@functools.lru_cache(maxsize=4096)
def _tags(stored: str) -> tuple[str, ...]:
    """A JSON list as stored (language codes, sectors), decoded."""
    return tuple(json.loads(stored))


def view(r: Recipient) -> RecipientView:
    """A recipient (an ORM object) as channels see it, with its active endpoints."""
    endpoints = tuple(
        endpoint_of([getattr(e, column.key) for column in ENDPOINT_COLUMNS])
        for e in r.endpoints
        if e.state == EndpointState.ACTIVE
    )
    return view_of([getattr(r, column.key) for column in VIEW_COLUMNS], endpoints)


def active_endpoints(session: Session) -> dict[str, tuple[EndpointView, ...]]:
    """Every active endpoint, by recipient id."""
    found: dict[str, list[EndpointView]] = {}
    for row in session.execute(_ACTIVE_ENDPOINTS):
        have = found.get(row[0])
        if have is None:
            have = found[row[0]] = []
        have.append(endpoint_of(row[1:]))
    return {rid: tuple(endpoints) for rid, endpoints in found.items()}


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
    active = session.execute(select(*VIEW_COLUMNS).where(_c.status == RecipientStatus.ACTIVE))
    endpoints = active_endpoints(session)
    none: tuple[EndpointView, ...] = ()
    return AudienceIndex.build((view_of(r, endpoints.get(r[0], none)) for r in active), fp)


def choose_language(
    preferences: Iterable[str], available: Iterable[str], original: str, fallback: bool
) -> str | None:
    """The recipient's first preferred language that has an edition; else the original, if configured."""
    have = set(available)
    for lang in preferences:
        if lang in have:
            return lang
    return original if fallback and original in have else None
