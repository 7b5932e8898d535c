"""Machine editions: for each language a release targets, the best route the engines offer.

Runs when a release (or a correction) is stored, inside the same transaction, so an approved
release never goes out before its editions exist. A language no engine reaches gets an edition
in the `needs_translation` state — visible to the issuer and the desk, never a silent gap and
never a copy of the original. Machine output publishes directly when its route's quality tier is
`publishable` (OpenCC) or the operator lists the language in WARTA_PUBLISH_MACHINE; otherwise it
is held as a `draft` for an editor.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from warta.config import Settings
from warta.editions.service import awaiting_translation, sign
from warta.i18n.catalog import LANGUAGES
from warta.intake.sanitize import sanitize_html, sanitize_text
from warta.languages import markup
from warta.languages.engines.base import Engine, EngineError
from warta.languages.router import Route, TranslationRouter
from warta.model import Circuit, Edition, Organisation, Release, ReleaseVersion
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


def target_languages(session: Session, release: Release) -> list[str]:
    """The release's own target languages, then its circuits' default languages."""
    langs = list(release.target_languages)
    if release.target_circuits:
        for circuit in session.scalars(select(Circuit).where(Circuit.slug.in_(release.target_circuits))):
            langs += circuit.languages
    return [lang for lang in dict.fromkeys(langs) if lang in LANGUAGES and lang != release.language]


def _hops(route: Route) -> list[dict[str, Any]]:
    return [{"engine": engine, "from": src, "to": dst} for engine, src, dst in route.hops]


def make_machine_editions(
    session: Session,
    settings: Settings,
    release: Release,
    version: ReleaseVersion,
    router: TranslationRouter | None = None,
    index: bool = True,
) -> list[Edition]:
    """Create the missing target-language editions of the version; returns them. With `index`
    false they are left out of search (a version not yet current is indexed when it becomes so)."""
    wanted = target_languages(session, release)
    # a language with any edition (a person's, even if it now lags a correction) is left alone
    have = set(
        session.scalars(
            select(Edition.lang).where(Edition.release_id == release.id, Edition.version == version.version)
        )
    )
    missing = [lang for lang in wanted if lang not in have]
    if not missing:
        return []
    router = router or shared_router()
    org = session.get(Organisation, release.org_id)
    glossary = list(org.glossary) if org else []
    batched = _batched_engines(router, release.language, missing)
    made = []
    for lang in missing:
        made.append(
            _translate(session, settings, release, version, lang, router, glossary, batched.get(lang), index)
        )
    return made


class _AcrossTargets(Engine):
    """An engine that translates into several targets in one pass (CTranslate2 with NLLB): the
    first target's call translates the segments into every target at once, the others are
    answered from that batch."""

    def __init__(self, inner: Engine, targets: list[str]) -> None:
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


def _batched_engines(router: TranslationRouter, source: str, targets: list[str]) -> dict[str, Engine]:
    """Targets reached in one hop by the same multi-target engine share one batch per field."""
    groups: dict[str, list[str]] = {}
    for lang in targets:
        route = router.route(source, lang)
        if route is not None and len(route.hops) == 1:
            engine = router.engines[route.hops[0][0]]
            if hasattr(engine, "translate_many"):
                groups.setdefault(engine.name, []).append(lang)
    out: dict[str, Engine] = {}
    for name, langs in groups.items():
        if len(langs) > 1:
            shared = _AcrossTargets(router.engines[name], langs)
            out.update({lang: shared for lang in langs})
    return out


def _translate(
    session: Session,
    settings: Settings,
    release: Release,
    version: ReleaseVersion,
    lang: str,
    router: TranslationRouter,
    glossary: list[str],
    batched: Engine | None = None,
    index: bool = True,
) -> Edition:
    route = router.route(release.language, lang)
    edition = awaiting_translation(release, version.version, lang, origin="machine", tier="gist", route=[])
    if route is None:
        edition.route = [{"error": f"no engine translates {release.language} to {lang}"}]
    else:
        edition.engine = "+".join(dict.fromkeys(route.engines))
        edition.route = _hops(route)
        edition.tier = route.tier
        src = release.language

        def text(value: str) -> str:
            if batched is not None:
                return markup.translate_text(value, batched, src, lang, glossary)
            return router.translate_text(route, value, glossary)

        def html(value: str) -> str:
            if batched is not None:
                return markup.translate_html(value, batched, src, lang, glossary)
            return router.translate_html(route, value, glossary)

        try:
            edition.headline = sanitize_text(text(version.headline), "headline", 400)
            edition.summary = sanitize_text(text(version.summary), "summary", 4000)
            edition.body_html = sanitize_html(html(version.body_html))
            edition.about = sanitize_html(html(version.about)) if version.about else ""
            publish = (
                route.tier == "publishable"
                or lang in settings.publish_machine
                or "all" in settings.publish_machine
            )
            edition.status = "published" if publish else "draft"
        except (EngineError, ValueError) as exc:
            log.warning("translating %s to %s failed: %s", release.id, lang, exc)
            edition.headline = edition.summary = edition.body_html = edition.about = ""
            edition.status = "needs_translation"
            edition.route = [*edition.route, {"error": str(exc)[:500]}]
    sign(settings, edition)
    session.add(edition)
    session.flush()
    if index and edition.status != "needs_translation":
        search.index_edition(session, edition)
    return edition
