"""Pages in a real browser: Debian's headless Chromium driven through Playwright.

Each test gets its own `warta serve` process and browser context; only the Chromium process is shared.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Request

from conftest import Desk, Server, release_payload

pytestmark = pytest.mark.browser

ARABIC = re.compile(r"[\u0600-\u06ff]")

ARABIC_BODY = (
    "أعلنت شركة الواحة للطاقة المتجددة اليوم عن إطلاق أكبر مشروع للطاقة الشمسية على أسطح المباني في "
    "إمارة دبي، باستثمار إجمالي يبلغ 180 مليون درهم إماراتي. وسيغطي المشروع أسطح أكثر من 300 مبنى سكني "
    "وتجاري في منطقتي القصيص وجبل علي، بقدرة إنتاجية تصل إلى 45 ميغاواط.\n\n"
    "وقالت المهندسة ليلى الهاشمي، الرئيسة التنفيذية للشركة، إن المشروع سيسهم في خفض انبعاثات الكربون "
    "بنحو 60 ألف طن سنوياً، ويدعم أهداف استراتيجية دبي للطاقة النظيفة 2050. وأضافت أن الشركة ستوفر 250 "
    "فرصة عمل جديدة للمهندسين والفنيين المواطنين خلال مرحلتي الإنشاء والتشغيل.\n\n"
    "ومن المتوقع أن تبدأ أعمال التركيب في الربع الأول من العام المقبل، على أن يُربط المشروع بالكامل بشبكة "
    "هيئة كهرباء ومياه دبي خلال ثمانية عشر شهراً."
)
ARABIC_HEADLINE = "شركة الواحة للطاقة المتجددة تطلق أكبر محطة للطاقة الشمسية على الأسطح في دبي"

ENGLISH_EDITION = {
    "headline": "Syarikat Contoh Berhad invests RM250 million in a green data centre",
    "summary": "The Cyberjaya data centre will create 400 jobs.",
    "body": (
        "Syarikat Contoh Berhad today announced an investment of RM250 million to build a green data "
        "centre in Cyberjaya. The data centre will run on solar power and recycled-water cooling, and "
        "will create 400 skilled jobs for local people.\n\n"
        "Construction is expected to begin in the first quarter of next year and finish within two years."
    ),
    "body_format": "markdown",
}


def arabic_payload() -> dict[str, Any]:
    return release_payload(
        headline=ARABIC_HEADLINE,
        summary="المشروع بقيمة 180 مليون درهم سيزوّد أكثر من 12 ألف منزل بالكهرباء النظيفة.",
        body=ARABIC_BODY,
        language="ar",
        dateline={"city": "دبي", "country": "AE"},
        contact={"name": "عمر المنصوري", "email": "media@alwaha.example", "phone": "+971 4 123 4567"},
        about="شركة الواحة للطاقة المتجددة شركة إماراتية متخصصة في تطوير مشاريع الطاقة الشمسية وتشغيلها.",
        targets={"countries": ["AE"], "languages": ["ar", "en"]},
    )


def publish(desk: Desk, payload: dict[str, Any]) -> str:
    """Submit as the (unverified) issuer, approve as the editor, wait until the scheduler releases it."""
    with desk.issuer() as issuer:
        created = issuer.post("/api/v1/releases", json=payload)
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "held"
    release_id: str = created.json()["id"]
    with desk.editor() as editor:
        approved = editor.post(f"/api/v1/releases/{release_id}/approve")
    assert approved.status_code == 200, approved.text
    with desk.server.client() as anonymous:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            got = anonymous.get(f"/api/v1/releases/{release_id}")
            if got.status_code == 200 and got.json()["visible"]:
                return release_id
            time.sleep(0.05)
    raise AssertionError(f"release {release_id} was not published within 15 s")


@dataclass
class Watched:
    """A page plus what went wrong on it: console errors, uncaught exceptions, failed requests."""

    page: Page
    problems: list[str] = field(default_factory=list)

    def on_console(self, msg: ConsoleMessage) -> None:
        if msg.type == "error":
            self.problems.append(f"console error: {msg.text} ({msg.location})")

    def on_pageerror(self, exc: Exception) -> None:
        self.problems.append(f"page error: {exc}")

    def on_requestfailed(self, req: Request) -> None:
        self.problems.append(f"request failed: {req.method} {req.url}: {req.failure}")

    def open(self, url: str) -> Page:
        response = self.page.goto(url, wait_until="load")
        assert response is not None and response.status == 200, f"{url}: {response and response.status}"
        self.page.wait_for_load_state("networkidle")
        return self.page

    def assert_clean(self) -> None:
        assert self.problems == [], "\n".join(self.problems)


@pytest.fixture
def watched(browser: Browser) -> Iterator[Watched]:
    context = browser.new_context(locale="en-GB")
    context.set_default_timeout(10_000)
    page = context.new_page()
    w = Watched(page)
    page.on("console", w.on_console)
    page.on("pageerror", w.on_pageerror)
    page.on("requestfailed", w.on_requestfailed)
    yield w
    context.close()


def test_newsroom_and_release_page_render_cleanly(server: Server, desk: Desk, watched: Watched) -> None:
    payload = release_payload()
    release_id = publish(desk, payload)

    page = watched.open(server.url + "/")
    headline = page.get_by_role("link", name=payload["headline"])
    assert headline.is_visible()
    assert headline.get_attribute("href") == f"/releases/{release_id}/ms"

    page = watched.open(f"{server.url}/releases/{release_id}/ms")
    assert page.locator("html").get_attribute("lang") == "ms"
    assert page.locator("article.release h1").inner_text() == payload["headline"]
    dateline = page.locator("article.release .dateline")
    assert dateline.is_visible()
    assert "(Warta)" in dateline.inner_text()
    assert "KUALA LUMPUR" in dateline.inner_text()
    watched.assert_clean()


def test_arabic_release_page_is_right_to_left_with_arabic_chrome(
    server: Server, desk: Desk, watched: Watched
) -> None:
    assert len(ARABIC_BODY.split()) >= 60
    release_id = publish(desk, arabic_payload())

    page = watched.open(f"{server.url}/releases/{release_id}/ar")
    html = page.locator("html")
    assert html.get_attribute("dir") == "rtl"
    assert html.get_attribute("lang") == "ar"
    article = page.locator("article.release")
    assert article.evaluate("el => getComputedStyle(el).direction") == "rtl"
    assert page.locator("article.release h1").inner_text() == ARABIC_HEADLINE
    assert "دبي" in page.locator("article.release .dateline").inner_text()

    contact_heading = page.locator("section.contact h2").inner_text()
    disclaimer = page.locator("p.disclaimer").inner_text()
    skip_link = page.locator("a.skip").inner_text()
    for text in (contact_heading, disclaimer, skip_link):
        assert ARABIC.search(text), text
    assert "Media contact" not in contact_heading
    assert "Disclaimer" not in disclaimer
    chrome = page.locator("body").inner_text()
    for english in ("Media contact", "Disclaimer", "Issued by", "Skip to content"):
        assert english not in chrome
    watched.assert_clean()


def test_edition_links_and_hreflang_alternates(server: Server, desk: Desk, watched: Watched) -> None:
    release_id = publish(desk, release_payload())
    with desk.issuer() as issuer:
        put = issuer.put(f"/api/v1/releases/{release_id}/editions/en", json=ENGLISH_EDITION)
    assert put.status_code == 200, put.text
    with desk.editor() as editor:  # the unverified issuer's edition waits for an editor
        put = editor.post(f"/api/v1/releases/{release_id}/editions/en/approve")
    assert put.json()["status"] == "published"

    page = watched.open(f"{server.url}/releases/{release_id}/ms")
    alternates = {
        link.get_attribute("hreflang"): link.get_attribute("href")
        for link in page.locator('head link[rel="alternate"][hreflang]').all()
    }
    assert alternates == {
        "en": f"{server.url}/releases/{release_id}/en",
        "ms": f"{server.url}/releases/{release_id}/ms",
    }
    current = page.locator('nav.editions a[aria-current="page"]')
    assert current.get_attribute("hreflang") == "ms"

    english = page.locator('nav.editions a[hreflang="en"]')
    assert english.is_visible()
    english.click()
    page.wait_for_url(f"{server.url}/releases/{release_id}/en")
    page.wait_for_load_state("networkidle")
    html = page.locator("html")
    assert html.get_attribute("lang") == "en"
    assert html.get_attribute("dir") == "ltr"
    assert page.locator("article.release h1").inner_text() == ENGLISH_EDITION["headline"]
    assert page.locator('nav.editions a[aria-current="page"]').get_attribute("hreflang") == "en"
    watched.assert_clean()


def test_newsroom_language_filter_in_the_browser(server: Server, desk: Desk, watched: Watched) -> None:
    malay = release_payload()
    publish(desk, malay)
    arabic_id = publish(desk, arabic_payload())

    page = watched.open(server.url + "/")
    assert page.locator("li.card").count() == 2

    form = page.locator("form.filters")
    form.locator('select[name="lang"]').select_option("ar")
    with page.expect_navigation():
        form.locator('button[type="submit"]').click()
    page.wait_for_load_state("networkidle")

    assert "lang=ar" in page.url
    assert page.locator('select[name="lang"]').input_value() == "ar"
    cards = page.locator("li.card")
    assert cards.count() == 1
    card = cards.first
    assert card.get_attribute("lang") == "ar"
    assert card.get_attribute("dir") == "rtl"
    link = card.locator("h2 a")
    assert link.inner_text() == ARABIC_HEADLINE
    assert link.get_attribute("href") == f"/releases/{arabic_id}/ar"
    assert malay["headline"] not in page.locator("main").inner_text()
    watched.assert_clean()


def test_jsonld_describes_each_edition(server: Server, desk: Desk, watched: Watched) -> None:
    payload = release_payload()
    release_id = publish(desk, payload)
    with desk.issuer() as issuer:
        put = issuer.put(f"/api/v1/releases/{release_id}/editions/en", json=ENGLISH_EDITION)
    assert put.status_code == 200, put.text
    with desk.editor() as editor:  # the unverified issuer's edition waits for an editor
        assert editor.post(f"/api/v1/releases/{release_id}/editions/en/approve").status_code == 200

    for lang, headline in (("ms", payload["headline"]), ("en", ENGLISH_EDITION["headline"])):
        page = watched.open(f"{server.url}/releases/{release_id}/{lang}")
        scripts = page.locator('script[type="application/ld+json"]')
        assert scripts.count() == 1
        data = json.loads(scripts.text_content() or "")
        assert data["@context"] == "https://schema.org"
        assert data["@type"] == "NewsArticle"
        assert data["inLanguage"] == lang == page.locator("html").get_attribute("lang")
        assert data["headline"] == headline
        assert data["url"] == f"{server.url}/releases/{release_id}/{lang}"
        assert "(Warta)" in data["dateline"]
    watched.assert_clean()
