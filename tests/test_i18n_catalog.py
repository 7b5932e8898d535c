"""The fifteen wire catalogues are complete and the i18n helpers behave."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from warta.i18n import (
    LANGUAGE_NAMES,
    LANGUAGES,
    babel_locale,
    dateline_date,
    iso,
    long_datetime,
    make_gettext,
    normalise_lang,
    text_direction,
    translate,
)

pytestmark = pytest.mark.fast  # in `make test-fast`, the developer's loop

LOCALE_DIR = Path(__file__).resolve().parents[1] / "src" / "warta" / "locale"
PLACEHOLDER = re.compile(r"%\((\w+)\)s")
NOV_27 = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)


def template_ids() -> list[str]:
    with (LOCALE_DIR / "warta.pot").open("rb") as handle:
        return [m.id for m in read_po(handle) if isinstance(m.id, str) and m.id]


def catalogue(lang: str) -> dict[str, str]:
    path = LOCALE_DIR / lang.replace("-", "_") / "LC_MESSAGES" / "warta.po"
    with path.open("rb") as handle:
        return {
            m.id: m.string
            for m in read_po(handle)
            if isinstance(m.id, str) and m.id and isinstance(m.string, str)
        }


def test_language_list() -> None:
    assert len(LANGUAGES) == 15
    assert LANGUAGES[0] == "en"
    assert set(LANGUAGE_NAMES) == set(LANGUAGES)
    assert LANGUAGE_NAMES["ms"] == "Bahasa Melayu"
    assert LANGUAGE_NAMES["zh-Hant"] == "繁體中文"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_catalogue_is_complete_and_keeps_placeholders(lang: str) -> None:
    ids = template_ids()
    assert len(ids) >= 70
    messages = catalogue(lang)
    for msgid in ids:
        text = messages.get(msgid)
        assert isinstance(text, str) and text.strip(), f"{lang}: {msgid!r} untranslated"
        assert set(PLACEHOLDER.findall(text)) == set(PLACEHOLDER.findall(msgid)), f"{lang}: {msgid!r}"
        text % dict.fromkeys(PLACEHOLDER.findall(msgid), "x")  # formats cleanly


@pytest.mark.parametrize("lang", [code for code in LANGUAGES if code != "en"])
def test_sentences_are_translated(lang: str) -> None:
    messages = catalogue(lang)
    sentences = [
        msgid for msgid in template_ids() if len(re.findall(r"[A-Za-z]+", PLACEHOLDER.sub("", msgid))) >= 3
    ]
    assert len(sentences) >= 6
    copied = [msgid for msgid in sentences if messages[msgid] == msgid]
    assert copied == [], f"{lang}: {copied}"


def test_english_catalogue_is_identity() -> None:
    assert all(text == msgid for msgid, text in catalogue("en").items())


def test_translate() -> None:
    assert translate("ms", "Media contact") == "Hubungan media"
    assert translate("ms-MY", "Media contact") == "Hubungan media"
    assert translate("de", "About %(org)s", org="Acme") == "Über Acme"
    assert translate("xx", "Media contact") == "Media contact"
    assert translate("fr", "Not in any catalogue") == "Not in any catalogue"
    dateline = translate("en", "%(city)s, %(date)s (%(wire)s) –", city="JAKARTA", date="27 Nov", wire="Warta")
    assert dateline == "JAKARTA, 27 Nov (Warta) –"
    assert make_gettext("ja")("Issued by %(org)s", org="Acme") == "発表元：Acme"


def test_direction_and_locale() -> None:
    assert text_direction("ar") == "rtl"
    assert text_direction("en") == "ltr"
    assert text_direction("zh-Hant") == "ltr"
    assert str(babel_locale("zh-Hans")) == "zh_Hans_CN"
    assert str(babel_locale("zh-Hant")) == "zh_Hant_TW"
    assert str(babel_locale("pt")) == "pt_BR"
    assert str(babel_locale("ko")) == "ko"


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("en", "en"),
        ("en-GB", "en"),
        ("EN_us", "en"),
        ("zh", "zh-Hans"),
        ("zh-CN", "zh-Hans"),
        ("zh_SG", "zh-Hans"),
        ("zh-Hans", "zh-Hans"),
        ("zh-hant", "zh-Hant"),
        ("zh-TW", "zh-Hant"),
        ("zh-HK", "zh-Hant"),
        ("zh-MO", "zh-Hant"),
        ("zh-Hans-HK", "zh-Hans"),
        ("pt-BR", "pt"),
        ("pt-PT", "pt"),
        ("ms-MY", "ms"),
        ("in", "id"),
        ("id-ID", "id"),
        ("ar-EG", "ar"),
        ("nl", None),
        ("", None),
    ],
)
def test_normalise_lang(tag: str, expected: str | None) -> None:
    assert normalise_lang(tag) == expected


def test_dateline_date() -> None:
    assert dateline_date(NOV_27, "en") == "27 Nov"
    assert "月" in dateline_date(NOV_27, "zh-Hans")
    assert dateline_date(NOV_27, "ja") == "11月27日"
    assert dateline_date(NOV_27, "ko") == "11월 27일"
    assert dateline_date(NOV_27, "ru") == "27 нояб."
    late = datetime(2026, 11, 27, 20, 0, tzinfo=UTC)
    assert dateline_date(late, "en", tz="Asia/Tokyo") == "28 Nov"


def test_long_datetime_and_iso() -> None:
    assert "2026" in long_datetime(NOV_27, "de")
    assert "18:30" in long_datetime(NOV_27, "ja", tz="Asia/Tokyo")
    assert iso(NOV_27) == "2026-11-27T09:30:00Z"
    assert iso(datetime(2026, 11, 27, 9, 30)) == "2026-11-27T09:30:00Z"


def test_every_text_a_template_translates_is_in_the_catalogues() -> None:
    """A text a page marks for translation but the template catalogue lacks would show in English
    on every page of every language."""
    templates = Path(__file__).resolve().parents[1] / "src" / "warta" / "web" / "templates"
    marked = re.compile(r"""\b_\(\s*(['"])(.+?)\1""")
    known = set(template_ids())
    missing = [
        (page.name, m.group(2))
        for page in sorted(templates.glob("*.html"))
        for m in marked.finditer(page.read_text(encoding="utf-8"))
        if m.group(2) not in known
    ]
    assert missing == []
