"""Languages end to end over HTTP: detection at intake, engines and pivots, drafts for the desk,
missing pairs shown as such, and pages wholly in each edition's language."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po

from conftest import Desk, Server, release_payload, with_editions

MALAY = (
    "Syarikat Pelabuhan Selatan Berhad hari ini mengumumkan pelaburan sebanyak RM300 juta untuk membina "
    "terminal kontena baharu di Pelabuhan Klang. Menurut kenyataan syarikat, kerajaan negeri telah "
    "meluluskan pelan pembangunan itu pada bulan Oktober lalu. Ketua pegawai eksekutif syarikat berkata "
    "projek ini akan mewujudkan lebih daripada 800 peluang pekerjaan dan dijangka siap dalam tempoh tiga "
    "tahun. Syarikat itu juga akan melabur dalam kren elektrik bagi mengurangkan pelepasan karbon sebanyak "
    "40 peratus."
)
CHINESE = (
    "南方港口公司今天宣布投资三亿令吉，在巴生港建设新的集装箱码头。公司表示，州政府已于十月批准该发展计划。"
    "首席执行官说，该项目将创造八百多个就业机会，预计三年内完工。公司还将投资电动起重机，以减少百分之四十的碳排放。"
    "新码头将采用软件管理系统和高速网络，提高物流效率。"
)
ENGLISH = (
    "Pelabuhan Selatan Berhad today announced an investment of three hundred million ringgit in a new "
    "container terminal at Port Klang. The state government approved the development plan in October. "
    "The chief executive said the project will create more than eight hundred jobs and is expected to be "
    "finished within three years. The company will also invest in electric cranes to cut its carbon "
    "emissions by forty percent."
)


def submit(client: Any, **fields: Any) -> dict[str, Any]:
    payload = release_payload(**fields)
    if fields.get("language") is None:
        payload.pop("language", None)
    resp = client.post("/api/v1/releases", json=payload)
    assert resp.status_code == 201, resp.text
    # the answer comes before the machine editions: the editions stage makes them next
    return with_editions(client, resp.json())


def editions(release: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["lang"]: e for e in release["editions"]}


@pytest.fixture
def trusted(server: Server) -> Desk:
    org = server.cli_json(
        "admin", "create-org", "--name", "Pelabuhan Selatan Berhad", "--verified", "--auto-approve"
    )
    editor = server.cli_json("admin", "create-user", "--role", "editor", "--name", "Desk Editor")
    return Desk(server=server, org_id=org["id"], issuer_key=org["api_key"], editor_key=editor["api_key"])


def test_malay_release_is_detected_and_gets_an_indonesian_draft_and_an_english_gap(trusted: Desk) -> None:
    rel = submit(
        trusted.issuer(),
        headline="Pelabuhan Selatan melabur RM300 juta dalam terminal kontena baharu",
        summary="Projek di Pelabuhan Klang akan mewujudkan 800 peluang pekerjaan.",
        body=MALAY,
        language=None,
        targets={"languages": ["id", "en"]},
    )
    assert rel["language"] == "ms"
    assert rel["language_detection"]["source"].startswith("detected:")
    assert 0.5 < rel["language_detection"]["confidence"] <= 1
    eds = editions(rel)
    assert eds["id"]["origin"] == "machine" and eds["id"]["engine"] == "apertium"
    assert eds["id"]["status"] == "draft" and eds["id"]["tier"] == "draft"
    assert eds["id"]["route"] == [{"engine": "apertium", "from": "ms", "to": "id"}]
    assert eds["en"]["status"] == "needs_translation"
    assert "no engine translates ms to en" in eds["en"]["route"][0]["error"]

    # the Indonesian draft is the desk's to approve; until then the public sees only Malay
    rid = rel["id"]
    anon = trusted.server.client()
    _wait_visible(anon, rid)
    assert {e["lang"] for e in anon.get(f"/api/v1/releases/{rid}").json()["editions"]} == {"ms"}
    assert anon.get(f"/releases/{rid}/id").status_code == 404
    assert anon.get(f"/api/v1/releases/{rid}/editions/en").status_code == 404
    queue = trusted.editor().get("/api/v1/translations").json()["items"]
    assert [(q["release_id"], q["lang"]) for q in queue] == [(rid, "id")]
    gaps = (
        trusted.editor().get("/api/v1/translations", params={"status": "needs_translation"}).json()["items"]
    )
    assert [(q["release_id"], q["lang"]) for q in gaps] == [(rid, "en")]
    draft = trusted.issuer().get(f"/api/v1/releases/{rid}/editions/id").json()
    text = draft["bodies"][1]["value"]
    assert "Pelabuhan Klang" in text and text != MALAY
    assert (
        trusted.editor().post(f"/api/v1/releases/{rid}/editions/id/approve").json()["status"] == "published"
    )
    page = anon.get(f"/releases/{rid}/id")
    assert page.status_code == 200 and 'lang="id"' in page.text


def test_simplified_chinese_gets_a_traditional_edition_automatically(trusted: Desk) -> None:
    rel = submit(
        trusted.issuer(),
        headline="南方港口公司投资三亿令吉建设新集装箱码头",
        summary="新码头将采用软件管理系统和高速网络。",
        body=CHINESE,
        language=None,
        dateline={"city": "吉隆坡", "country": "MY"},
        targets={"languages": ["zh-Hant"]},
    )
    assert rel["language"] == "zh-Hans"
    _wait_visible(trusted.server.client(), rel["id"])
    hant = editions(trusted.issuer().get(f"/api/v1/releases/{rel['id']}").json())["zh-Hant"]
    assert (hant["engine"], hant["tier"], hant["status"]) == ("opencc", "publishable", "published")
    page = trusted.server.client().get(f"/releases/{rel['id']}/zh-Hant").text
    assert "軟體" in page and "網路" in page  # Taiwan usage, not just converted characters
    assert "软件" not in page


def test_english_to_spanish_direct_and_portuguese_and_french_through_spanish(trusted: Desk) -> None:
    trusted.issuer().patch(
        f"/api/v1/organisations/{trusted.org_id}", json={"glossary": ["Pelabuhan Selatan Berhad"]}
    )
    rel = submit(
        trusted.issuer(),
        headline="Pelabuhan Selatan Berhad invests in a new container terminal",
        summary="The project at Port Klang will create eight hundred jobs.",
        body=ENGLISH,
        language="en",
        targets={"languages": ["es", "pt", "fr"]},
    )
    eds = editions(rel)
    assert eds["es"]["route"] == [{"engine": "apertium", "from": "en", "to": "es"}]
    assert eds["pt"]["route"] == [
        {"engine": "apertium", "from": "en", "to": "es"},
        {"engine": "apertium", "from": "es", "to": "pt"},
    ]
    assert eds["fr"]["route"][0]["to"] == "es" and eds["fr"]["route"][-1] == {
        "engine": "apertium",
        "from": "es",
        "to": "fr",
    }
    for lang in ("es", "pt", "fr"):
        ninjs = trusted.issuer().get(f"/api/v1/releases/{rel['id']}/editions/{lang}").json()
        assert ninjs["language"] == lang and "Machine translation (apertium)" in ninjs["edNote"]
        assert "Pelabuhan Selatan Berhad" in ninjs["headlines"][0]["value"]  # the glossary held
    assert "terminal" in editions(rel)["es"]["headline"].lower()


def _wait_visible(client: Any, rid: str) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if client.get(f"/api/v1/releases/{rid}").status_code == 200:
            return
        time.sleep(0.05)
    raise AssertionError("never visible")


CATALOGUES = Path(__file__).resolve().parents[1] / "src" / "warta" / "locale"
LANGS = ["en", "ko", "ja", "ar", "zh-Hans", "zh-Hant", "vi", "th", "id", "ms", "de", "ru", "fr", "es", "pt"]


def _english_chrome() -> list[str]:
    """English catalogue strings long enough to be unmistakable when left untranslated."""
    with (CATALOGUES / "warta.pot").open("rb") as fh:
        catalog = read_po(fh)
    out = []
    for message in catalog:
        msgid = message.id if isinstance(message.id, str) else ""
        fixed = re.split(r"%\(\w+\)s", msgid)
        out += [part.strip() for part in fixed if sum(any(c.isalpha() for c in w) for w in part.split()) >= 2]
    return out


def test_every_page_string_of_every_edition_is_in_the_editions_language(trusted: Desk) -> None:
    rel = submit(trusted.issuer(), language="ms", body=MALAY)
    rid = rel["id"]
    for lang in LANGS:
        if lang != "ms":
            resp = trusted.issuer().put(
                f"/api/v1/releases/{rid}/editions/{lang}",
                json={"headline": f"Edition {lang}", "body": "Teks."},
            )
            assert resp.status_code == 200, resp.text
    anon = trusted.server.client()
    _wait_visible(anon, rid)
    english = _english_chrome()
    assert len(english) > 30
    for lang in LANGS:
        page = anon.get(f"/releases/{rid}/{lang}").text
        assert f'lang="{lang}"' in page
        assert f'dir="{"rtl" if lang == "ar" else "ltr"}"' in page
        if lang == "en":
            continue
        visible = re.sub(r"<script.*?</script>|<[^>]+>", " ", page, flags=re.S)
        leftovers = [s for s in english if s in visible]
        assert not leftovers, f"{lang}: untranslated {leftovers}"


def test_search_finds_two_character_cjk_queries_and_thai_words(trusted: Desk) -> None:
    bodies = {
        "ja": (
            "東京証券取引所に新規上場",
            "株式会社クモは本日、東京証券取引所への新規上場を発表しました。" * 4,
        ),
        "ko": ("올해 매출 목표 달성", "회사는 올해 매출이 작년보다 이십 퍼센트 늘었다고 밝혔습니다." * 4),
        "zh-Hans": ("新码头提高物流效率", CHINESE),
        "th": ("บริษัทประกาศผลกำไรไตรมาสที่สาม", "บริษัทประกาศผลกำไรไตรมาสที่สามเพิ่มขึ้นร้อยละสิบจากปีก่อน " * 4),
    }
    ids = {}
    for lang, (headline, body) in bodies.items():
        ids[lang] = submit(trusted.issuer(), headline=headline, body=body, summary="", language=lang)["id"]
    anon = trusted.server.client()
    for rid in ids.values():
        _wait_visible(anon, rid)

    def found(q: str) -> set[str]:
        return {item["id"] for item in anon.get("/api/v1/search", params={"q": q}).json()["items"]}

    assert found("東京") == {ids["ja"]}
    assert found("上場") == {ids["ja"]}
    assert found("매출") == {ids["ko"]}
    assert found("码头") == {ids["zh-Hans"]}
    assert found("ผลกำไร") == {ids["th"]}
    assert found("ไตรมาส") == {ids["th"]}
    assert found("京都") == set()


def test_a_human_translation_is_requested_then_uploaded(trusted: Desk) -> None:
    rid = submit(trusted.issuer(), language="ms", body=MALAY)["id"]
    asked = trusted.issuer().post(f"/api/v1/releases/{rid}/editions/de/request")
    assert asked.status_code == 201
    assert (asked.json()["origin"], asked.json()["status"]) == ("human", "needs_translation")
    gaps = (
        trusted.editor().get("/api/v1/translations", params={"status": "needs_translation"}).json()["items"]
    )
    assert (rid, "de") in [(g["release_id"], g["lang"]) for g in gaps]
    _wait_visible(trusted.server.client(), rid)
    assert trusted.server.client().get(f"/releases/{rid}/de").status_code == 404
    done = trusted.issuer().put(
        f"/api/v1/releases/{rid}/editions/de",
        json={"headline": "Pelabuhan Selatan investiert", "body": "Text."},
    )
    assert done.json()["status"] == "published"
    assert trusted.server.client().get(f"/releases/{rid}/de").status_code == 200
