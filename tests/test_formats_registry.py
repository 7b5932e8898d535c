"""The formats registry: every registered format renders a published, a corrected and a withdrawn
edition to bytes of its media type, each checked by the outside validator there is for it.

ninjs with the IPTC JSON schema (jsonschema), NewsML-G2 with the IPTC XSD (lxml), an Atom entry
document with jing against RFC 4287's RELAX NG schema, a JSON Feed item against the JSON Feed 1.1
schema, RSS with feedparser, email with the standard library's parser, JSON-LD as JSON. And the
layering the registry is for: formats never import delivery, channels and pages import no format
module, only the registry.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import pkgutil
import subprocess
from collections.abc import Callable
from datetime import datetime
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default
from pathlib import Path

import feedparser
import pytest
from jsonschema import Draft202012Validator

from conftest import Desk
from test_formats import schema_errors
from test_newsml import NS, make_bundle, make_settings, newsml_errors, parse
from warta import formats
from warta.editions.rendered import RenderedEdition
from warta.i18n import translate

ROOT = Path(__file__).parent.parent
STANDARDS = Path(__file__).parent / "data" / "standards"
NOTE = "Jumlah pelaburan dibetulkan kepada RM260 juta."
WITHDRAWAL = "Kenyataan ini tidak disahkan."
EVENTS = ("release.published", "release.corrected", "release.withdrawn")


def rendered_for(tmp: Path, event: str) -> tuple[RenderedEdition, formats.Event]:
    """A Malay edition as the engine renders it for ``event``, and that event."""
    settings = make_settings(tmp)
    if event == "release.published":
        rendered = make_bundle(settings, "ms")
        return rendered, formats.event_for(rendered)
    if event == "release.corrected":
        rendered = make_bundle(settings, "ms", version=2, note=NOTE, corrected_after_publication=True)
        return rendered, formats.event_for(rendered)
    rendered = make_bundle(settings, "ms")
    release = rendered.release
    release.status, release.withdrawal_note = "withdrawn", WITHDRAWAL
    release.review = {"withdrawal": {"by": "wire", "name": "Meja"}}
    release.updated_at = datetime.fromisoformat("2026-11-27T05:00:00+00:00")
    rendered = dataclasses.replace(rendered, release=release, cache={})
    return rendered, formats.event_for(rendered, "withdrawal")


# --- the outside validators, by media type ---------------------------------------------------------


def check_ninjs(data: bytes, event: formats.Event) -> None:
    item = json.loads(data)
    assert schema_errors(item) == []
    assert item["language"] == "ms"
    if event.withdrawn:
        assert (item["pubStatus"], item["version"]) == ("canceled", "2")
        assert item["edNote"] == f"Withdrawn by the wire: {WITHDRAWAL}"
    elif event.corrected:
        assert (item["pubStatus"], item["version"]) == ("usable", "2")
        assert NOTE in item["edNote"]
    else:
        assert (item["pubStatus"], item["version"]) == ("usable", "1")
        assert "edNote" not in item


def check_newsml(data: bytes, event: formats.Event) -> None:
    assert newsml_errors(data) == []
    doc = parse(data)
    status = doc.find("n:itemMeta/n:pubStatus", NS).get("qcode")
    signals = [s.get("qcode") for s in doc.findall("n:itemMeta/n:signal", NS)]
    notes = [n.text for n in doc.findall("n:itemMeta/n:edNote", NS)]
    if event.withdrawn:
        assert (status, doc.get("version")) == ("stat:canceled", "2")
        assert notes == [f"Withdrawn by the wire: {WITHDRAWAL}"]
    elif event.corrected:
        assert (status, doc.get("version"), signals) == ("stat:usable", "2", ["sig:correction"])
        assert any(NOTE in (n or "") for n in notes)
    else:
        assert (status, doc.get("version"), signals) == ("stat:usable", "1", [])


def check_atom_entry(data: bytes, event: formats.Event, tmp: Path) -> None:
    path = tmp / "entry.xml"
    path.write_bytes(data)
    jing = subprocess.run(
        ["jing", "-c", str(STANDARDS / "atom" / "atom.rnc"), str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert jing.returncode == 0, jing.stdout + jing.stderr
    parsed = feedparser.parse(data)
    assert not parsed.bozo, parsed.get("bozo_exception")
    (entry,) = parsed.entries
    assert entry.link == "https://wire.example/releases/rel_0001/ms"
    _check_entry_text(entry.title, entry.content[0].value, event)


def check_jsonfeed_item(data: bytes, event: formats.Event) -> None:
    item = json.loads(data)
    schema = json.loads((STANDARDS / "jsonfeed" / "jsonfeed-1.1.schema.json").read_text("utf-8"))
    feed = {"version": "https://jsonfeed.org/version/1.1", "title": "Warta", "items": [item]}
    errors = [e.message for e in Draft202012Validator(schema).iter_errors(feed)]
    assert errors == []
    _check_entry_text(item["title"], item["content_html"], event)


def check_rss(data: bytes, event: formats.Event) -> None:
    parsed = feedparser.parse(data)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "rss20"
    (entry,) = parsed.entries
    _check_entry_text(entry.title, entry.description, event)


def _check_entry_text(title: str, content: str, event: formats.Event) -> None:
    if event.withdrawn:
        assert title.startswith(f"[{translate('ms', 'Withdrawn')}] ")
        assert f"Withdrawn by the wire: {WITHDRAWAL}" in content
        assert "RM250" not in content  # the withdrawn text itself is not repeated
    else:
        assert not title.startswith("[")
        assert "RM250" in content
        assert (NOTE in content) == event.corrected


def check_email(data: bytes, event: formats.Event) -> None:
    message = BytesParser(policy=default).parsebytes(data)
    assert isinstance(message, EmailMessage) and not message.defects
    assert message.get_content_type() == "multipart/alternative"
    assert message["Content-Language"] == "ms"
    parts = {part.get_content_type(): part.get_content() for part in message.iter_parts()}
    assert set(parts) == {"text/plain", "text/html"}
    subject = str(message["Subject"])
    if event.withdrawn:
        assert subject.startswith(f"[{translate('ms', 'Withdrawn')}] ")
        assert WITHDRAWAL in parts["text/plain"] and WITHDRAWAL in parts["text/html"]
    elif event.corrected:
        assert subject.startswith(f"[{translate('ms', 'Correction')}] ")
        assert NOTE in parts["text/plain"]
    else:
        assert not subject.startswith("[")
        assert "RM250" in parts["text/plain"] and "RM250" in parts["text/html"]


def check_jsonld(data: bytes, event: formats.Event) -> None:
    doc = json.loads(data)
    assert (doc["@context"], doc["@type"]) == ("https://schema.org", "NewsArticle")
    assert doc["inLanguage"] == "ms" and doc["url"] == "https://wire.example/releases/rel_0001/ms"
    assert (doc.get("creativeWorkStatus") == "Withdrawn") == event.withdrawn
    if event.corrected:
        assert NOTE in doc["correction"]


Checker = Callable[[bytes, formats.Event, Path], None]
CHECKERS: dict[str, Checker] = {
    "application/json": lambda data, event, tmp: None,  # by format name below: ninjs and JSON Feed
    formats.get("newsml").media_type: lambda data, event, tmp: check_newsml(data, event),
    "application/atom+xml;type=entry": check_atom_entry,
    "application/rss+xml": lambda data, event, tmp: check_rss(data, event),
    "message/rfc822": lambda data, event, tmp: check_email(data, event),
    "application/ld+json": lambda data, event, tmp: check_jsonld(data, event),
}
JSON_CHECKERS: dict[str, Callable[[bytes, formats.Event], None]] = {
    "ninjs": check_ninjs,
    "jsonfeed": check_jsonfeed_item,
}


def test_the_registry_holds_the_formats_and_names_the_webhook_ones() -> None:
    assert set(formats.names()) >= {"ninjs", "newsml", "atom", "jsonfeed", "email", "jsonld"}
    assert formats.names(webhooks=True) == ("newsml", "ninjs")
    for name in formats.names():
        assert formats.get(name).name == name
    with pytest.raises(formats.UnknownFormat):
        formats.get("docx")
    with pytest.raises(formats.UnknownFormat):
        formats.get("ninjs", formats.FeedFormat)


@pytest.mark.parametrize("event", EVENTS)
@pytest.mark.parametrize("name", formats.names())
def test_every_format_renders_every_event_to_a_valid_document(tmp_path: Path, name: str, event: str) -> None:
    rendered, happened = rendered_for(tmp_path, event)
    assert happened.type == event
    fmt = formats.get(name)
    data = fmt.render(rendered, happened)
    assert isinstance(data, bytes) and data
    assert fmt.media_type in CHECKERS, f"no outside validator for {fmt.media_type} ({name})"
    if fmt.media_type == "application/json":
        assert name in JSON_CHECKERS, f"no outside validator for the JSON format {name}"
        JSON_CHECKERS[name](data, happened)
    else:
        CHECKERS[fmt.media_type](data, happened, tmp_path)


def test_a_rendering_is_made_once_per_edition(tmp_path: Path) -> None:
    """The ninjs item (and so every webhook body) is made once and shared by every delivery."""
    rendered, event = rendered_for(tmp_path, "release.published")
    ninjs = formats.get("ninjs")
    assert ninjs.render(rendered, event) == ninjs.render(rendered, event)
    first = rendered.cache["ninjs"]
    ninjs.render(rendered, formats.event_for(rendered, "withdrawal", "gone"))
    assert rendered.cache["ninjs"] is first and first["pubStatus"] == "usable"  # left as it was


@pytest.mark.parametrize("fmt", ["atom", "email", "docx"])
def test_a_webhook_may_name_only_a_webhook_format(desk: Desk, fmt: str) -> None:
    """A feed or email format is refused as a webhook's format, with a 422 naming the field and
    the formats there are; nothing is stored."""
    with desk.editor() as editor:
        resp = editor.post(
            "/api/v1/recipients",
            json={"kind": "outlet", "name": "Hook", "country": "MY", "webhook_format": fmt},
        )
        assert resp.status_code == 422, resp.text
        error = resp.json()["error"]
        assert error["field"] == "webhook_format" and "newsml, ninjs" in error["message"]
        listed = editor.get("/api/v1/recipients").json()
        assert all(r["name"] != "Hook" for r in listed["items"])


# --- layering --------------------------------------------------------------------------------------


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) of every import in the file, function-level ones included."""
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.module, [alias.name for alias in node.names]))
    return found


FORMAT_MODULES = {m.name for m in pkgutil.iter_modules([str(ROOT / "src" / "warta" / "formats")])}


def _format_modules_named(path: Path) -> list[str]:
    """The format modules (anything under warta.formats but its registry) a file imports."""
    named = []
    for module, names in _imports(path):
        if module.startswith("warta.formats.") and module != "warta.formats.registry":
            named.append(module)
        elif module == "warta.formats":
            named += [f"warta.formats.{n}" for n in names if n in FORMAT_MODULES - {"registry"}]
    return named


def test_formats_do_not_import_delivery() -> None:
    files = sorted((ROOT / "src" / "warta" / "formats").glob("*.py"))
    assert files
    offending = [
        f"{path.name}: {module}"
        for path in files
        for module, _ in _imports(path)
        if module == "warta.delivery" or module.startswith("warta.delivery.")
    ]
    assert offending == []


@pytest.mark.parametrize(
    "path",
    [
        *sorted((ROOT / "src" / "warta" / "delivery" / "channels").glob("*.py")),
        ROOT / "src" / "warta" / "web" / "pages.py",
        ROOT / "src" / "warta" / "web" / "distribution.py",
    ],
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_channels_and_pages_ask_the_registry_only(path: Path) -> None:
    assert _format_modules_named(path) == []


def test_the_layering_check_sees_a_format_module_import(tmp_path: Path) -> None:
    """The check above would catch the imports the channels used to have."""
    sample = tmp_path / "channel.py"
    sample.write_text(
        "from warta.formats.newsml import edition_to_newsml\n"
        "from warta.formats import feeds, get\n"
        "def f():\n    from warta.formats.email import build_message\n",
        "utf-8",
    )
    assert _format_modules_named(sample) == [
        "warta.formats.newsml",
        "warta.formats.feeds",
        "warta.formats.email",
    ]
