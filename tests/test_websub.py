"""WebSub: the wire is the hub of its own feeds. Against a running `warta serve` and real subscribers
on 127.0.0.1: intent is verified (a callback that does not echo the challenge is not subscribed),
content is distributed signed with the subscriber's secret, a topic's filter takes only its
releases, unsubscribing and an expired lease stop deliveries, and every feed names its hub."""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from conftest import free_port, release_payload
from test_distribution import Wire, wait_until

ATOM = "{http://www.w3.org/2005/Atom}"
FRENCH = {
    "headline": "Syarikat Contoh ouvre un centre de données vert à Cyberjaya",
    "summary": "Le centre de données créera quatre cents emplois qualifiés.",
    "body": (
        "Syarikat Contoh Berhad a annoncé aujourd'hui un investissement de 250 millions de ringgits "
        "dans un centre de données vert à Cyberjaya. Le centre utilisera l'énergie solaire et un "
        "système de refroidissement à eau recyclée, et créera quatre cents emplois qualifiés.\n\n"
        "La construction doit commencer au premier trimestre de l'année prochaine et durer deux ans."
    ),
    "language": "fr",
}


@dataclass
class Post:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Subscriber:
    """A WebSub subscriber: answers the hub's verification GETs (echoing the challenge, unless
    `echo` is off) and records every content distribution POSTed to it."""

    echo: bool = True
    port: int = field(default_factory=free_port)
    checks: list[dict[str, str]] = field(default_factory=list)
    posts: list[Post] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        me = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                query = dict(parse_qsl(urlsplit(self.path).query))
                with me.lock:
                    me.checks.append({"path": urlsplit(self.path).path, **query})
                body = query.get("hub.challenge", "").encode() if me.echo else b"who are you?"
                self._answer(200, body)

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                with me.lock:
                    me.posts.append(Post(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                self._answer(202, b"")

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("content-type", "text/plain")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def posts_to(self, path: str) -> list[Post]:
        with self.lock:
            return [p for p in self.posts if p.path == path]

    def checks_of(self, path: str, mode: str) -> list[dict[str, str]]:
        with self.lock:
            return [c for c in self.checks if c["path"] == path and c.get("hub.mode") == mode]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def subscriber() -> Iterator[Subscriber]:
    s = Subscriber()
    yield s
    s.stop()


def links(header: str) -> dict[str, str]:
    """rel -> URL of an HTTP Link header."""
    return {rel: url for url, rel in re.findall(r'<([^>]+)>;\s*rel="([^"]+)"', header)}


def topic_of(wire: Wire, path: str) -> tuple[str, str]:
    """The hub and the topic a feed names for itself, in its Link header."""
    feed = wire.server.client().get(path)
    assert feed.status_code == 200, feed.text
    found = links(feed.headers["link"])
    return found["hub"], found["self"]


def hub_request(wire: Wire, **fields: str) -> Any:
    form = {f"hub.{k}": v for k, v in fields.items()}
    return wire.server.client().post("/websub", data=form)


def subscribe(wire: Wire, sub: Subscriber, topic: str, path: str, secret: str | None = None) -> None:
    fields = {"mode": "subscribe", "topic": topic, "callback": sub.url(path), "lease_seconds": "3600"}
    if secret:
        fields["secret"] = secret
    answer = hub_request(wire, **fields)
    assert answer.status_code == 202, answer.text
    wait_until(lambda: sub.checks_of(path, "subscribe"), 15, f"the hub's verification of {path}")


def subscriptions(wire: Wire) -> dict[str, str]:
    """Callback -> state of every WebSub subscription, from the recipients API."""
    found = {}
    for r in wire.recipients():
        for e in wire.editor.get(f"/api/v1/recipients/{r['id']}/endpoints").json()["items"]:
            if e["channel"] == "websub":
                found[e["address"]] = e["state"]
    return found


def publish(wire: Wire, settle: bool = True, **overrides: Any) -> str:
    payload = release_payload(targets={"countries": ["MY"]}, **overrides)
    made = wire.issuer.post("/api/v1/releases", json=payload)
    assert made.status_code == 201, made.text
    rid: str = made.json()["id"]
    if settle:
        wait_until(lambda: wire.settled(rid), 30, f"the deliveries of {rid}")
    return rid


def entry_ids(post: Post) -> list[str]:
    root = ET.fromstring(post.body)
    return [e.findtext(f"{ATOM}id") or "" for e in root.iter(f"{ATOM}entry")]


def test_subscribe_verify_distribute_filter_and_unsubscribe(
    server_factory: Any, subscriber: Subscriber
) -> None:
    wire = Wire(server_factory(WARTA_WEBHOOK_ALLOW="127.0.0.1", WARTA_RETRY_BASE="0.2"))
    hub, french = topic_of(wire, "/feeds/atom.xml?lang=fr")
    assert hub == f"{wire.server.url}/websub"
    assert french == f"{wire.server.url}/feeds/atom.xml?lang=fr"
    _, everything = topic_of(wire, "/feeds/rss.xml")
    impostor = Subscriber(echo=False)
    try:
        subscribe(wire, subscriber, french, "/fr", secret="le-secret-du-lecteur")
        subscribe(wire, subscriber, everything, "/all")
        subscribe(wire, impostor, french, "/not-me")
        for path in ("/fr", "/all"):
            wait_until(lambda p=path: subscriptions(wire).get(subscriber.url(p)) == "active", 10, path)
        check = subscriber.checks_of("/fr", "subscribe")[0]
        assert check["hub.topic"] == french and int(check["hub.lease_seconds"]) > 0
        # the callback that did not echo its challenge is not subscribed
        assert impostor.url("/not-me") not in subscriptions(wire)
        assert subscriptions(wire)[subscriber.url("/fr")] == "active"

        in_french = publish(wire, **FRENCH)
        in_malay = publish(wire)
        wait_until(lambda: len(subscriber.posts_to("/all")) >= 2, 15, "both releases on the unfiltered topic")
        wait_until(lambda: subscriber.posts_to("/fr"), 15, "the French release on the French topic")
        time.sleep(0.5)  # a delivery of the Malay release to the French topic would have come by now
        [post] = subscriber.posts_to("/fr")  # the French topic: the French release only
        assert impostor.posts == []
        assert post.headers["content-type"].startswith("application/atom+xml")
        assert links(post.headers["link"]) == {"hub": hub, "self": french}
        expected = hmac.new(b"le-secret-du-lecteur", post.body, hashlib.sha256).hexdigest()
        assert post.headers["x-hub-signature"] == f"sha256={expected}"
        [entry] = entry_ids(post)
        assert in_french in entry and in_malay not in entry
        root = ET.fromstring(post.body)
        assert root.findtext(f"{ATOM}entry/{ATOM}title") == FRENCH["headline"]
        assert {(ln.get("rel"), ln.get("href")) for ln in root.iter(f"{ATOM}link")} >= {
            ("hub", hub),
            ("self", french),
        }
        # the topic without a secret gets unsigned RSS
        rss = subscriber.posts_to("/all")
        assert all("x-hub-signature" not in p.headers for p in rss)
        assert all(p.headers["content-type"].startswith("application/rss+xml") for p in rss)

        # unsubscribing (verified too) stops deliveries to that callback, not to the others
        answer = hub_request(wire, mode="unsubscribe", topic=french, callback=subscriber.url("/fr"))
        assert answer.status_code == 202, answer.text
        wait_until(
            lambda: subscriber.checks_of("/fr", "unsubscribe"), 10, "the unsubscription's verification"
        )
        wait_until(lambda: subscriptions(wire).get(subscriber.url("/fr")) != "active", 10, "unsubscribed")
        publish(wire, **{**FRENCH, "headline": "Syarikat Contoh agrandit son centre de données"})
        wait_until(lambda: len(subscriber.posts_to("/all")) >= 3, 15, "the third release on the other topic")
        time.sleep(0.5)
        assert len(subscriber.posts_to("/fr")) == 1
    finally:
        impostor.stop()


def test_an_expired_lease_stops_deliveries_until_renewed(server_factory: Any, subscriber: Subscriber) -> None:
    wire = Wire(server_factory(WARTA_WEBHOOK_ALLOW="127.0.0.1", WARTA_WEBSUB_LEASE="2"))
    _, topic = topic_of(wire, "/feeds/feed.json")
    subscribe(wire, subscriber, topic, "/json", secret="s")
    assert subscriber.checks_of("/json", "subscribe")[0]["hub.lease_seconds"] == "2"
    wait_until(lambda: subscriptions(wire).get(subscriber.url("/json")) == "active", 10, "the subscription")
    time.sleep(2.5)  # the lease runs out
    rid = publish(wire)
    time.sleep(0.5)
    assert subscriber.posts_to("/json") == []
    [row] = [d for d in wire.ledger(rid) if d["channel"] == "websub"]
    assert row["state"] == "failed" and "lease ran out" in row["last_error"]
    # subscribing again renews the lease
    subscribe(wire, subscriber, topic, "/json", secret="s")
    wait_until(lambda: subscriptions(wire).get(subscriber.url("/json")) == "active", 10, "renewed")
    publish(wire, headline="Syarikat Contoh Berhad membuka pusat data kedua")
    wait_until(lambda: subscriber.posts_to("/json"), 15, "a delivery after the renewal")
    [post] = subscriber.posts_to("/json")
    assert post.headers["content-type"].startswith("application/feed+json")


def test_a_bad_request_is_refused_naming_its_field(server_factory: Any, subscriber: Subscriber) -> None:
    wire = Wire(server_factory(WARTA_WEBHOOK_ALLOW="127.0.0.1"))
    _, topic = topic_of(wire, "/feeds/atom.xml")
    good = {"mode": "subscribe", "topic": topic, "callback": subscriber.url("/x")}
    for fld, value in [
        ("mode", "publish"),
        ("topic", "https://elsewhere.example/feed.xml"),
        ("topic", f"{wire.server.url}/feeds/atom.xml?lang=xx-nonsense"),
        ("callback", "ftp://127.0.0.1/x"),
        ("secret", "s" * 200),
    ]:
        answer = hub_request(wire, **{**good, fld: value})
        assert 400 <= answer.status_code < 500, (fld, value, answer.text)
        assert f"hub.{fld}" in answer.text, answer.text
    private = hub_request(wire, **{**good, "topic": f"{wire.server.url}/feeds/private/nope.xml"})
    assert private.status_code == 404, private.text
    assert subscriber.checks == []  # nothing was asked of the callback


def test_a_private_feed_pushes_what_its_recipient_gets(server_factory: Any, subscriber: Subscriber) -> None:
    wire = Wire(server_factory(WARTA_WEBHOOK_ALLOW="127.0.0.1"))
    made = wire.editor.post(
        "/api/v1/recipients",
        json={
            "kind": "journalist",
            "name": "Wartawan Sendiri",
            "country": "MY",
            "languages": ["ms"],
            "email": "wartawan@sendiri.example",
        },
    )
    assert made.status_code == 201, made.text
    hub, topic = topic_of(wire, f"/feeds/private/{made.json()['feed_token']}.xml")
    assert topic.startswith(f"{wire.server.url}/feeds/private/")
    subscribe(wire, subscriber, topic, "/mine", secret="rahsia")
    wait_until(lambda: subscriptions(wire).get(subscriber.url("/mine")) == "active", 10, "the subscription")
    rid = publish(
        wire, settle=False
    )  # targeted at MY (its email waits for a relay): the recipient's feed gets it, and so does its subscriber
    wait_until(lambda: subscriber.posts_to("/mine"), 15, "the private feed's push")
    [post] = subscriber.posts_to("/mine")
    assert links(post.headers["link"]) == {"hub": hub, "self": topic}
    expected = hmac.new(b"rahsia", post.body, hashlib.sha256).hexdigest()
    assert post.headers["x-hub-signature"] == f"sha256={expected}"
    assert any(rid in entry for entry in entry_ids(post))
