"""Editions, corrections and their history; auto-approve; banned terms; embargo on public surfaces."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from conftest import Desk, Server, release_payload


def wait_visible(client: httpx.Client, rid: str, timeout: float = 10) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        detail: dict[str, Any] = client.get(f"/api/v1/releases/{rid}").json()
        if detail.get("visible"):
            return detail
        time.sleep(0.05)
    raise AssertionError(f"{rid} never became visible")


def published(desk: Desk, **overrides: Any) -> str:
    rid: str = desk.issuer().post("/api/v1/releases", json=release_payload(**overrides)).json()["id"]
    assert desk.editor().post(f"/api/v1/releases/{rid}/approve").status_code == 200
    wait_visible(desk.issuer(), rid)
    return rid


ENGLISH = {
    "headline": "Syarikat Contoh Berhad invests RM250 million in a green data centre",
    "summary": "The Cyberjaya data centre will create 400 jobs.",
    "body": "Syarikat Contoh Berhad today announced a **RM250 million** investment in a green data centre.",
    "about": "Syarikat Contoh Berhad is a leading Malaysian data-centre operator.",
}


def test_editions_are_supplied_listed_and_linked(desk: Desk) -> None:
    rid = published(desk)
    resp = desk.issuer().put(f"/api/v1/releases/{rid}/editions/en", json=ENGLISH)
    assert resp.status_code == 200, resp.text
    # the unverified issuer's edition is reviewed like a submission and waits for an editor
    assert resp.json()["held"] is True
    assert any(
        r["rule"] == "issuer-verified" and r["verdict"] == "hold" for r in resp.json()["review"]["rules"]
    )
    assert ENGLISH["headline"] not in desk.server.client().get(f"/releases/{rid}/en").text
    resp = desk.editor().post(f"/api/v1/releases/{rid}/editions/en/approve")
    assert resp.status_code == 200, resp.text
    assert resp.json()["origin"] == "human" and len(resp.json()["signature"]) == 64
    assert resp.json()["held"] is False and resp.json()["status"] == "published"
    # the original changes only through a correction
    assert desk.issuer().put(f"/api/v1/releases/{rid}/editions/ms", json=ENGLISH).status_code == 409
    # another organisation's issuer cannot touch it
    other = desk.server.cli_json("admin", "create-org", "--name", "Other Org")
    assert (
        desk.server.client(other["api_key"])
        .put(f"/api/v1/releases/{rid}/editions/fr", json=ENGLISH)
        .status_code
        == 403
    )

    detail = desk.server.client().get(f"/api/v1/releases/{rid}").json()
    assert {e["lang"]: e["origin"] for e in detail["editions"]} == {"en": "human", "ms": "original"}
    page = desk.server.client().get(f"/releases/{rid}/en").text
    assert '<html lang="en" dir="ltr">' in page
    assert 'hreflang="ms"' in page and 'hreflang="en"' in page
    assert "<strong>RM250 million</strong>" in page
    assert "About Syarikat Contoh Berhad" in page and "Media contact" in page and "Sector: Top Story" in page


def test_a_correction_makes_a_new_version_and_keeps_the_old(desk: Desk) -> None:
    rid = published(desk)
    desk.issuer().put(f"/api/v1/releases/{rid}/editions/en", json=ENGLISH)
    assert desk.editor().post(f"/api/v1/releases/{rid}/editions/en/approve").status_code == 200
    resp = desk.issuer().post(
        f"/api/v1/releases/{rid}/corrections",
        json={
            "note": "Investment is RM260 million, not RM250 million",
            "headline": "Syarikat Contoh Berhad melabur RM260 juta",
            "body": release_payload()["body"].replace("RM250", "RM260"),
        },
    )
    assert resp.status_code == 201, resp.text
    # the unverified issuer's correction waits for an editor; readers keep version 1 meanwhile
    held = resp.json()
    assert held["version"] == 1 and held["pending"]["version"]["version"] == 2
    anon = desk.server.client()
    assert "RM250 juta" in anon.get(f"/releases/{rid}/ms").text
    assert anon.get(f"/api/v1/releases/{rid}/versions/2").status_code == 404
    queue = desk.editor().get("/api/v1/review").json()["items"]
    waiting = next(item for item in queue if item["id"] == rid)["pending"]["version"]
    assert waiting["changes"]["headline"] == {
        "before": "Syarikat Contoh Berhad melabur RM250 juta dalam pusat data hijau",
        "after": "Syarikat Contoh Berhad melabur RM260 juta",
        "diff": [
            "--- approved",
            "+++ proposed",
            "@@ -1 +1 @@",
            "-Syarikat Contoh Berhad melabur RM250 juta dalam pusat data hijau",
            "+Syarikat Contoh Berhad melabur RM260 juta",
        ],
    }
    assert "RM260" in waiting["changes"]["body"]["after"] and set(waiting["changes"]) == {"headline", "body"}
    resp = desk.editor().post(f"/api/v1/releases/{rid}/approve", json={"note": "figures checked"})
    assert resp.status_code == 200, resp.text
    detail = resp.json()
    assert detail["version"] == 2 and detail["pending"] is None
    assert [v["version"] for v in detail["versions"]] == [1, 2]
    assert detail["versions"][1]["note"].startswith("Investment is RM260 million")
    states = {e["lang"]: (e["version"], e["status"]) for e in detail["editions"]}
    assert states == {"ms": (2, "published"), "en": (2, "outdated")}

    old = anon.get(f"/api/v1/releases/{rid}/versions/1").json()
    assert old["headline"] == "Syarikat Contoh Berhad melabur RM250 juta dalam pusat data hijau"
    assert old["current"] is False
    assert anon.get(f"/api/v1/releases/{rid}/editions/ms").json()["version"] == "2"
    page = anon.get(f"/releases/{rid}/ms").text
    assert "RM260 juta" in page and "RM250 juta" not in page
    assert 'data-version="2"' in page
    en_page = anon.get(f"/releases/{rid}/en").text
    assert "This translation has not yet been updated for the latest correction." in en_page
    # search finds the corrected Malay text, not the old one (the outdated English still says RM250)
    assert rid in anon.get("/api/v1/search", params={"q": "RM260 juta"}).text
    assert rid not in anon.get("/api/v1/search", params={"q": "RM250 juta"}).text
    assert rid in anon.get("/api/v1/search", params={"q": "RM250 million"}).text


def test_trusted_issuer_is_auto_approved_and_published(server: Server) -> None:
    org = server.cli_json("admin", "create-org", "--name", "Trusted Bhd", "--verified", "--auto-approve")
    resp = server.client(org["api_key"]).post(
        "/api/v1/releases", json=release_payload(headline="SEMUA HURUF BESAR DI SINI OK")
    )
    body = resp.json()
    assert body["status"] == "approved"
    assert body["review"]["decision"] == "approve" and "auto-approve" in body["review"]["note"]
    assert any(r["rule"] == "shouting" and r["verdict"] == "hold" for r in body["review"]["rules"])
    wait_visible(server.client(), body["id"])


def test_banned_terms_reject_at_intake(server_factory: Any) -> None:
    server = server_factory(WARTA_BANNED_TERMS="pulangan dijamin, skim cepat kaya")
    org = server.cli_json("admin", "create-org", "--name", "Shady Bhd", "--verified", "--auto-approve")
    payload = release_payload(body=release_payload()["body"] + "\n\nPulangan dijamin 40% setahun!")
    body = server.client(org["api_key"]).post("/api/v1/releases", json=payload).json()
    assert body["status"] == "rejected"
    assert "pulangan dijamin" in body["reject_reason"]


def test_embargo_keeps_the_public_out_until_the_lift(desk: Desk) -> None:
    now = datetime.now(UTC)
    lift = now + timedelta(seconds=4)
    rid = (
        desk.issuer()
        .post(
            "/api/v1/releases",
            json=release_payload(release_at=now.isoformat(), embargo_until=lift.isoformat()),
        )
        .json()["id"]
    )
    desk.editor().post(f"/api/v1/releases/{rid}/approve")
    time.sleep(1.0)
    own = desk.issuer().get(f"/api/v1/releases/{rid}").json()
    assert own["status"] == "published" and own["visible"] is False
    assert own["embargo_until"].startswith(lift.strftime("%Y-%m-%dT%H:%M:%S"))
    anon = desk.server.client()
    assert anon.get(f"/releases/{rid}/ms").status_code == 404
    assert rid not in anon.get("/feeds/atom.xml").text
    assert rid not in anon.get("/api/v1/search", params={"q": "Cyberjaya"}).text
    ninjs = desk.issuer().get(f"/api/v1/releases/{rid}/editions/ms").json()
    assert ninjs["embargoedUntil"].startswith(lift.strftime("%Y-%m-%dT%H:%M:%S"))
    wait_visible(anon, rid)
    assert datetime.now(UTC) >= lift
    page = anon.get(f"/releases/{rid}/ms").text
    assert 'class="embargo"' in page
