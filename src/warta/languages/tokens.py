"""Words of running text in every language of the wire: the one tokenizer of search and alerts.

The full-text index (SQLite and PostgreSQL alike) stores these tokens, queries are cut into them,
and saved alerts match editions by them, so a word that is in a release is the same token however
it reaches Warta. The rules, in order:

- Compatibility forms become their ordinary letters and digits (NFKC: full-width Latin, half-width
  katakana, Arabic presentation forms, ligatures), then case is folded (``Straße`` → ``strasse``).
- Diacritics come off Latin and Greek letters (``Société`` → ``societe``, ``Việt`` → ``viet``), as
  readers type them inconsistently. Cyrillic ``й`` stays itself, a letter of its own rather than
  ``и`` with a mark; ``ё`` becomes ``е``, which is how most Russian text writes it anyway.
- Arabic short vowels and other harakat, the superscript alef and the tatweel are removed, and hamza
  carriers become their bare letter, so ``مَرْحَبًا`` and ``مرحبا`` are one word.
- Marks of other scripts stay inside their words: Thai vowel and tone marks, Japanese voicing marks.
- Digits of every script become ASCII digits (``٢٠٢٦`` and ``๒๕๖๙`` are numbers like ``2026``).
- Thai, written without spaces, is cut into syllables (:mod:`warta.languages.segment`); a Thai word
  is the phrase of its syllables.
- Runs of Chinese, Japanese and Korean characters become overlapping bigrams (a lone character stays
  one token), so ``東京`` matches inside ``東京都``.
- Anything that is not a letter, digit or kept mark separates words.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from sys import intern

from warta.languages.segment import thai_syllables

__all__ = ["CJK_RANGES", "normalize", "tokenize"]

# Han (with its extensions and iteration marks), kana and Hangul: written without spaces between
# words, or (Korean) with particles fused to them, so they are matched by bigrams.
CJK_RANGES = (
    "\u1100-\u11ff\u3005-\u3007\u3040-\u309f\u30a0-\u30ff\u3130-\u318f\u31f0-\u31ff\u3400-\u4dbf"
    "\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0003134f"
)
# Thai letters and marks; Thai digits are folded to ASCII before words are cut.
_THAI = "\u0e01-\u0e3a\u0e40-\u0e4e"

# Removed after decomposition: marks of Latin, Greek and Cyrillic (U+0306, the breve, is kept on и
# so that й survives), their supplements, Arabic harakat, Quranic annotation signs, superscript alef
# and tatweel; and the invisible characters that may sit inside a word without ending it (soft
# hyphen, zero-width joiners, word joiner, byte-order mark, variation selectors).
_STRIP = re.compile(
    "[\u0300-\u0305\u0307-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
    "\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06dc\u06df-\u06e4\u06e7\u06e8\u06ea-\u06ed\u0640"
    "\u00ad\u200c\u200d\u2060\ufeff\ufe00-\ufe0f\U000e0100-\U000e01ef]+"
    "|(?<!\u0438)\u0306"
)


# Combining marks and digits are all in the first two planes, save the variation selectors of plane
# 14, which are removed; scanning only those planes keeps start-up quick.
_SCANNED = range(0x20000)


def _mark_ranges() -> str:
    """A character class body of every combining mark (categories Mn, Mc, Me)."""
    ranges: list[tuple[int, int]] = []
    for cp in _SCANNED:
        if unicodedata.category(chr(cp))[0] == "M":
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1] = (ranges[-1][0], cp)
            else:
                ranges.append((cp, cp))
    return "".join(chr(a) if a == b else f"{chr(a)}-{chr(b)}" for a, b in ranges)


def _letter_folds() -> dict[int, str]:
    """Letters that decomposition leaves alone but readers treat as their base letter, and the digits
    of every script as ASCII digits."""
    letters = {"đ": "d", "ð": "d", "ł": "l", "ø": "o", "ħ": "h", "ŧ": "t", "ı": "i", "ٱ": "ا"}
    table: dict[int, str] = {ord(k): v for k, v in letters.items()}
    for cp in _SCANNED[0x80:]:
        ch = chr(cp)
        if unicodedata.category(ch) == "Nd":
            table[cp] = str(unicodedata.decimal(ch))
    return table


_FOLD = _letter_folds()
# A token is a CJK run, a Thai run, or letters and digits with the marks that were kept inside them.
_TOKEN = re.compile(f"([{CJK_RANGES}]+)|([{_THAI}]+)|((?:[^\\W_{CJK_RANGES}{_THAI}]|[{_mark_ranges()}])+)")
_ASCII_WORD = re.compile(r"[a-z0-9]+")


def normalize(text: str) -> str:
    """`text` compatibility-normalised, case folded, with the marks removed that the rules above remove."""
    if text.isascii():
        return text.lower()
    text = unicodedata.normalize("NFKD", text).casefold()
    text = _STRIP.sub("", text)
    # compatibility decomposition splits Thai SARA AM into NIKHAHIT and SARA AA; words are written,
    # and the segmenter's dictionary spelled, with the one character
    return unicodedata.normalize("NFC", text).translate(_FOLD).replace("\u0e4d\u0e32", "\u0e33")


@lru_cache(maxsize=65536)
def _bigrams(run: str) -> tuple[str, ...]:
    if len(run) == 1:
        return (intern(run),)
    return tuple(intern(run[i : i + 2]) for i in range(len(run) - 1))


def tokenize(text: str) -> list[str]:
    """The tokens of `text`, in order. Documents, search queries and alert queries all go through here."""
    if text.isascii():
        return [intern(w) for w in _ASCII_WORD.findall(text.lower())]
    out: list[str] = []
    for cjk, thai, word in _TOKEN.findall(normalize(text)):
        if word:
            out.append(intern(word))
        elif cjk:
            out.extend(_bigrams(cjk))
        else:
            out.extend(thai_syllables(thai))
    return out
