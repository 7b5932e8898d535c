"""A LibreTranslate server (self-hosted, or a paid instance) as a translation engine.

Configuration:

- ``WARTA_LIBRETRANSLATE_URL``: the server's base URL (the engine is unavailable without it);
- ``WARTA_LIBRETRANSLATE_KEY``: an API key, for servers started with ``--api-keys``;
- ``WARTA_LIBRETRANSLATE_TIMEOUT``: seconds to wait for a translation (default 60);
- ``WARTA_LIBRETRANSLATE_BATCH``: segments per request (default 50; servers may set ``--batch-limit``);
- ``WARTA_LIBRETRANSLATE_CHAR_LIMIT``: characters per request (default 0, no limit; ``--char-limit``).

The pairs come from ``GET /languages``, kept for ``languages_ttl`` seconds. Servers name Chinese in
several ways (``zh`` and ``zt`` in older releases, ``zh-Hans`` and ``zh-Hant`` in newer ones) and
Brazilian Portuguese may be ``pb``; they are mapped to Warta's codes, and requests use the server's own.

Every failure (an ``{"error": ...}`` answer with 400/403/429/500, a timeout, a refused connection, an
answer that is not the JSON expected) becomes a :class:`LibreTranslateError`, an EngineError that keeps
the HTTP status and the server's message.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import httpx

from warta.i18n.catalog import normalise_lang
from warta.languages.engines.base import EngineError, Translator, register

log = logging.getLogger(__name__)

# Server codes that normalise_lang does not read as Warta's.
_SERVER_ALIASES = {"zt": "zh-Hant", "pb": "pt"}
_RETRY_FAILED_LANGUAGES_AFTER = 30.0


class LibreTranslateError(EngineError):
    """A LibreTranslate request failed; ``status`` is the HTTP status when the server answered."""

    def __init__(self, message: str, *, status: int | None = None, server_message: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.server_message = server_message


def our_code(server_code: str) -> str | None:
    """Warta's code for a LibreTranslate language code, or None for a language Warta does not carry."""
    lowered = server_code.strip().lower()
    return _SERVER_ALIASES.get(lowered) or normalise_lang(lowered)


@dataclass(frozen=True)
class ServerLanguages:
    """``GET /languages`` read into Warta's codes."""

    codes: dict[str, str]  # Warta's code -> the server's code
    pairs: frozenset[tuple[str, str]]
    fetched_at: float


def read_languages(body: object) -> ServerLanguages:
    """Map a ``GET /languages`` answer to Warta's codes. Raises LibreTranslateError if malformed."""
    if not isinstance(body, list):
        raise LibreTranslateError("libretranslate: /languages did not answer a list of languages")
    codes: dict[str, str] = {}
    targets_of: dict[str, list[str]] = {}
    for entry in body:
        if not isinstance(entry, dict) or not isinstance(entry.get("code"), str):
            raise LibreTranslateError(f"libretranslate: /languages has a malformed entry: {entry!r:.120}")
        server = entry["code"]
        ours = our_code(server)
        targets = entry.get("targets", [])
        if not isinstance(targets, list):
            raise LibreTranslateError(f"libretranslate: /languages has malformed targets for {server!r}")
        if ours is None:
            continue
        # Prefer the server code spelled like Warta's (zh-Hans over zh, pt over pb).
        if ours not in codes or server.lower() == ours.lower():
            codes[ours] = server
        targets_of.setdefault(ours, []).extend(str(t) for t in targets)
    pairs = set()
    for source, targets in targets_of.items():
        for server_target in targets:
            target = our_code(server_target)
            if target is not None and target != source:
                pairs.add((source, target))
    return ServerLanguages(codes=codes, pairs=frozenset(pairs), fetched_at=time.monotonic())


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        log.warning("%s=%r is not a number; using %s", name, raw, default)
        return default


@register
class LibreTranslateEngine(Translator):
    name: ClassVar[str] = "libretranslate"
    tier: ClassVar[str] = "draft"

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float | None = None,
        connect_timeout: float = 5.0,
        languages_ttl: float = 300.0,
        batch_size: int | None = None,
        char_limit: int | None = None,
    ) -> None:
        base = url if url is not None else os.environ.get("WARTA_LIBRETRANSLATE_URL", "")
        self.url = base.strip().rstrip("/")
        key = api_key if api_key is not None else os.environ.get("WARTA_LIBRETRANSLATE_KEY", "")
        self.api_key = key.strip() or None
        self.timeout = timeout if timeout is not None else _env_number("WARTA_LIBRETRANSLATE_TIMEOUT", 60.0)
        self.connect_timeout = min(connect_timeout, self.timeout)
        self.languages_ttl = languages_ttl
        self.batch_size = max(
            1, batch_size if batch_size is not None else int(_env_number("WARTA_LIBRETRANSLATE_BATCH", 50))
        )
        self.char_limit = max(
            0,
            char_limit if char_limit is not None else int(_env_number("WARTA_LIBRETRANSLATE_CHAR_LIMIT", 0)),
        )
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None
        self._languages: ServerLanguages | None = None
        self._languages_failed_at: float | None = None

    # -- HTTP ----------------------------------------------------------------------------------------

    def _http(self) -> httpx.Client:
        if not self.url:
            raise LibreTranslateError("libretranslate: no server configured (set WARTA_LIBRETRANSLATE_URL)")
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(
                    base_url=self.url,
                    timeout=httpx.Timeout(self.timeout, connect=self.connect_timeout),
                    headers={"Accept": "application/json"},
                )
            return self._client

    def _call(self, method: str, path: str, payload: dict[str, Any] | None = None) -> Any:
        client = self._http()
        if payload is not None and self.api_key:
            payload = {**payload, "api_key": self.api_key}
        try:
            response = client.request(method, path, json=payload)
        except httpx.TimeoutException as exc:
            raise LibreTranslateError(
                f"libretranslate: {self.url}{path} did not answer within {self.timeout:g}s ({type(exc).__name__})"
            ) from exc
        except httpx.HTTPError as exc:
            raise LibreTranslateError(f"libretranslate: cannot reach {self.url}{path}: {exc}") from exc
        try:
            body: Any = response.json()
        except ValueError:
            body = None
            parsed = False
        else:
            parsed = True
        if response.status_code >= 400:
            message = body.get("error") if isinstance(body, dict) else None
            if not isinstance(message, str) or not message.strip():
                message = response.text.strip()[:200] or response.reason_phrase
            raise LibreTranslateError(
                f"libretranslate: {path} answered {response.status_code}: {message}",
                status=response.status_code,
                server_message=message,
            )
        if not parsed:
            snippet = response.text.strip()[:120]
            raise LibreTranslateError(
                f"libretranslate: {path} answered something that is not JSON: {snippet!r}",
                status=response.status_code,
            )
        return body

    # -- languages -----------------------------------------------------------------------------------

    def languages(self, *, refresh: bool = False) -> ServerLanguages:
        """The server's languages in Warta's codes, cached for ``languages_ttl`` seconds."""
        cached = self._languages
        if not refresh and cached is not None and time.monotonic() - cached.fetched_at < self.languages_ttl:
            return cached
        fetched = read_languages(self._call("GET", "/languages"))
        self._languages = fetched
        self._languages_failed_at = None
        return fetched

    def available(self) -> bool:
        return bool(self.url)

    def pairs(self) -> set[tuple[str, str]]:
        """The server's pairs. When the server cannot be asked, the last answer is kept; with no answer
        yet the engine offers nothing and asks again after a short pause."""
        if not self.url:
            return set()
        cached = self._languages
        failed_at = self._languages_failed_at
        if failed_at is not None and time.monotonic() - failed_at < _RETRY_FAILED_LANGUAGES_AFTER:
            return set(cached.pairs) if cached else set()
        try:
            return set(self.languages().pairs)
        except EngineError as exc:
            self._languages_failed_at = time.monotonic()
            log.warning("%s", exc)
            return set(cached.pairs) if cached else set()

    def _server_code(self, lang: str) -> str:
        try:
            known = self.languages().codes
        except EngineError:
            if self._languages is None:
                raise
            known = self._languages.codes
        return known.get(lang, lang)

    # -- translation ---------------------------------------------------------------------------------

    def _chunks(self, texts: list[str]) -> Iterator[list[str]]:
        chunk: list[str] = []
        size = 0
        for text in texts:
            too_many = len(chunk) >= self.batch_size
            too_long = self.char_limit and chunk and size + len(text) > self.char_limit
            if too_many or too_long:
                yield chunk
                chunk, size = [], 0
            chunk.append(text)
            size += len(text)
        if chunk:
            yield chunk

    def translate(self, segments: list[str], source: str, target: str) -> list[str]:
        results = list(segments)
        wanted: dict[str, list[int]] = {}
        for index, segment in enumerate(segments):
            core = segment.strip()
            if core:
                wanted.setdefault(core, []).append(index)
        if not wanted:
            return results
        server_source = self._server_code(source)
        server_target = self._server_code(target)
        translated: dict[str, str] = {}
        for chunk in self._chunks(list(wanted)):
            body = self._call(
                "POST",
                "/translate",
                {"q": chunk, "source": server_source, "target": server_target, "format": "text"},
            )
            texts = body.get("translatedText") if isinstance(body, dict) else None
            if (
                not isinstance(texts, list)
                or len(texts) != len(chunk)
                or not all(isinstance(t, str) for t in texts)
            ):
                raise LibreTranslateError(
                    f"libretranslate: /translate answered {len(chunk)} segments with {body!r:.160}"
                )
            translated.update(zip(chunk, texts, strict=True))
        for core, indexes in wanted.items():
            for index in indexes:
                segment = segments[index]
                lead = segment[: len(segment) - len(segment.lstrip())]
                trail = segment[len(segment.rstrip()) :]
                results[index] = f"{lead}{translated[core].strip()}{trail}"
        return results

    def detect(self, text: str) -> list[tuple[str, float]]:
        """The server's guesses at ``text``'s language, best first, as (Warta's code, confidence 0..1).
        Languages Warta does not carry are left out."""
        body = self._call("POST", "/detect", {"q": text})
        if not isinstance(body, list):
            raise LibreTranslateError(f"libretranslate: /detect answered {body!r:.160}")
        guesses: dict[str, float] = {}
        for entry in body:
            if not isinstance(entry, dict) or not isinstance(entry.get("language"), str):
                raise LibreTranslateError(
                    f"libretranslate: /detect answered a malformed guess {entry!r:.120}"
                )
            confidence = entry.get("confidence", 0)
            if not isinstance(confidence, int | float):
                raise LibreTranslateError(
                    f"libretranslate: /detect answered a malformed guess {entry!r:.120}"
                )
            code = our_code(entry["language"])
            if code is not None:
                guesses[code] = max(guesses.get(code, 0.0), min(max(float(confidence) / 100.0, 0.0), 1.0))
        return sorted(guesses.items(), key=lambda item: item[1], reverse=True)

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()
