"""Machine translation as a stage on the bus, over HTTP with a real (slow) LibreTranslate-compatible
engine and an SMTP sink: the submission is answered before the engines run, the database takes
other writes while they work, the editions appear through the stage, and an edition published
after its release went out reaches the recipients who asked for that language, once."""

from __future__ import annotations

import csv
import time
from datetime import UTC, datetime
from email.header import decode_header, make_header
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import MODES, Server, release_payload, with_editions
from libretranslate_server import LibreTranslateServer
from receivers import Mail, SmtpSink
from test_distribution import wait_until

ENGINE_DELAY = 3.0  # seconds the engine takes to answer each request


@pytest.fixture
def sink() -> Any:
    s = SmtpSink().start()
    yield s
    s.stop()


def _slow_engine(delay: float) -> LibreTranslateServer:
    # only LibreTranslate reaches German from English here, so every German edition comes from it
    return LibreTranslateServer(delay=delay).start()


def _wire(
    server_factory: Any, sink: SmtpSink, engine: LibreTranslateServer, **env: str
) -> tuple[Server, Any]:
    server: Server = server_factory(
        WARTA_SMTP_URL=sink.url, WARTA_LIBRETRANSLATE_URL=engine.url, WARTA_RETRY_BASE="0.2", **env
    )
    org = server.cli_json(
        "admin", "create-org", "--name", "Pelabuhan Selatan Berhad", "--verified", "--auto-approve"
    )
    editor = server.cli_json("admin", "create-user", "--role", "editor", "--name", "Desk")
    return server, (server.client(org["api_key"]), server.client(editor["api_key"]))


def _english(**fields: Any) -> dict[str, Any]:
    text = {
        "headline": "Pelabuhan Selatan announces new results today",
        "summary": "The company announces new results.",
        "body": "The company announces new results today.",
        "language": "en",
    }
    return release_payload(**{**text, **fields})


def _subject(mail: Mail) -> str:
    return str(make_header(decode_header(str(mail.message["Subject"]))))


@pytest.mark.parametrize("mode", ["embedded"], indirect=True)
def test_the_submission_is_answered_while_the_engine_still_works_and_the_database_takes_writes(
    server_factory: Any, sink: SmtpSink
) -> None:
    engine = _slow_engine(ENGINE_DELAY)
    try:
        server, (issuer, _editor) = _wire(server_factory, sink, engine, WARTA_PUBLISH_MACHINE="de")
        resp = issuer.post("/api/v1/releases", json=_english(targets={"languages": ["de"]}))
        assert resp.status_code == 201, resp.text
        rel = resp.json()
        # answered with the original alone: the German edition is the editions stage's to make
        assert {e["lang"] for e in rel["editions"]} == {"en"}

        # the engine has the text and is still answering; the database meanwhile takes a whole
        # other submission, well within the time one engine call takes
        wait_until(lambda: engine.posts("/translate"), 10, "the engine's first request")
        quick = httpx.Client(
            base_url=server.url,
            headers={"Authorization": issuer.headers["Authorization"]},
            timeout=ENGINE_DELAY / 2,
        )
        other = quick.post(
            "/api/v1/releases", json=_english(headline="A second release while the first is translated")
        )
        assert other.status_code == 201, other.text
        mine = issuer.get(f"/api/v1/releases/{rel['id']}").json()
        assert "de" not in {e["lang"] for e in mine["editions"]}, (
            "the German edition was made before the engine answered"
        )

        # the stage stores the edition when the engine is done; it publishes (WARTA_PUBLISH_MACHINE)
        done = with_editions(issuer, rel, ["de"], timeout=60)
        de = next(e for e in done["editions"] if e["lang"] == "de")
        assert (de["origin"], de["engine"]) == ("machine", "libretranslate")
        assert de["headline"] == "PELABUHAN SELATAN ANNOUNCES NEW RESULTS TODAY"
    finally:
        engine.stop()


def _audience(path: Path) -> Path:
    rows = [
        # prefers German, reads English too: gets the English original first (no German yet)
        {
            "kind": "journalist",
            "name": "Greta",
            "country": "MY",
            "languages": "de,en",
            "email": "greta@x.example",
        },
        # prefers English
        {
            "kind": "journalist",
            "name": "Ali",
            "country": "MY",
            "languages": "en,de",
            "email": "ali@x.example",
        },
    ]
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=["kind", "name", "country", "languages", "email"])
        w.writeheader()
        w.writerows(rows)
    return path


@pytest.mark.parametrize("mode", MODES, indirect=True)
def test_a_draft_approved_after_the_release_went_out_reaches_who_asked_for_it_once(
    server_factory: Any, sink: SmtpSink, tmp_path: Path
) -> None:
    engine = _slow_engine(0.0)
    try:
        server, (issuer, editor) = _wire(server_factory, sink, engine)
        server.cli("recipients", "import", str(_audience(tmp_path / "a.csv")), "--json")
        resp = issuer.post(
            "/api/v1/releases",
            json=_english(
                targets={"countries": ["MY"], "languages": ["de"]}, release_at=datetime.now(UTC).isoformat()
            ),
        )
        assert resp.status_code == 201, resp.text
        rid = resp.json()["id"]
        # the machine German edition is a draft (LibreTranslate's tier), made by the stage
        with_editions(issuer, resp.json(), ["de"])
    finally:
        engine.stop()

    def to(who: str) -> list[Mail]:
        return [m for m in sink.snapshot() if f"{who}@x.example" in m.rcpt]

    wait_until(lambda: to("greta") and to("ali"), 30, "the original to Greta and Ali")
    assert "announces new results" in _subject(to("greta")[0])

    approved = editor.post(f"/api/v1/releases/{rid}/editions/de/approve")
    assert approved.status_code == 200, approved.text
    # Greta asked for German first: she gets it as an additional edition; Ali asked for English
    wait_until(lambda: len(to("greta")) == 2, 30, "the German edition to Greta")
    assert "ANNOUNCES NEW RESULTS" in _subject(to("greta")[1])

    # a person's German text replaces the draft: another edition.updated, nobody gets German twice
    put = editor.put(
        f"/api/v1/releases/{rid}/editions/de", json={"headline": "Neue Ergebnisse", "body": "Heute."}
    )
    assert put.status_code == 200, put.text
    time.sleep(3)
    assert (len(to("greta")), len(to("ali"))) == (2, 1)
    assert not sink.duplicates()
