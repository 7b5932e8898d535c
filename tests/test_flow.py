"""The whole flow over HTTP against a running `warta serve`: submit, hold, approve, release on time."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from conftest import MODES, Desk, release_payload
from warta.i18n.catalog import translate
from warta.i18n.dates import dateline_date

WORD = "Cyberjaya"
pytestmark = pytest.mark.parametrize("mode", MODES, indirect=True)


def _visible_everywhere(desk: Desk, rid: str) -> dict[str, bool]:
    """Where an anonymous reader can see the release right now."""
    anon = desk.server.client()
    return {
        "page": anon.get(f"/releases/{rid}/ms").status_code == 200,
        "redirect": anon.get(f"/releases/{rid}").status_code in (200, 307),
        "api": anon.get(f"/api/v1/releases/{rid}").status_code == 200,
        "ninjs": anon.get(f"/api/v1/releases/{rid}/editions/ms").status_code == 200,
        "list": rid in anon.get("/api/v1/releases").text,
        "search_api": rid in anon.get("/api/v1/search", params={"q": WORD}).text,
        "search_page": rid in anon.get("/search", params={"q": WORD}).text,
        "newsroom": rid in anon.get("/", params={"lang": "ms"}).text,
        "rss": rid in anon.get("/feeds/rss.xml").text,
        "atom": rid in anon.get("/feeds/atom.xml", params={"lang": "ms"}).text,
        "json_feed": rid in anon.get("/feeds/feed.json", params={"country": "MY"}).text,
        "issuer_page": rid in anon.get("/issuers/syarikat-contoh-berhad").text,
    }


def test_markdown_release_in_malay_is_held_approved_and_released_on_time(desk: Desk) -> None:
    issuer, editor = desk.issuer(), desk.editor()
    release_at = datetime.now(UTC) + timedelta(seconds=6)
    resp = issuer.post("/api/v1/releases", json=release_payload(release_at=release_at.isoformat()))
    assert resp.status_code == 201, resp.text
    release = resp.json()
    rid = release["id"]

    # held by the review chain, with the rule and its reason stored and shown
    assert release["status"] == "held"
    assert release["review"]["decision"] == "hold"
    held_by = {r["rule"]: r for r in release["review"]["rules"] if r["verdict"] == "hold"}
    assert set(held_by) == {"issuer-verified"}
    assert "not verified" in held_by["issuer-verified"]["reason"]
    assert release["sectors"] == ["top-story", "medtop:04000000"]

    # in the editors' queue, not in the issuer's reach to approve
    queue = editor.get("/api/v1/review").json()["items"]
    assert [r["id"] for r in queue] == [rid]
    assert issuer.post(f"/api/v1/releases/{rid}/approve").status_code == 403
    assert not any(_visible_everywhere(desk, rid).values())

    approved = editor.post(f"/api/v1/releases/{rid}/approve", json={"note": "checked with issuer"})
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"
    assert editor.get("/api/v1/review").json()["items"] == []

    # approved but not yet due: still invisible everywhere; the issuer sees its own release
    seen = _visible_everywhere(desk, rid)
    assert not any(seen.values()), seen
    assert issuer.get(f"/api/v1/releases/{rid}").json()["visible"] is False

    # released to the second: poll until the page appears and measure how late it was
    deadline = release_at + timedelta(seconds=10)
    anon = desk.server.client()
    while datetime.now(UTC) < deadline:
        if anon.get(f"/releases/{rid}/ms").status_code == 200:
            break
        time.sleep(0.05)
    appeared = datetime.now(UTC)
    assert appeared >= release_at, "visible before its release time"
    assert (appeared - release_at).total_seconds() < 1.5, f"released {appeared - release_at} late"

    seen = _visible_everywhere(desk, rid)
    assert all(seen.values()), seen
    detail = anon.get(f"/api/v1/releases/{rid}").json()
    assert detail["status"] == "published" and detail["visible"] is True

    # the Malay edition page carries the wire text, in Malay
    page = anon.get(f"/releases/{rid}/ms").text
    org = "Syarikat Contoh Berhad"
    date = dateline_date(release_at, "ms", "Asia/Kuala_Lumpur")
    assert (
        translate("ms", "%(city)s, %(date)s (%(wire)s) –", city="KUALA LUMPUR", date=date, wire="Warta")
        in page
    )
    assert "(Warta)" in page
    top_story = translate("ms", "Top Story")
    assert top_story != "Top Story"
    assert translate("ms", "Sector: %(sectors)s", sectors=top_story).split(top_story)[0] in page
    assert top_story in page
    assert translate("ms", "About %(org)s", org=org) in page
    assert "Syarikat Contoh Berhad ialah pengendali pusat data" in page
    assert translate("ms", "Media contact") in page and "media@contoh.example" in page
    disclaimer = translate(
        "ms",
        "Disclaimer: This press release is issued by %(org)s and distributed by %(wire)s as third-party "
        "content. %(wire)s does not endorse it and is not responsible for its accuracy.",
        org=org,
        wire="Warta",
    )
    assert disclaimer in page.replace("\n", " ")
    for english in ("Media contact", "Disclaimer", "About Syarikat", "Sector:"):
        assert english not in page, english
    assert '<html lang="ms" dir="ltr">' in page


def test_api_keys_are_stored_only_as_digests(desk: Desk) -> None:
    dump = desk.server.database_dump()
    assert hashlib.sha256(desk.issuer_key.encode()).hexdigest() in dump  # the right database
    assert desk.issuer_key not in dump and desk.editor_key not in dump
    assert desk.issuer().get("/api/v1/me").json()["role"] == "issuer"
    bad = httpx.get(f"{desk.server.url}/api/v1/me", headers={"Authorization": "Bearer wk_not-a-key"})
    assert bad.status_code == 401 and bad.json()["error"]["code"] == "unauthorised"


def test_editor_rejects_with_a_reason_and_the_release_never_appears(desk: Desk) -> None:
    rid = desk.issuer().post("/api/v1/releases", json=release_payload()).json()["id"]
    no_reason = desk.editor().post(f"/api/v1/releases/{rid}/reject", json={"reason": ""})
    assert no_reason.status_code == 422 and no_reason.json()["error"]["field"] == "reason"
    resp = desk.editor().post(f"/api/v1/releases/{rid}/reject", json={"reason": "Claims not substantiated"})
    assert resp.status_code == 200
    body = resp.json()
    assert body["status"] == "rejected" and body["reject_reason"] == "Claims not substantiated"
    assert body["review"]["editor"]["decision"] == "reject"
    time.sleep(0.5)
    assert desk.server.client().get(f"/api/v1/releases/{rid}").status_code == 404
    mine = desk.issuer().get("/api/v1/releases", params={"status": "rejected"}).json()["items"]
    assert [r["id"] for r in mine] == [rid]
