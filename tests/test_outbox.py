"""`warta serve --demo` with no relay: the mail catcher, the `/outbox` page, the demo's own webhook
receiver; and a real relay meaning no catcher."""

from __future__ import annotations

import html
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from conftest import WARTA, free_port, make_env, stop_process, wait_until_serving

BODY = (
    "Pelabuhan Selatan Berhad today added two electric ship-to-shore cranes at its Port Klang terminal, "
    "raising the terminal's capacity by ten percent. The cranes run on solar power from the terminal roof "
    "and its batteries, and were built in eighteen months by a team of local engineers."
)


@dataclass
class DemoWire:
    url: str
    data_dir: Path
    env: dict[str, str]
    out: str
    keys: dict[str, str]
    proc: subprocess.Popen[str]

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*WARTA, *args], env=self.env, capture_output=True, text=True, timeout=120)

    def stop(self) -> None:
        stop_process(self.proc)


def start_demo(data_dir: Path, **extra_env: str) -> DemoWire:
    """`warta serve --demo` as a newcomer runs it; its welcome read from its own output."""
    port = free_port()
    env = make_env(data_dir, **extra_env)
    proc = subprocess.Popen(
        [*WARTA, "serve", "--demo", "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            raise AssertionError("warta serve --demo exited:\n" + "".join(lines))
        lines.append(line)
        if line.startswith("Email:"):
            break
    url = f"http://127.0.0.1:{port}"
    wait_until_serving(url, deadline)
    out = "".join(lines)
    keys = {role: key for role, key in re.findall(r"^\s+(\w+): .*?(wk_\S+)$", out, re.MULTILINE)[::-1]}
    keys["issuer"] = re.search(r"issuer: Pelabuhan Selatan.*?(wk_\S+)", out).group(1)  # type: ignore[union-attr]
    return DemoWire(url, data_dir, env, out, keys, proc)


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[DemoWire]:
    wire = start_demo(tmp_path / "data")
    yield wire
    wire.stop()


def publish_to_malaysia(wire: DemoWire, headline: str) -> str:
    resp = httpx.post(
        f"{wire.url}/api/v1/releases",
        headers={"Authorization": f"Bearer {wire.keys['issuer']}"},
        json={
            "headline": headline,
            "body": BODY,
            "language": "en",
            "dateline": {"city": "Kuala Lumpur", "country": "MY"},
            "sectors": ["top-story", "medtop:04000000"],
            "contact": {"name": "Aisyah Rahman", "email": "media@pelabuhan-selatan.example"},
            "targets": {"countries": ["MY"]},
        },
        timeout=30,
    )
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


def signed_in(wire: DemoWire, key: str) -> httpx.Client:
    client = httpx.Client(base_url=wire.url, timeout=30)
    resp = client.post("/outbox/sign-in", data={"key": key})
    assert resp.status_code == 303, resp.text
    return client


def wait_for(client: httpx.Client, path: str, text: str, seconds: float = 30) -> str:
    deadline = time.monotonic() + seconds
    page = ""
    while time.monotonic() < deadline:
        page = client.get(path).text
        if text in page:
            return page
        time.sleep(0.3)
    raise AssertionError(f"{text!r} never showed on {path}:\n{page[-3000:]}")


def test_demo_catches_email_and_webhooks_and_shows_them_to_the_desk(demo: DemoWire) -> None:
    assert "mail catcher on smtp://127.0.0.1:" in demo.out and f"{demo.url}/outbox" in demo.out
    assert "WARTA_SMTP_URL" in demo.out
    # the demo's own audience imports cleanly on a machine with no network: its outlet posts to the wire
    sample = demo.data_dir / "demo-recipients.csv"
    imported = demo.cli("recipients", "import", str(sample), "--json")
    assert imported.returncode == 0, imported.stderr
    assert '"errors": []' in imported.stdout and '"created": 6' in imported.stdout, imported.stdout
    # the loopback allowance is the demo file's alone: the same outlet in another file is refused
    outlet = [line for line in sample.read_text().splitlines() if line.startswith(("kind,", "outlet,"))]
    elsewhere = demo.data_dir.parent / "my-recipients.csv"
    elsewhere.write_text("\n".join(outlet) + "\n")
    refused = demo.cli("recipients", "import", str(elsewhere), "--json")
    assert refused.returncode == 1 and "webhook_url" in refused.stdout and '"created": 0' in refused.stdout

    headline = "Pelabuhan Selatan adds two electric cranes at Port Klang"
    publish_to_malaysia(demo, headline)

    # nobody signed in, or an issuer, sees no mail
    anonymous = httpx.get(f"{demo.url}/outbox")
    assert 'name="key"' in anonymous.text and "siti@newsroom.example" not in anonymous.text
    assert httpx.post(f"{demo.url}/outbox/sign-in", data={"key": demo.keys["issuer"]}).status_code == 403
    assert httpx.post(f"{demo.url}/outbox/sign-in", data={"key": "wk_nothing"}).status_code == 401

    desk = signed_in(demo, demo.keys["editor"])
    listing = wait_for(desk, "/outbox", "siti@newsroom.example")
    assert headline in listing
    wait_for(desk, "/outbox", "the-straits-desk")  # the outlet's webhook, caught by the wire itself
    assert "ninjs" in desk.get("/outbox").text

    link = re.search(r'href="(/outbox/mail/[^"]+)"[^>]*>' + re.escape(headline), listing)
    assert link, listing
    message = desk.get(link.group(1))
    assert message.status_code == 200
    page = message.text
    assert "<dt>List-Unsubscribe</dt>" in page and "<dt>Message-ID</dt>" in page
    frame = re.search(r'<iframe[^>]*\ssandbox\s[^>]*srcdoc="([^"]*)"', page)
    assert frame, page
    rendered = html.unescape(frame.group(1))
    assert "KUALA LUMPUR" in rendered and headline in rendered and "<script" not in rendered
    text_part = re.search(r'<pre class="mail-text" lang="en" dir="ltr">(.*?)</pre>', page, re.DOTALL)
    assert text_part and "KUALA LUMPUR" in html.unescape(text_part.group(1))
    # the message page needs the cookie too
    assert "siti@newsroom.example" not in httpx.get(demo.url + link.group(1)).text

    # one-click unsubscribe from the caught email works against the served wire
    action = re.search(r'<form method="post" action="([^"]+/unsubscribe/[^"]+)"', page)
    assert action and action.group(1).startswith(demo.url + "/unsubscribe/")
    done = httpx.post(html.unescape(action.group(1)), data={"List-Unsubscribe": "One-Click"})
    assert "You are unsubscribed" in done.text
    editor = {"Authorization": f"Bearer {demo.keys['editor']}"}
    listed = httpx.get(f"{demo.url}/api/v1/recipients", params={"limit": 100}, headers=editor).json()
    siti = next(r for r in listed["items"] if r["email"] == "siti@newsroom.example")
    assert siti["status"] == "unsubscribed"

    # signing out drops the cookie: the list is gone
    desk.post("/outbox/sign-out")
    assert "siti@newsroom.example" not in desk.get("/outbox").text


def test_a_real_relay_means_no_catcher(tmp_path: Path) -> None:
    from receivers import SmtpSink

    sink = SmtpSink()
    sink.start()
    wire = start_demo(tmp_path / "data", WARTA_SMTP_URL=f"smtp://127.0.0.1:{sink.port}")
    try:
        assert "mail catcher" not in wire.out
        assert f"sent to the relay smtp://127.0.0.1:{sink.port}" in wire.out
        wire.cli("recipients", "import", str(wire.data_dir / "demo-recipients.csv"))
        publish_to_malaysia(wire, "Pelabuhan Selatan adds cranes, told through a real relay")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not sink.mails:
            time.sleep(0.2)
        assert [m.rcpt for m in sink.mails] == [["siti@newsroom.example"]]
        page = signed_in(wire, wire.keys["admin"]).get("/outbox").text
        assert "no mail catcher is running" in page and "siti@newsroom.example" not in page
        assert not (wire.data_dir / "outbox" / "mail").exists()
    finally:
        wire.stop()
        sink.stop()


def test_the_outbox_speaks_the_language_it_is_asked_for_without_javascript(demo: DemoWire) -> None:
    # the sign-in form in Arabic: right to left, its labels and its refusals in Arabic
    arabic = httpx.get(f"{demo.url}/outbox", params={"lang": "ar"}).text
    assert '<html lang="ar" dir="rtl">' in arabic
    assert "<h1>صندوق الصادر</h1>" in arabic and ">مفتاح API</label>" in arabic
    assert '<input type="hidden" name="lang" value="ar">' in arabic
    wrong = httpx.post(f"{demo.url}/outbox/sign-in", data={"key": "wk_nothing", "lang": "ar"})
    assert wrong.status_code == 401 and "هذا المفتاح ليس مفتاح API صالحًا." in wrong.text
    issuer = httpx.post(f"{demo.url}/outbox/sign-in", data={"key": demo.keys["issuer"], "lang": "ja"})
    assert issuer.status_code == 403 and "送信トレイは配信サービスの編集者と管理者専用です。" in issuer.text
    # an unknown language is English, not an error
    assert '<html lang="en" dir="ltr">' in httpx.get(f"{demo.url}/outbox", params={"lang": "xx"}).text

    assert demo.cli("recipients", "import", str(demo.data_dir / "demo-recipients.csv")).returncode == 0
    headline = "Pelabuhan Selatan adds a third electric crane at Port Klang"
    publish_to_malaysia(demo, headline)

    # signing in through the plain form keeps the language chosen
    desk = httpx.Client(base_url=demo.url, timeout=30)
    signed = desk.post("/outbox/sign-in", data={"key": demo.keys["editor"], "lang": "ja"})
    assert signed.status_code == 303 and signed.headers["location"] == "/outbox?lang=ja"
    japanese = wait_for(desk, "/outbox?lang=ja", "siti@newsroom.example")  # the email, not only a webhook
    assert '<html lang="ja" dir="ltr">' in japanese
    assert "<h1>送信トレイ</h1>" in japanese and '<th scope="col">件名</th>' in japanese
    assert '<th scope="col">宛先</th>' in japanese and ">サインアウト</button>" in japanese
    link = re.search(r'href="(/outbox/mail/[^"?]+\?lang=ja)"[^>]*>' + re.escape(headline), japanese)
    assert link, japanese
    mail = desk.get(link.group(1)).text
    assert '<h2 id="mail-headers">ヘッダー</h2>' in mail and '<h2 id="mail-text">テキストパート</h2>' in mail
    assert ">この受信者の配信を停止</button>" in mail
    assert '<pre class="mail-text" lang="en" dir="ltr">' in mail  # the email keeps its own language

    # the list in Arabic, and the switch to every other language as plain links
    listing = desk.get("/outbox", params={"lang": "ar"}).text
    assert '<html lang="ar" dir="rtl">' in listing
    assert '<th scope="col">الموضوع</th>' in listing and ">تسجيل الخروج</button>" in listing
    assert 'href="/outbox?lang=ar" lang="ar" hreflang="ar" aria-current="page">العربية</a>' in listing
    assert 'href="/outbox?lang=ja" lang="ja" hreflang="ja">日本語</a>' in listing
    for page in (arabic, wrong.text, japanese, mail, listing):
        assert "<script" not in page
    out = desk.post("/outbox/sign-out", data={"lang": "ar"})
    assert out.status_code == 303 and out.headers["location"] == "/outbox?lang=ar"
