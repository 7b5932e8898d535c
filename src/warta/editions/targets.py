"""Which languages a release wants editions in, and the request that gets them made.

Intake and corrections only ask (`request_editions`, in their own transaction); the editions stage
makes the machine editions. The scheduler and corrections read `translated` to know whether a
version's editions are all there before it goes out.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from warta.bus import emit
from warta.i18n.catalog import LANGUAGES
from warta.model import Circuit, Edition, Release

# intake or a correction asks the editions stage for a version's machine editions
EDITIONS_WANTED = "editions.wanted"
# the stage has made every edition it could of a version (the scheduler wakes to publish it)
EDITIONS_MADE = "editions.made"
# an edition became published (made by an engine, approved by the desk, uploaded by a person)
EDITION_UPDATED = "edition.updated"


def target_languages(session: Session, release: Release) -> list[str]:
    """The release's own target languages, then its circuits' default languages."""
    langs = list(release.target_languages)
    if release.target_circuits:
        for circuit in session.scalars(select(Circuit).where(Circuit.slug.in_(release.target_circuits))):
            langs += circuit.languages
    return [lang for lang in dict.fromkeys(langs) if lang in LANGUAGES and lang != release.language]


def missing_languages(session: Session, release: Release, version: int) -> list[str]:
    """Target languages the version has no edition in yet. A language with any edition (a
    person's, even if it now lags a correction; a gap marked `needs_translation`) is not missing."""
    wanted = target_languages(session, release)
    if not wanted:
        return []
    have = set(
        session.scalars(
            select(Edition.lang).where(Edition.release_id == release.id, Edition.version == version)
        )
    )
    return [lang for lang in wanted if lang not in have]


def translated(session: Session, release: Release, version: int) -> bool:
    """Whether every target language of the version has an edition (machine, person's or gap)."""
    return not missing_languages(session, release, version)


def request_editions(session: Session, release: Release, version: int) -> None:
    """Ask the editions stage, in the caller's transaction, for the version's machine editions."""
    emit(
        session,
        EDITIONS_WANTED,
        f"editions:{release.id}:{version}",
        {"release_id": release.id, "version": version},
    )
