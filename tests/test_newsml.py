"""NewsML-G2 2.35 output: every kind of edition validates against IPTC's Power schema, offline."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from warta.config import Settings
from warta.editions.render import wire_text
from warta.editions.rendered import RenderedEdition
from warta.formats.newsml import NAR_NS, XHTML_NS, edition_to_newsml
from warta.formats.ninjs import edition_item
from warta.model import Edition, Organisation, Release, ReleaseVersion

pytestmark = pytest.mark.fast  # in `make test-fast`, the developer's loop

NEWSML_DIR = Path(__file__).parent / "data" / "standards" / "newsml-g2"
NS = {"n": NAR_NS, "h": XHTML_NS}
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

EDITIONS: dict[str, dict[str, Any]] = {
    "ms": {
        "headline": "Syarikat Contoh Berhad melabur RM250 juta dalam pusat data hijau",
        "summary": "Pusat data di Cyberjaya akan mewujudkan 400 pekerjaan.",
        "body_html": (
            "<p>Syarikat Contoh Berhad hari ini mengumumkan pelaburan sebanyak <strong>RM250&nbsp;juta</strong> "
            "untuk membina pusat data hijau di Cyberjaya.</p>"
            "<p>Pembinaan bermula tahun depan &amp; siap dalam dua tahun.<br>Maklumat lanjut: "
            '<a href="https://contoh.example/berita" rel="nofollow noopener noreferrer">contoh.example</a></p>'
            "<ul><li>400 pekerjaan</li><li>Tenaga solar</li></ul>"
        ),
        "about": "<p>Syarikat Contoh Berhad ialah pengendali pusat data terkemuka di Malaysia.</p>",
        "origin": "original",
        "engine": None,
    },
    "ar": {
        "headline": "شركة Syarikat Contoh Berhad تستثمر 250 مليون رينغيت في مركز بيانات أخضر",
        "summary": "سيوفر مركز البيانات في سايبرجايا 400 وظيفة.",
        "body_html": "<p>أعلنت شركة Syarikat Contoh Berhad اليوم عن استثمار 250 مليون رينغيت لبناء مركز بيانات أخضر.</p>",
        "about": "",
        "origin": "machine",
        "engine": "argos",
    },
    "zh-Hans": {
        "headline": "Syarikat Contoh Berhad 投资2.5亿令吉兴建绿色数据中心",
        "summary": "赛城数据中心将创造400个就业机会。",
        "body_html": "<p>Syarikat Contoh Berhad 今天宣布投资2.5亿令吉，在赛城兴建一座绿色数据中心。</p><hr>",
        "about": "<p>马来西亚领先的数据中心运营商。</p>",
        "origin": "human",
        "engine": None,
    },
}


# --- building bundles from transient ORM objects (shared with tests/test_webhook_channel.py) ----


def make_settings(tmp: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp,
        "database_url": "sqlite://",
        "secret": "x" * 32,
        "base_url": "https://wire.example",
    }
    values.update(overrides)
    return Settings(**values)


def make_bundle(
    settings: Settings,
    lang: str = "ms",
    *,
    embargo: datetime | None = None,
    status: str = "published",
    version: int = 1,
    media: list[dict[str, str]] | None = None,
    note: str | None = None,
    corrected_after_publication: bool = False,
) -> RenderedEdition:
    created = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)
    released = datetime(2026, 11, 27, 1, 30, tzinfo=UTC)
    org = Organisation(
        id="org_contoh",
        name="Syarikat Contoh Berhad",
        slug="syarikat-contoh-berhad",
        website="https://contoh.example/",
        created_at=created,
    )
    release = Release(
        id="rel_0001",
        org_id=org.id,
        submitted_by="usr_1",
        status=status,
        language="ms",
        dateline_city="Kuala Lumpur",
        dateline_country="MY",
        sectors=["top-story", "medtop:04000000", "medtop:13000000"],
        target_countries=["MY"],
        target_languages=["ms", "en", "ar", "zh-Hans"],
        release_at=released,
        embargo_until=embargo,
        public_at=embargo or released,
        version=version,
        created_at=created,
        updated_at=created,
        published_at=released,
    )
    release_version = ReleaseVersion(
        release_id=release.id,
        version=version,
        headline=EDITIONS["ms"]["headline"],
        summary=EDITIONS["ms"]["summary"],
        body_html=EDITIONS["ms"]["body_html"],
        about=EDITIONS["ms"]["about"],
        contact={"name": "Nur Aina", "email": "media@contoh.example", "phone": "+60 3 1234 5678"},
        media=media or [],
        note=note,
        created_at=released + timedelta(hours=1) if corrected_after_publication else created,
    )
    editions = []
    for i, (code, fields) in enumerate(EDITIONS.items()):
        editions.append(
            Edition(
                id=f"edn_{i}",
                release_id=release.id,
                version=version,
                lang=code,
                headline=fields["headline"],
                summary=fields["summary"],
                body_html=fields["body_html"],
                about=fields["about"],
                origin=fields["origin"],
                engine=fields["engine"],
                route=[],
                tier="publishable",
                status="published",
                digest="0" * 64,
                signature="1" * 64,
                created_at=created + timedelta(minutes=i),
                updated_at=created + timedelta(minutes=10 + i),
            )
        )
    edition = next(e for e in editions if e.lang == lang)
    text = wire_text(settings, release, release_version, edition, org)
    return RenderedEdition(settings, release, release_version, edition, org, text, editions)


# --- validation -------------------------------------------------------------------------------


class _Offline(etree.Resolver):
    """Serves xml.xsd from the local copy; anything else that is not a local file is refused."""

    def resolve(self, system_url: str | None, public_id: str | None, context: Any) -> Any:
        name = (system_url or "").rsplit("/", 1)[-1]
        if name == "xml.xsd" or public_id == "http://www.w3.org/XML/1998/namespace":
            return self.resolve_filename(str(NEWSML_DIR / "xml.xsd"), context)
        if (system_url or "").startswith(("http:", "https:", "ftp:")):
            raise AssertionError(f"schema tried to fetch {system_url}")
        return None


@functools.cache
def newsml_schema() -> etree.XMLSchema:
    parser = etree.XMLParser(no_network=True, resolve_entities=False)
    parser.resolvers.add(_Offline())
    doc = etree.parse(str(NEWSML_DIR / "NewsML-G2_2.35-spec-All-Power.xsd"), parser)
    return etree.XMLSchema(doc)


def newsml_errors(data: bytes) -> list[str]:
    doc = etree.fromstring(data, etree.XMLParser(no_network=True, resolve_entities=False))
    schema = newsml_schema()
    if schema.validate(doc):
        return []
    return [f"line {e.line}: {e.message}" for e in schema.error_log]


def parse(data: bytes) -> Any:
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    return etree.fromstring(data)


# --- tests ------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["ms", "ar", "zh-Hans"])
def test_editions_validate_against_the_newsml_g2_schema(tmp_path: Path, lang: str) -> None:
    settings = make_settings(tmp_path)
    bundle = make_bundle(settings, lang)
    data = edition_to_newsml(bundle)
    assert newsml_errors(data) == []

    item = parse(data)
    assert item.tag == f"{{{NAR_NS}}}newsItem"
    assert item.get("guid") == edition_item(bundle)["uri"] == f"https://wire.example/releases/rel_0001/{lang}"
    assert item.get("version") == "1"
    assert (item.get("standard"), item.get("standardversion"), item.get("conformance")) == (
        "NewsML-G2",
        "2.35",
        "power",
    )
    assert item.get(XML_LANG) == lang
    assert item.find("n:catalogRef", NS).get("href").startswith("http://www.iptc.org/std/catalog/")
    meta = item.find("n:itemMeta", NS)
    assert meta.find("n:itemClass", NS).get("qcode") == "ninat:text"
    assert meta.find("n:pubStatus", NS).get("qcode") == "stat:usable"
    assert meta.find("n:versionCreated", NS).text == edition_item(bundle)["versionCreated"]
    assert meta.find("n:firstCreated", NS).text == edition_item(bundle)["firstCreated"]
    assert meta.find("n:embargoed", NS) is None

    content = item.find("n:contentMeta", NS)
    assert content.find("n:language", NS).get("tag") == lang
    assert content.find("n:headline", NS).text == EDITIONS[lang]["headline"]
    assert content.find("n:description[@role='drol:summary']", NS).text == EDITIONS[lang]["summary"]
    assert content.find("n:dateline", NS).text == bundle.text.dateline
    assert content.find("n:located/n:name", NS).text == "Kuala Lumpur"
    assert content.find("n:located/n:broader", NS).get("qcode") == "iso3166-1a2:MY"
    assert content.find("n:creator/n:name", NS).text == "Syarikat Contoh Berhad"
    assert content.find("n:infoSource/n:name", NS).text == "Warta"
    topics = {
        s.get("qcode"): s.find("n:name", NS).text for s in content.findall("n:subject", NS) if s.get("qcode")
    }
    names = dict(zip(bundle.release.sectors, bundle.text.sector_names, strict=True))
    assert topics == {code: names[code] for code in ("medtop:04000000", "medtop:13000000")}

    inline = item.find("n:contentSet/n:inlineXML", NS)
    assert inline.get("contenttype") == "application/xhtml+xml"
    assert inline.get(XML_LANG) == lang
    body = inline.find("h:html/h:body", NS)
    paragraphs = body.findall("h:p", NS)
    assert paragraphs[0].get("class") == "dateline"
    assert paragraphs[0].text == bundle.text.dateline
    assert paragraphs[-1].get("class") == "disclaimer"
    assert paragraphs[-1].text == bundle.text.disclaimer
    contact = body.find("h:p[@class='contact']", NS)
    assert "media@contoh.example" in "".join(contact.itertext())
    if bundle.text.about_html:
        assert bundle.text.about_heading in [h.text for h in body.findall("h:h2", NS)]


def test_html_body_becomes_well_formed_xhtml(tmp_path: Path) -> None:
    item = parse(edition_to_newsml(make_bundle(make_settings(tmp_path), "ms")))
    body = item.find("n:contentSet/n:inlineXML/h:html/h:body", NS)
    text = "".join(body.itertext())
    assert "RM250\u00a0juta" in text  # &nbsp; became the character
    assert "tahun depan & siap" in text
    assert body.find(".//h:p/h:br", NS) is not None
    link = body.find(".//h:a", NS)
    assert link.get("href") == "https://contoh.example/berita"
    assert [li.text for li in body.findall("h:ul/h:li", NS)] == ["400 pekerjaan", "Tenaga solar"]


def test_machine_translation_carries_an_editorial_note(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    ar = parse(edition_to_newsml(make_bundle(settings, "ar")))
    note = ar.find("n:itemMeta/n:edNote", NS)
    assert note is not None and "Machine translation (argos)" in note.text
    assert ar.find("n:contentSet/n:inlineXML/h:html", NS).get("dir") == "rtl"
    ms = parse(edition_to_newsml(make_bundle(settings, "ms")))
    assert ms.find("n:itemMeta/n:edNote", NS) is None


def test_embargoed_edition(tmp_path: Path) -> None:
    lift = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
    bundle = make_bundle(make_settings(tmp_path), "ms", embargo=lift)
    data = edition_to_newsml(bundle)
    assert newsml_errors(data) == []
    item = parse(data)
    assert (
        item.find("n:itemMeta/n:embargoed", NS).text
        == "2026-11-28T09:00:00Z"
        == edition_item(bundle)["embargoedUntil"]
    )
    first = item.find("n:contentSet/n:inlineXML/h:html/h:body/h:p", NS)
    assert first.get("class") == "embargo"


def test_withdrawn_edition(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    for bundle, withdrawn in (
        (make_bundle(settings, "zh-Hans", version=2), True),
        (make_bundle(settings, "zh-Hans", status="withdrawn"), False),
    ):
        data = edition_to_newsml(bundle, withdrawn=withdrawn)
        assert newsml_errors(data) == []
        item = parse(data)
        assert item.find("n:itemMeta/n:pubStatus", NS).get("qcode") == "stat:canceled"


def test_correction_version_is_the_item_version(tmp_path: Path) -> None:
    bundle = make_bundle(make_settings(tmp_path), "ms", version=3)
    data = edition_to_newsml(bundle)
    assert newsml_errors(data) == []
    assert parse(data).get("version") == "3" == edition_item(bundle)["version"]


def test_a_broken_document_fails_validation(tmp_path: Path) -> None:
    data = edition_to_newsml(make_bundle(make_settings(tmp_path), "ms"))
    item = parse(data)
    meta = item.find("n:itemMeta", NS)
    meta.remove(meta.find("n:itemClass", NS))  # required
    errors = newsml_errors(etree.tostring(item))
    assert errors and any("itemClass" in e or "provider" in e for e in errors)

    item = parse(data)
    del item.attrib["standardversion"]
    assert newsml_errors(etree.tostring(item))

    item = parse(data)
    content = item.find("n:contentMeta", NS)
    content.insert(0, content.find("n:headline", NS))  # descriptive before administrative
    assert newsml_errors(etree.tostring(item))


def test_text_that_xml_cannot_carry_is_dropped(tmp_path: Path) -> None:
    bundle = make_bundle(make_settings(tmp_path), "ms")
    bundle.edition.headline = "Tajuk\x0bberita\ufffe"
    bundle.text = wire_text(
        bundle.settings, bundle.release, bundle.version, bundle.edition, bundle.organisation
    )
    data = edition_to_newsml(bundle)
    assert newsml_errors(data) == []
    assert parse(data).find("n:contentMeta/n:headline", NS).text == "Tajukberita"
