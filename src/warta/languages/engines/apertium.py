"""Apertium: rule-based translation between related languages (``draft`` tier), kept warm.

Pairs come from the installed modes (``<datadir>/modes/*.mode``: ``eng-spa`` is en→es, ``zlm-ind`` is
ms→id…). A mode is a shell pipeline of a dozen small programs, and loading their transducers costs more
than translating a press release, so each mode runs as one long-lived pipeline: the processes are started
once, chained with pipes, in null-flush mode (``-z``; the pipeline comes from ``apertium-wblank-mode -z``,
which puts the flag on every stage). Each segment is written followed by a NUL byte and its translation
is read up to the NUL that every stage passes on. All segments of a batch are written in one go.

Apertium's HTML deformatter and reformatter (``apertium-deshtml``, ``apertium-rehtml``) have no null-flush
mode, so the HTML is converted to Apertium's stream format here instead:

- text is escaped; ``~`` (which post-generation would eat) travels as a blank;
- text inside inline elements (``<a>``, ``<strong>``, ``<em>``…) is wrapped in word-bound blanks
  (``[[w0]]word[[/]]``), so formatting follows the words through reordering: "the <b>big</b> dog" becomes
  "el perro <b>grande</b>";
- other markup, ``<code>`` and ``<pre>`` travel as superblanks (``[<p>]``) and come back verbatim;
- a block boundary is a sentence end (``.[]``, removed again afterwards), so no word moves between blocks.

Each pipeline has its own lock; a pipeline with a dead process is restarted (a batch that meets a dead
pipeline is retried once on a fresh one), and a batch that takes longer than ``timeout`` raises
`EngineError` and restarts the pipeline next time.

Without ``apertium-wblank-mode``, or with ``warm=False`` (``WARTA_APERTIUM_WARM=0``), each batch is one
``apertium -u -f html <mode>`` run with the segments joined by a separator element.

Unknown words are copied without Apertium's ``*`` mark unless ``mark_unknown`` is set.
"""

from __future__ import annotations

import contextlib
import os
import select
import shlex
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from warta.languages.engines.base import EngineError, Translator, register
from warta.languages.markup import (
    INLINE_TAGS,
    NO_TRANSLATE_TAGS,
    VOID_TAGS,
    Element,
    MarkupNode,
    Raw,
    escape_text,
    has_words,
    parse_fragment,
    serialize,
    split_space,
)

APERTIUM_CODES: dict[str, str] = {
    "en": "en", "eng": "en",
    "es": "es", "spa": "es",
    "pt": "pt", "por": "pt",
    "fr": "fr", "fra": "fr", "fre": "fr",
    "de": "de", "deu": "de", "ger": "de",
    "ru": "ru", "rus": "ru",
    "id": "id", "ind": "id",
    "ms": "ms", "msa": "ms", "may": "ms", "zlm": "ms", "zsm": "ms",
    "ar": "ar", "ara": "ar",
    "ja": "ja", "jpn": "ja",
    "ko": "ko", "kor": "ko",
    "vi": "vi", "vie": "vi",
    "th": "th", "tha": "th",
}  # fmt: skip
"""Apertium's language codes (ISO 639-1 or -3) to Warta's; every other language is ignored."""

DEFAULT_VARIANTS: dict[str, str] = {"pt": "BR"}
"""Preferred target variants: Warta's Portuguese is Brazilian (see the i18n catalogue)."""

DATADIRS = ("/usr/share/apertium", "/usr/local/share/apertium")

_TEXT_ESCAPES = frozenset("\\[]^$/@<>{}#*")
_BLANK_ESCAPES = frozenset("\\[]^$/@{}")
_SENTENCE_END = ".[]"


@dataclass(frozen=True)
class Mode:
    name: str
    path: Path
    source: str
    target: str
    variant: str


def parse_mode_name(name: str) -> tuple[str, str, str] | None:
    """``"es-pt_BR"`` → ``("es", "pt", "BR")`` in Warta's codes; None for modes Warta cannot use."""
    parts = name.split("-")
    if len(parts) != 2:
        return None
    source_code, target_part = parts
    target_code, _, variant = target_part.partition("_")
    source, target = APERTIUM_CODES.get(source_code), APERTIUM_CODES.get(target_code)
    if source is None or target is None or source == target:
        return None
    return source, target, variant


def discover_modes(
    datadir: Path, variants: Mapping[str, str] = DEFAULT_VARIANTS
) -> dict[tuple[str, str], Mode]:
    """The installed modes, one per (source, target) pair: the preferred variant, else the plain mode."""
    found: dict[tuple[str, str], list[Mode]] = {}
    for path in sorted((datadir / "modes").glob("*.mode")):
        parsed = parse_mode_name(path.stem)
        if parsed is not None:
            source, target, variant = parsed
            found.setdefault((source, target), []).append(Mode(path.stem, path, source, target, variant))

    def rank(mode: Mode) -> tuple[int, str]:
        if mode.variant and mode.variant == variants.get(mode.target):
            return (0, mode.name)
        return (1 if not mode.variant else 2, mode.name)

    return {pair: min(modes, key=rank) for pair, modes in found.items()}


def find_datadir(datadir: str | Path | None = None) -> Path:
    if datadir is not None:
        return Path(datadir)
    if os.environ.get("APERTIUM_DATADIR"):
        return Path(os.environ["APERTIUM_DATADIR"])
    for candidate in DATADIRS:
        if (Path(candidate) / "modes").is_dir():
            return Path(candidate)
    return Path(DATADIRS[0])


def parse_pipeline(text: str, generation: str = "-n") -> list[list[str]]:
    """The commands of a mode's shell pipeline; ``$1`` is the generator's option, ``$2`` the tagger's
    (empty, as in ``apertium``)."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars="|")
    lexer.whitespace_split = True
    stages: list[list[str]] = [[]]
    for token in lexer:
        if set(token) == {"|"}:
            stages.append([])
        elif token == "$1":
            stages[-1].append(generation)
        elif token != "$2":
            stages[-1].append(token)
    return [stage for stage in stages if stage]


def subprocess_env() -> dict[str, str]:
    """The environment for Apertium's programs, which need a UTF-8 locale."""
    env = dict(os.environ)
    ctype = env.get("LC_ALL") or env.get("LC_CTYPE") or env.get("LANG") or ""
    if "utf8" not in ctype.lower().replace("-", ""):
        env["LC_ALL"] = "C.UTF-8"
    return env


# --- HTML <-> Apertium stream format ----------------------------------------------------------------


def _escape_stream_text(text: str) -> str:
    out = []
    for ch in text:
        if ch == "~":
            out.append("[~]")
        elif ch in _TEXT_ESCAPES:
            out.append("\\" + ch)
        elif ch != "\0":
            out.append(ch)
    return "".join(out)


def _superblank(markup: str) -> str:
    return "[" + "".join("\\" + ch if ch in _BLANK_ESCAPES else ch for ch in markup if ch != "\0") + "]"


def to_stream(fragment: str) -> tuple[str, dict[str, Element]]:
    """An HTML fragment in Apertium's stream format, and the inline elements its word-bound blanks name."""
    parts: list[str] = []
    table: dict[str, Element] = {}
    words = False

    def boundary() -> None:
        nonlocal words
        if words:
            parts.append(_SENTENCE_END)
            words = False

    def walk(nodes: list[MarkupNode], ids: tuple[str, ...]) -> None:
        nonlocal words
        for node in nodes:
            if isinstance(node, str):
                if not node.strip():
                    parts.append(_escape_stream_text(node))
                    continue
                words = True
                if ids:
                    lead, core, trail = split_space(node)
                    bound = "[[" + "; ".join(ids) + "]]" + _escape_stream_text(core) + "[[/]]"
                    parts.append(_escape_stream_text(lead) + bound + _escape_stream_text(trail))
                else:
                    parts.append(_escape_stream_text(node))
            elif isinstance(node, Raw):
                parts.append(_superblank(node.text))
            elif node.tag in INLINE_TAGS and node.tag != "br":
                if node.tag not in VOID_TAGS and node.tag not in NO_TRANSLATE_TAGS and has_words(node):
                    key = f"w{len(table)}"
                    table[key] = node
                    walk(node.children, (*ids, key))
                else:
                    parts.append(_superblank(serialize([node])))
            elif node.tag in NO_TRANSLATE_TAGS:
                boundary()
                parts.append(_superblank(serialize([node])))
            else:
                boundary()
                parts.append(_superblank(node.start))
                walk(node.children, ids)
                boundary()
                if node.end:
                    parts.append(_superblank(node.end))

    walk(parse_fragment(fragment), ())
    if not parts or parts[-1] != _SENTENCE_END:
        parts.append(_SENTENCE_END)
    return "".join(parts), table


class _Renderer:
    """Turns a translated stream back into HTML, re-opening inline elements around their words."""

    def __init__(self, table: Mapping[str, Element]) -> None:
        self.table = table
        self.out: list[str] = []
        self.open: list[str] = []
        self.pending = ""
        self.in_word = False

    def _emit(self, markup: str) -> None:
        if markup:
            self.out.append(markup)

    def _close_to(self, depth: int) -> None:
        while len(self.open) > depth:
            element = self.table[self.open.pop()]
            self._emit(element.end or f"</{element.tag}>")

    def _close_all(self) -> None:
        self._close_to(0)
        self._emit(escape_text(self.pending))
        self.pending = ""

    def text(self, text: str) -> None:
        if not text:
            return
        if not self.in_word and self.open:
            if not text.strip():
                self.pending += text
                return
            self._close_all()
        self._emit(escape_text(text))

    def word_blank(self, content: str) -> None:
        if content == "/":
            self.in_word = False
            return
        ids = [key.strip() for key in content.split(";") if key.strip() in self.table]
        keep = 0
        while keep < min(len(ids), len(self.open)) and ids[keep] == self.open[keep]:
            keep += 1
        self._close_to(keep)
        self._emit(escape_text(self.pending))
        self.pending = ""
        for key in ids[keep:]:
            self.open.append(key)
            self._emit(self.table[key].start)
        self.in_word = True

    def blank(self, content: str) -> None:
        self.in_word = False
        self._close_all()
        if content:
            self._emit(content)
        elif self.out and self.out[-1].endswith("."):
            self.out[-1] = self.out[-1][:-1]

    def finish(self) -> str:
        self.in_word = False
        self._close_all()
        return "".join(self.out)


def _closing(stream: str, start: int, closer: str) -> tuple[str, int]:
    """The unescaped content from ``start`` up to the unescaped ``closer``, and the index after it."""
    content: list[str] = []
    i = start
    while i < len(stream):
        if stream[i] == "\\" and i + 1 < len(stream):
            content.append(stream[i + 1])
            i += 2
        elif stream.startswith(closer, i):
            return "".join(content), i + len(closer)
        else:
            content.append(stream[i])
            i += 1
    return "".join(content), i


def from_stream(stream: str, table: Mapping[str, Element]) -> str:
    """HTML from Apertium's output stream for a fragment made by `to_stream`."""
    renderer = _Renderer(table)
    text: list[str] = []
    i = 0
    while i < len(stream):
        ch = stream[i]
        if ch == "\\" and i + 1 < len(stream):
            text.append(stream[i + 1])
            i += 2
        elif ch == "[":
            renderer.text("".join(text))
            text.clear()
            if stream.startswith("[[", i):
                content, i = _closing(stream, i + 2, "]]")
                renderer.word_blank(content)
            else:
                content, i = _closing(stream, i + 1, "]")
                renderer.blank(content)
        else:
            text.append(ch)
            i += 1
    renderer.text("".join(text))
    return renderer.finish()


def _keep_space(original: str, translated: str) -> str:
    lead, _, trail = split_space(original)
    return lead + translated.strip() + trail


# --- processes --------------------------------------------------------------------------------------


class _Died(Exception):
    pass


def _kill_all(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        if proc.poll() is None:
            proc.kill()
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=2)
    procs.clear()


class Pipeline:
    """One mode's programs, started once and chained with pipes, translating NUL-terminated chunks."""

    def __init__(
        self, stages: list[list[str]], *, env: Mapping[str, str], timeout: float, label: str
    ) -> None:
        self.stages = stages
        self.env = dict(env)
        self.timeout = timeout
        self.label = label
        self.lock = threading.Lock()
        self.starts = 0
        self._procs: list[subprocess.Popen[bytes]] = []
        self._stderr: int | None = None
        self._finalizer = weakref.finalize(self, _kill_all, self._procs)

    @property
    def pids(self) -> tuple[int, ...]:
        return tuple(proc.pid for proc in self._procs)

    def alive(self) -> bool:
        return bool(self._procs) and all(proc.poll() is None for proc in self._procs)

    def start(self) -> None:
        self.stop()
        self._stderr, path = tempfile.mkstemp(prefix="warta-apertium-", suffix=".log")
        os.unlink(path)
        previous = None
        try:
            for argv in self.stages:
                proc = subprocess.Popen(
                    argv,
                    stdin=previous if previous is not None else subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=self._stderr,
                    env=self.env,
                )
                if previous is not None:
                    previous.close()
                previous = proc.stdout
                self._procs.append(proc)
        except OSError as exc:
            self.stop()
            raise EngineError(f"apertium {self.label}: cannot start {argv[0]}: {exc}") from exc
        first = self._procs[0].stdin
        assert first is not None
        os.set_blocking(first.fileno(), False)
        self.starts += 1

    def stop(self) -> None:
        _kill_all(self._procs)
        if self._stderr is not None:
            os.close(self._stderr)
            self._stderr = None

    def _stderr_tail(self) -> str:
        """The end of what the pipeline's programs wrote to stderr."""
        if self._stderr is None:
            return ""
        try:
            size = os.fstat(self._stderr).st_size
            tail = os.pread(self._stderr, 400, max(0, size - 400)).decode("utf-8", "replace").strip()
        except OSError:
            return ""
        return f": {tail}" if tail else ""

    def run(self, chunks: list[bytes]) -> list[bytes]:
        """The reply to each chunk; chunks must not contain NUL and must end with ``.[]`` (`to_stream`)."""
        with self.lock:
            for attempt in range(2):
                if not self.alive():
                    self.start()
                try:
                    return self._exchange(chunks)
                except _Died:
                    detail = self._stderr_tail()
                    self.stop()
                    if attempt:
                        raise EngineError(f"apertium {self.label}: pipeline died{detail}") from None
            raise AssertionError("unreachable")

    def _exchange(self, chunks: list[bytes]) -> list[bytes]:
        stdin, stdout = self._procs[0].stdin, self._procs[-1].stdout
        assert stdin is not None and stdout is not None
        infd, outfd = stdin.fileno(), stdout.fileno()
        payload = memoryview(b"".join(chunk + b"\0" for chunk in chunks))
        sent = 0
        received = bytearray()
        replies: list[bytes] = []
        deadline = time.monotonic() + self.timeout
        if select.select([outfd], [], [], 0)[0]:
            raise _Died  # output nobody asked for: a process is dying
        while len(replies) < len(chunks):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.stop()
                raise EngineError(f"apertium {self.label}: no reply within {self.timeout:g} s")
            writers = [infd] if sent < len(payload) else []
            readable, writable, _ = select.select([outfd], writers, [], remaining)
            if writable:
                try:
                    sent += os.write(infd, payload[sent : sent + 65536])
                except BlockingIOError:
                    pass
                except OSError:
                    raise _Died from None
            if readable:
                data = os.read(outfd, 65536)
                if not data:
                    raise _Died
                received += data
                while (end := received.find(0)) >= 0:
                    replies.append(bytes(received[:end]))
                    del received[: end + 1]
        # Every chunk ends with a sentence-end blank, so every true reply has one. A process that dies
        # lets the next one flush what it has (a bare NUL), which must not pass for a translation.
        if received or not self.alive() or any(b"[]" not in reply for reply in replies):
            raise _Died
        return replies


@register
class ApertiumEngine(Translator):
    name = "apertium"
    tier = "draft"
    handles_html = True

    def __init__(
        self,
        datadir: str | Path | None = None,
        *,
        warm: bool | None = None,
        timeout: float = 60.0,
        mark_unknown: bool = False,
        variants: Mapping[str, str] | None = None,
    ) -> None:
        self.datadir = find_datadir(datadir)
        self.modes = discover_modes(self.datadir, DEFAULT_VARIANTS if variants is None else variants)
        if warm is None:
            warm = os.environ.get("WARTA_APERTIUM_WARM", "1").lower() not in ("0", "no", "false")
        self.warm = warm and shutil.which("apertium-wblank-mode") is not None
        self.timeout = timeout
        self.generation = "-g" if mark_unknown else "-n"
        self._env = subprocess_env()
        self._lock = threading.Lock()
        self._pipelines: dict[str, Pipeline] = {}
        self._cold: set[str] = set()

    def available(self) -> bool:
        return shutil.which("apertium") is not None and bool(self.modes)

    def pairs(self) -> set[tuple[str, str]]:
        return set(self.modes)

    def mode_for(self, source: str, target: str) -> Mode:
        mode = self.modes.get((source, target))
        if mode is None:
            raise EngineError(f"apertium has no mode for {source}→{target}")
        return mode

    # -- warm pipelines --

    def _pipeline(self, mode: Mode) -> Pipeline | None:
        with self._lock:
            if mode.name in self._cold:
                return None
            pipeline = self._pipelines.get(mode.name)
            if pipeline is None:
                stages = self._warm_stages(mode)
                if stages is None:
                    self._cold.add(mode.name)
                    return None
                pipeline = Pipeline(stages, env=self._env, timeout=self.timeout, label=mode.name)
                self._pipelines[mode.name] = pipeline
            return pipeline

    def _warm_stages(self, mode: Mode) -> list[list[str]] | None:
        try:
            result = subprocess.run(
                ["apertium-wblank-mode", "-z", str(mode.path)],
                capture_output=True,
                text=True,
                timeout=10,
                env=self._env,
                check=True,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        stages = parse_pipeline(result.stdout, self.generation)
        if not stages or any(shutil.which(stage[0]) is None for stage in stages):
            return None
        return stages

    def warm_up(self, pairs: Iterable[tuple[str, str]] | None = None) -> None:
        """Start the pipelines (all pairs by default) and load their data, so the first edition is fast."""
        for source, target in sorted(self.modes if pairs is None else pairs):
            self.translate(["."], source, target)

    def pipeline_pids(self, source: str, target: str) -> tuple[int, ...]:
        """Process ids of the pair's running pipeline; empty when none runs."""
        pipeline = self._pipelines.get(self.mode_for(source, target).name)
        return pipeline.pids if pipeline is not None and pipeline.alive() else ()

    # -- translation --

    def translate(self, segments: list[str], source: str, target: str) -> list[str]:
        mode = self.mode_for(source, target)
        results = list(segments)
        todo = [i for i, segment in enumerate(segments) if any(has_words(n) for n in parse_fragment(segment))]
        if not todo:
            return results
        pipeline = self._pipeline(mode) if self.warm else None
        if pipeline is not None:
            streams = [to_stream(segments[i]) for i in todo]
            replies = pipeline.run([stream.encode("utf-8") for stream, _ in streams])
            for i, (_, table), reply in zip(todo, streams, replies, strict=True):
                results[i] = _keep_space(segments[i], from_stream(reply.decode("utf-8", "replace"), table))
        else:
            translated = self._translate_cold(mode, [segments[i] for i in todo])
            for i, text in zip(todo, translated, strict=True):
                results[i] = _keep_space(segments[i], text)
        return results

    def _translate_cold(self, mode: Mode, fragments: list[str]) -> list[str]:
        """One ``apertium`` run for the whole batch, the fragments separated by a marker element."""
        separator = f'<hr class="warta-{uuid.uuid4().hex}">'
        document = separator.join(
            serialize(parse_fragment(fragment.replace("\0", ""))) for fragment in fragments
        )
        argv = ["apertium", "-d", str(self.datadir), "-f", "html"]
        if self.generation == "-n":
            argv.append("-u")
        argv.append(mode.name)
        try:
            result = subprocess.run(
                argv, input=document.encode("utf-8"), capture_output=True, timeout=self.timeout, env=self._env
            )
        except subprocess.TimeoutExpired as exc:
            raise EngineError(f"apertium {mode.name}: no reply within {self.timeout:g} s") from exc
        except OSError as exc:
            raise EngineError(f"apertium {mode.name}: {exc}") from exc
        if result.returncode != 0:
            detail = result.stderr.decode("utf-8", "replace").strip()[-400:]
            raise EngineError(f"apertium {mode.name} failed ({result.returncode}): {detail}")
        pieces = result.stdout.decode("utf-8", "replace").split(separator)
        if len(pieces) != len(fragments):
            raise EngineError(f"apertium {mode.name}: {len(pieces)} pieces came back for {len(fragments)}")
        return pieces

    def close(self) -> None:
        with self._lock:
            pipelines = list(self._pipelines.values())
            self._pipelines.clear()
        for pipeline in pipelines:
            with pipeline.lock:
                pipeline.stop()
