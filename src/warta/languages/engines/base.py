"""What a translation engine is to the rest of Warta.

An engine declares the language pairs it can translate and a quality tier for its output:

- ``publishable``: fit to go out without a human (OpenCC's script conversion);
- ``draft``: good, but an editor should look before it goes out, unless the operator says otherwise;
- ``gist``: enough to understand, never published as is.

Engines translate *plain text segments* in batches; `warta.languages.markup` takes an edition's
HTML apart into text segments, protects glossary terms, and puts the translation back into the
markup. An engine that handles HTML itself (Apertium's html format) says so with
``handles_html = True`` and then receives HTML fragments instead.
"""

from __future__ import annotations

from typing import ClassVar

TIERS = ("publishable", "draft", "gist")
TIER_RANK = {tier: i for i, tier in enumerate(TIERS)}


class EngineError(RuntimeError):
    """The engine could not translate (not installed, crashed, timed out, refused)."""


class Translator:
    name: ClassVar[str]
    tier: ClassVar[str] = "draft"
    handles_html: ClassVar[bool] = False

    def available(self) -> bool:
        """Whether the engine can run here (binaries, models, server configured)."""
        return True

    def pairs(self) -> set[tuple[str, str]]:
        """(source, target) pairs in Warta's language codes (en, ms, id, zh-Hans, zh-Hant, ...)."""
        raise NotImplementedError

    def translate(self, segments: list[str], source: str, target: str) -> list[str]:
        """Translate every segment; the result has the same length and order. Blocking: callers run
        it in a worker thread. Raises EngineError."""
        raise NotImplementedError

    def close(self) -> None:
        """Release processes, models, connections."""


ENGINES: dict[str, type[Translator]] = {}


def register(cls: type[Translator]) -> type[Translator]:
    ENGINES[cls.name] = cls
    return cls
