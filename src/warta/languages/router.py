"""Choosing engines for a language pair, pivoting through other languages when no engine has the pair.

A route is a chain of hops (engine, source, target). The best route for a pair is chosen by, in order:

1. the highest tier: a route is only as good as its worst hop, and a publishable route needs no editor,
   so a two-hop publishable route beats a one-hop draft one;
2. the fewest hops: every hop loses something, so among routes of the same tier the shortest wins;
3. the engines' preference order: the order the router was given them in (`from_registry` puts higher
   tiers first), compared hop by hop.

Routes have at most `MAX_HOPS` hops and never visit a language twice. en→pt, with only Apertium's
en↔es and es↔pt installed, is "en→es (apertium) → pt (apertium)".
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from warta.languages import engines as engines_package
from warta.languages import markup
from warta.languages.engines.base import ENGINES, TIER_RANK, TIERS, EngineError, Translator

log = logging.getLogger(__name__)

MAX_HOPS = 3

Hop = tuple[str, str, str]
"""(engine name, source language, target language)."""


@dataclass(frozen=True)
class Route:
    hops: tuple[Hop, ...]
    hop_tiers: tuple[str, ...] = ()
    """The tier of each hop's engine; looked up in the engine registry when not given."""

    @property
    def source(self) -> str:
        return self.hops[0][1]

    @property
    def target(self) -> str:
        return self.hops[-1][2]

    @property
    def engines(self) -> tuple[str, ...]:
        """The engine of each hop, in order."""
        return tuple(engine for engine, _, _ in self.hops)

    @property
    def tiers(self) -> tuple[str, ...]:
        if self.hop_tiers:
            return self.hop_tiers
        return tuple(ENGINES[engine].tier if engine in ENGINES else TIERS[-1] for engine in self.engines)

    @property
    def tier(self) -> str:
        """The lowest tier of the route's hops."""
        return max(self.tiers, key=TIER_RANK.__getitem__)

    def describe(self) -> str:
        """``"en→es (apertium) → pt (apertium)"``."""
        first_engine, source, target = self.hops[0]
        text = f"{source}→{target} ({first_engine})"
        for engine, _, target in self.hops[1:]:
            text += f" → {target} ({engine})"
        return text

    def __str__(self) -> str:
        return self.describe()


def load_engine_modules() -> None:
    """Import every module of `warta.languages.engines`, so that each engine is registered."""
    for info in pkgutil.iter_modules(engines_package.__path__):
        if info.name == "base":
            continue
        name = f"{engines_package.__name__}.{info.name}"
        try:
            importlib.import_module(name)
        except Exception:
            log.warning("translation engine module %s could not be imported", name, exc_info=True)


class TranslationRouter:
    """Routes language pairs over a set of engine instances and runs the routes."""

    def __init__(self, engines: Sequence[Translator]) -> None:
        self._engines: dict[str, Translator] = {}
        for engine in engines:
            if engine.name in self._engines:
                raise ValueError(f"two engines named {engine.name!r}")
            self._engines[engine.name] = engine
        self._preference = {name: i for i, name in enumerate(self._engines)}
        self._edges: dict[str, list[tuple[str, str]]] = {}
        for engine in self._engines.values():
            for source, target in sorted(engine.pairs()):
                if source != target:
                    self._edges.setdefault(source, []).append((target, engine.name))
        self._cache: dict[tuple[str, str], Route | None] = {}

    @classmethod
    def from_registry(cls, names: Sequence[str] | None = None) -> TranslationRouter:
        """A router over one instance of every registered engine that can run here (or of ``names``, in
        that order of preference; otherwise publishable engines are preferred, then draft, then gist)."""
        load_engine_modules()
        if names is None:
            chosen = sorted(ENGINES.values(), key=lambda cls_: TIER_RANK.get(cls_.tier, len(TIERS)))
        else:
            chosen = [ENGINES[name] for name in names if name in ENGINES]
        instances: list[Translator] = []
        for engine_class in chosen:
            try:
                engine = engine_class()
            except Exception:
                log.warning("translation engine %s could not be created", engine_class.name, exc_info=True)
                continue
            if engine.available():
                instances.append(engine)
            else:
                engine.close()
        return cls(instances)

    @property
    def engines(self) -> dict[str, Translator]:
        return dict(self._engines)

    def engine(self, name: str) -> Translator:
        return self._engines[name]

    # -- routing --

    def _paths(self, source: str, target: str) -> Iterator[tuple[Hop, ...]]:
        """Every route from source to target of at most MAX_HOPS hops, shortest first."""
        frontier: list[tuple[tuple[Hop, ...], frozenset[str]]] = [((), frozenset({source}))]
        for _ in range(MAX_HOPS):
            next_frontier = []
            for hops, seen in frontier:
                here = hops[-1][2] if hops else source
                for language, engine in self._edges.get(here, ()):
                    if language in seen:
                        continue
                    path = (*hops, (engine, here, language))
                    if language == target:
                        yield path
                    else:
                        next_frontier.append((path, seen | {language}))
            frontier = next_frontier

    def _rank(self, hops: tuple[Hop, ...]) -> tuple[int, int, tuple[int, ...]]:
        worst = max(TIER_RANK.get(self._engines[engine].tier, len(TIERS)) for engine, _, _ in hops)
        return (worst, len(hops), tuple(self._preference[engine] for engine, _, _ in hops))

    def route(self, source: str, target: str) -> Route | None:
        """The best route from source to target, or None when there is none (or nothing to translate:
        source and target are the same language)."""
        key = (source, target)
        if key not in self._cache:
            best = (
                min(self._paths(source, target), key=self._rank, default=None) if source != target else None
            )
            self._cache[key] = (
                None
                if best is None
                else Route(best, tuple(self._engines[engine].tier for engine, _, _ in best))
            )
        return self._cache[key]

    def routes_from(self, source: str, targets: Sequence[str]) -> dict[str, Route]:
        """The best route to each target that can be reached."""
        found = {target: self.route(source, target) for target in targets}
        return {target: route for target, route in found.items() if route is not None}

    # -- translating --

    def _engine_for(self, name: str) -> Translator:
        engine = self._engines.get(name)
        if engine is None:
            raise EngineError(f"no engine named {name!r} in this router")
        return engine

    def translate_html(self, route: Route, html: str, glossary: Sequence[str] = ()) -> str:
        """Run each hop of the route over an HTML document. The result must be sanitised again."""
        for name, source, target in route.hops:
            html = markup.translate_html(html, self._engine_for(name), source, target, glossary)
        return html

    def translate_text(self, route: Route, text: str, glossary: Sequence[str] = ()) -> str:
        """Run each hop of the route over a plain-text field."""
        return self.translate_texts(route, [text], glossary)[0]

    def translate_texts(self, route: Route, texts: Sequence[str], glossary: Sequence[str] = ()) -> list[str]:
        """Run each hop of the route over several plain-text fields, one engine call per hop."""
        out = list(texts)
        for name, source, target in route.hops:
            out = markup.translate_texts(out, self._engine_for(name), source, target, glossary)
        return out

    def close(self) -> None:
        for engine in self._engines.values():
            engine.close()
