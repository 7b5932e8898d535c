"""Sectors: Media Topic and wire section normalisation, labels in every edition language, the data build."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

from warta.editions.sectors import (
    WIRE_SECTIONS,
    all_topics,
    is_media_topic,
    normalise_sector,
    sector_label,
    topic_uri,
)

pytestmark = pytest.mark.fast  # in `make test-fast`, the developer's loop

REPO = Path(__file__).resolve().parents[1]
SOURCE = Path(__file__).resolve().parent / "data" / "standards" / "mediatopics"
BUILD_SCRIPT = REPO / "tools" / "build_mediatopics.py"

LANGUAGES = (
    "en",
    "ko",
    "ja",
    "ar",
    "zh-Hans",
    "zh-Hant",
    "vi",
    "th",
    "id",
    "ms",
    "de",
    "ru",
    "fr",
    "es",
    "pt",
)
OWN_LANGUAGES = ("ja", "ko", "ru", "vi", "th", "id", "ms", "zh-Hant")
IPTC_LANGUAGES = ("de", "fr", "es", "pt", "ar", "zh-Hans")

# Retired in the 2025-10-09 release: "music theatre", "war crime action".
RETIRED = ("medtop:20000030", "medtop:20000064")


def _data_json(name: str) -> dict[str, object]:
    data = json.loads(resources.files("warta.data").joinpath(name).read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("medtop:04000000", "medtop:04000000"),
        ("MEDTOP:04000000", "medtop:04000000"),
        ("04000000", "medtop:04000000"),
        (" 04000000 ", "medtop:04000000"),
        ("http://cv.iptc.org/newscodes/mediatopic/04000000", "medtop:04000000"),
        ("https://cv.iptc.org/newscodes/mediatopic/20000349/", "medtop:20000349"),
        ("top-story", "top-story"),
        ("Top Story", "top-story"),
        ("daily news", "daily-news"),
        ("DAILY NEWS", "daily-news"),
        ("Corporate News", "corporate"),
        ("corporate", "corporate"),
        ("Sports", "sports"),
        ("top_story", "top-story"),
        ("medtop:99999999", None),
        ("4000000", None),
        ("medtop:0400000x", None),
        ("http://example.org/newscodes/mediatopic/04000000", None),
        ("weather news", None),
        ("", None),
    ],
)
def test_normalise_sector(value: str, expected: str | None) -> None:
    assert normalise_sector(value) == expected


def test_every_wire_section_round_trips() -> None:
    assert len(WIRE_SECTIONS) == 15
    for slug, name in WIRE_SECTIONS.items():
        assert normalise_sector(slug) == slug
        assert normalise_sector(name) == slug
        assert normalise_sector(name.lower()) == slug


@pytest.mark.parametrize("code", RETIRED)
def test_retired_topics_are_refused(code: str) -> None:
    assert normalise_sector(code) is None
    assert normalise_sector(code.removeprefix("medtop:")) is None
    assert not is_media_topic(code)
    assert code not in all_topics()
    # a release stored before the code was retired still renders, naming the code as stored
    assert sector_label(code, "en") == code


def test_unknown_sector_label_is_shown_as_stored() -> None:
    assert sector_label("no-such-section", "en") == "no-such-section"


def test_is_media_topic() -> None:
    assert is_media_topic("medtop:04000000")
    assert is_media_topic("http://cv.iptc.org/newscodes/mediatopic/04000000")
    assert not is_media_topic("top-story")
    assert not is_media_topic("medtop:99999999")


def test_topic_uri() -> None:
    assert topic_uri("medtop:04000000") == "http://cv.iptc.org/newscodes/mediatopic/04000000"
    assert topic_uri("20000349") == "http://cv.iptc.org/newscodes/mediatopic/20000349"
    with pytest.raises(ValueError):
        topic_uri("top-story")


def test_all_topics_by_level() -> None:
    top = all_topics(1)
    assert len(top) == 17
    assert top[0] == "medtop:01000000"
    assert top == sorted(top)
    second = all_topics(2)
    assert "medtop:20000349" in second
    assert not set(top) & set(second)
    everything = all_topics()
    assert set(top) | set(second) < set(everything)
    assert all_topics(99) == []


@pytest.mark.parametrize("code", ["medtop:04000000", "medtop:20000349"])
def test_topic_has_a_label_in_every_language(code: str) -> None:
    english = sector_label(code, "en")
    assert english[0].isupper()
    for lang in LANGUAGES:
        label = sector_label(code, lang)
        assert label.strip() == label and label
        if lang != "en":
            assert label != english, lang


def test_english_label_is_capitalised() -> None:
    assert sector_label("medtop:04000000", "en") == "Economy, business and finance"
    assert sector_label("04000000", "en-GB") == "Economy, business and finance"


def test_own_labels_come_first_and_iptc_labels_otherwise() -> None:
    assert sector_label("medtop:04000000", "ja") == "経済・ビジネス・金融"
    assert sector_label("medtop:20000349", "zh-Hant") == "企業"
    assert sector_label("medtop:04000000", "zh-TW") == "經濟、商業與金融"
    assert sector_label("medtop:04000000", "zh-Hans") == "经济、商业和金融"
    assert sector_label("medtop:04000000", "de") == "Wirtschaft und Finanzen"
    # pt comes from pt-BR, capitalised.
    assert sector_label("medtop:20000045", "pt") == "Mídia de massas"
    assert sector_label("medtop:20000045", "pt-BR") == "Mídia de massas"
    # A level-2 topic newer than the multilingual export: the wire's own label fills the gap.
    assert sector_label("medtop:20001374", "fr") == "Développement durable"


def test_deep_topic_without_translation_falls_back_to_english() -> None:
    topics = _data_json("mediatopics.json")["topics"]
    assert isinstance(topics, dict)
    untranslated = next(
        code for code, topic in sorted(topics.items()) if topic["level"] > 2 and "de" not in topic["labels"]
    )
    english = topics[untranslated]["labels"]["en"]
    assert sector_label(untranslated, "de") == english[:1].upper() + english[1:]
    assert sector_label(untranslated, "xx") == sector_label(untranslated, "en")


def test_levels_one_and_two_are_covered_in_every_language() -> None:
    topics = _data_json("mediatopics.json")["topics"]
    own = _data_json("mediatopics-labels-warta.json")
    assert isinstance(topics, dict)
    missing = []
    for code in all_topics(1) + all_topics(2):
        iptc_labels = topics[code]["labels"]
        own_labels = own.get(code, {})
        assert isinstance(own_labels, dict)
        missing += [(code, lang) for lang in OWN_LANGUAGES if not own_labels.get(lang)]
        missing += [
            (code, lang) for lang in IPTC_LANGUAGES if not (iptc_labels.get(lang) or own_labels.get(lang))
        ]
    assert missing == []
    assert set(own) <= set(all_topics())


def test_wire_section_label_is_a_string() -> None:
    assert sector_label("top-story", "en") == "Top Story"
    for lang in LANGUAGES:
        assert sector_label("daily news", lang)


def test_data_release() -> None:
    data = _data_json("mediatopics.json")
    assert data["released"] == "2025-10-09"


def test_build_script_reproduces_committed_json(tmp_path: Path) -> None:
    output = tmp_path / "mediatopics.json"
    subprocess.run(
        [sys.executable, str(BUILD_SCRIPT), str(SOURCE), "--output", str(output)],
        check=True,
        capture_output=True,
    )
    committed = resources.files("warta.data").joinpath("mediatopics.json").read_bytes()
    assert output.read_bytes() == committed
