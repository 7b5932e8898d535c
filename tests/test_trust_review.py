"""Trust and review after submission, against a running `warta serve` with real receivers: a
correction or an issuer's edition is reviewed again and waits for an editor; withdrawals reach
every holder at once and are never undone by a resend; an unsubscribe sticks; no backdating; the
public history shows only public editions; an edition of a release not out says what it is."""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from conftest import Desk, Server, release_payload
from receivers import SmtpSink, WebhookReceiver


def wait_until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture
def sink() -> Any:
    s = SmtpSink().start()
    yield s
    s.stop()


def make_desk(server: Server) -> Desk:
    org = server.cli_json("admin", "create-org", "--name", "Syarikat Contoh Berhad")  # unverified
    editor = server.cli_json("admin", "create-user", "--role", "editor", "--name", "Desk Editor")
    return Desk(server=server, org_id=org["id"], issuer_key=org["api_key"], editor_key=editor["api_key"])


def journalist(desk: Desk, email: str, trusted: bool = False, **extra: Any) -> dict[str, Any]:
    resp = desk.editor().post(
        "/api/v1/recipients",
        json={
            "kind": "journalist",
            "name": email,
            "country": "MY",
            "languages": ["ms"],
            "email": email,
            "embargo_trusted": trusted,
            **extra,
        },
    )
    assert resp.status_code == 201, resp.text
    out: dict[str, Any] = resp.json()
    return out


def submit(desk: Desk, **overrides: Any) -> dict[str, Any]:
    resp = desk.issuer().post("/api/v1/releases", json=release_payload(**overrides))
    assert resp.status_code == 201, resp.text
    out: dict[str, Any] = resp.json()
    return out


def visible(server: Server, rid: str) -> bool:
    got = server.client().get(f"/api/v1/releases/{rid}")
    return got.status_code == 200 and bool(got.json()["visible"])


OLD_HEADLINE = release_payload()["headline"]
NEW_HEADLINE = "Syarikat Contoh Berhad melabur RM900 juta — beli saham sekarang"


def test_a_correction_before_release_time_is_reviewed_again_and_the_release_waits(desk: Desk) -> None:
    """The attack: a harmless release approved for later, then a correction replacing its text."""
    release_at = datetime.now(UTC) + timedelta(seconds=3)
    rel = submit(desk, release_at=release_at.isoformat())
    rid = rel["id"]
    # an edition of a held release says so, not "published"
    assert rel["status"] == "held" and {e["lang"]: e["status"] for e in rel["editions"]}["ms"] == "held"
    approved = desk.editor().post(f"/api/v1/releases/{rid}/approve").json()
    assert (
        approved["status"] == "approved"
        and {e["lang"]: e["status"] for e in approved["editions"]}["ms"] == "scheduled"
    )

    resp = desk.issuer().post(
        f"/api/v1/releases/{rid}/corrections",
        json={
            "note": "New figures",
            "headline": NEW_HEADLINE,
            "contact": {"name": "X", "email": "x@spam.example"},
        },
    )
    assert resp.status_code == 201, resp.text
    held = resp.json()
    assert held["status"] == "held" and held["version"] == 1
    pending = held["pending"]["version"]
    assert pending["version"] == 2 and pending["against"] == 1
    assert pending["review"]["decision"] == "hold"
    assert pending["changes"]["headline"]["after"] == NEW_HEADLINE
    assert "x@spam.example" in pending["changes"]["contact"]["after"]
    assert set(pending["changes"]) == {"headline", "contact"}
    # a second correction waits for the editor's decision on the first
    again = desk.issuer().post(
        f"/api/v1/releases/{rid}/corrections", json={"note": "more", "headline": "X y z"}
    )
    assert again.status_code == 409 and "waiting for an editor" in again.json()["error"]["message"]

    time.sleep(4)  # its release time passes: it does not go out, neither old text nor new
    assert not visible(desk.server, rid)
    queue = desk.editor().get("/api/v1/review").json()["items"]
    assert [i["pending"]["version"]["version"] for i in queue if i["id"] == rid] == [2]

    resp = desk.editor().post(f"/api/v1/releases/{rid}/approve", json={"note": "checked"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["version"] == 2 and resp.json()["status"] == "approved"
    wait_until(lambda: visible(desk.server, rid), 10, "the approved correction to go out")
    assert NEW_HEADLINE in desk.server.client().get(f"/releases/{rid}/ms").text


def test_after_publication_a_held_correction_is_not_sent_until_an_editor_passes_it(
    server_factory: Any, sink: SmtpSink
) -> None:
    desk = make_desk(server_factory(WARTA_SMTP_URL=sink.url, WARTA_RETRY_BASE="0.2"))
    journalist(desk, "wartawan@x.example")
    rid = submit(desk)["id"]
    desk.editor().post(f"/api/v1/releases/{rid}/approve")
    wait_until(lambda: len(sink.snapshot()) == 1, 15, "the release's email")
    anon = desk.server.client()

    for attempt in ("rejected", "approved"):
        resp = desk.issuer().post(
            f"/api/v1/releases/{rid}/corrections", json={"note": "Figures", "headline": NEW_HEADLINE}
        )
        assert resp.status_code == 201, resp.text
        assert resp.json()["status"] == "published" and resp.json()["version"] == 1
        number = resp.json()["pending"]["version"]["version"]
        time.sleep(2)
        assert len(sink.snapshot()) == 1, "a held correction was sent"
        page = anon.get(f"/releases/{rid}/ms").text
        assert OLD_HEADLINE in page and NEW_HEADLINE not in page
        assert anon.get(f"/api/v1/releases/{rid}/versions/{number}").status_code == 404
        if attempt == "rejected":
            resp = desk.editor().post(
                f"/api/v1/releases/{rid}/reject", json={"reason": "Not what was approved"}
            )
            assert resp.status_code == 200, resp.text
            assert resp.json()["status"] == "published" and resp.json()["pending"] is None
            assert [v["version"] for v in resp.json()["versions"]] == [1]
    resp = desk.editor().post(f"/api/v1/releases/{rid}/approve")
    assert resp.status_code == 200, resp.text
    assert resp.json()["version"] == 3
    wait_until(lambda: len(sink.snapshot()) == 2, 15, "the correction's email")
    assert str(sink.snapshot()[1].message["Subject"]).endswith(NEW_HEADLINE)
    assert NEW_HEADLINE in anon.get(f"/releases/{rid}/ms").text
    assert [v["version"] for v in anon.get(f"/api/v1/releases/{rid}").json()["versions"]] == [1, 3]


def test_an_issuers_edition_is_held_and_the_public_sees_it_only_once_approved(desk: Desk) -> None:
    rid = submit(desk)["id"]
    desk.editor().post(f"/api/v1/releases/{rid}/approve")
    wait_until(lambda: visible(desk.server, rid), 10, "the release")
    english = {"headline": "BUY NOW!!! Guaranteed profits", "body": "Click here."}
    resp = desk.issuer().put(f"/api/v1/releases/{rid}/editions/en", json=english)
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "held" and resp.json()["held"] is True
    reasons = {r["rule"] for r in resp.json()["review"]["rules"] if r["verdict"] == "hold"}
    assert {"shouting", "length-bounds", "issuer-verified"} <= reasons
    anon = desk.server.client()
    assert anon.get(f"/api/v1/releases/{rid}/editions/en").status_code == 404
    assert anon.get(f"/releases/{rid}/en").status_code == 404
    queue = desk.editor().get("/api/v1/review").json()["items"]
    waiting = next(i for i in queue if i["id"] == rid)["pending"]["editions"]
    assert [(e["lang"], e["changes"]["headline"]["after"]) for e in waiting] == [("en", english["headline"])]
    resp = desk.editor().post(f"/api/v1/releases/{rid}/editions/en/approve")
    assert resp.status_code == 200 and resp.json()["status"] == "published"
    assert anon.get(f"/api/v1/releases/{rid}/editions/en").status_code == 200


def test_a_withdrawal_reaches_early_holders_at_once_and_nothing_revives_the_release(
    server_factory: Any, sink: SmtpSink
) -> None:
    hooks = WebhookReceiver().start()
    try:
        server = server_factory(
            WARTA_SMTP_URL=sink.url, WARTA_WEBHOOK_ALLOW="127.0.0.1", WARTA_RETRY_BASE="0.2"
        )
        desk = make_desk(server)
        journalist(desk, "early@x.example", trusted=True)
        late = journalist(desk, "late@x.example")
        outlet = desk.editor().post(
            "/api/v1/recipients",
            json={
                "kind": "outlet",
                "name": "O",
                "country": "MY",
                "languages": ["ms"],
                "webhook_url": f"{hooks.url}/o",
                "embargo_trusted": True,
            },
        )
        assert outlet.status_code == 201, outlet.text
        lift = datetime.now(UTC) + timedelta(minutes=10)
        rid = submit(desk, embargo_until=lift.isoformat())["id"]
        desk.editor().post(f"/api/v1/releases/{rid}/approve")
        wait_until(lambda: len(sink.snapshot()) == 1 and len(hooks.snapshot()) == 1, 15, "the early copies")

        resp = desk.issuer().post(f"/api/v1/releases/{rid}/withdraw", json={"reason": "Issued in error"})
        assert resp.status_code == 200
        # the embargo is ten minutes away: the notices come now, to those who hold the early copy
        wait_until(lambda: len(sink.snapshot()) == 2 and len(hooks.snapshot()) == 2, 15, "the notices")
        notice = sink.snapshot()[1]
        assert notice.rcpt == ["early@x.example"] and notice.message["X-Warta-Kind"] == "withdrawal"

        rows = desk.editor().get(f"/api/v1/releases/{rid}/deliveries").json()["items"]
        waiting = next(d for d in rows if d["recipient_id"] == late["id"] and d["kind"] == "edition")
        assert waiting["state"] == "cancelled"
        resp = desk.editor().post(f"/api/v1/deliveries/{waiting['id']}/resend")
        assert resp.status_code == 409 and "withdrawn" in resp.json()["error"]["message"]
        # a row that became due again anyway (the ledger written behind the API's back): the
        # engine cancels it at its claim instead of sending the withdrawn release
        db = sqlite3.connect(server.data_dir / "warta.db", timeout=10)
        with db:
            db.execute(
                "UPDATE deliveries SET state = 'pending', not_before = :now, next_attempt_at = :now "
                "WHERE id = :id",
                {"id": waiting["id"], "now": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")},
            )
        db.close()
        desk.editor().post(f"/api/v1/recipients/{late['id']}/alerts", json={"query": "wake"})

        def settled() -> bool:
            row = desk.editor().get(f"/api/v1/releases/{rid}/deliveries").json()["items"]
            mine = next(d for d in row if d["id"] == waiting["id"])
            return bool(mine["state"] == "cancelled" and mine["last_error"] == "release withdrawn")

        wait_until(settled, 15, "the engine to cancel the withdrawn release's row")
        assert [m.rcpt for m in sink.snapshot()].count(["late@x.example"]) == 0
    finally:
        hooks.stop()


def test_an_unsubscribe_sticks_through_patch_and_csv_import(desk: Desk, tmp_path: Any) -> None:
    gone = journalist(desk, "gone@x.example", external_id="gone")
    editor = desk.editor()
    assert (
        editor.patch(f"/api/v1/recipients/{gone['id']}", json={"status": "unsubscribed"}).status_code == 200
    )
    resp = editor.patch(f"/api/v1/recipients/{gone['id']}", json={"status": "active"})
    assert resp.status_code == 409 and resp.json()["error"]["field"] == "status"
    assert editor.patch(f"/api/v1/recipients/{gone['id']}", json={"name": "Renamed"}).status_code == 200
    csv = tmp_path / "again.csv"
    csv.write_text(
        "kind,name,country,languages,email,status,external_id\n"
        "journalist,Gone,MY,ms,gone@x.example,active,gone\n"
        "journalist,Gone again,MY,ms,GONE@x.example,,\n"
    )
    result = desk.server.cli("recipients", "import", str(csv), "--json", check=False)
    assert result.returncode != 0  # rows had errors
    out = json.loads(result.stdout)
    assert [(e["line"], e["field"]) for e in out["errors"]] == [(2, "status"), (3, "status")]
    assert editor.get(f"/api/v1/recipients/{gone['id']}").json()["status"] == "unsubscribed"
    assert editor.get("/api/v1/recipients", params={"status": "active"}).json()["total"] == 0


def test_backdated_or_far_off_times_are_refused_naming_the_field(desk: Desk) -> None:
    now = datetime.now(UTC)
    for field, when in (
        ("release_at", now - timedelta(minutes=10)),
        ("embargo_until", now + timedelta(days=3 * 365)),
        ("release_at", now + timedelta(days=3 * 365)),
    ):
        resp = desk.issuer().post("/api/v1/releases", json=release_payload(**{field: when.isoformat()}))
        assert resp.status_code == 422, resp.text
        assert resp.json()["error"]["field"] == field
    # a clock a minute behind is within the allowance
    ok = desk.issuer().post(
        "/api/v1/releases", json=release_payload(release_at=(now - timedelta(minutes=1)).isoformat())
    )
    assert ok.status_code == 201, ok.text


def test_the_public_version_history_lists_only_public_editions(desk: Desk) -> None:
    rid = submit(desk)["id"]
    desk.editor().post(f"/api/v1/releases/{rid}/approve")
    wait_until(lambda: visible(desk.server, rid), 10, "the release")
    asked = desk.issuer().post(f"/api/v1/releases/{rid}/editions/de/request")
    assert asked.status_code == 201 and asked.json()["status"] == "needs_translation"
    public = httpx.get(f"{desk.server.url}/api/v1/releases/{rid}/versions/1").json()
    assert [e["lang"] for e in public["editions"]] == ["ms"]
    own = desk.issuer().get(f"/api/v1/releases/{rid}/versions/1").json()
    assert {e["lang"]: e["status"] for e in own["editions"]} == {
        "de": "needs_translation",
        "en": "needs_translation",
        "ms": "published",
    }
