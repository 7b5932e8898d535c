"""Output formats: ninjs 3.1 against the IPTC schema, RSS/Atom/JSON Feed with filters and caching, JSON-LD."""

from __future__ import annotations

import copy
import functools
import json
import re
import time
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import feedparser
import httpx
import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from conftest import Desk, release_payload

NINJS_DIR = Path(__file__).parent / "data" / "standards" / "ninjs"
GEOJSON_URI = "https://geojson.org/schema/GeoJSON.json"
TOPIC_URI = "http://cv.iptc.org/newscodes/mediatopic/"
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
JSONLD = re.compile(r'<script type="application/ld\+json">(.*?)</script>', re.DOTALL)
FEEDS = ("rss.xml", "atom.xml", "feed.json")

EN_EDITION = {
    "headline": "Syarikat Contoh Berhad invests RM250 million in a green data centre",
    "summary": "The Cyberjaya data centre will create 400 jobs.",
    "body": (
        "Syarikat Contoh Berhad today announced an investment of RM250 million to build a green data "
        "centre in Cyberjaya. It will run on solar power and recycled-water cooling, and create 400 "
        "skilled jobs.\n\nConstruction is expected to begin next year and take two years."
    ),
    "body_format": "markdown",
    "about": "Syarikat Contoh Berhad is a leading data centre operator in Malaysia.",
}
ZH_EDITION = {
    "headline": "Syarikat Contoh Berhad 投资2.5亿令吉兴建绿色数据中心",
    "summary": "赛城数据中心将创造400个就业机会。",
    "body": "Syarikat Contoh Berhad 今天宣布投资2.5亿令吉，在赛城兴建一座使用太阳能和循环水冷却的绿色数据中心。",
    "body_format": "text",
}
AR_EDITION = {
    "headline": "شركة Syarikat Contoh Berhad تستثمر 250 مليون رينغيت في مركز بيانات أخضر",
    "summary": "سيوفر مركز البيانات في سايبرجايا 400 وظيفة.",
    "body": "أعلنت شركة Syarikat Contoh Berhad اليوم عن استثمار 250 مليون رينغيت لبناء مركز بيانات أخضر.",
    "body_format": "text",
}
MEDIA = {
    "url": "https://contoh.example/media/pusat-data.jpg",
    "caption": "Lakaran pusat data hijau di Cyberjaya.",
    "alt": "Bangunan pusat data dengan panel solar",
    "credit": "Syarikat Contoh Berhad",
}
SG_RELEASE = {
    "headline": "Lion City Athletics opens a community sports hub in Tampines",
    "summary": "The hub offers free coaching for young athletes.",
    "body": (
        "Lion City Athletics today opened a community sports hub in Tampines with a running track, two "
        "indoor courts and a climbing wall. Young athletes from across the island can join free weekly "
        "coaching sessions run by former national team members, and schools may book the courts on "
        "weekday mornings at no charge."
    ),
    "language": "en",
    "dateline": {"city": "Singapore", "country": "SG"},
    "sectors": ["medtop:15000000"],
    "about": "Lion City Athletics runs grassroots sports programmes in Singapore.",
    "targets": {"countries": ["SG"], "languages": ["en"]},
}


# --- helpers ----------------------------------------------------------------------------------


@functools.cache
def ninjs_validator() -> Draft202012Validator:
    schema = json.loads((NINJS_DIR / "ninjs-schema_3.1.json").read_text("utf-8"))
    geojson = json.loads((NINJS_DIR / "GeoJSON-schema.json").read_text("utf-8"))
    Draft202012Validator.check_schema(schema)
    registry: Registry[Any] = Registry().with_resource(GEOJSON_URI, Resource.from_contents(geojson))
    return Draft202012Validator(schema, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER)


def schema_errors(item: dict[str, Any]) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
        for e in ninjs_validator().iter_errors(item)
    ]


def stamp(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def submit(desk: Desk, editions: dict[str, dict[str, Any]] | None = None, **overrides: Any) -> str:
    with desk.issuer() as c:
        r = c.post("/api/v1/releases", json=release_payload(**overrides))
        assert r.status_code == 201, r.text
        assert r.json()["status"] == "held"
        rid: str = r.json()["id"]
        for lang, edition in (editions or {}).items():
            put = c.put(f"/api/v1/releases/{rid}/editions/{lang}", json=edition)
            assert put.status_code == 200, put.text
    return rid


def approve(desk: Desk, rid: str) -> None:
    with desk.editor() as c:
        r = c.post(f"/api/v1/releases/{rid}/approve", json={"note": "ok"})
        assert r.status_code == 200, r.text


def wait_until(client: httpx.Client, rid: str, key: str, value: Any, timeout: float = 15) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        data: dict[str, Any] = client.get(f"/api/v1/releases/{rid}").json()
        if data.get(key) == value:
            return data
        assert time.monotonic() < deadline, f"release {rid} never had {key}={value!r}: {data}"
        time.sleep(0.05)


def publish(
    desk: Desk, editions: dict[str, dict[str, Any]] | None = None, **overrides: Any
) -> dict[str, Any]:
    """Submit, approve and wait until the release is public; returns the release as the issuer sees it."""
    rid = submit(desk, editions, **overrides)
    approve(desk, rid)
    with desk.issuer() as c:
        return wait_until(c, rid, "visible", True)


def get_ninjs(client: httpx.Client, rid: str, lang: str) -> dict[str, Any]:
    r = client.get(f"/api/v1/releases/{rid}/editions/{lang}")
    assert r.status_code == 200, r.text
    item: dict[str, Any] = r.json()
    return item


def page_url(desk: Desk, rid: str, lang: str) -> str:
    return f"{desk.server.url}/releases/{rid}/{lang}"


def read_feed(client: httpx.Client, name: str, **params: str) -> list[dict[str, str]]:
    """Fetch a feed, check it parses cleanly, and return its entries as title/link/id/lang dicts."""
    r = client.get(f"/feeds/{name}", params=params)
    assert r.status_code == 200, r.text
    lang = params.get("lang")
    if name == "feed.json":
        assert r.headers["content-type"].startswith("application/feed+json")
        doc = json.loads(r.content)
        assert doc["version"] == "https://jsonfeed.org/version/1.1"
        # the feed's own URL is the base URL's, with the filters as the wire names them
        assert doc["title"] and doc["home_page_url"]
        assert doc["feed_url"].startswith(f"{r.request.url.scheme}://{r.request.url.netloc.decode()}/feeds/")
        assert isinstance(doc["items"], list)
        assert doc.get("language") == lang
        entries = []
        for item in doc["items"]:
            assert item["id"] and item["url"] and item["title"]
            assert item.get("content_html") or item.get("content_text")
            assert RFC3339.match(item["date_published"]) and RFC3339.match(item["date_modified"])
            assert all(a["name"] for a in item["authors"])
            entries.append(
                {"title": item["title"], "link": item["url"], "id": item["id"], "lang": item["language"]}
            )
        return entries
    parsed = feedparser.parse(r.content)
    assert not parsed.bozo, parsed.get("bozo_exception")
    if name == "rss.xml":
        assert r.headers["content-type"].startswith("application/rss+xml")
        assert parsed.version == "rss20"
        assert parsed.feed.get("language") == lang
    else:
        assert r.headers["content-type"].startswith("application/atom+xml")
        assert parsed.version == "atom10"
    entries = []
    for e in parsed.entries:
        assert e.published_parsed and e.get("author")
        entry_lang = e.title_detail.get("language") if name == "atom.xml" else parsed.feed.get("language")
        entries.append({"title": e.title, "link": e.link, "id": e.id, "lang": entry_lang})
    return entries


def titles(entries: list[dict[str, str]]) -> list[str]:
    return [e["title"] for e in entries]


# --- ninjs ------------------------------------------------------------------------------------


def test_every_edition_is_valid_ninjs_linked_to_the_others_and_stays_valid_after_a_correction(
    desk: Desk,
) -> None:
    supplied = {"en": EN_EDITION, "zh-Hans": ZH_EDITION, "ar": AR_EDITION}
    release = publish(desk, supplied, media=[MEDIA])
    rid = release["id"]
    original = release_payload()
    headlines = {"ms": original["headline"], **{lang: e["headline"] for lang, e in supplied.items()}}
    assert {e["lang"] for e in release["editions"]} == set(headlines)

    with desk.server.client() as public:
        for lang, headline in headlines.items():
            item = get_ninjs(public, rid, lang)
            assert schema_errors(item) == [], lang
            assert item["uri"] == page_url(desk, rid, lang)
            assert item["language"] == lang
            assert item["version"] == "1"
            assert item["pubStatus"] == "usable"
            assert item["standard"]["version"] == "3.1"
            assert item["headlines"][0]["value"] == headline
            assert "embargoedUntil" not in item
            for when in ("firstCreated", "versionCreated"):
                assert RFC3339.match(item[when]), (when, item[when])

            translations = [a for a in item["associations"] if a["rel"] == "translation"]
            assert {(a["language"], a["uri"]) for a in translations} == {
                (other, page_url(desk, rid, other)) for other in headlines if other != lang
            }
            assert {a["language"]: a["headlines"][0]["value"] for a in translations} == {
                other: h for other, h in headlines.items() if other != lang
            }
            pictures = [a for a in item["associations"] if a.get("type") == "picture"]
            assert len(pictures) == 1
            assert pictures[0]["uri"] == MEDIA["url"]
            assert pictures[0]["descriptions"] == [
                {"role": "caption", "contentType": "text/plain", "value": MEDIA["caption"]}
            ]

            topics = [s for s in item["subjects"] if "uri" in s]
            assert [s["uri"] for s in topics] == [TOPIC_URI + "04000000"]
            assert all(s["name"] for s in item["subjects"])
            assert len(item["subjects"]) == 2  # the wire section too

        # the same check fails once the published item is broken
        item = get_ninjs(public, rid, "ms")
        for key, value in (("pubStatus", "bogus"), ("version", 1), ("language", ["ms"])):
            assert schema_errors({**item, key: value}), key
        no_uri = {k: v for k, v in item.items() if k != "uri"}
        assert any("'uri' is a required property" in e for e in schema_errors(no_uri))

    corrected_headline = "Syarikat Contoh Berhad melabur RM260 juta dalam pusat data hijau"
    with desk.issuer() as c:
        r = c.post(
            f"/api/v1/releases/{rid}/corrections",
            json={"note": "Jumlah pelaburan ialah RM260 juta.", "headline": corrected_headline},
        )
        assert r.status_code == 201, r.text
        assert r.json()["pending"]["version"]["version"] == 2  # the unverified issuer's waits
        approve(desk, rid)
        for lang in headlines:
            item = get_ninjs(c, rid, lang)
            assert item["version"] == "2", lang
            assert schema_errors(item) == [], lang
            others = {a["language"] for a in item["associations"] if a["rel"] == "translation"}
            assert others == set(headlines) - {lang}
        assert get_ninjs(c, rid, "ms")["headlines"][0]["value"] == corrected_headline
        assert c.get(f"/api/v1/releases/{rid}/versions/1").json()["headline"] == original["headline"]


def test_embargoed_release_has_embargoed_until_and_is_not_public_before_the_lift(desk: Desk) -> None:
    embargo = stamp(datetime.now(UTC) + timedelta(hours=1))
    rid = submit(desk, {"en": EN_EDITION}, embargo_until=embargo)
    approve(desk, rid)
    with desk.issuer() as c:
        release = wait_until(c, rid, "status", "published")
        assert release["visible"] is False
        for lang in ("ms", "en"):
            item = get_ninjs(c, rid, lang)
            assert schema_errors(item) == [], lang
            assert item["embargoedUntil"] == embargo
            assert item["pubStatus"] == "usable"
    with desk.server.client() as public:
        assert public.get(f"/api/v1/releases/{rid}/editions/ms").status_code == 404


def test_the_schema_check_can_fail() -> None:
    """The schema really constrains what the tests feed it, including the GeoJSON it references."""
    item: dict[str, Any] = {
        "uri": "https://wire.example/releases/r1/ms",
        "language": "ms",
        "pubStatus": "usable",
        "headlines": [{"role": "main", "contentType": "text/plain", "value": "Tajuk"}],
        "places": [{"name": "Kuala Lumpur", "geoJSON": {"type": "Point", "coordinates": [101.69, 3.14]}}],
    }
    assert schema_errors(item) == []

    no_uri = copy.deepcopy(item)
    del no_uri["uri"]
    bogus_status = copy.deepcopy(item)
    bogus_status["pubStatus"] = "bogus"
    bad_geometry = copy.deepcopy(item)
    bad_geometry["places"][0]["geoJSON"] = {"type": "Point"}
    unknown_property = copy.deepcopy(item)
    unknown_property["headline"] = "Tajuk"
    for broken in (no_uri, bogus_status, bad_geometry, unknown_property):
        assert schema_errors(broken), broken


# --- feeds ------------------------------------------------------------------------------------


@pytest.fixture
def newsroom(desk: Desk) -> dict[str, Any]:
    """Two public releases (MY/ms with an en edition, SG/en) and three that must stay out of sight."""
    later = datetime.now(UTC) + timedelta(hours=1)
    hidden = {
        "held": submit(desk, headline="Rahsia: pengumuman yang masih ditahan untuk semakan"),
        "future": submit(desk, headline="Rahsia: pengumuman yang dijadualkan esok", release_at=stamp(later)),
        "embargoed": submit(desk, headline="Rahsia: pengumuman di bawah embargo", embargo_until=stamp(later)),
    }
    approve(desk, hidden["future"])
    approve(desk, hidden["embargoed"])
    my = publish(desk, {"en": EN_EDITION})
    sg = publish(desk, **SG_RELEASE)
    with desk.issuer() as c:
        assert wait_until(c, hidden["embargoed"], "status", "published")["visible"] is False
        assert c.get(f"/api/v1/releases/{hidden['future']}").json()["status"] == "approved"
        assert c.get(f"/api/v1/releases/{hidden['held']}").json()["status"] == "held"
    return {"my": my["id"], "sg": sg["id"], "org_slug": my["organisation"]["slug"], "hidden": hidden}


def test_feeds_parse_and_carry_titles_links_and_languages(desk: Desk, newsroom: dict[str, Any]) -> None:
    my, sg = newsroom["my"], newsroom["sg"]
    ms_headline = release_payload()["headline"]
    with desk.server.client() as public:
        for name in FEEDS:
            everything = read_feed(public, name)
            english = read_feed(public, name, lang="en")
            malay = read_feed(public, name, lang="ms")

            # without a language filter: each release once, in its original language, newest first
            assert titles(everything) == [SG_RELEASE["headline"], ms_headline], name
            assert [e["link"] for e in everything] == [page_url(desk, sg, "en"), page_url(desk, my, "ms")]
            assert [e["id"] for e in everything] == [e["link"] for e in everything]
            if name != "rss.xml":  # RSS has no per-item language
                assert [e["lang"] for e in everything] == ["en", "ms"], name

            assert titles(english) == [SG_RELEASE["headline"], EN_EDITION["headline"]], name
            assert [e["link"] for e in english] == [page_url(desk, sg, "en"), page_url(desk, my, "en")]
            assert {e["lang"] for e in english} == {"en"}, name
            assert titles(malay) == [ms_headline], name
            assert {e["lang"] for e in malay} == {"ms"}, name


def test_feed_filters_narrow_by_language_sector_and_country(desk: Desk, newsroom: dict[str, Any]) -> None:
    ms_headline = release_payload()["headline"]
    sg_headline = SG_RELEASE["headline"]
    slug = newsroom["org_slug"]
    expected: list[tuple[dict[str, str], list[str]]] = [
        ({"lang": "zh-Hans"}, []),
        ({"sector": "top-story"}, [ms_headline]),
        ({"sector": "medtop:04000000"}, [ms_headline]),
        ({"sector": "medtop:15000000"}, [sg_headline]),
        # the spellings the API's sector filter accepts
        ({"sector": "Top Story"}, [ms_headline]),
        ({"sector": "04000000"}, [ms_headline]),
        ({"sector": TOPIC_URI + "15000000"}, [sg_headline]),
        ({"sector": "health"}, []),
        ({"country": "MY"}, [ms_headline]),
        ({"country": "sg"}, [sg_headline]),
        ({"country": "ID"}, []),
        ({"lang": "en", "country": "MY"}, [EN_EDITION["headline"]]),
        ({"lang": "en", "sector": "medtop:15000000"}, [sg_headline]),
        ({"lang": "ms", "country": "SG"}, []),
        ({"org": slug}, [sg_headline, ms_headline]),
        ({"org": "no-such-org"}, []),
    ]
    with desk.server.client() as public:
        for name in FEEDS:
            for params, want in expected:
                assert titles(read_feed(public, name, **params)) == want, (name, params)


def test_unreleased_releases_never_appear_anywhere_public(desk: Desk, newsroom: dict[str, Any]) -> None:
    hidden: dict[str, str] = newsroom["hidden"]
    queries: list[dict[str, str]] = [{}, {"lang": "ms"}, {"country": "MY"}, {"sector": "top-story"}]
    with desk.server.client() as public:
        for name in FEEDS:
            for params in queries:
                body = public.get(f"/feeds/{name}", params=params).text
                assert "Rahsia" not in body, (name, params)
                for rid in hidden.values():
                    assert rid not in body, (name, params)
        for rid in hidden.values():
            assert public.get(f"/releases/{rid}/ms").status_code == 404
            assert public.get(f"/api/v1/releases/{rid}/editions/ms").status_code == 404
        assert "Rahsia" not in public.get("/").text


def test_feeds_answer_conditional_requests_and_change_etag_when_a_release_appears(desk: Desk) -> None:
    publish(desk, {"en": EN_EDITION})
    urls = [f"/feeds/{name}" for name in FEEDS] + ["/feeds/atom.xml?lang=ms", "/feeds/rss.xml?country=MY"]
    with desk.server.client() as public:
        first = {url: public.get(url) for url in urls}
        for url, r in first.items():
            assert r.status_code == 200
            etag, modified = r.headers["etag"], r.headers["last-modified"]
            assert etag.startswith('"') and etag.endswith('"')
            cached = public.get(url, headers={"If-None-Match": etag})
            assert cached.status_code == 304, url
            assert cached.content == b""
            assert cached.headers["etag"] == etag
            since = public.get(url, headers={"If-Modified-Since": modified})
            assert since.status_code == 304, url
            assert since.content == b""
            assert public.get(url, headers={"If-None-Match": '"something-else"'}).status_code == 200
            earlier = parsedate_to_datetime(modified) - timedelta(hours=1)
            hour_ago = earlier.strftime("%a, %d %b %Y %H:%M:%S GMT")
            assert public.get(url, headers={"If-Modified-Since": hour_ago}).status_code == 200
        assert len({r.headers["etag"] for r in first.values()}) == len(urls)
        english_etag = public.get("/feeds/rss.xml?lang=en").headers["etag"]

        # a held release changes nothing
        submit(desk, headline="Rahsia: pengumuman yang masih ditahan untuk semakan")
        for url, r in first.items():
            assert public.get(url, headers={"If-None-Match": r.headers["etag"]}).status_code == 304, url

        # Last-Modified has one-second resolution: let the clock move past it
        newest = max(parsedate_to_datetime(r.headers["last-modified"]) for r in first.values())
        time.sleep(max(0.0, (newest + timedelta(seconds=1.1) - datetime.now(UTC)).total_seconds()))
        fresh_headline = "Syarikat Contoh Berhad membuka pejabat baharu di Johor Bahru"
        publish(desk, headline=fresh_headline)

        for url, r in first.items():
            again = public.get(url, headers={"If-None-Match": r.headers["etag"]})
            assert again.status_code == 200, url
            assert again.headers["etag"] != r.headers["etag"]
            assert fresh_headline in again.text
            later = public.get(url, headers={"If-Modified-Since": r.headers["last-modified"]})
            assert later.status_code == 200, url
            assert parsedate_to_datetime(later.headers["last-modified"]) > parsedate_to_datetime(
                r.headers["last-modified"]
            )
            assert public.get(url, headers={"If-None-Match": again.headers["etag"]}).status_code == 304
        # the new release has no English edition, so the English feed is unchanged
        assert (
            public.get("/feeds/rss.xml?lang=en", headers={"If-None-Match": english_etag}).status_code == 304
        )


# --- JSON-LD ----------------------------------------------------------------------------------


def test_release_pages_carry_news_article_json_ld_with_translations(desk: Desk) -> None:
    en = {**EN_EDITION, "headline": "Green data centre: 400 jobs & <5% of the water"}
    release = publish(desk, {"en": en, "ar": AR_EDITION})
    rid = release["id"]
    headlines = {e["lang"]: e["headline"] for e in release["editions"]}
    assert set(headlines) == {"ms", "en", "ar"}
    with desk.server.client() as public:
        for lang, headline in headlines.items():
            r = public.get(f"/releases/{rid}/{lang}")
            assert r.status_code == 200
            scripts = JSONLD.findall(r.text)
            assert len(scripts) == 1
            assert "</" not in scripts[0]
            doc = json.loads(scripts[0])
            assert doc["@context"] == "https://schema.org"
            assert doc["@type"] == "NewsArticle"
            assert doc["inLanguage"] == lang
            assert doc["url"] == page_url(desk, rid, lang)
            assert doc["headline"] == headline[:110]
            assert doc["datePublished"] == release["public_at"]
            assert RFC3339.match(doc["dateModified"])
            assert doc["author"]["name"] == "Syarikat Contoh Berhad"
            assert doc["dateModified"] >= doc["datePublished"]
            if lang == "ms":  # the original lists its translations
                assert "translationOfWork" not in doc
                assert {(t["@type"], t["inLanguage"], t["url"]) for t in doc["workTranslation"]} == {
                    ("NewsArticle", other, page_url(desk, rid, other)) for other in headlines if other != lang
                }
            else:  # a translation points back at the original, and lists no translations of its own
                assert "workTranslation" not in doc
                assert doc["translationOfWork"] == {
                    "@type": "NewsArticle",
                    "inLanguage": "ms",
                    "url": page_url(desk, rid, "ms"),
                }
