"""Which of the wire's fifteen languages a plain text is written in.

CLD2 (``pycld2``) answers first: it is fast, and sure of itself on a paragraph. Where it is not sure
(a short text, a small share of the text, no reliable answer), Lingua, which copes better with short
texts, decides among the wire's languages and any others CLD2 named. Malay and Indonesian are close
enough that every answer of either is checked by a Lingua detector that knows only those two, weighed
together with CLD2's own view. Chinese is split into Simplified and Traditional by which of OpenCC's
conversions (s2t, t2s) changes the text more; a text that neither changes counts as Simplified.

Callers pass plain text (HTML already stripped); headline, summary and body together is the usual
input. A text outside the wire's languages, or too short to say, gets ``lang=None``; what was
detected instead is still listed in ``candidates``.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

import opencc
import pycld2
from lingua import Language, LanguageDetector, LanguageDetectorBuilder

from warta.i18n.catalog import LANGUAGES, normalise_lang

__all__ = ["Detection", "detect"]


@dataclass(frozen=True)
class Detection:
    """The answer for one text.

    ``lang`` is one of the wire's codes (``"zh-Hant"``, ``"ms"``) or ``None``; ``confidence`` runs from
    0 to 1 and is low for short texts; ``method`` names what decided (``"cld2"``, ``"cld2+lingua"``,
    ``"cld2+opencc"``, ...); ``candidates`` lists the languages considered with their scores, best
    first, in BCP 47 codes (codes outside the wire's languages included).
    """

    lang: str | None
    confidence: float
    method: str
    candidates: tuple[tuple[str, float], ...] = ()


# Lengths are counted in letter weights: one per letter, three per Han, kana or Hangul character
# (one such character carries about as much as a short word's letters).
MIN_WEIGHT = 4  # below this there is no answer
SURE_WEIGHT = 60  # from this length up, CLD2's reliable answer stands on its own
FULL_WEIGHT = 120  # confidence stops growing with length here
SURE_SHARE = 80  # percent of the text CLD2 must give its top language to stand on its own
CLD2_CHARS = 20_000  # how much of a long text CLD2 reads
SAMPLE_CHARS = 1_000  # how much Lingua and OpenCC read
SCRIPT_CHARS = 500  # how much the letter and script counts read
CJK_WEIGHT = 3
KANA_SHARE = 0.1  # below this share of kana among Han and kana characters, a text is not Japanese
# Characters that s2t changes but Traditional writing in Taiwan uses as they are (台灣, 宣布, 週/周末):
# no sign of either script.
NEUTRAL_HAN = frozenset("台布周")

_NONCHARACTERS = "".join(f"\\U{plane:04x}fffe\\U{plane:04x}ffff" for plane in range(0x11))
_UNSAFE = re.compile(rf"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef{_NONCHARACTERS}]")
_LETTER = re.compile(r"[^\W\d_]")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
_KANA = re.compile(r"[\u3041-\u309f\u30a0-\u30ff\u31f0-\u31ff\uff66-\uff9d]")
_HANGUL = re.compile(r"[\u1100-\u11ff\u3130-\u318f\uac00-\ud7af]")

_CHINESE = "zh"  # CLD2's "zh" and "zh-Hant", Lingua's Chinese: either script, to be told apart
_MALAY_INDONESIAN = frozenset({"ms", "id"})


# ---------------------------------------------------------------------------------------------------
# Text measures


def _clean(text: str) -> str:
    """Replace what CLD2 refuses (control characters, lone surrogates, noncharacters) by spaces."""
    return _UNSAFE.sub(" ", text)


def _printable(text: str) -> str:
    """Replace every character of Unicode's "other" categories (controls, unassigned, private use)."""
    return "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in text)


@dataclass(frozen=True)
class _Scripts:
    weight: int
    han: int
    kana: int


def _scripts(sample: str) -> _Scripts:
    letters = len(_LETTER.findall(sample))
    han = len(_HAN.findall(sample))
    kana = len(_KANA.findall(sample))
    hangul = len(_HANGUL.findall(sample))
    cjk = han + kana + hangul
    return _Scripts(weight=letters - cjk + CJK_WEIGHT * cjk, han=han, kana=kana)


def _length_factor(weight: int) -> float:
    return min(1.0, weight / FULL_WEIGHT) ** 0.5


# ---------------------------------------------------------------------------------------------------
# Codes


def _ours(code: str) -> str | None:
    """One of the wire's codes, ``"zh"`` for Chinese in either script, or None."""
    if code in ("zh", "zh-Hant"):
        return _CHINESE
    return normalise_lang(code) if code and code != "un" else None


@functools.cache
def _lingua_by_code() -> dict[str, Language]:
    return {language.iso_code_639_1.name.lower(): language for language in Language.all()}


def _lingua_code(language: Language) -> str:
    code = language.iso_code_639_1.name.lower()
    return _ours(code) or code


@functools.cache
def _wire_languages() -> frozenset[Language]:
    by_code = _lingua_by_code()
    return frozenset(by_code[code.split("-")[0]] for code in LANGUAGES if code.split("-")[0] in by_code)


@functools.cache
def _lingua(languages: frozenset[Language]) -> LanguageDetector:
    """One detector per language set, built on first use; models load as they are first needed."""
    return LanguageDetectorBuilder.from_languages(*languages).build()


def _lingua_scores(text: str, languages: frozenset[Language]) -> dict[str, float]:
    values = _lingua(languages).compute_language_confidence_values(text)
    return {_lingua_code(value.language): value.value for value in values}


# ---------------------------------------------------------------------------------------------------
# CLD2


@dataclass(frozen=True)
class _Cld2:
    reliable: bool
    shares: tuple[tuple[str, float], ...]  # CLD2's codes with their share of the text, 0..1


def _cld2(text: str) -> tuple[str, _Cld2]:
    """CLD2's view, and the text as CLD2 could read it (cleaned where CLD2 refused it as it came).

    A reliable answer comes from the plain call; only when CLD2 is not sure is it asked for its best
    effort, whose answers are then candidates rather than conclusions.
    """
    for attempt in _readings(text):
        try:
            reliable, _, details = pycld2.detect(attempt, returnVectors=False)
            if not reliable:
                _, _, details = pycld2.detect(attempt, returnVectors=False, bestEffort=True)
        except (pycld2.error, UnicodeError):
            continue
        shares = tuple((code, percent / 100) for _, code, percent, _ in details if code != "un" and percent)
        return attempt, _Cld2(reliable=bool(reliable), shares=shares)
    return _printable(text), _Cld2(reliable=False, shares=())


def _readings(text: str) -> Iterator[str]:
    """The text as it is, then cleaned of what CLD2 refuses, then of every non-printing character."""
    yield text
    yield _clean(text)
    yield _printable(text)


# ---------------------------------------------------------------------------------------------------
# Deciding


def _merge(scores: dict[str, float]) -> list[tuple[str, float]]:
    return sorted(((code, score) for code, score in scores.items() if score > 0), key=lambda kv: -kv[1])


def _fix_japanese(code: str, scripts: _Scripts) -> str:
    """Han text with no kana is Chinese, and text with a fair share of kana is Japanese."""
    if code == "ja" and scripts.han and not scripts.kana:
        return _CHINESE
    if code == _CHINESE and scripts.kana and scripts.kana / (scripts.kana + scripts.han) >= KANA_SHARE:
        return "ja"
    return code


def _chinese_script(sample: str) -> tuple[str, float]:
    """``zh-Hans`` or ``zh-Hant``, and how clearly (0.5: no sign either way, 1: all one way)."""
    simplified_signs = _changed(sample, _converter("s2t").convert(sample), NEUTRAL_HAN)
    traditional_signs = _changed(sample, _converter("t2s").convert(sample))
    total = simplified_signs + traditional_signs
    if not total:
        return "zh-Hans", 0.5
    if traditional_signs > simplified_signs:
        return "zh-Hant", traditional_signs / total
    return "zh-Hans", simplified_signs / total


@functools.cache
def _converter(config: str) -> opencc.OpenCC:
    return opencc.OpenCC(config)


def _changed(before: str, after: str, neutral: frozenset[str] = frozenset()) -> int:
    """How many characters a conversion changed, leaving out changes to ``neutral`` characters."""
    changed = sum(a != b and a not in neutral for a, b in zip(before, after, strict=False))
    return changed + abs(len(before) - len(after))


def _malay_or_indonesian(sample: str, cld2: dict[str, float], weight: int) -> dict[str, float]:
    """Lingua's Malay-or-Indonesian odds times CLD2's, with CLD2's held between 0.3 and 0.7 (nearer
    0.5 for short texts) so that a sure Lingua can overrule it."""
    lingua = _lingua_scores(sample, frozenset({Language.MALAY, Language.INDONESIAN}))
    cld2_ms, cld2_id = cld2.get("ms", 0.0), cld2.get("id", 0.0)
    cld2_p = 0.5 if cld2_ms + cld2_id == 0 else cld2_ms / (cld2_ms + cld2_id)
    cap = 0.5 + 0.2 * _length_factor(weight)
    cld2_p = min(cap, max(1 - cap, cld2_p))
    ms = lingua.get("ms", 0.0) * cld2_p
    id_ = lingua.get("id", 0.0) * (1 - cld2_p)
    if ms + id_ == 0:
        return {"ms": cld2_p, "id": 1 - cld2_p}
    return {"ms": ms / (ms + id_), "id": id_ / (ms + id_)}


def _finish(
    scores: dict[str, float], method: str, sample: str, scripts: _Scripts, cld2: dict[str, float]
) -> Detection:
    """Turn group-level scores (Chinese as one, Malay and Indonesian as one) into the answer."""
    ranked = _merge(scores)
    if not ranked:
        return Detection(None, 0.0, method, ())
    top, top_score = ranked[0]
    top = _fix_japanese(top, scripts)
    if top != ranked[0][0]:
        scores = {**scores, top: max(scores.get(top, 0.0), top_score)}
        scores.pop(ranked[0][0], None)
        ranked = _merge(scores)

    if top in _MALAY_INDONESIAN:
        group = scores.get("ms", 0.0) + scores.get("id", 0.0)
        split = _malay_or_indonesian(sample, cld2, scripts.weight)
        scores = {**scores, "ms": group * split["ms"], "id": group * split["id"]}
        method = "cld2+lingua" if method == "cld2" else method
        ranked = _merge(scores)
        top, top_score = ranked[0]
    elif top == _CHINESE:
        script, clarity = _chinese_script(sample)
        other = "zh-Hant" if script == "zh-Hans" else "zh-Hans"
        group = scores.pop(_CHINESE)
        scores = {**scores, script: group * clarity, other: group * (1 - clarity)}
        method = f"{method}+opencc"
        ranked = _merge(scores)
        top, top_score = ranked[0]

    candidates = tuple((code, round(score, 4)) for code, score in ranked[:5])
    if top not in LANGUAGES:
        return Detection(None, 0.0, method, candidates)
    confidence = max(0.0, min(1.0, top_score * _length_factor(scripts.weight)))
    return Detection(top, round(confidence, 4), method, candidates)


def detect(text: str) -> Detection:
    """Detect which of the wire's languages ``text`` (plain text) is in."""
    text = text[:CLD2_CHARS]
    scripts = _scripts(text[:SCRIPT_CHARS])
    if scripts.weight < MIN_WEIGHT:
        return Detection(None, 0.0, "too-short", ())

    text, cld2 = _cld2(text)
    sample = text[:SAMPLE_CHARS]
    cld2_scores: dict[str, float] = {}
    for code, share in cld2.shares:
        key = _ours(code) or code
        cld2_scores[key] = cld2_scores.get(key, 0.0) + share

    ranked = _merge(cld2_scores)
    if ranked:
        top, share = ranked[0]
        sure = cld2.reliable and share * 100 >= SURE_SHARE and scripts.weight >= SURE_WEIGHT
        if sure or (top in _MALAY_INDONESIAN and cld2.reliable):
            return _finish(cld2_scores, "cld2", sample, scripts, cld2_scores)

    languages = set(_wire_languages())
    by_code = _lingua_by_code()
    for code in cld2_scores:
        if code not in LANGUAGES and code in by_code:
            languages.add(by_code[code])
    lingua = _lingua_scores(sample, frozenset(languages))
    method = "cld2+lingua" if cld2.shares else "lingua"
    return _finish(lingua, method, sample, scripts, cld2_scores)
