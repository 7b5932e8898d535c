"""HTTP as a careful client (or an attacker) meets it, against a running `warta serve`: numbers out
of range, a client that leaves mid-body, HEAD, conditional requests after a withdrawal, security
headers, no-store on secrets, the stream's per-token cap and the desk's cookie, and an access log
that never shows a capability token."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import WARTA, Desk, Server, free_port, make_env, release_payload, wait_until_serving

SECURITY = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "strict-origin-when-cross-origin",
}


def published(desk: Desk, **overrides: Any) -> str:
    """A release approved by the editor and out now (its release time in the past)."""
    issuer, editor = desk.issuer(), desk.editor()
    made = issuer.post("/api/v1/releases", json=release_payload(**overrides))
    assert made.status_code == 201, made.text
    rid: str = made.json()["id"]
    assert editor.post(f"/api/v1/releases/{rid}/approve", json={}).status_code == 200
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if issuer.get(f"/api/v1/releases/{rid}").json()["status"] == "published":
            return rid
        time.sleep(0.1)
    raise AssertionError(f"{rid} was not published")


def desktop(desk: Desk, name: str = "Meja Ujian") -> dict[str, Any]:
    made = desk.editor().post(
        "/api/v1/recipients", json={"kind": "desktop", "name": name, "country": "MY", "languages": ["ms"]}
    )
    assert made.status_code == 201, made.text
    found: dict[str, Any] = made.json()
    return found


def assert_secure(response: httpx.Response) -> None:
    for name, value in SECURITY.items():
        assert response.headers.get(name) == value, (response.request.url, name, response.headers)
    csp = response.headers.get("content-security-policy", "")
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp, csp
    assert "unsafe-inline" not in csp.split("script-src", 1)[1].split(";")[0]


# --- item: no input gives a 500 ----------------------------------------------------------------


def test_numbers_beyond_any_row_are_422s_naming_the_field(desk: Desk) -> None:
    rid = published(desk)
    anyone = desk.server.client()
    for url, field in (
        ("/api/v1/releases?offset=9223372036854775808", "offset"),
        ("/api/v1/releases?offset=-1", "offset"),
        (f"/api/v1/releases/{rid}/versions/99999999999999999999", "number"),
        (f"/api/v1/releases/{rid}/versions/0", "number"),
        (f"/api/v1/releases/{rid}/deliveries?offset=9223372036854775808", "offset"),
    ):
        answer = desk.issuer().get(url) if "deliveries" in url else anyone.get(url)
        assert answer.status_code == 422, (url, answer.status_code, answer.text)
        assert answer.json()["error"]["field"] == field, answer.text
    far = desk.editor().get("/api/v1/recipients", params={"offset": 2**63})
    assert far.status_code == 422 and far.json()["error"]["field"] == "offset"
    # the largest offset allowed is answered, with nothing in it
    assert anyone.get("/api/v1/releases", params={"offset": 1_000_000}).json() == {"items": []}


def test_a_client_that_leaves_mid_body_leaves_no_traceback(desk: Desk) -> None:
    host, port = desk.server.url.removeprefix("http://").split(":")
    for _ in range(3):
        with socket.create_connection((host, int(port))) as conn:
            conn.sendall(
                b"POST /api/v1/releases HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Authorization: Bearer " + desk.issuer_key.encode() + b"\r\n"
                b"Content-Length: 5000\r\n\r\n" + b'{"headline": "half a bo'
            )
            time.sleep(0.3)
    time.sleep(0.5)
    assert desk.server.client().get("/api/v1/releases").status_code == 200
    log = desk.server.log.read_text()
    assert "Traceback" not in log and "Exception in ASGI application" not in log, log


# --- HEAD and conditional requests --------------------------------------------------------------


def test_head_answers_every_get_route_without_a_body(desk: Desk) -> None:
    rid = published(desk)
    stream_token = desktop(desk)["stream_token"]
    client = desk.server.client()
    for url in (
        "/",
        "/search?q=pusat",
        f"/releases/{rid}/ms",
        f"/releases/{rid}/ms.txt",
        "/feeds/atom.xml",
        "/feeds/rss.xml",
        "/feeds/feed.json",
        "/api/v1/releases",
        f"/api/v1/releases/{rid}",
        f"/api/v1/releases/{rid}/editions/ms",
        f"/api/v1/releases/{rid}/versions/1",
        "/openapi.json",
        "/docs",
        "/static/style.css",
        "/desk",
    ):
        got, head = client.get(url), client.head(url)
        assert got.status_code == 200, (url, got.status_code)
        assert head.status_code == 200, (url, head.status_code, head.text)
        assert head.content == b"", url
        assert head.headers.get("content-type") == got.headers.get("content-type"), url
        assert head.headers.get("etag") == got.headers.get("etag"), url
        if "content-length" in got.headers:
            assert head.headers["content-length"] == got.headers["content-length"], url
    me = desk.issuer().head("/api/v1/me")
    assert me.status_code == 200 and me.content == b""
    # the stream: its headers, and no connection held open
    stream = client.head("/api/v1/stream", headers={"Authorization": f"Bearer {stream_token}"})
    assert stream.status_code == 200 and stream.headers["content-type"].startswith("text/event-stream")
    assert stream.content == b""
    assert client.head("/api/v1/stream").status_code == 401
    # HEAD where there is no GET is refused like a GET would be
    assert client.head("/api/v1/users").status_code == 405


def test_if_none_match_compares_weakly(desk: Desk) -> None:
    published(desk)
    client = desk.server.client()
    first = client.get("/feeds/atom.xml")
    etag = first.headers["etag"]
    assert etag.startswith('"')
    for sent in (etag, f"W/{etag}", f'"other", W/{etag}', "*"):
        again = client.get("/feeds/atom.xml", headers={"If-None-Match": sent})
        assert again.status_code == 304, (sent, again.status_code)
    assert client.get("/feeds/atom.xml", headers={"If-None-Match": 'W/"other"'}).status_code == 200


def test_a_withdrawal_moves_a_feeds_last_modified_forward(desk: Desk) -> None:
    keep = published(desk, headline="Syarikat Contoh Berhad membuka pejabat baharu di Pulau Pinang")
    gone = published(desk)
    client = desk.server.client()
    before = client.get("/feeds/atom.xml")
    assert gone in before.text and keep in before.text
    modified = before.headers["last-modified"]
    assert client.get("/feeds/atom.xml", headers={"If-Modified-Since": modified}).status_code == 304
    time.sleep(1.1)  # Last-Modified counts whole seconds
    withdrawn = desk.issuer().post(f"/api/v1/releases/{gone}/withdraw", json={"reason": "figures were wrong"})
    assert withdrawn.status_code == 200, withdrawn.text
    after = client.get("/feeds/atom.xml", headers={"If-Modified-Since": modified})
    assert after.status_code == 200, "a client that sent only If-Modified-Since kept the withdrawn release"
    assert gone not in after.text and keep in after.text
    assert parsedate_to_datetime(after.headers["last-modified"]) > parsedate_to_datetime(modified)


def test_private_feeds_have_validators(desk: Desk) -> None:
    published(desk)
    outlet = desk.editor().post(
        "/api/v1/recipients",
        json={
            "kind": "outlet",
            "name": "Berita Ujian",
            "country": "MY",
            "languages": ["ms"],
            "email": "desk@berita.example",
        },
    )
    token = outlet.json()["feed_token"]
    client = desk.server.client()
    for ext in ("xml", "json"):
        first = client.get(f"/feeds/private/{token}.{ext}")
        assert first.status_code == 200
        etag, modified = first.headers["etag"], first.headers["last-modified"]
        assert (
            client.get(f"/feeds/private/{token}.{ext}", headers={"If-None-Match": f"W/{etag}"}).status_code
            == 304
        )
        assert (
            client.get(f"/feeds/private/{token}.{ext}", headers={"If-Modified-Since": modified}).status_code
            == 304
        )
        past = format_datetime(parsedate_to_datetime(modified).replace(year=2001), usegmt=True)
        assert (
            client.get(f"/feeds/private/{token}.{ext}", headers={"If-Modified-Since": past}).status_code
            == 200
        )


# --- security headers and secrets --------------------------------------------------------------


def test_every_answer_carries_the_security_headers(desk: Desk) -> None:
    rid = published(desk)
    token = desktop(desk)["stream_token"]
    client = desk.server.client()
    answers = [
        client.get("/"),
        client.get(f"/releases/{rid}/ms"),
        client.get("/no-such-page"),
        client.get("/feeds/atom.xml"),
        client.get("/api/v1/releases"),
        client.get("/api/v1/releases/rel_nothing"),
        client.post("/api/v1/releases", json={}),
        client.get("/docs"),
        client.get("/static/desk.js"),
        client.get("/api/v1/stream"),  # the stream's shortcut, refused
    ]
    for answer in answers:
        assert_secure(answer)
    assert "strict-transport-security" not in answers[0].headers  # served over plain http
    # the stream's shortcut, accepted: headers precede the first event
    with client.stream("GET", "/api/v1/stream", headers={"Authorization": f"Bearer {token}"}) as live:
        assert live.status_code == 200
        assert_secure(live)


def test_hsts_only_when_the_base_url_is_https(tmp_path: Path) -> None:
    from starlette.testclient import TestClient

    from warta.config import Settings
    from warta.web.app import create_app

    for base, expected in (("https://wire.example", "max-age=31536000"), ("http://127.0.0.1:1", None)):
        data = tmp_path / base.split(":")[0]
        app = create_app(Settings(data_dir=data, database_url=f"sqlite:///{data}.db", base_url=base))
        answer = TestClient(app).get("/api/v1/releases")
        assert answer.headers.get("strict-transport-security") == expected


def test_answers_with_secrets_are_not_stored(desk: Desk) -> None:
    server, editor = desk.server, desk.editor()
    admin = server.cli_json("admin", "create-user", "--role", "admin", "--name", "Admin")
    made_user = server.client(admin["api_key"]).post("/api/v1/users", json={"name": "Baru", "role": "editor"})
    assert made_user.status_code == 201 and made_user.json()["api_key"]
    made = editor.post(
        "/api/v1/recipients", json={"kind": "desktop", "name": "Meja", "country": "MY", "languages": ["ms"]}
    )
    rid = made.json()["id"]
    for answer in (
        made_user,
        made,
        editor.get(f"/api/v1/recipients/{rid}"),
        editor.get("/api/v1/recipients"),
        editor.patch(f"/api/v1/recipients/{rid}", json={"name": "Meja Dua"}),
    ):
        assert answer.status_code in (200, 201), answer.text
        assert answer.headers.get("cache-control") == "no-store", answer.request.url
    # public answers stay cacheable
    assert server.client().get("/feeds/atom.xml").headers["cache-control"] == "public, max-age=30"


# --- the live stream: per-token cap and the desk's cookie ---------------------------------------


def test_a_stream_token_holds_at_most_its_cap_of_connections(server_factory: Any) -> None:
    server = server_factory(WARTA_STREAM_PER_TOKEN="2")
    org = server.cli_json("admin", "create-user", "--role", "editor", "--name", "Editor")
    editor = server.client(org["api_key"])
    token = editor.post(
        "/api/v1/recipients", json={"kind": "desktop", "name": "Meja", "country": "MY", "languages": ["ms"]}
    ).json()["stream_token"]
    auth = {"Authorization": f"Bearer {token}"}
    client = httpx.Client(base_url=server.url, timeout=10)
    with client.stream("GET", "/api/v1/stream", headers=auth) as one:
        assert one.status_code == 200
        with client.stream("GET", "/api/v1/stream", headers=auth) as two:
            assert two.status_code == 200
            third = httpx.get(f"{server.url}/api/v1/stream", headers=auth, timeout=10)
            assert third.status_code == 429, third.text
            assert third.json()["error"]["code"] == "too_many_connections"
            assert third.headers["retry-after"]
    # the connections closed: the token may connect again
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with client.stream("GET", "/api/v1/stream", headers=auth) as again:
            if again.status_code == 200:
                break
        time.sleep(0.1)
    else:
        raise AssertionError("the token could not connect again after its connections closed")


def test_the_desk_keeps_its_token_in_an_httponly_cookie_for_the_stream(desk: Desk) -> None:
    token = desktop(desk, "Meja Kuki")["stream_token"]
    client = httpx.Client(base_url=desk.server.url, timeout=10)
    kept = client.post("/desk/session", data={"token": token})
    assert kept.status_code == 303 and kept.headers["location"] == "/desk"
    assert kept.headers["cache-control"] == "no-store"
    cookie = next(c for c in kept.headers.get_list("set-cookie") if c.startswith("warta_desk="))
    assert "HttpOnly" in cookie and "Path=/api/v1/stream" in cookie and "SameSite=strict" in cookie
    page = client.get("/desk")
    assert token not in page.text and 'data-has-token="yes"' in page.text
    with client.stream("GET", "/api/v1/stream") as live:  # the cookie, no token in the URL
        assert live.status_code == 200
        first = next(live.iter_text())
        assert "event: hello" in first and "Meja Kuki" in first
    other_site = client.post("/desk/session", data={"token": "x"}, headers={"Origin": "https://evil.example"})
    assert other_site.status_code == 403


# --- the access log ------------------------------------------------------------------------------


def test_the_access_log_shows_no_capability_token(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    data = tmp_path / "data"
    env = make_env(data, WARTA_BASE_URL=url)
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*WARTA, "serve", "--host", "127.0.0.1", "--port", str(port), "--log-level", "info"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(url=url, data_dir=data, env=env, proc=proc, log=log)
    try:
        wait_until_serving(url, time.monotonic() + 30)
        editor = server.client(
            server.cli_json("admin", "create-user", "--role", "editor", "--name", "E")["api_key"]
        )
        made = editor.post(
            "/api/v1/recipients",
            json={"kind": "desktop", "name": "Meja", "country": "MY", "languages": ["ms"]},
        ).json()
        stream_token, feed_token = made["stream_token"], made["feed_token"]
        client = httpx.Client(base_url=url, timeout=10)
        client.get(f"/desk?token={stream_token}")
        with client.stream("GET", f"/api/v1/stream?token={stream_token}&last_event_id=1") as live:
            assert live.status_code == 200
        assert client.get(f"/feeds/private/{feed_token}.xml").status_code == 200
        assert client.get(f"/feeds/private/{feed_token}.json?x=1").status_code == 200
        assert client.get("/unsubscribe/not-a-real-token-but-shaped-like-one").status_code == 404
        time.sleep(0.5)
    finally:
        proc.terminate()
        proc.wait(10)
    text = log.read_text()
    assert "GET /desk?token=[redacted] HTTP/1.1" in text, text
    assert "GET /feeds/private/[redacted].xml" in text, text
    assert "/unsubscribe/[redacted]" in text, text
    for secret in (stream_token, feed_token, "not-a-real-token-but-shaped-like-one"):
        assert secret not in text, f"{secret} is in the access log:\n{text}"


@pytest.mark.parametrize(
    ("target", "shown"),
    [
        ("/api/v1/stream?token=abc&last_event_id=5", "/api/v1/stream?token=[redacted]&last_event_id=5"),
        ("/desk?x=1&TOKEN=abc", "/desk?x=1&TOKEN=[redacted]"),
        ("/feeds/private/Zx_9-a.json", "/feeds/private/[redacted].json"),
        ("/reports/rel_1.1700000000.abcdef", "/reports/[redacted]"),
        ("/unsubscribe/rcp_1.abcdef?x=1", "/unsubscribe/[redacted]?x=1"),
        ("/feeds/atom.xml?lang=ms", "/feeds/atom.xml?lang=ms"),
    ],
)
def test_redaction_of_request_targets(target: str, shown: str) -> None:
    from warta.web.server import redact

    assert redact(target) == shown


# --- slow and idle clients -----------------------------------------------------------------------


def test_slow_and_idle_clients_are_closed_in_time_while_others_are_served(server_factory: Any) -> None:
    """Hundreds of connections that send nothing, trickle their headers (slowloris) or their body
    are all closed by the server within the configured time, and a normal client meanwhile gets
    its answers."""
    limit = 2.0
    server = server_factory(
        WARTA_HEADER_TIMEOUT=str(limit), WARTA_BODY_TIMEOUT=str(limit), WARTA_IDLE_TIMEOUT=str(limit)
    )
    host, port = server.url.removeprefix("http://").split(":")
    idle, slow_headers, slow_bodies, kept_alive = [], [], [], []
    for _ in range(200):
        idle.append(socket.create_connection((host, int(port))))
    for _ in range(100):
        conn = socket.create_connection((host, int(port)))
        conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        slow_headers.append(conn)
    for _ in range(100):
        conn = socket.create_connection((host, int(port)))
        conn.sendall(
            b"POST /api/v1/releases HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100000\r\n\r\n{"
        )
        slow_bodies.append(conn)
    for _ in range(50):  # answered once, then idle on keep-alive
        conn = socket.create_connection((host, int(port)))
        conn.sendall(b"GET /static/favicon.svg HTTP/1.1\r\nHost: x\r\n\r\n")
        kept_alive.append(conn)
    everyone = idle + slow_headers + slow_bodies + kept_alive
    started = time.monotonic()
    for conn in everyone:
        conn.setblocking(False)
    open_ = set(range(len(everyone)))
    closed_at: dict[int, float] = {}
    served_while_open = 0  # normal requests answered while slow connections were still open
    client = httpx.Client(base_url=server.url, timeout=5)
    while open_ and time.monotonic() - started < limit * 3:
        for i in list(open_):
            conn = everyone[i]
            try:
                data = conn.recv(65536)
            except BlockingIOError:
                if i < 200 + 100 + 100 and i >= 200 and int((time.monotonic() - started) * 10) % 3 == 0:
                    with contextlib.suppress(OSError):
                        conn.send(b"X" if i < 300 else b" ")  # one more byte: still trickling
                continue
            except OSError:
                data = b""
            if data == b"" or b"408" in data:
                open_.discard(i)
                closed_at[i] = time.monotonic() - started
        assert client.get("/api/v1/releases").status_code == 200
        served_while_open += bool(open_)
        time.sleep(0.05)
    for conn in everyone:
        conn.close()
    assert not open_, f"{len(open_)} of {len(everyone)} connections still open after {limit * 3} s"
    latest = max(closed_at.values())
    assert latest < limit + 1.5, f"the last slow connection closed after {latest:.2f} s (limit {limit} s)"
    # the server kept answering others meanwhile (a request that waited 5 s would have failed above)
    assert served_while_open >= 3, served_while_open
