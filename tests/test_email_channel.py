"""The email channel against a real SMTP server (aiosmtpd): pooling, the commit point, the message itself."""

from __future__ import annotations

import asyncio
import base64
import re
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default
from html import escape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, TypeVar

import pytest
import uvloop
from aiosmtpd.controller import Controller

from conftest import free_port
from htmlcheck import url_scheme
from warta.config import Settings
from warta.delivery.base import CHANNELS, EndpointView, Job, RecipientView, Result
from warta.delivery.channels.email import EmailChannel, Relay
from warta.delivery.tokens import unsubscribe_url
from warta.editions.render import wire_text
from warta.editions.rendered import RenderedEdition
from warta.formats.email import build_message, dkim_sign, envelope_address, message_id_for
from warta.formats.ninjs import edition_url
from warta.i18n import long_datetime, translate
from warta.model import Edition, Organisation, Release, ReleaseVersion

pytestmark = pytest.mark.fast  # in `make test-fast`, the developer's loop

RELEASED = datetime(2026, 11, 27, 1, 30, tzinfo=UTC)

EDITIONS: dict[str, dict[str, str]] = {
    "ms": {
        "headline": "Syarikat Contoh Berhad melabur RM250 juta dalam pusat data hijau",
        "summary": "Pusat data di Cyberjaya akan mewujudkan 400 peluang pekerjaan.",
        "body_html": "<p>Syarikat Contoh Berhad hari ini mengumumkan pelaburan RM250 juta.</p>"
        "<p>.Baris yang bermula dengan titik.</p>",
        "about": "<p>Syarikat Contoh Berhad ialah pengendali pusat data terkemuka di Malaysia.</p>",
    },
    "ar": {
        "headline": "شركة Syarikat Contoh Berhad تستثمر 250 مليون رينغيت في مركز بيانات أخضر",
        "summary": "سيوفر مركز البيانات في سايبرجايا 400 وظيفة.",
        "body_html": "<p>أعلنت شركة Syarikat Contoh Berhad اليوم عن استثمار 250 مليون رينغيت.</p>",
        "about": "<p>شركة رائدة في تشغيل مراكز البيانات في ماليزيا.</p>",
    },
    "en": {
        "headline": "Syarikat Contoh Berhad invests RM250 million in a green data centre",
        "summary": "The Cyberjaya data centre will create 400 jobs.",
        "body_html": "<p>Syarikat Contoh Berhad today announced an investment of RM250 million.</p>",
        "about": "<p>Syarikat Contoh Berhad is a leading data centre operator in Malaysia.</p>",
    },
}


# --- a real SMTP server ---------------------------------------------------------------------------


@dataclass
class Sink:
    """Stores what arrives, by Message-ID; answers RCPT with a canned reply for chosen addresses."""

    messages: dict[str, EmailMessage] = field(default_factory=dict)
    raw: dict[str, bytes] = field(default_factory=dict)
    envelopes: dict[str, tuple[str, list[str]]] = field(default_factory=dict)
    arrivals: Counter[str] = field(default_factory=Counter)
    peers: set[Any] = field(default_factory=set)
    replies: dict[str, str] = field(default_factory=dict)
    pipelining: bool = False  # offer PIPELINING in the EHLO reply

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        offer = ["250-PIPELINING"] if self.pipelining else []
        return [*responses[:-1], *offer, responses[-1]]  # the last is "250 HELP"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        reply = self.replies.get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content: bytes = envelope.original_content
        message = BytesParser(policy=default).parsebytes(content)
        assert isinstance(message, EmailMessage)
        mid = str(message["Message-ID"])
        self.messages[mid] = message
        self.raw[mid] = content
        self.envelopes[mid] = (envelope.mail_from, list(envelope.rcpt_tos))
        self.arrivals[mid] += 1
        self.peers.add(session.peer)
        return "250 Message accepted for delivery"


@dataclass
class SmtpServer:
    sink: Sink
    port: int
    controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.sink, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


LOOP = {"kind": "asyncio"}
T = TypeVar("T")


@pytest.fixture(params=["asyncio", "uvloop"], autouse=True)
def loop_kind(request: pytest.FixtureRequest) -> str:
    """Every test on both event loops: the server runs under uvicorn's choice, uvloop."""
    LOOP["kind"] = request.param
    return str(request.param)


def run(coro: Coroutine[Any, Any, T]) -> T:
    if LOOP["kind"] == "uvloop":
        return uvloop.run(coro)
    return asyncio.run(coro)


@pytest.fixture(params=[False, True], ids=["lockstep", "pipelined"])
def smtp(request: pytest.FixtureRequest) -> Iterator[SmtpServer]:
    """A relay that answers each command in turn, and one that offers PIPELINING (RFC 2920)."""
    server = SmtpServer(Sink(pipelining=request.param), free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


# --- transient model objects and jobs -----------------------------------------------------------


def make_settings(tmp_path: Path, port: int, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "database_url": "sqlite://",
        "secret": "x" * 32,
        "base_url": "https://wire.example",
        "smtp_url": f"smtp://127.0.0.1:{port}",
        "smtp_pool": 8,
        "mail_from": "Warta <wire@warta.test>",
    }
    values.update(overrides)
    return Settings(**values)


def make_bundle(
    settings: Settings, lang: str = "ms", *, embargo_until: datetime | None = None
) -> RenderedEdition:
    org = Organisation(
        id=f"org_{lang}", name="Syarikat Contoh Berhad", slug="contoh", about="", verified=True
    )
    release = Release(
        id=f"rel_{lang}",
        org_id=org.id,
        submitted_by="usr_1",
        status="published",
        language=lang,
        dateline_city="Kuala Lumpur",
        dateline_country="MY",
        sectors=["medtop:04000000", "technology"],
        target_countries=["MY"],
        target_languages=[lang],
        target_circuits=[],
        release_at=RELEASED,
        embargo_until=embargo_until,
        public_at=embargo_until or RELEASED,
        version=1,
        created_at=RELEASED,
        updated_at=RELEASED,
    )
    content = EDITIONS[lang]
    version = ReleaseVersion(
        release_id=release.id,
        version=1,
        headline=content["headline"],
        summary=content["summary"],
        body_html=content["body_html"],
        about=content["about"],
        contact={"name": "Nur Aisyah", "email": "media@contoh.example", "phone": "+60 3 1234 5678"},
        media=[],
    )
    edition = Edition(
        id=f"edn_{lang}",
        release_id=release.id,
        version=1,
        lang=lang,
        headline=content["headline"],
        summary=content["summary"],
        body_html=content["body_html"],
        about=content["about"],
        origin="original",
        engine=None,
        tier="publishable",
        status="published",
        digest="0" * 64,
        signature="0" * 64,
        created_at=RELEASED,
        updated_at=RELEASED,
    )
    text = wire_text(settings, release, version, edition, org)
    return RenderedEdition(settings, release, version, edition, org, text, [edition])


def recipient(
    n: int,
    *,
    name: str | None = None,
    email: str | None = None,
    tz: str = "Asia/Kuala_Lumpur",
    locale: str = "ms",
) -> RecipientView:
    return RecipientView(
        id=f"rcp_{n:05d}",
        kind="journalist",
        name=name if name is not None else f"Wartawan {n}",
        country="MY",
        languages=("ms", "en"),
        sectors=(),
        embargo_trusted=True,
        locale=locale,
        timezone=tz,
        endpoints=(EndpointView(f"end_{n:05d}", "email", email or f"reader{n}@news.example", None, None),),
    )


@dataclass
class Commits:
    """The jobs' commit points: each checks that the server does not have the message yet."""

    sink: Sink
    calls: Counter[str] = field(default_factory=Counter)
    too_late: list[str] = field(default_factory=list)
    fail: set[str] = field(default_factory=set)

    def point(self, mid: str) -> Callable[[], Awaitable[None]]:
        async def commit_point() -> None:
            self.calls[mid] += 1
            if f"<{mid}>" in self.sink.messages:
                self.too_late.append(mid)
            await asyncio.sleep(0.005)  # the server may hold the whole message but must not take it yet
            if f"<{mid}>" in self.sink.messages:
                self.too_late.append(mid)
            if mid in self.fail:
                raise RuntimeError("ledger unavailable")

        return commit_point


def make_job(
    bundle: RenderedEdition,
    commits: Commits,
    n: int,
    *,
    kind: str = "edition",
    embargoed: bool = False,
    extra: dict[str, Any] | None = None,
    **who: Any,
) -> Job:
    delivery_id = f"dlv_{kind[:3]}{n:05d}"
    to = recipient(n, **who)
    return Job(
        delivery_id=delivery_id,
        channel="email",
        kind=kind,
        lane="smtp:127.0.0.1",
        attempt=1,
        embargoed=embargoed,
        recipient=to,
        bundle=bundle,
        commit_point=commits.point(message_id_for(bundle.settings, delivery_id)),
        extra=extra or {},
        endpoint=to.endpoints[0],
    )


async def send_all(channel: EmailChannel, jobs: list[Job]) -> list[Result]:
    try:
        batches = await asyncio.gather(*(channel.send([job]) for job in jobs))
    finally:
        await channel.stop()
    return [result for batch in batches for result in batch]


def parse(raw: bytes) -> EmailMessage:
    message = BytesParser(policy=default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    return message


def parts(message: EmailMessage) -> tuple[str, str]:
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert plain is not None and html is not None
    return plain.get_content(), html.get_content()


# --- the channel --------------------------------------------------------------------------------


def test_channel_shape(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, 2525, smtp_url="smtps://user:p%40ss@relay.example", smtp_pool=12)
    channel = EmailChannel(settings)
    assert CHANNELS["email"] is EmailChannel
    assert channel.name == "email" and channel.batch_size == 16
    assert channel.lane_concurrency == 12
    assert channel.recover_committing == "delivered"
    assert channel.relay == Relay("relay.example", 465, True, "user", "p@ss")
    assert channel.lane(recipient(1).endpoints[0]) == "smtp:relay.example:465"
    assert channel.applies_to(recipient(1))
    assert not channel.applies_to(replace(recipient(1), endpoints=()))
    webhook_only = EndpointView("end_w", "webhook", "https://hooks.example/w", "ninjs", "whsec_x")
    assert not channel.applies_to(replace(recipient(1), endpoints=(webhook_only,)))
    assert Relay.parse("smtp://127.0.0.1").lane == "smtp:127.0.0.1:25"
    with pytest.raises(ValueError):
        Relay.parse("http://relay.example")


def test_two_hundred_jobs_through_one_pool(tmp_path: Path, smtp: SmtpServer) -> None:
    settings = make_settings(tmp_path, smtp.port)
    bundle = make_bundle(settings)
    commits = Commits(smtp.sink)
    jobs = [make_job(bundle, commits, n) for n in range(200)]

    results = run(send_all(EmailChannel(settings), jobs))

    assert results == [Result.ok()] * 200
    assert len(smtp.sink.messages) == 200
    assert set(smtp.sink.arrivals.values()) == {1}
    assert len(smtp.sink.peers) <= 8  # one pool of eight connections, reused
    for job in jobs:
        mid = message_id_for(settings, job.delivery_id)
        assert mid == f"{job.delivery_id}@warta.test"
        message = smtp.sink.messages[f"<{mid}>"]
        assert message["To"].addresses[0].addr_spec == job.endpoint.address
        assert message["To"].addresses[0].display_name == job.recipient.name
        assert smtp.sink.envelopes[f"<{mid}>"] == ("wire@warta.test", [job.endpoint.address])
        assert commits.calls[mid] == 1
    assert commits.too_late == []
    # everything shared was rendered once for all 200
    assert [key for key in bundle.cache if key.startswith("email:")] == ["email:edition:edn_ms:0:"]


def test_message_id_is_stable_per_delivery(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, 2525)
    bundle = make_bundle(settings)
    job = make_job(bundle, Commits(Sink()), 7)
    url = unsubscribe_url(settings, job.recipient.id)
    mid = message_id_for(settings, job.delivery_id)
    first = parse(build_message(job, message_id=mid, unsubscribe=url))
    again = parse(build_message(job, message_id=mid, unsubscribe=url))
    assert first["Message-ID"] == again["Message-ID"] == f"<{job.delivery_id}@warta.test>"
    assert parts(first) == parts(again)


def test_malay_edition(tmp_path: Path, smtp: SmtpServer) -> None:
    settings = make_settings(tmp_path, smtp.port)
    bundle = make_bundle(settings, "ms")
    commits = Commits(smtp.sink)
    job = make_job(bundle, commits, 1, name="Siti Nurhaliza binti Tarudin")
    assert run(send_all(EmailChannel(settings), [job])) == [Result.ok()]

    message = smtp.sink.messages[f"<{message_id_for(settings, job.delivery_id)}>"]
    raw = smtp.sink.raw[f"<{message_id_for(settings, job.delivery_id)}>"]
    assert message.get_content_type() == "multipart/alternative"
    assert message["Subject"] == EDITIONS["ms"]["headline"]
    assert message["From"].addresses[0].addr_spec == "wire@warta.test"
    assert message["Content-Language"] == "ms"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["X-Warta-Release"] == "rel_ms"
    assert message["X-Warta-Edition"] == "edn_ms"
    assert "warta.test" in message["List-Id"]
    assert message["Date"].datetime.tzinfo is not None
    assert raw.isascii()

    plain, html = parts(message)
    text = bundle.text
    assert plain.startswith(EDITIONS["ms"]["headline"])
    assert "Hubungan media" in plain and "Hubungan media" in html
    for phrase in (text.dateline, text.sector_line, text.about_heading, text.disclaimer, "Nur Aisyah"):
        assert phrase in plain
        assert escape(phrase) in html
    assert "Sektor:" in plain
    assert translate("ms", "Unsubscribe") in plain
    assert edition_url(settings, "rel_ms", "ms") in plain
    assert '<html lang="ms" dir="ltr">' in html
    assert f"<strong>{escape(text.dateline)}</strong> Syarikat Contoh Berhad hari ini" in html
    assert "style=" in html
    for part in message.iter_parts():
        assert part.get_content_charset() == "utf-8"


def test_arabic_edition_is_right_to_left(tmp_path: Path, smtp: SmtpServer) -> None:
    settings = make_settings(tmp_path, smtp.port)
    bundle = make_bundle(settings, "ar")
    job = make_job(bundle, Commits(smtp.sink), 1, name="أحمد بن علي", locale="ar")
    assert run(send_all(EmailChannel(settings), [job])) == [Result.ok()]

    message = smtp.sink.messages[f"<{message_id_for(settings, job.delivery_id)}>"]
    raw = smtp.sink.raw[f"<{message_id_for(settings, job.delivery_id)}>"]
    assert message["Subject"] == EDITIONS["ar"]["headline"]
    assert b"=?utf-8?" in raw.split(b"\r\n\r\n", 1)[0]  # RFC 2047 in the headers, 7-bit on the wire
    assert message["To"].addresses[0].display_name == "أحمد بن علي"
    assert message["Content-Language"] == "ar"
    plain, html = parts(message)
    assert '<html lang="ar" dir="rtl">' in html
    assert 'dir="rtl"' in html.split("<body", 1)[1]
    assert translate("ar", "Media contact") in plain
    assert translate("ar", "Media contact") in html


def test_one_click_unsubscribe(tmp_path: Path, smtp: SmtpServer) -> None:
    settings = make_settings(tmp_path, smtp.port)
    bundle = make_bundle(settings)
    jobs = [make_job(bundle, Commits(smtp.sink), n) for n in (1, 2)]
    assert run(send_all(EmailChannel(settings), jobs)) == [Result.ok()] * 2

    urls = set()
    for job in jobs:
        message = smtp.sink.messages[f"<{message_id_for(settings, job.delivery_id)}>"]
        url = unsubscribe_url(settings, job.recipient.id)
        urls.add(url)
        assert message["List-Unsubscribe"] == f"<{url}>"
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        plain, html = parts(message)
        assert url in plain
        assert f'href="{escape(url)}"' in html
    assert len(urls) == 2


def test_embargoed_copy(tmp_path: Path, smtp: SmtpServer) -> None:
    settings = make_settings(tmp_path, smtp.port)
    lift = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    bundle = make_bundle(settings, "ms", embargo_until=lift)
    commits = Commits(smtp.sink)
    tokyo = [make_job(bundle, commits, n, embargoed=True, tz="Asia/Tokyo") for n in range(3)]
    plain_copy = make_job(bundle, commits, 9)
    assert run(send_all(EmailChannel(settings), [*tokyo, plain_copy])) == [Result.ok()] * 4

    note = translate("ms", "Embargoed until %(time)s", time=long_datetime(lift, "ms", "Asia/Tokyo"))
    for job in tokyo:
        message = smtp.sink.messages[f"<{message_id_for(settings, job.delivery_id)}>"]
        assert message["Subject"] == f"[{note}] {EDITIONS['ms']['headline']}"
        plain, html = parts(message)
        assert plain.startswith(note.upper())
        assert escape(note) in html.split("<h1", 1)[0]
        assert edition_url(settings, "rel_ms", "ms") not in plain  # not public before the lift
    message = smtp.sink.messages[f"<{message_id_for(settings, plain_copy.delivery_id)}>"]
    assert message["Subject"] == EDITIONS["ms"]["headline"]
    assert note not in parts(message)[0]
    keys = sorted(key for key in bundle.cache if key.startswith("email:"))
    assert keys == ["email:edition:edn_ms:0:", "email:edition:edn_ms:1:Asia/Tokyo"]


def test_withdrawal_and_digest(tmp_path: Path, smtp: SmtpServer) -> None:
    settings = make_settings(tmp_path, smtp.port)
    bundle = make_bundle(settings, "ms")
    english = make_bundle(settings, "en")
    commits = Commits(smtp.sink)
    withdrawal = make_job(
        bundle, commits, 1, kind="withdrawal", extra={"note": "Dikeluarkan atas permintaan."}
    )
    items: list[Any] = [
        english,
        ("Harga getah naik 3 peratus", "https://wire.example/releases/rel_2/ms", "Pasaran komoditi pulih."),
        ("Pelabuhan Klang catat rekod", "https://wire.example/releases/rel_3/ms", ""),
    ]
    digest = make_job(bundle, commits, 2, kind="digest", extra={"items": items}, locale="ms-MY")
    single = make_job(bundle, commits, 3, kind="digest", extra={"items": items[1:2]}, locale="de")
    results = run(send_all(EmailChannel(settings), [withdrawal, digest, single]))
    assert results == [Result.ok()] * 3

    message = smtp.sink.messages[f"<{message_id_for(settings, withdrawal.delivery_id)}>"]
    withdrawn = translate("ms", "Withdrawn")
    assert message["Subject"] == f"[{withdrawn}] {EDITIONS['ms']['headline']}"
    plain, html = parts(message)
    assert translate("ms", "This release has been withdrawn by its issuer.") in plain
    assert EDITIONS["ms"]["headline"] in plain and "Dikeluarkan atas permintaan." in plain
    assert escape(translate("ms", "This release has been withdrawn by its issuer.")) in html
    assert message["Content-Language"] == "ms"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    message = smtp.sink.messages[f"<{message_id_for(settings, digest.delivery_id)}>"]
    assert message["Subject"] == translate(
        "ms", "Your %(wire)s digest: %(count)s releases", wire="Warta", count=3
    )
    assert message["Subject"] == "Ringkasan Warta anda: 3 kenyataan media"
    plain, html = parts(message)
    assert EDITIONS["en"]["headline"] in plain and edition_url(settings, "rel_en", "en") in plain
    assert "Pasaran komoditi pulih." in plain and "https://wire.example/releases/rel_3/ms" in plain
    assert '<p lang="en" dir="ltr"' in html
    assert 'href="https://wire.example/releases/rel_2/ms"' in html
    assert message["List-Unsubscribe"] == f"<{unsubscribe_url(settings, digest.recipient.id)}>"

    message = smtp.sink.messages[f"<{message_id_for(settings, single.delivery_id)}>"]
    assert message["Subject"] == "Ihre Warta-Übersicht: 1 Pressemitteilung"
    assert message["Content-Language"] == "de"


def test_refusals_retry_or_fail(tmp_path: Path, smtp: SmtpServer) -> None:
    settings = make_settings(tmp_path, smtp.port, smtp_pool=1)
    bundle = make_bundle(settings)
    commits = Commits(smtp.sink)
    busy = make_job(bundle, commits, 1, email="busy@news.example")
    gone = make_job(bundle, commits, 2, email="gone@news.example")
    fine = make_job(bundle, commits, 3)
    smtp.sink.replies = {
        "busy@news.example": "451 4.3.0 Mailbox temporarily unavailable",
        "gone@news.example": "550 5.1.1 No such user",
    }

    async def main() -> list[Result]:
        channel = EmailChannel(settings)
        try:
            return [(await channel.send([job]))[0] for job in (busy, gone, fine)]
        finally:
            await channel.stop()

    retry, failed, ok = run(main())
    assert retry.outcome == "retry" and retry.error and "451" in retry.error
    assert failed.outcome == "failed" and failed.error and "550" in failed.error
    assert ok == Result.ok()
    assert list(smtp.sink.messages) == [f"<{message_id_for(settings, fine.delivery_id)}>"]
    assert len(smtp.sink.peers) == 1  # the refusals did not cost the connection
    assert commits.calls[message_id_for(settings, busy.delivery_id)] == 0


def test_relay_down_then_back(tmp_path: Path, smtp: SmtpServer) -> None:
    settings = make_settings(tmp_path, smtp.port, smtp_pool=2)
    bundle = make_bundle(settings)
    commits = Commits(smtp.sink)
    jobs = [make_job(bundle, commits, n) for n in range(8)]

    async def main() -> list[Result]:
        channel = EmailChannel(settings)
        channel.timeout = 5.0
        try:
            results = await asyncio.gather(*(channel.send([job]) for job in jobs[:2]))  # pool warm
            await asyncio.to_thread(smtp.stop)
            results += [await channel.send([jobs[2]])]
            results += [await channel.send([jobs[3]])]
            await asyncio.to_thread(smtp.start)
            results += await asyncio.gather(*(channel.send([job]) for job in jobs[4:6]))
            # the relay restarts between two messages: the pooled connections are dead, nothing is lost
            await asyncio.to_thread(smtp.stop)
            await asyncio.to_thread(smtp.start)
            results += await asyncio.gather(*(channel.send([job]) for job in jobs[6:]))
            return [batch[0] for batch in results]
        finally:
            await channel.stop()

    results = run(main())
    assert results[:2] == [Result.ok()] * 2
    assert [r.outcome for r in results[2:4]] == ["retry", "retry"]
    assert all(r.error and "127.0.0.1" in r.error for r in results[2:4])
    assert results[4:] == [Result.ok()] * 4
    delivered = {f"<{message_id_for(settings, job.delivery_id)}>" for job in (*jobs[:2], *jobs[4:])}
    assert set(smtp.sink.messages) == delivered
    assert set(smtp.sink.arrivals.values()) == {1}


class Misbehaving:
    """A relay on a raw socket that offers PIPELINING and then, per transaction, answers as told:
    "ok"; "silent" (never answers MAIL); "garbage" (an HTTP status line instead of a reply);
    "no reply" (takes the message, then hangs up before answering the dot); "421" (refuses MAIL
    with 421 and hangs up, as a relay shutting down does)."""

    def __init__(self, script: list[str]) -> None:
        self.script = script
        self.taken: list[bytes] = []  # messages answered 250 after their dot
        self.connections = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        writer.write(b"220 relay.test ESMTP\r\n")
        try:
            while line := await reader.readline():
                if line.startswith(b"EHLO"):
                    writer.write(b"250-relay.test\r\n250 PIPELINING\r\n")
                elif line.startswith(b"MAIL"):
                    mode = self.script.pop(0) if self.script else "ok"
                    if mode == "silent":
                        await reader.read()  # until the client gives up and hangs up
                        return
                    if mode == "garbage":
                        writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
                    if mode == "421":
                        writer.write(b"421 relay.test shutting down\r\n")
                    if mode in ("garbage", "421"):
                        await writer.drain()
                        return
                    await reader.readline()  # RCPT
                    await reader.readline()  # DATA
                    writer.write(b"250 ok\r\n250 ok\r\n354 go on\r\n")
                    data = await reader.readuntil(b"\r\n.\r\n")
                    if mode == "no reply":
                        return
                    self.taken.append(data)
                    writer.write(b"250 queued\r\n")
                elif line.startswith(b"QUIT"):
                    writer.write(b"221 bye\r\n")
                    return
                else:
                    writer.write(b"250 ok\r\n")
                await writer.drain()
        finally:
            writer.close()


def test_a_relay_that_misbehaves(tmp_path: Path) -> None:
    """Silence, a reply that is not SMTP and a hang-up before the dot's answer are retries, or a
    delivery with a note once the dot has gone; a pooled connection the relay closes with 421 is
    replaced and the message goes on a fresh one."""
    # the second message meets silence on the pooled connection, then again on a fresh one (a
    # reused connection that fails before anything was accepted is not held against the message)
    relay = Misbehaving(["ok", "silent", "silent", "garbage", "no reply", "ok", "421", "ok"])
    port = free_port()
    settings = make_settings(tmp_path, port, smtp_pool=1)
    bundle = make_bundle(settings)
    sink = Sink()
    jobs = [make_job(bundle, Commits(sink), n) for n in range(6)]

    async def main() -> list[Result]:
        server = await asyncio.start_server(relay.handle, "127.0.0.1", port)
        channel = EmailChannel(settings)
        channel.timeout = 0.5
        try:
            return [(await channel.send([job]))[0] for job in jobs]
        finally:
            await channel.stop()
            server.close()

    first, silent, garbage, no_reply, fifth, after_421 = run(main())
    assert first == Result.ok() and fifth == Result.ok() and after_421 == Result.ok()
    assert silent.outcome == "retry" and silent.error and "TimeoutError" in silent.error
    assert garbage.outcome == "retry" and garbage.error and "not an SMTP reply" in garbage.error
    assert (
        no_reply.outcome == "delivered"
        and no_reply.error
        and "no reply after the end of data" in no_reply.error
    )
    taken = [message_id_for(settings, job.delivery_id) for job in (jobs[0], jobs[4], jobs[5])]
    assert [re.search(rb"Message-ID: <([^>]+)>", m)[1].decode() for m in relay.taken] == taken  # type: ignore[index]
    # the first connection (two messages); a fresh one after the first silence, and one after each
    # of the second silence, the garbage and the hang-up (which leave no connection to reuse); and
    # one more after the 421: the pooled connection was replaced, not the message given up
    assert relay.connections == 6


def test_no_final_dot_without_the_commit_point(tmp_path: Path, smtp: SmtpServer) -> None:
    settings = make_settings(tmp_path, smtp.port, smtp_pool=1)
    bundle = make_bundle(settings)
    commits = Commits(smtp.sink)
    broken, after = make_job(bundle, commits, 1), make_job(bundle, commits, 2)
    commits.fail.add(message_id_for(settings, broken.delivery_id))

    async def main() -> list[Result]:
        channel = EmailChannel(settings)
        try:
            return [(await channel.send([job]))[0] for job in (broken, after)]
        finally:
            await channel.stop()

    first, second = run(main())
    assert first.outcome == "retry" and first.error and "commit point" in first.error
    assert second == Result.ok()
    assert list(smtp.sink.messages) == [f"<{message_id_for(settings, after.delivery_id)}>"]


def test_a_batch_on_one_connection(tmp_path: Path, smtp: SmtpServer) -> None:
    """A batch goes out in order on one connection: a refused recipient costs neither the
    connection nor the messages after it; a failed commit point leaves that message unsent (its
    connection is dropped mid-DATA) and the rest go on a fresh connection, each once."""
    settings = make_settings(tmp_path, smtp.port, smtp_pool=1)
    bundle = make_bundle(settings)
    commits = Commits(smtp.sink)
    jobs = [make_job(bundle, commits, n) for n in range(12)]
    jobs[3] = make_job(bundle, commits, 3, email="gone@news.example")
    jobs[4] = make_job(bundle, commits, 4, email="busy@news.example")
    smtp.sink.replies = {
        "busy@news.example": "451 4.3.0 Mailbox temporarily unavailable",
        "gone@news.example": "550 5.1.1 No such user",
    }
    broken = message_id_for(settings, jobs[7].delivery_id)
    commits.fail.add(broken)

    async def main() -> list[Result]:
        channel = EmailChannel(settings)
        try:
            return await channel.send(jobs)
        finally:
            await channel.stop()

    results = run(main())
    assert [r.outcome for r in results] == ["delivered"] * 3 + ["failed", "retry"] + ["delivered"] * 2 + [
        "retry"
    ] + ["delivered"] * 4
    assert results[3].error and "550" in results[3].error
    assert results[4].error and "451" in results[4].error
    assert results[7].error and "commit point" in results[7].error
    sent = [jobs[i] for i in (0, 1, 2, 5, 6, 8, 9, 10, 11)]
    assert set(smtp.sink.messages) == {f"<{message_id_for(settings, job.delivery_id)}>" for job in sent}
    assert set(smtp.sink.arrivals.values()) == {1}
    assert commits.too_late == []
    assert all(commits.calls[message_id_for(settings, job.delivery_id)] == 1 for job in sent)
    assert len(smtp.sink.peers) == 2  # the first connection until the failed commit point, then one


def test_a_batch_when_the_relay_hangs_up(tmp_path: Path) -> None:
    """On a pipelining relay the next message's envelope goes with the previous message's dot: when
    the relay hangs up before answering that dot, the message counts as delivered (with a note)
    and the next one, which the relay never accepted, goes on a fresh connection; so does one whose
    pipelined MAIL meets a 421."""
    relay = Misbehaving(["ok", "no reply", "ok", "421", "ok"])
    port = free_port()
    settings = make_settings(tmp_path, port, smtp_pool=1)
    bundle = make_bundle(settings)
    jobs = [make_job(bundle, Commits(Sink()), n) for n in range(4)]

    async def main() -> list[Result]:
        server = await asyncio.start_server(relay.handle, "127.0.0.1", port)
        channel = EmailChannel(settings)
        channel.timeout = 0.5
        try:
            return await channel.send(jobs)
        finally:
            await channel.stop()
            server.close()

    first, no_reply, third, after_421 = run(main())
    assert first == Result.ok() and third == Result.ok() and after_421 == Result.ok()
    assert no_reply.outcome == "delivered" and no_reply.error and "no reply" in no_reply.error
    taken = [message_id_for(settings, jobs[i].delivery_id) for i in (0, 2, 3)]
    assert [re.search(rb"Message-ID: <([^>]+)>", m)[1].decode() for m in relay.taken] == taken  # type: ignore[index]
    assert relay.connections == 3


EMAIL_TAGS = frozenset(
    ["html", "head", "meta", "title", "body", "div", "p", "h1", "h2", "strong", "a", "br", "span"]
)


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.hrefs += [value or "" for name, value in attrs if name == "href"]


def test_hostile_text_stays_text(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, 2525)
    bundle = make_bundle(settings, "en")
    bundle.edition.headline = '<script>alert("h")</script> Contoh'
    bundle.version.contact = {"name": "<img src=x onerror=alert(1)>", "website": "javascript:alert(2)"}
    bundle.text = wire_text(settings, bundle.release, bundle.version, bundle.edition, bundle.organisation)
    commits = Commits(Sink())
    eve = "Eve\r\nBcc: victim@news.example"
    edition = make_job(bundle, commits, 1, name=eve)
    items = [("<b>x</b>", "javascript:alert(3)", "<i>y</i>")]
    digest = make_job(bundle, commits, 2, kind="digest", extra={"items": items}, name=eve)
    for job in (edition, digest):
        raw = build_message(
            job, message_id=f"{job.delivery_id}@warta.test", unsubscribe="https://wire.example/u/1"
        )
        message = parse(raw)
        assert message["Bcc"] is None
        html = parts(message)[1]
        links = Links()
        links.feed(html)
        assert links.tags <= EMAIL_TAGS
        assert {url_scheme(href) for href in links.hrefs} <= {"https", "mailto"}
        assert message["To"].addresses[0].display_name == "Eve Bcc: victim@news.example"


def test_addresses(tmp_path: Path) -> None:
    assert envelope_address(" Reader@Bücher.example ") == "Reader@xn--bcher-kva.example"
    for bad in ("no-at-sign", "@news.example", "rédaction@news.example", "a b@news.example", "x@bad domain"):
        with pytest.raises(ValueError):
            envelope_address(bad)
    settings = make_settings(tmp_path, 2525)
    job = make_job(make_bundle(settings), Commits(Sink()), 1, email="rédaction@news.example")
    result = run(EmailChannel(settings).send([job]))
    assert result[0].outcome == "failed"


def test_messages_go_after_data_as_built(tmp_path: Path, smtp: SmtpServer) -> None:
    """The channel writes built messages without dot-stuffing: they must have CRLF line ends only
    and no line that starts with a dot, whatever the text (here a body, name and digest lines that
    start with dots, bare CRs and LFs), so the relay receives every byte as built."""
    settings = make_settings(tmp_path, smtp.port)
    bundle = make_bundle(settings, "en")
    dotted = ".\n..hidden\r.\r\n. end"
    bundle.edition.headline = f"{dotted} Contoh"
    bundle.edition.body_html = f"<p>{dotted}</p><pre>\n.\n.x\n</pre>"
    bundle.text = wire_text(settings, bundle.release, bundle.version, bundle.edition, bundle.organisation)
    commits = Commits(smtp.sink)
    items = [(dotted, "https://wire.example/r/1", dotted)]
    jobs = [
        make_job(bundle, commits, 1, name=dotted),
        make_job(bundle, commits, 2, kind="digest", extra={"items": items}, name=dotted),
        make_job(bundle, commits, 3, kind="withdrawal", extra={"note": dotted}),
    ]
    built = {}
    for job in jobs:
        mid = message_id_for(settings, job.delivery_id)
        built[mid] = build_message(
            job, message_id=mid, unsubscribe=unsubscribe_url(settings, job.recipient.id)
        )
        raw = built[mid]
        assert raw.endswith(b"\r\n")
        assert raw.count(b"\n") == raw.count(b"\r\n") == raw.count(b"\r")
        assert not raw.startswith(b".") and b"\n." not in raw
    assert run(send_all(EmailChannel(settings), jobs)) == [Result.ok()] * 3
    for mid, raw in built.items():
        received = smtp.sink.raw[f"<{mid}>"]
        assert len(received) == len(raw)  # a relay drops the first dot of a line that starts with one
        assert parts(parse(received)) == parts(parse(raw))


def test_dkim(tmp_path: Path, smtp: SmtpServer) -> None:
    dkim = pytest.importorskip("dkim")
    from dkim import dknewkey

    if not Path(dknewkey.OPENSSL_BINARY).exists():
        pytest.skip("openssl is needed to make a key")
    key, dns = tmp_path / "sel1.key", tmp_path / "sel1.dns"
    dknewkey.GenRSAKeys(str(key), verbose=False)
    dknewkey.ExtractRSADnsPublicKey(str(key), str(dns), verbose=False)
    record = dns.read_bytes()

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes | None:
        return record if name == b"sel1._domainkey.warta.test." else None

    settings = make_settings(
        tmp_path, smtp.port, dkim_domain="warta.test", dkim_selector="sel1", dkim_key_file=str(key)
    )
    bundle = make_bundle(settings, "ar")
    job = make_job(bundle, Commits(smtp.sink), 1, name="أحمد")
    assert run(send_all(EmailChannel(settings), [job])) == [Result.ok()]

    raw = smtp.sink.raw[f"<{message_id_for(settings, job.delivery_id)}>"]
    assert raw.startswith(b"DKIM-Signature:")
    assert dkim.verify(raw, dnsfunc=dnsfunc)
    signature = raw.split(b"\r\n\r\n", 1)[0].decode().split("DKIM-Signature:", 1)[1]
    signed = re.search(r"\bh=([^;]+)", signature)
    assert signed is not None
    names = {name.strip().lower() for name in re.sub(r"\s+", "", signed.group(1)).split(":")}
    assert {
        "from",
        "to",
        "subject",
        "date",
        "message-id",
        "list-unsubscribe",
        "list-unsubscribe-post",
        "list-id",
        "mime-version",
        "content-type",
    } <= names
    assert "d=warta.test" in signature and "s=sel1" in signature
    tampered = raw.replace(b"List-Unsubscribe: <", b"List-Unsubscribe: <https://evil.example/?", 1)
    assert not dkim.verify(tampered, dnsfunc=dnsfunc)
    # the list, the MIME version and the structure cannot be changed either
    for header in (b"List-Id: ", b"MIME-Version: 1.0", b"Content-Type: multipart/alternative"):
        assert header in raw
        assert not dkim.verify(raw.replace(header, header + b"x", 1), dnsfunc=dnsfunc), header
    direct = build_message(job, message_id="direct@warta.test", unsubscribe="https://wire.example/u")
    assert direct.startswith(b"DKIM-Signature:") and dkim.verify(direct, dnsfunc=dnsfunc)
    unsigned = make_settings(tmp_path, smtp.port)
    assert dkim_sign(b"From: a@b.c\r\n\r\nhi\r\n", unsigned) == b"From: a@b.c\r\n\r\nhi\r\n"
    assert base64.b64decode(re.sub(rb"\s", b"", record.split(b"p=", 1)[1]))  # a real public key
