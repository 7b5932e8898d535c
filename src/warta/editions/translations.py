"""Machine editions: for each language a release targets, the best route the engines offer.

The editions stage (`editions/stage.py`) calls these after intake or a correction stored the
original, each edition in its own short transaction, with the engines working outside any
transaction. A language no engine reaches gets an edition in the `needs_translation` state —
visible to the issuer and the desk, never a silent gap and never a copy of the original. Machine
output publishes directly when its route's quality tier is `publishable` (OpenCC) or the operator
lists the language in WARTA_PUBLISH_MACHINE; otherwise it is held as a `draft` for an editor.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from warta.clock import utcnow
from warta.config import Settings
from warta.editions.service import sign
from warta.editions.targets import missing_languages
from warta.intake.sanitize import sanitize_html, sanitize_text
from warta.languages import markup
from warta.languages.engines.base import EngineError, Translator
from warta.languages.router import Route, TranslationRouter
from warta.model import Edition, Organisation, Release, ReleaseVersion
from warta.model.states import EditionStatus
from warta.store import search

log = logging.getLogger(__name__)
_router: TranslationRouter | None = None
_router_lock = threading.Lock()


def shared_router() -> TranslationRouter:
    """One router per process: engines keep their pipelines and models warm between releases."""
    global _router
    with _router_lock:
        if _router is None:
            import importlib
            import pkgutil

            import warta.languages.engines as package

            for module in pkgutil.iter_modules(package.__path__):
                importlib.import_module(f"{package.__name__}.{module.name}")
            _router = TranslationRouter.from_registry()
        return _router


def _hops(route: Route) -> list[dict[str, Any]]:
    return [{"engine": engine, "from": src, "to": dst} for engine, src, dst in route.hops]


@dataclass(frozen=True)
class Source:
    """What the engines translate, read in one short transaction and used outside any."""

    release_id: str
    version: int
    language: str
    headline: str
    summary: str
    body_html: str
    about: str
    glossary: tuple[str, ...]
    missing: tuple[str, ...]

    @classmethod
    def read(cls, session: Session, release: Release, version: ReleaseVersion) -> Source:
        org = session.get(Organisation, release.org_id)
        return cls(
            release_id=release.id,
            version=version.version,
            language=release.language,
            headline=version.headline,
            summary=version.summary,
            body_html=version.body_html,
            about=version.about or "",
            glossary=tuple(org.glossary) if org else (),
            missing=tuple(missing_languages(session, release, version.version)),
        )


def translate_all(
    settings: Settings, source: Source, router: TranslationRouter | None = None
) -> Iterator[Edition]:
    """The source's missing editions, one at a time as each is made (not yet stored or indexed).
    Blocking: the engines run in the caller's thread."""
    router = router or shared_router()
    batched = _batched_engines(router, source.language, list(source.missing))
    for lang in source.missing:
        yield _translate(settings, source, lang, router, batched.get(lang))


def store_edition(session: Session, edition: Edition, index: bool) -> bool:
    """Add a machine edition unless the language got one meanwhile (a person's upload wins);
    with `index`, put it in search. Returns whether it was added."""
    taken = session.scalar(
        select(Edition.id).where(
            Edition.release_id == edition.release_id,
            Edition.version == edition.version,
            Edition.lang == edition.lang,
        )
    )
    if taken is not None:
        return False
    session.add(edition)
    session.flush()
    if index and edition.status != EditionStatus.NEEDS_TRANSLATION:
        search.index_edition(session, edition)
    return True


def make_machine_editions(
    session: Session,
    settings: Settings,
    release: Release,
    version: ReleaseVersion,
    router: TranslationRouter | None = None,
    index: bool = True,
) -> list[Edition]:
    """Create the missing target-language editions of the version in the caller's transaction;
    returns them. For tools and tests: the server makes them in the editions stage instead."""
    made = []
    for edition in translate_all(settings, Source.read(session, release, version), router):
        if store_edition(session, edition, index):
            made.append(edition)
    return made


class _AcrossTargets(Translator):
    """An engine that translates into several targets in one pass (CTranslate2 with NLLB): the
    first target's call translates the segments into every target at once, the others are
    answered from that batch."""

    def __init__(self, inner: Translator, targets: list[str]) -> None:
        self.inner = inner
        self.targets = targets
        self.name = inner.name  # type: ignore[misc]
        self.tier = inner.tier  # type: ignore[misc]
        self.handles_html = inner.handles_html  # type: ignore[misc]
        self._done: dict[tuple[tuple[str, ...], str], dict[str, list[str]]] = {}

    def pairs(self) -> set[tuple[str, str]]:
        return self.inner.pairs()

    def translate(self, segments: list[str], source: str, target: str) -> list[str]:
        key = (tuple(segments), source)
        if key not in self._done:
            self._done[key] = self.inner.translate_many(segments, source, self.targets)  # type: ignore[attr-defined]
        return self._done[key][target]


def _batched_engines(router: TranslationRouter, source: str, targets: list[str]) -> dict[str, Translator]:
    """Targets reached in one hop by the same multi-target engine share one batch per field."""
    groups: dict[str, list[str]] = {}
    for lang in targets:
        route = router.route(source, lang)
        if route is not None and len(route.hops) == 1:
            engine = router.engines[route.hops[0][0]]
            if hasattr(engine, "translate_many"):
                groups.setdefault(engine.name, []).append(lang)
    out: dict[str, Translator] = {}
    for name, langs in groups.items():
        if len(langs) > 1:
            shared = _AcrossTargets(router.engines[name], langs)
            out.update({lang: shared for lang in langs})
    return out


def _translate(
    settings: Settings,
    source: Source,
    lang: str,
    router: TranslationRouter,
    batched: Translator | None = None,
) -> Edition:
    route = router.route(source.language, lang)
    now = utcnow()
    edition = Edition(
        release_id=source.release_id,
        version=source.version,
        lang=lang,
        headline="",
        summary="",
        body_html="",
        about="",
        origin="machine",
        tier="gist",
        status=EditionStatus.NEEDS_TRANSLATION,
        route=[],
        created_at=now,
        updated_at=now,
    )
    if route is None:
        edition.route = [{"error": f"no engine translates {source.language} to {lang}"}]
    else:
        edition.engine = "+".join(dict.fromkeys(route.engines))
        edition.route = _hops(route)
        edition.tier = route.tier
        src = source.language
        glossary = list(source.glossary)

        def text(value: str) -> str:
            if batched is not None:
                return markup.translate_text(value, batched, src, lang, glossary)
            return router.translate_text(route, value, glossary)

        def html(value: str) -> str:
            if batched is not None:
                return markup.translate_html(value, batched, src, lang, glossary)
            return router.translate_html(route, value, glossary)

        try:
            edition.headline = sanitize_text(text(source.headline), "headline", 400)
            edition.summary = sanitize_text(text(source.summary), "summary", 4000)
            edition.body_html = sanitize_html(html(source.body_html))
            edition.about = sanitize_html(html(source.about)) if source.about else ""
            publish = (
                route.tier == "publishable"
                or lang in settings.publish_machine
                or "all" in settings.publish_machine
            )
            edition.status = EditionStatus.PUBLISHED if publish else EditionStatus.DRAFT
        except (EngineError, ValueError) as exc:
            log.warning("translating %s to %s failed: %s", source.release_id, lang, exc)
            edition.headline = edition.summary = edition.body_html = edition.about = ""
            edition.status = EditionStatus.NEEDS_TRANSLATION
            edition.route = [*edition.route, {"error": str(exc)[:500]}]
    sign(settings, edition)
    return edition
