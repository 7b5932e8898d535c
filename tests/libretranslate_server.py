"""A small LibreTranslate-compatible server on 127.0.0.1, for protocol tests.

It answers ``GET /languages``, ``POST /translate`` and ``POST /detect`` the way LibreTranslate does (JSON or
form bodies, ``q`` as a string or a list, ``format`` text or html, ``{"error": ...}`` bodies), checks an
API key when one is set, and can be told to rate-limit, fail, stall or answer garbage. Its "translation"
is a word list for English into Spanish and upper case for everything else.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from conftest import free_port

# Older LibreTranslate releases: zh for Simplified Chinese, zt for Traditional; pb is Brazilian Portuguese.
DEFAULT_LANGUAGES: list[dict[str, Any]] = [
    {"code": "en", "name": "English", "targets": ["es", "de", "zh", "zt", "id", "ms", "pb", "eo"]},
    {"code": "es", "name": "Spanish", "targets": ["en"]},
    {"code": "de", "name": "German", "targets": ["en"]},
    {"code": "zh", "name": "Chinese", "targets": ["en", "zt"]},
    {"code": "zt", "name": "Chinese (traditional)", "targets": ["en", "zh"]},
    {"code": "id", "name": "Indonesian", "targets": ["en", "ms"]},
    {"code": "ms", "name": "Malay", "targets": ["en", "id"]},
    {"code": "pb", "name": "Portuguese (Brazil)", "targets": ["en"]},
    {"code": "eo", "name": "Esperanto", "targets": ["en"]},
]

EN_ES = {
    "the": "la",
    "company": "empresa",
    "announces": "anuncia",
    "new": "nuevos",
    "results": "resultados",
    "today": "hoy",
    "and": "y",
    "hello": "hola",
    "world": "mundo",
}

_WORD = re.compile(r"[A-Za-z']+")
_TAG = re.compile(r"(<[^>]*>)")


def fake_translate(text: str, source: str, target: str, fmt: str) -> str:
    if fmt == "html":
        return "".join(
            part if part.startswith("<") else fake_translate(part, source, target, "text")
            for part in _TAG.split(text)
        )
    if (source, target) == ("en", "es"):

        def swap(match: re.Match[str]) -> str:
            word = match.group(0)
            found = EN_ES.get(word.lower())
            if found is None:
                return word
            return found.capitalize() if word[:1].isupper() else found

        return _WORD.sub(swap, text)
    return text.upper()


def fake_detect(text: str) -> list[dict[str, Any]]:
    if any("\u4e00" <= ch <= "\u9fff" for ch in text):
        return [{"confidence": 95.0, "language": "zh"}, {"confidence": 20.0, "language": "zt"}]
    words = {w.lower() for w in _WORD.findall(text)}
    if words & set(EN_ES.values()) - {"y"}:
        return [{"confidence": 88.0, "language": "es"}, {"confidence": 10.0, "language": "en"}]
    return [{"confidence": 90.0, "language": "en"}, {"confidence": 5.0, "language": "eo"}]


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (the timeout tests) closes the socket before the answer is written.
        pass


@dataclass
class Request:
    method: str
    path: str
    body: dict[str, Any]


@dataclass
class LibreTranslateServer:
    """Run with ``start()``/``stop()``. Set ``rate_limited``, ``fail_with=(status, message)``, ``delay``
    (seconds before answering a POST) or ``garbage`` (a non-JSON 200) to provoke the client's errors."""

    api_key: str | None = None
    languages: list[dict[str, Any]] = field(default_factory=lambda: [dict(x) for x in DEFAULT_LANGUAGES])
    rate_limited: bool = False
    fail_with: tuple[int, str] | None = None
    delay: float = 0.0
    garbage: bool = False
    port: int = field(default_factory=free_port)
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, payload: Any) -> None:
                raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                kind = "text/html" if isinstance(payload, bytes) else "application/json"
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def _body(self) -> dict[str, Any] | None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length).decode("utf-8", "replace")
                if not raw:
                    return {}
                if "json" in (self.headers.get("content-type") or ""):
                    try:
                        loaded = json.loads(raw)
                    except ValueError:
                        return None
                    return loaded if isinstance(loaded, dict) else None
                form = parse_qs(raw)
                return {k: v if k == "q" and len(v) > 1 else v[0] for k, v in form.items()}

            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                with owner.lock:
                    owner.requests.append(Request("GET", self.path, {}))
                if self.path.split("?")[0] == "/languages":
                    self._answer(200, owner.languages)
                else:
                    self._answer(404, {"error": "Not Found"})

            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                body = self._body()
                with owner.lock:
                    owner.requests.append(Request("POST", self.path, body or {}))
                if owner.delay:
                    time.sleep(owner.delay)
                if body is None:
                    self._answer(400, {"error": "Invalid request: malformed JSON"})
                    return
                if owner.api_key is not None and body.get("api_key") != owner.api_key:
                    self._answer(403, {"error": "Invalid API key"})
                    return
                if owner.rate_limited:
                    self._answer(429, {"error": "Too many request limits violations"})
                    return
                if owner.fail_with is not None:
                    status, message = owner.fail_with
                    self._answer(status, {"error": message})
                    return
                if owner.garbage:
                    self._answer(200, b"<html><body>502 Bad Gateway</body></html>")
                    return
                path = self.path.split("?")[0]
                if path == "/translate":
                    self._translate(body)
                elif path == "/detect":
                    self._detect(body)
                else:
                    self._answer(404, {"error": "Not Found"})

            def _translate(self, body: dict[str, Any]) -> None:
                q = body.get("q")
                if not q:
                    self._answer(400, {"error": "Invalid request: missing q parameter"})
                    return
                source, target = str(body.get("source") or ""), str(body.get("target") or "")
                fmt = str(body.get("format") or "text")
                if fmt not in ("text", "html"):
                    self._answer(400, {"error": f"{fmt} format is not supported"})
                    return
                texts = q if isinstance(q, list) else [q]
                detected = None
                if source == "auto":
                    detected = fake_detect(texts[0])[0]
                    source = detected["language"]
                codes = {entry["code"]: entry for entry in owner.languages}
                if source not in codes:
                    self._answer(400, {"error": f"{source} is not supported"})
                    return
                if target not in codes[source]["targets"]:
                    self._answer(
                        400, {"error": f"{target} is not supported as a target language from {source}"}
                    )
                    return
                out = [fake_translate(str(t), source, target, fmt) for t in texts]
                answer: dict[str, Any] = {"translatedText": out if isinstance(q, list) else out[0]}
                if detected is not None:
                    answer["detectedLanguage"] = detected
                self._answer(200, answer)

            def _detect(self, body: dict[str, Any]) -> None:
                q = body.get("q")
                if not q or not isinstance(q, str):
                    self._answer(400, {"error": "Invalid request: missing q parameter"})
                    return
                self._answer(200, fake_detect(q))

        self.server = _Server(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LibreTranslateServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def posts(self, path: str) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if r.method == "POST" and r.path == path]
