"""OpenCC: Simplified ↔ Traditional Chinese conversion (``publishable`` tier).

Conversion is phrase-level, not character-by-character: with the Taiwan variant (the default) 软件 becomes
軟體 and 网络 becomes 網路, not the literal 軟件 and 網絡. The variant comes from the ``variant`` option or
``WARTA_OPENCC_VARIANT``:

- ``tw``: Taiwan standard with Taiwanese phrases (``s2twp`` / ``tw2sp``);
- ``hk``: Hong Kong standard (``s2hk`` / ``hk2s``);
- ``plain``: OpenCC's standard characters, no regional phrases (``s2t`` / ``t2s``).

Latin letters, digits and markup characters pass through unchanged. The two converters are created once,
on first use, and reused.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from warta.languages.engines.base import EngineError, Translator, register

VARIANTS: dict[str, tuple[str, str]] = {
    "tw": ("s2twp", "tw2sp"),
    "hk": ("s2hk", "hk2s"),
    "plain": ("s2t", "t2s"),
}
"""Variant → (Simplified→Traditional config, Traditional→Simplified config)."""

HANS, HANT = "zh-Hans", "zh-Hant"


@register
class OpenCCEngine(Translator):
    name = "opencc"
    tier = "publishable"

    def __init__(self, variant: str | None = None) -> None:
        variant = (variant or os.environ.get("WARTA_OPENCC_VARIANT") or "tw").strip().lower()
        if variant not in VARIANTS:
            raise ValueError(f"unknown OpenCC variant {variant!r}; expected one of {', '.join(VARIANTS)}")
        self.variant = variant
        self._converters: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def available(self) -> bool:
        try:
            import opencc  # noqa: F401
        except ImportError:
            return False
        return True

    def pairs(self) -> set[tuple[str, str]]:
        return {(HANS, HANT), (HANT, HANS)}

    def _converter(self, source: str, target: str) -> Any:
        if (source, target) not in self.pairs():
            raise EngineError(f"opencc cannot convert {source}→{target}")
        with self._lock:
            if not self._converters:
                try:
                    import opencc
                except ImportError as exc:
                    raise EngineError("opencc is not installed") from exc
                to_hant, to_hans = VARIANTS[self.variant]
                try:
                    self._converters = {
                        (HANS, HANT): opencc.OpenCC(to_hant),
                        (HANT, HANS): opencc.OpenCC(to_hans),
                    }
                except Exception as exc:
                    raise EngineError(f"opencc cannot load {to_hant}/{to_hans}: {exc}") from exc
            return self._converters[(source, target)]

    def translate(self, segments: list[str], source: str, target: str) -> list[str]:
        converter = self._converter(source, target)
        try:
            return [converter.convert(segment) if segment else segment for segment in segments]
        except Exception as exc:
            raise EngineError(f"opencc failed: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._converters = {}
