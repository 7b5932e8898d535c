"""Webhooks: Standard Webhooks signatures, the address guard, and the channel against real receivers.

The receivers are small HTTP/1.1 servers on 127.0.0.1 run by asyncio in the test's own loop;
each answers from a script (status, headers, body, or never) and records what it was sent.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from receivers import HANG, Request, ScriptedServer
from test_newsml import make_bundle, make_settings, newsml_errors
from warta.config import Settings
from warta.delivery import signing
from warta.delivery.base import CHANNELS, EndpointView, Job, RecipientView, Result
from warta.delivery.channels.webhook import WebhookChannel, request_target, retry_after
from warta.delivery.http1 import Origin
from warta.delivery.netguard import UnresolvedHost, UnsafeTarget, check_url, check_url_sync
from warta.editions.rendered import RenderedEdition
from warta.formats.ninjs import edition_item

pytestmark = pytest.mark.fast  # in `make test-fast`, the developer's loop

VECTORS = json.loads(
    (Path(__file__).parent / "data" / "standards" / "standard-webhooks" / "test-vectors.json").read_text(
        "utf-8"
    )
)
T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


# --- signatures -------------------------------------------------------------------------------


@pytest.mark.parametrize("vector", VECTORS["symmetric"], ids=lambda v: v["name"][:40])
def test_signature_vectors_sign_and_verify(vector: dict[str, Any]) -> None:
    ts = vector["webhook_timestamp"]
    signature = signing.sign(vector["secret"], vector["webhook_id"], ts, vector["body"].encode())
    assert signature == vector["expected_signature"]
    headers = {
        "webhook-id": vector["webhook_id"],
        "webhook-timestamp": str(ts),
        "webhook-signature": signature,
    }
    signing.verify(vector["secret"], headers, vector["body"].encode(), now=ts)
    signing.verify(vector["secret"], {k.upper(): v for k, v in headers.items()}, vector["body"], now=ts + 300)
    for late in (ts + 301, ts - 301):
        with pytest.raises(signing.InvalidSignature):
            signing.verify(vector["secret"], headers, vector["body"], now=late)


@pytest.mark.parametrize("vector", VECTORS["must_reject"], ids=lambda v: v["name"])
def test_signature_vectors_that_must_fail(vector: dict[str, Any]) -> None:
    if vector.get("expect") == "constructor error":
        with pytest.raises(ValueError):
            signing.sign(vector["secret"], "msg_1", 1, b"{}")
        with pytest.raises(ValueError):
            signing.verify(
                vector["secret"],
                {"webhook-id": "a", "webhook-timestamp": "1", "webhook-signature": "v1,x"},
                b"",
            )
        return
    ts = vector["webhook_timestamp"]
    headers = {
        "webhook-id": vector["webhook_id"],
        "webhook-timestamp": str(ts),
        "webhook-signature": vector["webhook_signature"],
    }
    with pytest.raises(signing.InvalidSignature):
        signing.verify(vector["secret"], headers, vector["body"].encode(), now=ts)


@pytest.mark.parametrize("vector", VECTORS["must_accept"], ids=lambda v: v["name"])
def test_signature_vectors_that_must_pass(vector: dict[str, Any]) -> None:
    ts = vector["webhook_timestamp"]
    headers = {
        "webhook-id": vector["webhook_id"],
        "webhook-timestamp": str(ts),
        "webhook-signature": vector["webhook_signature"],
    }
    signing.verify(vector["secret"], headers, vector["body"].encode(), now=ts)


def test_missing_headers_do_not_verify() -> None:
    secret = signing.new_secret()
    full = signing.headers(secret, "msg_1", b"{}")
    for name in full:
        with pytest.raises(signing.InvalidSignature):
            signing.verify(secret, {k: v for k, v in full.items() if k != name}, b"{}")
    with pytest.raises(signing.InvalidSignature):
        signing.verify(secret, {**full, "webhook-timestamp": "soon"}, b"{}")


def test_our_signatures_verify_with_the_reference_library() -> None:
    secrets = {signing.new_secret() for _ in range(20)}
    assert len(secrets) == 20
    for secret in secrets:
        assert secret.startswith("whsec_")
        assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    for i, body in enumerate(
        [
            b"{}",
            '{"headline":"Pusat data hijau","ar":"مركز بيانات","zh":"数据中心"}'.encode(),
            b'<?xml version="1.0"?><a/>',
        ]
    ):
        secret = sorted(secrets)[i]
        headers = signing.headers(secret, f"dlv_{i}", body)
        Webhook(secret).verify(body, headers, json_parse=False)
        with pytest.raises(WebhookVerificationError):
            Webhook(signing.new_secret()).verify(body, headers, json_parse=False)
        with pytest.raises(WebhookVerificationError):
            Webhook(secret).verify(body + b" ", headers, json_parse=False)


# --- the address guard ------------------------------------------------------------------------

REFUSED = [
    ("http://localhost:8080/hook", "loopback"),
    ("http://127.0.0.1/hook", "127.0.0.1, a loopback address"),
    ("http://10.20.30.40/", "10.20.30.40, a private address"),
    ("https://192.168.1.10/hook", "192.168.1.10, a private address"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254, a link-local address"),
    ("http://[::1]:9000/", "::1, a loopback address"),
    ("http://[fe80::1]/", "fe80::1, a link-local address"),
    ("http://0.0.0.0:8000/", "0.0.0.0, an unspecified address"),
    ("http://[::ffff:127.0.0.1]/", "IPv4-mapped form of 127.0.0.1, a loopback address"),
    ("http://[2002:a00:1::1]/", "6to4 form of 10.0.0.1, a private address"),
    ("http://[64:ff9b::a9fe:a9fe]/", "NAT64 form of 169.254.169.254, a link-local address"),
    ("http://[fc00::5]/", "a private address"),
    ("http://[fec0::1]/", "a site-local address"),
    ("http://224.0.0.251/", "a multicast address"),
    ("http://240.1.2.3/", "a reserved address"),
    ("http://100.64.0.1/", "carrier-grade NAT"),
    ("http://2130706433/", "127.0.0.1, a loopback address"),
]


@pytest.mark.parametrize(("url", "why"), REFUSED)
def test_private_and_special_addresses_are_refused(url: str, why: str) -> None:
    with pytest.raises(UnsafeTarget) as err:
        run(check_url(url, ()))
    message = str(err.value)
    assert message.startswith("webhook URL resolves to ")
    assert why in message
    assert message.endswith("; allow it with WARTA_WEBHOOK_ALLOW")
    with pytest.raises(UnsafeTarget):
        check_url_sync(url, ())


def test_the_message_names_address_kind_and_setting() -> None:
    with pytest.raises(UnsafeTarget) as err:
        check_url_sync("http://127.0.0.1:8000/hook", ())
    assert str(err.value) == (
        "webhook URL resolves to 127.0.0.1, a loopback address; allow it with WARTA_WEBHOOK_ALLOW"
    )


@pytest.mark.parametrize(
    "url", ["ftp://example.com/x", "file:///etc/passwd", "gopher://a/", "//example.com/", "http:///x"]
)
def test_only_http_and_https_urls(url: str) -> None:
    with pytest.raises(UnsafeTarget):
        run(check_url(url, ()))


@pytest.mark.parametrize(
    ("url", "allow"),
    [
        ("http://127.0.0.1:8000/hook", ("127.0.0.1",)),
        ("http://127.0.0.1:8000/hook", ("127.0.0.0/8",)),
        ("http://10.1.2.3/hook", ("10.0.0.0/8", "192.168.0.0/16")),
        ("http://[::1]/hook", ("::1",)),
        ("http://[::ffff:127.0.0.1]/hook", ("127.0.0.1",)),
    ],
)
def test_allowlisted_addresses_pass(url: str, allow: tuple[str, ...]) -> None:
    assert run(check_url(url, allow))
    assert check_url_sync(url, allow)


def test_public_literals_need_no_resolver(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_dns(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("resolved a literal address")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    assert run(check_url("https://93.184.216.34/hook", ())) == ["93.184.216.34"]
    assert check_url_sync("http://[2606:4700::1111]:8443/", ()) == ["2606:4700::1111"]


def test_every_resolved_address_must_be_public(monkeypatch: pytest.MonkeyPatch) -> None:
    def answers(*addresses: str) -> Callable[..., Any]:
        def fake(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
            return [
                (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                for a in addresses
            ]

        return fake

    monkeypatch.setattr(socket, "getaddrinfo", answers("93.184.216.34", "2606:4700::1111"))
    assert run(check_url("https://news.example/hook", ())) == ["93.184.216.34", "2606:4700::1111"]
    monkeypatch.setattr(socket, "getaddrinfo", answers("93.184.216.34", "10.0.0.7"))
    with pytest.raises(UnsafeTarget, match="10.0.0.7, a private address"):
        run(check_url("https://news.example/hook", ()))
    with pytest.raises(UnsafeTarget, match="10.0.0.7"):
        check_url_sync("https://news.example/hook", ())
    assert check_url_sync("https://news.example/hook", ("10.0.0.7",)) == ["93.184.216.34", "10.0.0.7"]


def test_a_name_that_does_not_resolve() -> None:
    with pytest.raises(UnresolvedHost, match="does not resolve"):
        check_url_sync("https://warta-test.invalid/hook", ())


def test_a_bad_allow_entry_is_reported() -> None:
    with pytest.raises(ValueError, match="WARTA_WEBHOOK_ALLOW entry 'intranet'"):
        check_url_sync("http://127.0.0.1/", ("intranet",))


def test_retry_after_header() -> None:
    assert retry_after("120") == 120.0
    assert retry_after(None) is None and retry_after("soon") is None
    now = time.time()
    later = format_datetime(datetime.fromtimestamp(now, UTC) + timedelta(seconds=90), usegmt=True)
    assert 85 <= (retry_after(later, now=now) or 0) <= 91
    earlier = format_datetime(datetime.fromtimestamp(now, UTC) - timedelta(hours=1), usegmt=True)
    assert retry_after(earlier, now=now) == 0.0


# --- receivers --------------------------------------------------------------------------------


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


Answer = tuple[int, dict[str, str], bytes] | None  # None: never answer
Script = Callable[[Seen, int], Awaitable[Answer]]


@dataclass
class Receiver:
    """An outlet's endpoint on the shared scripted server, answering from a script of its own."""

    script: Script
    seen: list[Seen] = field(default_factory=list)
    server: ScriptedServer | None = None

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> Receiver:
        self.server = await ScriptedServer(self._answer).__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        await self.server.__aexit__(*exc)

    async def _answer(self, request: Request, server: ScriptedServer) -> tuple[bytes, bool | str]:
        seen = Seen(request.method, request.path, request.headers, request.body)
        self.seen.append(seen)
        answer = await self.script(seen, len(self.seen))
        if answer is None:
            return b"", HANG
        status, extra, payload = answer
        stall = extra.pop("X-Stall", None)  # promise more body than is sent, then hang
        length = len(payload) + (1000 if stall else 0)
        head = f"HTTP/1.1 {status} Status\r\nContent-Length: {length}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in extra.items())
        return head.encode("latin-1") + b"\r\n" + payload, HANG if stall else False


def answer(status: int, headers: dict[str, str] | None = None, body: bytes = b"") -> Script:
    async def script(seen: Seen, n: int) -> Answer:
        return status, headers or {}, body

    return script


def recipient(url: str, secret: str, fmt: str = "ninjs") -> RecipientView:
    return RecipientView(
        id="rcp_1",
        kind="outlet",
        name="Berita Harian Contoh",
        country="MY",
        languages=("ms",),
        sectors=(),
        embargo_trusted=False,
        locale="ms",
        timezone="Asia/Kuala_Lumpur",
        endpoints=(EndpointView("end_1", "webhook", url, fmt, secret),),
    )


@dataclass
class Sender:
    settings: Settings
    bundle: RenderedEdition
    secret: str = field(default_factory=signing.new_secret)
    commits: list[str] = field(default_factory=list)

    def job(
        self, url: str, *, fmt: str = "ninjs", kind: str = "edition", attempt: int = 1, **extra: Any
    ) -> Job:
        channel = WebhookChannel(self.settings)
        view = recipient(url, self.secret, fmt)

        async def commit_point() -> None:
            self.commits.append(f"dlv_0001/{attempt}")

        return Job(
            delivery_id="dlv_0001",
            channel="webhook",
            kind=kind,
            lane=channel.lane(view.endpoints[0]),
            attempt=attempt,
            embargoed=False,
            recipient=view,
            bundle=self.bundle,
            commit_point=commit_point,
            extra=extra,
            endpoint=view.endpoints[0],
        )

    async def send(self, *jobs: Job) -> list[Result]:
        channel = WebhookChannel(self.settings)
        await channel.start()
        try:
            results: list[Result] = []
            for job in jobs:
                results += await channel.send([job])
            return results
        finally:
            await channel.stop()


@pytest.fixture
def sender(tmp_path: Path) -> Sender:
    settings = make_settings(tmp_path, webhook_allow=("127.0.0.1",), webhook_timeout=5.0)
    return Sender(settings, make_bundle(settings, "ms"))


# --- the channel ------------------------------------------------------------------------------


def test_channel_is_registered_with_its_policy() -> None:
    assert CHANNELS["webhook"] is WebhookChannel
    assert (WebhookChannel.batch_size, WebhookChannel.lane_concurrency) == (1, 2)
    assert WebhookChannel.recover_committing == "pending"
    channel = WebhookChannel(make_settings(Path("/tmp")))
    view = recipient("https://Hooks.Example.com/warta", "whsec_x")
    assert channel.applies_to(view)
    assert not channel.applies_to(recipient("", "whsec_x"))
    # a lane per endpoint; connections pooled per host (scheme, address, port and name)
    assert channel.lane(view.endpoints[0]) == "webhook:https://Hooks.Example.com/warta"
    other = recipient("https://hooks.example.com/other", "s").endpoints[0]
    assert channel.lane(other) != channel.lane(view.endpoints[0])
    first = request_target("https://Hooks.Example.com/warta", ["203.0.113.5"])
    second = request_target("https://hooks.example.com/x?a=b c", ["203.0.113.5"])
    assert first[0] == second[0] == Origin("https", "203.0.113.5", 443, "hooks.example.com")
    assert (first[1], second[1]) == ("/warta", "/x?a=b%20c")


def test_delivers_signed_ninjs(sender: Sender) -> None:
    async def go() -> tuple[list[Result], list[Seen]]:
        async with Receiver(answer(204)) as rx:
            return await sender.send(sender.job(rx.url + "/hooks/warta?x=1")), rx.seen

    results, seen = run(go())
    assert results == [Result.ok()]
    assert len(seen) == 1 and sender.commits == ["dlv_0001/1"]
    hit = seen[0]
    assert (hit.method, hit.path) == ("POST", "/hooks/warta?x=1")
    assert hit.headers["content-type"] == "application/json"
    assert hit.headers["user-agent"] == "Warta-Webhooks/1"
    assert hit.headers["webhook-id"] == "dlv_0001"
    assert abs(int(hit.headers["webhook-timestamp"]) - time.time()) < 30
    doc = Webhook(sender.secret).verify(hit.body, hit.headers)
    # a Standard Webhooks envelope: the event's type and time, the ninjs as its data
    assert doc["type"] == "release.published" == hit.headers["x-warta-event"]
    assert doc["timestamp"] == "2026-11-27T01:30:00Z"  # the publication
    item = doc["data"]
    assert item == edition_item(sender.bundle)
    assert item["headlines"][0]["value"] == "Syarikat Contoh Berhad melabur RM250 juta dalam pusat data hijau"
    assert b"\\u" not in hit.body and b", " not in hit.body[:50]  # compact UTF-8
    signing.verify(sender.secret, hit.headers, hit.body)


def test_retries_keep_the_webhook_id(sender: Sender) -> None:
    async def script(seen: Seen, n: int) -> Answer:
        return (503, {}, b"busy") if n <= 2 else (200, {}, b"ok")

    async def go() -> tuple[list[Result], list[Seen]]:
        async with Receiver(script) as rx:
            jobs = [sender.job(rx.url, attempt=n) for n in (1, 2, 3)]
            return await sender.send(*jobs), rx.seen

    results, seen = run(go())
    assert [r.outcome for r in results] == ["retry", "retry", "delivered"]
    assert results[0].error == "HTTP 503 Status: busy"
    assert {s.headers["webhook-id"] for s in seen} == {"dlv_0001"}
    assert len({s.body for s in seen}) == 1
    for s in seen:
        Webhook(sender.secret).verify(s.body, s.headers)


def test_rate_limited_with_retry_after(sender: Sender) -> None:
    async def go() -> list[Result]:
        async with Receiver(answer(429, {"Retry-After": "120"})) as rx:
            seconds = await sender.send(sender.job(rx.url))
        when = format_datetime(datetime.now(UTC) + timedelta(minutes=10), usegmt=True)
        async with Receiver(answer(503, {"Retry-After": when})) as rx:
            dated = await sender.send(sender.job(rx.url))
        return seconds + dated

    seconds, dated = run(go())
    assert (seconds.outcome, seconds.retry_after) == ("retry", 120.0)
    assert dated.outcome == "retry" and 590 <= (dated.retry_after or 0) <= 600


def test_gone_disables_the_endpoint(sender: Sender) -> None:
    async def go() -> list[Result]:
        async with Receiver(answer(410)) as rx:
            return await sender.send(sender.job(rx.url))

    (result,) = run(go())
    assert result.outcome == "disable"
    assert result.error and result.error.startswith("HTTP 410")


def test_other_client_errors_fail_for_good(sender: Sender) -> None:
    async def go() -> list[Result]:
        async with Receiver(answer(400, body=b"bad signature")) as rx:
            return await sender.send(sender.job(rx.url))

    (result,) = run(go())
    assert result.outcome == "failed" and "bad signature" in (result.error or "")


def test_redirects_are_not_followed(sender: Sender) -> None:
    async def script(seen: Seen, n: int) -> Answer:
        if seen.path == "/moved":
            return 200, {}, b""
        return 302, {"Location": f"http://127.0.0.1:{port}/moved"}, b""

    port = 0

    async def go() -> tuple[list[Result], list[Seen]]:
        nonlocal port
        async with Receiver(script) as rx:
            port = rx.port
            return await sender.send(sender.job(rx.url + "/hook")), rx.seen

    (result,), seen = run(go())
    assert result.outcome == "failed"
    assert result.error == f"redirect not followed: Location http://127.0.0.1:{port}/moved (HTTP 302)"
    assert [s.path for s in seen] == ["/hook"]


def test_a_receiver_that_never_answers_is_retried(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, webhook_allow=("127.0.0.1",), webhook_timeout=0.5)
    sender = Sender(settings, make_bundle(settings))

    async def never(seen: Seen, n: int) -> Answer:
        return None

    async def go() -> list[Result]:
        async with Receiver(never) as rx:
            return await sender.send(sender.job(rx.url))

    started = time.monotonic()
    (result,) = run(go())
    assert result.outcome == "retry" and result.error == "no answer within 0.5 s"
    # it gave up at its own deadline, not at the default's 10 s (a deadline, not a speed)
    assert time.monotonic() - started < 3


def test_slow_outlets_do_not_hold_up_the_others(tmp_path: Path) -> None:
    """With every slot of `max_in_flight` taken by outlets that answer after 2 s, quick outlets are
    still served at once: a request unanswered after `park_after` gives its slot back (parked) and
    goes on waiting. Every outlet gets its delivery."""
    settings = make_settings(tmp_path, webhook_allow=("127.0.0.1",), webhook_timeout=5.0)
    sender = Sender(settings, make_bundle(settings))

    async def slow(seen: Seen, n: int) -> Answer:
        await asyncio.sleep(2.0)
        return 200, {}, b""

    async def go() -> tuple[dict[str, float], list[Result], int, int]:
        loop = asyncio.get_running_loop()
        async with Receiver(slow) as rx_slow, Receiver(answer(200)) as rx_ok:
            channel = WebhookChannel(settings)
            channel.max_in_flight = 2
            await channel.start()
            started = loop.time()
            done: dict[str, float] = {}

            async def one(name: str, job: Job) -> Result:
                (result,) = await channel.send([job])
                done[name] = loop.time() - started
                return result

            slow_ones = [
                asyncio.ensure_future(one(f"slow{i}", sender.job(f"{rx_slow.url}/s{i}"))) for i in range(4)
            ]
            await asyncio.sleep(0.05)  # the slow ones hold both slots, and two more wait for one
            quick_ones = [
                asyncio.ensure_future(one(f"ok{i}", sender.job(f"{rx_ok.url}/q{i}"))) for i in range(6)
            ]
            await asyncio.sleep(1.0)
            parked_meanwhile = channel.parked
            results = await asyncio.gather(*slow_ones, *quick_ones)
            parked_after = channel.parked
            await channel.stop()
            return done, results, parked_meanwhile, parked_after

    done, results, parked_meanwhile, parked_after = run(go())
    assert all(r == Result.ok() for r in results)
    assert parked_meanwhile == 4 and parked_after == 0
    assert max(done[f"ok{i}"] for i in range(6)) < 1.0, done
    assert min(done[f"slow{i}"] for i in range(4)) >= 2.0, done


def test_the_status_decides_even_if_the_body_stalls(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, webhook_allow=("127.0.0.1",), webhook_timeout=0.5)
    sender = Sender(settings, make_bundle(settings))

    async def go() -> list[Result]:
        async with Receiver(answer(200, {"X-Stall": "1"}, b"accepted")) as rx:
            ok = await sender.send(sender.job(rx.url))
        async with Receiver(answer(500, {"X-Stall": "1"}, b"database down")) as rx:
            return ok + await sender.send(sender.job(rx.url))

    ok, failed = run(go())
    assert ok == Result.ok()
    assert failed.outcome == "retry" and failed.error == "HTTP 500 Status: database down"


def test_connection_refused_is_retried(sender: Sender) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (result,) = run(sender.send(sender.job(f"http://127.0.0.1:{port}/")))
    assert result.outcome == "retry" and "Connect" in (result.error or "")
    assert sender.commits == ["dlv_0001/1"]


def test_loopback_is_refused_without_the_allowlist(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, webhook_timeout=2.0)
    sender = Sender(settings, make_bundle(settings))

    async def go() -> tuple[list[Result], list[Seen]]:
        async with Receiver(answer(200)) as rx:
            return await sender.send(sender.job(rx.url)), rx.seen

    (result,), seen = run(go())
    assert result == Result(
        "failed", "webhook URL resolves to 127.0.0.1, a loopback address; allow it with WARTA_WEBHOOK_ALLOW"
    )
    assert seen == [] and sender.commits == []


def test_newsml_payload_validates(sender: Sender) -> None:
    async def go() -> list[Seen]:
        async with Receiver(answer(200)) as rx:
            results = await sender.send(sender.job(rx.url, fmt="newsml"))
            assert results == [Result.ok()]
            return rx.seen

    (hit,) = run(go())
    assert hit.headers["content-type"] == "application/vnd.iptc.g2.newsitem+xml"
    Webhook(sender.secret).verify(hit.body, hit.headers, json_parse=False)
    assert newsml_errors(hit.body) == []
    assert b'<pubStatus qcode="stat:usable" />' in hit.body


def test_withdrawal_payloads(sender: Sender) -> None:
    async def go() -> list[Seen]:
        async with Receiver(answer(200)) as rx:
            await sender.send(
                sender.job(rx.url, kind="withdrawal", note="Ditarik balik atas permintaan penerbit."),
                sender.job(rx.url, kind="withdrawal", fmt="newsml"),
                sender.job(rx.url),
            )
            return rx.seen

    ninjs, newsml, again = run(go())
    doc = json.loads(ninjs.body)
    assert doc["type"] == "release.withdrawn" == ninjs.headers["x-warta-event"]
    item = doc["data"]
    assert item["pubStatus"] == "canceled"
    assert item["edNote"] == "Withdrawn by the issuer: Ditarik balik atas permintaan penerbit."
    assert item["uri"] == edition_item(sender.bundle)["uri"]
    assert item["version"] == "2"  # a new version, which receivers keying on uri + version take
    assert newsml.headers["x-warta-event"] == "release.withdrawn"
    assert newsml_errors(newsml.body) == []
    assert b'<pubStatus qcode="stat:canceled" />' in newsml.body
    assert json.loads(again.body)["data"]["pubStatus"] == "usable"  # the shared ninjs is left as it was
    assert edition_item(sender.bundle)["pubStatus"] == "usable"
    assert any(k.startswith("webhook:ninjs:withdrawal") for k in sender.bundle.cache)


def test_a_hostname_is_checked_and_pinned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings(tmp_path, webhook_allow=("127.0.0.1",))
    sender = Sender(settings, make_bundle(settings))
    real = socket.getaddrinfo

    def fake(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "hooks.newsroom.test":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)

    async def go() -> tuple[list[Result], list[Seen], int]:
        async with Receiver(answer(200)) as rx:
            url = f"http://hooks.newsroom.test:{rx.port}/in"
            return await sender.send(sender.job(url)), rx.seen, rx.port

    results, seen, port = run(go())
    assert results == [Result.ok()]
    assert seen[0].headers["host"] == f"hooks.newsroom.test:{port}"
    assert seen[0].path == "/in"
    Webhook(sender.secret).verify(seen[0].body, seen[0].headers)
