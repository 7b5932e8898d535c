"""What receivers key on and read: withdrawals and corrections as new versions, signalled in ninjs,
NewsML-G2, webhooks and email; the whole wire text in feeds; the wire text's rendering rules.

Documents are checked with outside validators: ninjs with the IPTC JSON schema (jsonschema),
NewsML-G2 with the IPTC XSD (lxml), webhook signatures with the PyPI `standardwebhooks` package,
feeds with feedparser.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import feedparser
import pytest
from standardwebhooks.webhooks import Webhook

from test_formats import schema_errors
from test_newsml import NS, make_bundle, make_settings, newsml_errors, parse
from warta.config import Settings
from warta.delivery import signing
from warta.delivery.base import EndpointView, Job, RecipientView
from warta.delivery.channels.email import warn_plain_unsubscribe
from warta.delivery.channels.webhook import payload
from warta.delivery.tokens import unsubscribe_url
from warta.editions.render import wire_text
from warta.editions.rendered import RenderedEdition
from warta.formats import feeds
from warta.formats.email import build_message
from warta.formats.newsml import edition_to_newsml
from warta.formats.ninjs import edition_item, edition_to_ninjs
from warta.i18n import translate

pytestmark = pytest.mark.fast  # in `make test-fast`, the developer's loop

PICTURE = {
    "url": "https://contoh.example/media/pusat-data.jpg",
    "caption": "Lakaran pusat data hijau di Cyberjaya.",
    "alt": "Bangunan pusat data dengan panel solar",
    "credit": "Syarikat Contoh Berhad",
}
NOTE = "Jumlah pelaburan dibetulkan kepada RM260 juta."


def recipient(*, locale: str = "ms") -> RecipientView:
    return RecipientView(
        id="rcp_1",
        kind="outlet",
        name="Berita Harian Contoh",
        country="MY",
        languages=("ms",),
        sectors=(),
        embargo_trusted=False,
        locale=locale,
        timezone="Asia/Kuala_Lumpur",
    )


def endpoint(channel: str, fmt: str = "ninjs") -> EndpointView:
    if channel == "webhook":
        return EndpointView(
            "end_2", "webhook", "https://hooks.berita.example/warta", fmt, signing.new_secret()
        )
    return EndpointView("end_1", "email", "meja@berita.example", None, None)


async def _no_commit() -> None:
    return None


def job(
    bundle: RenderedEdition,
    kind: str = "edition",
    *,
    channel: str = "email",
    fmt: str = "ninjs",
    **extra: Any,
) -> Job:
    return Job(
        delivery_id="dlv_0002",
        channel=channel,
        kind=kind,
        lane="x",
        attempt=1,
        embargoed=False,
        recipient=recipient(),
        bundle=bundle,
        commit_point=_no_commit,
        extra=dict(extra),
        endpoint=endpoint(channel, fmt),
    )


def withdrawn(
    bundle: RenderedEdition, by: str = "issuer", reason: str = "Ditarik atas permintaan penerbit."
) -> RenderedEdition:
    """The rendering as the engine makes it anew once its release is withdrawn."""
    release = bundle.release
    release.status = "withdrawn"
    release.withdrawal_note = reason
    release.review = {"withdrawal": {"by": by, "name": "Meja"}}
    release.updated_at = parsedate_to_datetime("Fri, 27 Nov 2026 05:00:00 +0000")
    return dataclasses.replace(bundle, release=release, cache={})


def parse_mail(raw: bytes) -> EmailMessage:
    message = BytesParser(policy=default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    return message


# --- withdrawals and corrections as new versions ---------------------------------------------------


def test_a_withdrawal_is_the_next_version_in_ninjs_and_newsml(tmp_path: Path) -> None:
    bundle = make_bundle(
        make_settings(tmp_path), "ms", version=2, note=NOTE, corrected_after_publication=True
    )
    assert edition_item(bundle)["version"] == "2"
    gone = withdrawn(bundle, by="wire", reason="Kenyataan ini tidak disahkan.")

    item = json.loads(
        payload(job(gone, "withdrawal", channel="webhook", note=gone.release.withdrawal_note))[0]
    )["data"]
    assert schema_errors(item) == []
    assert item["uri"] == edition_item(bundle)["uri"]
    assert (item["version"], item["pubStatus"]) == ("3", "canceled")
    assert item["versionCreated"] == "2026-11-27T05:00:00Z"
    assert item["edNote"] == "Withdrawn by the wire: Kenyataan ini tidak disahkan."
    assert edition_to_ninjs(
        gone.settings, gone.release, gone.version, gone.edition, gone.organisation, gone.text, gone.editions
    ) == {**item}, "the public ninjs of a withdrawn release is the same notice"

    data = edition_to_newsml(gone, withdrawn=True)
    assert newsml_errors(data) == []
    doc = parse(data)
    assert doc.get("guid") == item["uri"] and doc.get("version") == "3"
    assert doc.find("n:itemMeta/n:pubStatus", NS).get("qcode") == "stat:canceled"
    assert [n.text for n in doc.findall("n:itemMeta/n:edNote", NS)] == [
        "Withdrawn by the wire: Kenyataan ini tidak disahkan."
    ]
    assert doc.find("n:itemMeta/n:signal", NS) is None


def test_a_correction_carries_its_note_and_signal(tmp_path: Path) -> None:
    bundle = make_bundle(
        make_settings(tmp_path), "ms", version=2, note=NOTE, corrected_after_publication=True
    )
    item = edition_item(bundle)
    assert schema_errors(item) == []
    assert item["edNote"] == f"Correction (version 2): {NOTE}"
    plain = next(b["value"] for b in item["bodies"] if b["contentType"] == "text/plain")
    assert NOTE in plain

    data = edition_to_newsml(bundle)
    assert newsml_errors(data) == []
    doc = parse(data)
    assert doc.get("version") == "2"
    assert [s.get("qcode") for s in doc.findall("n:itemMeta/n:signal", NS)] == ["sig:correction"]
    assert f"Correction (version 2): {NOTE}" in [n.text for n in doc.findall("n:itemMeta/n:edNote", NS)]
    correction = doc.find("n:contentSet/n:inlineXML/h:html/h:body/h:p[@class='correction']", NS)
    assert correction is not None and NOTE in correction.text

    first = make_bundle(make_settings(tmp_path), "ms")
    assert "edNote" not in edition_item(first)
    assert parse(edition_to_newsml(first)).find("n:itemMeta/n:signal", NS) is None


def test_newsml_carries_the_pictures_ninjs_carries(tmp_path: Path) -> None:
    bundle = make_bundle(make_settings(tmp_path), "ms", media=[PICTURE])
    pictures = [a for a in edition_item(bundle)["associations"] if a.get("type") == "picture"]
    assert [p["uri"] for p in pictures] == [PICTURE["url"]]

    data = edition_to_newsml(bundle)
    assert newsml_errors(data) == []
    doc = parse(data)
    links = doc.findall("n:itemMeta/n:link[@rel='irel:associatedWith']", NS)
    assert [(link.get("href"), link.get("contenttype"), link.get("title")) for link in links] == [
        (PICTURE["url"], "image/jpeg", PICTURE["caption"])
    ]
    assert links[0].find("n:itemClass", NS).get("qcode") == "ninat:picture"
    img = doc.find("n:contentSet/n:inlineXML/h:html/h:body/h:p[@class='picture']/h:img", NS)
    assert (img.get("src"), img.get("alt")) == (PICTURE["url"], PICTURE["alt"])


# --- webhooks say which event they are ------------------------------------------------------------


@pytest.mark.parametrize("event", ["release.published", "release.corrected", "release.withdrawn"])
def test_webhook_bodies_name_their_event_and_verify(tmp_path: Path, event: str) -> None:
    settings = make_settings(tmp_path)
    if event == "release.published":
        bundle, kind = make_bundle(settings, "ms"), "edition"
    elif event == "release.corrected":
        bundle, kind = (
            make_bundle(settings, "ms", version=2, note=NOTE, corrected_after_publication=True),
            "edition",
        )
    else:
        bundle, kind = withdrawn(make_bundle(settings, "ms")), "withdrawal"
    one = job(bundle, kind, channel="webhook")
    body, content_type, _ = payload(one)
    secret = one.endpoint.secret
    assert secret is not None and content_type == "application/json"
    headers = signing.headers(secret, "dlv_0002", body)
    doc = Webhook(secret).verify(body, headers)  # the reference verifier
    assert doc["type"] == event
    assert doc["data"]["uri"] == "https://wire.example/releases/rel_0001/ms"
    assert schema_errors(doc["data"]) == []


def test_a_version_written_before_publication_is_no_correction(tmp_path: Path) -> None:
    """Corrected while it waited for its time: receivers get version 2 first, as a publication."""
    bundle = make_bundle(make_settings(tmp_path), "ms", version=2, note=NOTE)
    assert json.loads(payload(job(bundle, channel="webhook"))[0])["type"] == "release.published"
    subject = str(
        parse_mail(build_message(job(bundle), message_id="m@w", unsubscribe="https://w/u"))["Subject"]
    )
    assert not subject.startswith("[")


# --- email --------------------------------------------------------------------------------------


def test_email_date_has_a_numeric_zone(tmp_path: Path) -> None:
    raw = build_message(
        job(make_bundle(make_settings(tmp_path), "ms")), message_id="m@w", unsubscribe="https://w/u"
    )
    date = next(line for line in raw.split(b"\r\n") if line.startswith(b"Date: "))
    assert date.endswith(b" +0000") and b"GMT" not in date
    assert b"X-Warta-" not in date


@pytest.mark.parametrize("lang", ["ms", "ar", "zh-Hans"])
def test_a_correction_email_says_so_and_threads_with_the_first(tmp_path: Path, lang: str) -> None:
    bundle = make_bundle(
        make_settings(tmp_path), lang, version=2, note=NOTE, corrected_after_publication=True
    )
    raw = build_message(
        job(bundle, in_reply_to="dlv_0001@warta.invalid"),
        message_id="dlv_0002@warta.invalid",
        unsubscribe="https://w/u",
    )
    message = parse_mail(raw)
    label = translate(lang, "Correction")
    assert str(message["Subject"]).startswith(f"[{label}] ")
    if lang != "ms":
        assert label != "Correction", "the subject's label is in the edition's language"
    assert message["In-Reply-To"] == "<dlv_0001@warta.invalid>" == message["References"]
    plain = message.get_body(("plain",))
    assert plain is not None and NOTE in plain.get_content()


def test_a_withdrawal_email_says_who_withdrew_it(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    by_issuer = withdrawn(make_bundle(settings, "ms"), by="issuer")
    by_wire = withdrawn(make_bundle(settings, "ms"), by="wire")
    texts = []
    for bundle in (by_issuer, by_wire):
        message = parse_mail(
            build_message(
                job(bundle, "withdrawal", in_reply_to="dlv_0001@warta.invalid"),
                message_id="dlv_0003@warta.invalid",
                unsubscribe="https://w/u",
            )
        )
        assert message["In-Reply-To"] == "<dlv_0001@warta.invalid>"
        plain = message.get_body(("plain",))
        assert plain is not None
        texts.append(plain.get_content())
    assert translate("ms", "This release has been withdrawn by its issuer.") in texts[0]
    wire_sentence = translate("ms", "This release has been withdrawn by %(wire)s.", wire=settings.wire_name)
    assert wire_sentence in texts[1] and wire_sentence != "This release has been withdrawn by Warta."


def test_unsubscribe_is_https_with_an_https_wire_and_http_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    secure = make_settings(tmp_path, base_url="https://wire.example")
    url = unsubscribe_url(secure, "rcp_1")
    raw = build_message(job(make_bundle(secure, "ms")), message_id="m@w", unsubscribe=url)
    assert parse_mail(raw)["List-Unsubscribe"] == f"<{url}>" and url.startswith("https://wire.example/")
    with caplog.at_level(logging.WARNING):
        assert not warn_plain_unsubscribe(secure)
        assert not warn_plain_unsubscribe(make_settings(tmp_path, base_url="http://127.0.0.1:8000"))
        assert warn_plain_unsubscribe(make_settings(tmp_path, base_url="http://wire.example"))
    assert any("List-Unsubscribe" in r.message and "https" in r.message for r in caplog.records)


# --- the wire text ------------------------------------------------------------------------------


def test_the_dateline_runs_into_the_first_paragraph_with_a_space(tmp_path: Path) -> None:
    bundle = make_bundle(make_settings(tmp_path), "ms")
    html = bundle.text.lead_html()
    assert html.startswith(f'<p><strong class="dateline">{bundle.text.dateline}</strong> Syarikat')


def test_french_elides_before_a_vowel() -> None:
    assert translate("fr", "About %(org)s", org="Atelier Lumière SAS") == "À propos d'Atelier Lumière SAS"
    assert translate("fr", "About %(org)s", org="Écolo Lyon") == "À propos d'Écolo Lyon"
    assert translate("fr", "About %(org)s", org="Kumo Lingua") == "À propos de Kumo Lingua"
    assert translate("fr", "About %(org)s", org="Hachette") == "À propos de Hachette"  # h: left alone
    assert translate("fr", "Press releases from %(org)s", org="Orange") == "Communiqués de presse d'Orange"
    assert translate("es", "About %(org)s", org="Atelier") == "Acerca de Atelier"


def test_contact_numbers_are_isolated_left_to_right(tmp_path: Path) -> None:
    bundle = make_bundle(make_settings(tmp_path), "ar")
    html = bundle.text.full_html()
    assert '<bdi dir="ltr">+60 3 1234 5678</bdi>' in html
    assert '<bdi dir="ltr">media@contoh.example</bdi>' in html


def _settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


def test_feed_entries_carry_the_whole_wire_text_and_categories(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    bundle = make_bundle(settings, "ms")
    text = wire_text(settings, bundle.release, bundle.version, bundle.edition, bundle.organisation)
    published = bundle.release.release_at
    entry = feeds.entry(
        settings,
        bundle.release,
        bundle.version,
        bundle.edition,
        bundle.organisation,
        text,
        published=published,
        updated=published,
    )
    doc = feeds.Feed(
        "Warta", "https://wire.example/feeds/atom.xml", "https://wire.example/", None, published, [entry]
    )
    parsed = feedparser.parse(feeds.atom(doc))
    assert not parsed.bozo
    (item,) = parsed.entries
    content = item.content[0].value
    for part in (text.dateline, text.about_heading, text.contact_heading, "+60 3 1234 5678", text.disclaimer):
        assert part in content
    assert [(t.term, t.scheme, t.label) for t in item.tags] == [
        ("top-story", "https://wire.example/?sector=", text.sector_names[0]),
        ("04000000", "http://cv.iptc.org/newscodes/mediatopic/", text.sector_names[1]),
        ("13000000", "http://cv.iptc.org/newscodes/mediatopic/", text.sector_names[2]),
    ]


def test_json_ld_is_never_modified_before_it_was_published_and_links_translations_rightly(
    tmp_path: Path,
) -> None:
    from warta.formats.jsonld import news_article

    settings = make_settings(tmp_path)
    for lang in ("ms", "ar"):
        b = make_bundle(settings, lang)  # editions written at 01:10, released at 01:30
        doc = news_article(settings, b.release, b.version, b.edition, b.organisation, b.text, b.editions)
        assert doc["datePublished"] == "2026-11-27T01:30:00Z" == doc["dateModified"]
        if lang == "ms":  # the original
            assert "translationOfWork" not in doc
            assert {w["inLanguage"] for w in doc["workTranslation"]} == {"ar", "zh-Hans"}
        else:
            assert "workTranslation" not in doc
            assert doc["translationOfWork"]["url"] == "https://wire.example/releases/rel_0001/ms"
