"""The webhook channel's HTTP/1.1 client against real sockets: keep-alive, framing, limits, TLS."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import ssl
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
import uvloop
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from receivers import Request, Script
from receivers import ScriptedServer as Server
from warta.delivery import http1
from warta.delivery.http1 import Client, ConnectError, Origin, RemoteProtocolError

pytestmark = pytest.mark.fast  # in `make test-fast`, the developer's loop


@pytest.fixture(params=["asyncio", "uvloop"], autouse=True)
def loop_kind(request: pytest.FixtureRequest) -> str:
    """Every test on both event loops: the server runs under uvicorn's choice, uvloop."""
    LOOP["kind"] = request.param
    return str(request.param)


LOOP = {"kind": "asyncio"}
T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    if LOOP["kind"] == "uvloop":
        return uvloop.run(coro)
    return asyncio.run(coro)


def reply(data: bytes, close: bool = False, delay: float = 0.0) -> Script:
    async def script(request: Request, server: Server) -> tuple[bytes, bool]:
        if delay:
            await asyncio.sleep(delay)
        return data, close

    return script


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


async def post(client: Client, origin: Origin, body: bytes = b"{}", timeout: float = 5.0) -> http1.Response:
    return await client.request(
        origin, "POST", "/hooks/1?x=1", [("content-type", "application/json")], body, timeout
    )


def test_keep_alive_one_connection_for_many_requests() -> None:
    async def go() -> tuple[list[http1.Response], Server]:
        async with Server(
            reply(b"HTTP/1.1 202 Accepted\r\nContent-Length: 5\r\nX-Seen: a\r\nx-seen: b\r\n\r\nnoted")
        ) as srv:
            client = Client()
            answers = [
                await post(client, srv.origin("hooks.example.test"), b'{"n":%d}' % i) for i in range(3)
            ]
            await client.aclose()
            return answers, srv

    answers, srv = run(go())
    assert [(a.status, a.reason, a.body, a.complete) for a in answers] == [
        (202, "Accepted", b"noted", True)
    ] * 3
    assert answers[0].headers["x-seen"] == "a, b"
    assert srv.connections == 1
    first = srv.requests[0]
    assert first.head.startswith("POST /hooks/1?x=1 HTTP/1.1\r\n")
    assert f"host: hooks.example.test:{srv.port}\r\n" in first.head
    assert [r.body for r in srv.requests] == [b'{"n":0}', b'{"n":1}', b'{"n":2}']


def test_chunked_and_close_delimited_bodies() -> None:
    chunked = (
        b"HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;ext=1\r\ndatab\r\n6\r\nase do\r\n3\r\nwn.\r\n0\r\nX-Trailer: yes\r\n\r\n"
    )

    async def go() -> tuple[http1.Response, http1.Response, http1.Response, Server]:
        answers = iter([chunked, b"HTTP/1.1 200 OK\r\n\r\nuntil the end", OK])

        async def script(request: Request, server: Server) -> tuple[bytes, bool]:
            data = next(answers)
            return data, b"until the end" in data

        async with Server(script) as srv:
            client = Client()
            a, b, c = [await post(client, srv.origin()) for _ in range(3)]
            await client.aclose()
            return a, b, c, srv

    a, b, c, srv = run(go())
    assert (a.status, a.body, a.complete) == (500, b"database down.", True)
    assert (b.status, b.body, b.complete) == (200, b"until the end", True)
    assert c.body == b"ok"
    # the chunked answer left its connection reusable; the close-delimited one could not be
    assert [r.conn for r in srv.requests] == [1, 1, 2]


def test_interim_answers_are_skipped_and_connection_close_is_obeyed() -> None:
    async def go() -> tuple[http1.Response, Server]:
        data = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
        data += b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"
        async with Server(reply(data)) as srv:
            client = Client()
            first = await post(client, srv.origin())
            await post(client, srv.origin())
            await client.aclose()
            return first, srv

    first, srv = run(go())
    assert (first.status, first.body, first.complete) == (204, b"", True)
    assert [r.conn for r in srv.requests] == [1, 2]


def test_a_connection_the_server_dropped_while_idle_is_replaced() -> None:
    async def go() -> tuple[list[int], Server]:
        async def script(request: Request, server: Server) -> tuple[bytes, bool]:
            # the second request on the first connection finds it gone: read, then closed unanswered
            if request.conn == 1 and len(server.requests) == 2:
                return b"", True
            return OK, False

        async with Server(script) as srv:
            client = Client()
            statuses = [(await post(client, srv.origin())).status for _ in range(3)]
            await client.aclose()
            return statuses, srv

    statuses, srv = run(go())
    assert statuses == [200, 200, 200]
    assert [r.conn for r in srv.requests] == [1, 1, 2, 2]


def test_a_new_connection_closed_unanswered_is_an_error() -> None:
    async def go() -> None:
        async with Server(reply(b"", close=True)) as srv:
            client = Client()
            with pytest.raises(RemoteProtocolError, match="closed the connection without answering"):
                await post(client, srv.origin())
            await client.aclose()

    run(go())


def test_no_more_connections_per_origin_than_allowed() -> None:
    async def go() -> tuple[list[int], Server]:
        async with Server(reply(OK, delay=0.1)) as srv:
            client = Client(per_origin=2)
            answers = await asyncio.gather(*(post(client, srv.origin()) for _ in range(7)))
            await client.aclose()
            return [a.status for a in answers], srv

    statuses, srv = run(go())
    assert statuses == [200] * 7
    assert srv.connections == 2 and srv.most_open == 2


def test_time_outs_before_and_after_the_status() -> None:
    async def go() -> tuple[http1.Response, Server]:
        async def script(request: Request, server: Server) -> tuple[bytes, bool]:
            if len(server.requests) == 1:
                await asyncio.sleep(10)
            return b"HTTP/1.1 503 Busy\r\nContent-Length: 100\r\n\r\ncome back", False

        async with Server(script) as srv:
            client = Client()
            with pytest.raises(TimeoutError):
                await post(client, srv.origin(), timeout=0.3)
            stalled = await post(client, srv.origin(), timeout=0.3)
            await client.aclose()
            return stalled, srv

    stalled, srv = run(go())
    assert (stalled.status, stalled.body, stalled.complete) == (503, b"come back", False)
    assert [r.conn for r in srv.requests] == [1, 2]  # neither connection was used again


def test_a_huge_body_is_not_read_to_its_end() -> None:
    size = http1.DRAIN_LIMIT * 3

    async def go() -> tuple[http1.Response, Server]:
        data = b"HTTP/1.1 400 Bad\r\nContent-Length: %d\r\n\r\n" % size + b"x" * size
        async with Server(reply(data)) as srv:
            client = Client(peek=16)
            answer = await post(client, srv.origin())
            await client.aclose()
            return answer, srv

    answer, _ = run(go())
    assert (answer.status, answer.body, answer.complete) == (400, b"x" * 16, False)


@pytest.mark.parametrize(
    "data",
    [
        b"SMTP 220 hello\r\n\r\n",
        b"HTTP/1.1 2OO OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -4\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n",
    ],
)
def test_what_is_not_http_is_an_error(data: bytes) -> None:
    async def go() -> None:
        async with Server(reply(data)) as srv:
            client = Client()
            with pytest.raises(RemoteProtocolError):
                await post(client, srv.origin())
            await client.aclose()

    run(go())


def test_idle_connections_are_closed_after_the_keepalive() -> None:
    async def go() -> Server:
        async with Server(reply(OK)) as srv:
            client = Client(keepalive=0.2)
            await post(client, srv.origin())
            await asyncio.sleep(0.5)
            assert client.pools == {}  # nothing kept for an origin with no connection
            return srv

    srv = run(go())
    assert srv.closed_by_client == 1


def _tls_pair(tmp_path: Path, name: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A private CA, a server certificate for `name` signed by it, and the two TLS contexts."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Warta test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(name), x509.IPAddress(ipaddress.ip_address("192.0.2.1"))]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    client = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
    return server, client


def test_tls_checks_the_certificate_against_the_name_not_the_address(tmp_path: Path) -> None:
    server_tls, client_tls = _tls_pair(tmp_path, "hooks.example.test")

    async def go() -> tuple[list[int], Server]:
        async with Server(reply(OK), tls=server_tls) as srv:
            client = Client(tls=client_tls)
            # connected to 127.0.0.1, the address that was checked; the certificate names the host
            statuses = [(await post(client, srv.origin("hooks.example.test"))).status for _ in range(2)]
            with pytest.raises(ConnectError, match="TLS certificate not accepted: .*mismatch"):
                await post(client, srv.origin("other.example.test"))
            # a client trusting only the usual authorities refuses the private CA
            with pytest.raises(ConnectError, match="TLS certificate not accepted"):
                await post(Client(), srv.origin("hooks.example.test"))
            await client.aclose()
            return statuses, srv

    statuses, srv = run(go())
    assert statuses == [200, 200]
    assert f"host: hooks.example.test:{srv.port}\r\n" in srv.requests[0].head
    assert [r.conn for r in srv.requests] == [1, 1]


def test_slow_endpoints_on_a_shared_host_do_not_hold_up_its_quick_ones() -> None:
    async def script(request: Request, server: Server) -> tuple[bytes, bool]:
        if request.head.startswith("POST /slow"):
            await asyncio.sleep(1.5)
        return OK, False

    async def go() -> tuple[list[str], int, Server]:
        async with Server(script) as srv:
            client = Client(per_origin=2, slow_after=0.2)
            origin = srv.origin()
            finished: list[str] = []  # the paths, in the order their answers came

            async def send(path: str) -> None:
                answer = await client.request(origin, "POST", path, [], b"{}", 5.0)
                assert answer.status == 200
                finished.append(path)

            await send("/quick")  # the host has answered quickly: its slow requests are the endpoints'
            slow = [asyncio.create_task(send("/slow")) for _ in range(4)]
            await asyncio.sleep(0.05)
            await asyncio.gather(*(send("/quick") for _ in range(10)))
            await asyncio.gather(*slow)
            await client.aclose()
            return finished, srv.most_open, srv

    finished, most_open, _ = run(go())
    # every quick request was answered before any slow one (1.5 s): none waited behind them
    assert finished == ["/quick"] * 11 + ["/slow"] * 4
    assert most_open > 2


def test_a_connection_handed_straight_on_times_its_new_exchange() -> None:
    """A finished exchange hands its connection to the next queued request at once, before the
    finished one's own callbacks run. Those must not stop the new exchange's slow timer (its slow
    answer would then hold the connection unnoticed while quick requests queue behind it)."""

    async def script(request: Request, server: Server) -> tuple[bytes, bool]:
        if request.head.startswith("POST /slow"):
            await asyncio.sleep(0.5)
        return OK, False

    async def go() -> tuple[bool, Server]:
        async with Server(script) as srv:
            client = Client(per_origin=1, slow_after=0.2)
            origin = srv.origin()
            await client.request(origin, "POST", "/quick", [], b"{}", 5.0)
            (conn,) = client.pools[origin].idle  # the one connection, kept alive
            quick = asyncio.create_task(client.request(origin, "POST", "/quick", [], b"{}", 5.0))
            slow = asyncio.create_task(client.request(origin, "POST", "/slow", [], b"{}", 5.0))
            await quick  # the slow request has the connection now, handed on by the quick one
            await asyncio.sleep(0.01)
            timer = conn.slow_timer
            timing = conn.waiter is not None and timer is not None and not timer.cancelled()
            await slow
            await client.aclose()
            return timing, srv

    timing, srv = run(go())
    assert timing  # the slow exchange is being timed
    assert [r.conn for r in srv.requests] == [1, 1, 1]


def test_a_host_that_is_slow_for_everyone_keeps_its_limit() -> None:
    async def go() -> tuple[list[int], Server]:
        async with Server(reply(OK, delay=0.3)) as srv:
            client = Client(per_origin=2, slow_after=0.1)
            answers = await asyncio.gather(*(post(client, srv.origin()) for _ in range(8)))
            await client.aclose()
            return [a.status for a in answers], srv

    statuses, srv = run(go())
    assert statuses == [200] * 8
    assert srv.most_open == 2
