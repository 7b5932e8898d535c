"""Sectors of a release: IPTC Media Topics and the wire's own sections.

A sector is stored in one canonical form:

* an IPTC Media Topic as its qcode, ``"medtop:04000000"``;
* a wire section as its slug, ``"top-story"``.

The sector line of a language edition names each sector in the edition's language. Media Topic labels come
from ``warta/data/mediatopics.json`` (IPTC data, see ``MEDIATOPICS-LICENCE.txt``) and from the wire's own
labels in ``mediatopics-labels-warta.json`` for the languages IPTC does not publish. Wire section names are
English message ids translated through the interface catalogue.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from warta.i18n.catalog import LANGUAGES, translate

__all__ = [
    "WIRE_SECTIONS",
    "all_topics",
    "is_media_topic",
    "normalise_sector",
    "sector_label",
    "topic_uri",
]

WIRE_SECTIONS: dict[str, str] = {
    "top-story": "Top Story",
    "daily-news": "Daily News",
    "business": "Business",
    "technology": "Technology",
    "finance": "Finance",
    "health": "Health",
    "government": "Government",
    "lifestyle": "Lifestyle",
    "sports": "Sports",
    "entertainment": "Entertainment",
    "corporate": "Corporate News",
    "markets": "Markets",
    "education": "Education",
    "environment": "Environment",
    "travel": "Travel",
}

TOPIC_URI_PREFIX = "http://cv.iptc.org/newscodes/mediatopic/"
QCODE_PREFIX = "medtop:"

# Languages for which IPTC publishes no Media Topic labels: the wire's own labels come first.
OWN_LABEL_LANGUAGES = frozenset({"ja", "ko", "ru", "vi", "th", "id", "ms", "zh-Hant"})

_DATA_PACKAGE = "warta.data"
_TOPICS_FILE = "mediatopics.json"
_OWN_LABELS_FILE = "mediatopics-labels-warta.json"

_CODE_RE = re.compile(
    r"(?:https?://cv\.iptc\.org/newscodes/mediatopic/|medtop:)?(?P<digits>\d{8})/?",
    re.IGNORECASE,
)
_SECTION_BY_NAME = {name.casefold(): slug for slug, name in WIRE_SECTIONS.items()}
_LABEL_LANGUAGES = LANGUAGES
_LANG_BY_LOWER = {lang.lower(): lang for lang in _LABEL_LANGUAGES}
_HANT_REGIONS = frozenset({"tw", "hk", "mo"})


@dataclass(frozen=True, slots=True)
class _Topic:
    parent: str | None
    level: int
    labels: dict[str, str]


@dataclass(frozen=True, slots=True)
class _Data:
    released: str
    topics: dict[str, _Topic]
    own_labels: dict[str, dict[str, str]]


def _read_json(name: str) -> Any:
    return json.loads(resources.files(_DATA_PACKAGE).joinpath(name).read_text(encoding="utf-8"))


@cache
def _data() -> _Data:
    raw = _read_json(_TOPICS_FILE)
    topics = {
        code: _Topic(parent=entry["parent"], level=int(entry["level"]), labels=dict(entry["labels"]))
        for code, entry in raw["topics"].items()
    }
    own = {code: dict(labels) for code, labels in _read_json(_OWN_LABELS_FILE).items()}
    return _Data(released=str(raw["released"]), topics=topics, own_labels=own)


def _parse_code(value: str) -> str | None:
    """The qcode written in ``value`` (qcode, bare number or URI), active or not; None if none."""
    match = _CODE_RE.fullmatch(value.strip())
    return QCODE_PREFIX + match.group("digits") if match else None


def _section_slug(value: str) -> str | None:
    key = " ".join(value.split()).casefold()
    if key in WIRE_SECTIONS:
        return key
    if key in _SECTION_BY_NAME:
        return _SECTION_BY_NAME[key]
    dashed = re.sub(r"[\s_]+", "-", key)
    return dashed if dashed in WIRE_SECTIONS else None


def normalise_sector(value: str) -> str | None:
    """Return the canonical form of a sector, or None if it is unknown or a retired Media Topic.

    Accepted: ``"medtop:04000000"``, ``"04000000"``, ``"http://cv.iptc.org/newscodes/mediatopic/04000000"``
    (giving ``"medtop:04000000"``), a wire section slug ``"top-story"`` or its English name in any case,
    ``"Top Story"``, ``"daily news"`` (giving the slug).
    """
    code = _parse_code(value)
    if code is not None:
        return code if code in _data().topics else None
    return _section_slug(value)


def is_media_topic(code: str) -> bool:
    """True if ``code`` names an active IPTC Media Topic, in any form :func:`normalise_sector` accepts."""
    code_ = _parse_code(code)
    return code_ is not None and code_ in _data().topics


def topic_uri(code: str) -> str:
    """The IPTC URI of a Media Topic: ``"medtop:04000000"`` -> ``".../newscodes/mediatopic/04000000"``.

    Raises ValueError if ``code`` is not written as a Media Topic code.
    """
    code_ = _parse_code(code)
    if code_ is None:
        raise ValueError(f"not a Media Topic code: {code!r}")
    return TOPIC_URI_PREFIX + code_[len(QCODE_PREFIX) :]


def all_topics(level: int | None = None) -> list[str]:
    """The qcodes of all active Media Topics, sorted; only those at ``level`` (1 = top) when given."""
    topics = _data().topics
    return sorted(code for code, topic in topics.items() if level is None or topic.level == level)


def _label_language(lang: str) -> str:
    """Map a language tag onto one of the label languages; unknown tags map to English."""
    tag = lang.strip().replace("_", "-")
    lower = tag.lower()
    if lower in _LANG_BY_LOWER:
        return _LANG_BY_LOWER[lower]
    subtags = lower.split("-")
    if subtags[0] == "zh":
        return "zh-Hant" if "hant" in subtags or _HANT_REGIONS & set(subtags[1:]) else "zh-Hans"
    return _LANG_BY_LOWER.get(subtags[0], "en")


def _topic_label(code: str, lang: str) -> str:
    data = _data()
    iptc = data.topics[code].labels
    own = data.own_labels.get(code, {})
    sources = (own, iptc) if lang in OWN_LABEL_LANGUAGES else (iptc, own)
    for labels in sources:
        text = labels.get(lang)
        if text:
            return text
    return iptc["en"]


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def sector_label(code: str, lang: str) -> str:
    """The name of a sector in ``lang``, for the sector line of an edition.

    A Media Topic is named by the wire's own label first for ja, ko, ru, vi, th, id, ms and zh-Hant, else
    by IPTC's label, else in English; the first letter is capitalised. A wire section is named by its
    English name translated through the interface catalogue (English when the catalogue is unavailable).

    ``code`` may be in any form :func:`normalise_sector` accepts. A code that is unknown, or a Media
    Topic retired after a release was stored, is returned as it is, so old releases still render.
    """
    canonical = normalise_sector(code)
    if canonical is None:
        return code
    if canonical in WIRE_SECTIONS:
        name = WIRE_SECTIONS[canonical]
        return translate(lang, name)
    return _capitalise(_topic_label(canonical, _label_language(lang)))
