"""Language detection against a held-out set: news sentences written for this test, one file a language.

`pytest -s tests/test_detect.py` prints the accuracy table.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from warta.i18n.catalog import LANGUAGES
from warta.languages.detect import Detection, detect

pytestmark = pytest.mark.fast  # in `make test-fast`, the developer's loop

DATA = Path(__file__).parent / "data" / "langid"
UNSPACED = {"zh-Hans", "zh-Hant", "ja", "th"}  # scripts written without spaces between words


def load(lang: str) -> list[str]:
    lines = (DATA / f"{lang}.txt").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def paragraphs(sentences: list[str], size: int = 3) -> list[str]:
    return [" ".join(sentences[i : i + size]) for i in range(0, len(sentences) - size + 1, size)]


def snippet(sentence: str, lang: str) -> str:
    """About three words: the first three, or six characters where words are not spaced."""
    return sentence[:6] if lang in UNSPACED else " ".join(sentence.split()[:3])


@pytest.fixture(scope="module")
def sentences() -> dict[str, list[str]]:
    return {lang: load(lang) for lang in LANGUAGES}


@pytest.fixture(scope="module")
def by_sentence(sentences: dict[str, list[str]]) -> dict[str, list[Detection]]:
    return {lang: [detect(s) for s in texts] for lang, texts in sentences.items()}


@pytest.fixture(scope="module")
def by_paragraph(sentences: dict[str, list[str]]) -> dict[str, list[Detection]]:
    return {lang: [detect(p) for p in paragraphs(texts)] for lang, texts in sentences.items()}


def share_right(lang: str, results: list[Detection]) -> float:
    return sum(r.lang == lang for r in results) / len(results)


def test_the_set_covers_every_language(sentences: dict[str, list[str]]) -> None:
    assert sorted(p.stem for p in DATA.glob("*.txt")) == sorted(LANGUAGES)
    for lang, texts in sentences.items():
        assert len(texts) >= 24, lang
        assert len(set(texts)) == len(texts), f"{lang}: repeated sentence"
        first = (DATA / f"{lang}.txt").read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith("# written for Warta's detection test"), lang


def test_accuracy_per_language(
    sentences: dict[str, list[str]],
    by_sentence: dict[str, list[Detection]],
    by_paragraph: dict[str, list[Detection]],
) -> None:
    rows = []
    for lang in LANGUAGES:
        results = by_sentence[lang]
        wrong = Counter(str(r.lang) for r in results if r.lang != lang)
        rows.append(
            (
                lang,
                len(results),
                share_right(lang, results),
                share_right(lang, by_paragraph[lang]),
                sum(r.confidence for r in results) / len(results),
                ", ".join(f"{code} x{n}" for code, n in wrong.most_common(3)) or "-",
            )
        )
    print()
    print(f"{'lang':<8} {'n':>3} {'sentences':>9} {'paragraphs':>10} {'mean conf':>9}  mistaken for")
    for lang, n, sentence_share, paragraph_share, confidence, wrong_as in rows:
        print(
            f"{lang:<8} {n:>3} {sentence_share:>9.1%} {paragraph_share:>10.1%} {confidence:>9.2f}  {wrong_as}"
        )
    below = {lang: share for lang, _, share, *_ in rows if share < 0.90}
    assert not below, f"under 90% of sentences right: {below}"


@pytest.mark.parametrize("pair", [("ms", "id"), ("zh-Hans", "zh-Hant")])
def test_close_pairs_are_told_apart(pair: tuple[str, str], by_sentence: dict[str, list[Detection]]) -> None:
    results = [(lang, r) for lang in pair for r in by_sentence[lang]]
    own = sum(r.lang == lang for lang, r in results) / len(results)
    print(f"\n{pair[0]} vs {pair[1]}: {own:.1%} of {len(results)} sentences get their own label")
    assert own >= 0.95


def test_every_paragraph_is_right(by_paragraph: dict[str, list[Detection]]) -> None:
    wrong = {
        lang: [r.lang for r in results if r.lang != lang]
        for lang, results in by_paragraph.items()
        if share_right(lang, results) < 1
    }
    assert not wrong


@pytest.mark.slow  # left out of `make test-fast`
def test_paragraphs_are_surer_than_snippets(
    sentences: dict[str, list[str]], by_paragraph: dict[str, list[Detection]]
) -> None:
    snippets = [detect(snippet(s, lang)) for lang, texts in sentences.items() for s in texts]
    paragraph_results = [r for results in by_paragraph.values() for r in results]
    for r in snippets + paragraph_results:
        assert 0.0 <= r.confidence <= 1.0
        assert all(0.0 <= score <= 1.0 for _, score in r.candidates)
    snippet_mean = sum(r.confidence for r in snippets) / len(snippets)
    paragraph_mean = sum(r.confidence for r in paragraph_results) / len(paragraph_results)
    print(
        f"\nmean confidence: 3-word snippets {snippet_mean:.2f}, 3-sentence paragraphs {paragraph_mean:.2f}"
    )
    assert paragraph_mean > snippet_mean + 0.3


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n\t ",
        "😀🎉👍🚀",
        "12 345 67,8 %",
        "!?",
    ],
)
def test_nothing_to_read_gives_none(text: str) -> None:
    result = detect(text)
    assert result.lang is None
    assert result.confidence == 0.0


@pytest.mark.parametrize(
    ("text", "foreign"),
    [
        (
            "Il governo ha approvato ieri sera un pacchetto di misure per sostenere le imprese colpite "
            "dall'alluvione in Emilia-Romagna, con uno stanziamento di due miliardi di euro.",
            "it",
        ),
        (
            "De gemeenteraad van Utrecht heeft dinsdag besloten om het openbaar vervoer in het centrum "
            "vanaf volgend jaar gratis te maken voor inwoners ouder dan zeventig.",
            "nl",
        ),
    ],
)
def test_a_language_outside_the_wire_gives_none(text: str, foreign: str) -> None:
    result = detect(text)
    assert result.lang is None
    assert result.confidence == 0.0
    assert result.candidates and result.candidates[0][0] == foreign


def test_awkward_characters_are_read_round() -> None:
    sentence = load("ms")[0]
    for noise in ("\x00", "\x07\x1b", "\ud800", "\ufffe", "\U0010ffff", "\u200b\ufeff"):
        result = detect(f"{noise}{sentence}{noise}")
        assert result.lang == "ms", repr(noise)


def test_a_long_text_reads_the_same() -> None:
    body = " ".join(load("id") * 8)
    result = detect(body)
    assert result.lang == "id"
    assert result.confidence > 0.9


def test_kanji_without_kana_is_chinese_and_kana_is_japanese() -> None:
    assert detect("衛生福利部表示，流感疫苗自十月起開放全民接種，各地衛生所均可施打。").lang == "zh-Hant"
    assert detect("東京都は新しい計画を発表した。").lang == "ja"


def test_taiwan_usage_counts_as_traditional() -> None:
    assert detect("台灣").lang == "zh-Hant"
    assert detect("台湾").lang == "zh-Hans"
    assert detect("台北市政府今天宣布，捷運新路線將於明年通車。").lang == "zh-Hant"


def test_short_text_is_unsure() -> None:
    result = detect("Kerajaan berkata")
    assert result.lang == "ms"
    assert result.confidence < 0.5
    assert {code for code, _ in result.candidates} >= {"ms", "id"}
