"""The wire's fixed texts in Warta's fifteen languages.

Catalogues live in ``warta/locale/<dir>/LC_MESSAGES/warta.po`` and are read once, on first use. Languages
are named by BCP 47 codes (``zh-Hans``); the catalogue folder uses an underscore (``zh_Hans``). A text
missing from a catalogue falls back to the English source text.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from pathlib import Path

from babel import Locale
from babel.messages.pofile import read_po

LANGUAGES: tuple[str, ...] = (
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
DEFAULT_LANGUAGE = "en"

LANGUAGE_NAMES: dict[str, str] = {
    "en": "English",
    "ko": "한국어",
    "ja": "日本語",
    "ar": "العربية",
    "zh-Hans": "简体中文",
    "zh-Hant": "繁體中文",
    "vi": "Tiếng Việt",
    "th": "ไทย",
    "id": "Bahasa Indonesia",
    "ms": "Bahasa Melayu",
    "de": "Deutsch",
    "ru": "Русский",
    "fr": "Français",
    "es": "Español",
    "pt": "Português",
}

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
DOMAIN = "warta"

_RTL_LANGUAGES = frozenset({"ar"})
_BABEL_LOCALES = {"zh-Hans": "zh_Hans_CN", "zh-Hant": "zh_Hant_TW", "pt": "pt_BR"}
_PRIMARY_ALIASES = {"in": "id"}  # "in" is the withdrawn ISO 639 code for Indonesian
_HANT_REGIONS = frozenset({"tw", "hk", "mo"})
_BY_LOWER = {code.lower(): code for code in LANGUAGES}


def normalise_lang(tag: str) -> str | None:
    """Map a BCP 47 tag such as ``zh-TW``, ``pt_BR`` or ``EN-gb`` to one of :data:`LANGUAGES`."""
    subtags = [part for part in tag.strip().replace("_", "-").lower().split("-") if part]
    if not subtags:
        return None
    primary = _PRIMARY_ALIASES.get(subtags[0], subtags[0])
    if primary == "zh":
        rest = set(subtags[1:])
        if "hant" in rest or ("hans" not in rest and rest & _HANT_REGIONS):
            return "zh-Hant"
        return "zh-Hans"
    return _BY_LOWER.get(primary)


def _catalogue_path(lang: str) -> Path:
    return LOCALE_DIR / lang.replace("-", "_") / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.cache
def _messages(lang: str) -> dict[str, str]:
    path = _catalogue_path(lang)
    if not path.is_file():
        return {}
    with path.open("rb") as handle:
        catalog = read_po(handle, domain=DOMAIN)
    return {
        message.id: message.string
        for message in catalog
        if isinstance(message.id, str)
        and message.id
        and isinstance(message.string, str)
        and message.string
        and not message.fuzzy
    }


def translate(lang: str, msgid: str, **params: object) -> str:
    """Return ``msgid`` in ``lang`` (English if untranslated), %-formatted with ``params`` if any."""
    code = normalise_lang(lang) or DEFAULT_LANGUAGE
    text = _messages(code).get(msgid, msgid)
    if not params:
        return text
    if code == "fr":
        text = _elide_fr(text, params)
    try:
        return text % params
    except (KeyError, ValueError, TypeError):
        # A damaged translation must not break a page: print the English text instead.
        return msgid % params


_FR_VOWELS = frozenset("aàâäeéèêëiîïoôöuùûüœæ")
_FR_ELIDING = re.compile(r"\b(de|que|le|la) %\((\w+)\)s")


def _starts_with_vowel_sound(value: object) -> bool:
    """Whether a French word elides before ``value``: a vowel, or a "y" sounded as one ("Yves").

    An initial "h" is left alone: whether it elides depends on the word ("l'hôtel", "le Havre")."""
    word = str(value).lstrip("\"'«“ ").lower()
    if not word:
        return False
    if word[0] == "y":
        return len(word) > 1 and word[1] not in _FR_VOWELS
    return word[0] in _FR_VOWELS


def _elide_fr(text: str, params: dict[str, object]) -> str:
    """French elision before a name put in a text: "À propos d'Atelier", not "de Atelier"."""

    def elide(match: re.Match[str]) -> str:
        word, name = match.group(1), match.group(2)
        if not _starts_with_vowel_sound(params.get(name, "")):
            return match.group(0)
        return f"{word[0]}'%({name})s"

    return _FR_ELIDING.sub(elide, text)


def make_gettext(lang: str) -> Callable[..., str]:
    """Return ``_(msgid, **params)`` bound to ``lang``, for use in templates."""

    def gettext(msgid: str, **params: object) -> str:
        return translate(lang, msgid, **params)

    return gettext


def text_direction(lang: str) -> str:
    """``"rtl"`` for right-to-left languages, else ``"ltr"``."""
    return "rtl" if normalise_lang(lang) in _RTL_LANGUAGES else "ltr"


@functools.cache
def babel_locale(lang: str) -> Locale:
    """The Babel locale used to format numbers and dates for ``lang``."""
    code = normalise_lang(lang) or DEFAULT_LANGUAGE
    return Locale.parse(_BABEL_LOCALES.get(code, code))
