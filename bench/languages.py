"""Languages: detection speed and accuracy.

`detection()` times `warta.languages.detect.detect` per call on sentence-length texts (every sentence of
the held-out set in tests/data/langid, all fifteen languages) and on texts of about 1,000 words (one a
language, sentences of that language's set drawn at random, seeded: 1,000 words where words are
spaced; 2,000 characters of Chinese or Japanese and 5,000 of Thai, which are not). Times are per call in
a warm process; `first_pass_s` is the untimed-per-call first pass over all the sentences, in which
Lingua loads its models. It also measures accuracy over the same set, per language, for single sentences and for
paragraphs of three, and for the two close pairs (Malay and Indonesian, Simplified and Traditional
Chinese) on their sentences.

    python -c "from bench import languages; print(languages.run())"
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.harness import save, summary
from warta.i18n.catalog import LANGUAGES
from warta.languages.detect import detect

LANGID = Path(__file__).resolve().parents[1] / "tests" / "data" / "langid"
SENTENCE_ROUNDS = 5
DOCUMENT_ROUNDS = 20
DOC_WORDS = 1_000
UNSPACED_CHARS = {"zh-Hans": 2_000, "zh-Hant": 2_000, "ja": 2_000, "th": 5_000}


def _sentences(lang: str) -> list[str]:
    lines = (LANGID / f"{lang}.txt").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _document(lang: str, sentences: list[str], rng: random.Random) -> str:
    parts: list[str] = []
    if lang in UNSPACED_CHARS:
        while sum(len(p) for p in parts) < UNSPACED_CHARS[lang]:
            parts.append(rng.choice(sentences))
        return " ".join(parts)[: UNSPACED_CHARS[lang]]
    words: list[str] = []
    while len(words) < DOC_WORDS:
        words += rng.choice(sentences).split()
    return " ".join(words[:DOC_WORDS])


def _timed(fn: Callable[[str], Any], texts: list[str], rounds: int) -> list[float]:
    samples: list[float] = []
    for _ in range(rounds):
        for text in texts:
            t = time.perf_counter()
            fn(text)
            samples.append(time.perf_counter() - t)
    return samples


def _stats(samples: list[float]) -> dict[str, Any]:
    """`summary`'s keys in ms, and the median and p99 again in µs (sub-millisecond calls)."""
    in_us = summary([s * 1000 for s in samples])
    return {**summary(samples), "p50_us": round(in_us["p50_ms"]), "p99_us": round(in_us["p99_ms"])}


def detection() -> dict[str, Any]:
    sets = {lang: _sentences(lang) for lang in LANGUAGES}
    rng = random.Random(15)
    documents = {lang: _document(lang, sentences, rng) for lang, sentences in sets.items()}

    all_sentences = [s for sentences in sets.values() for s in sentences]
    started = time.perf_counter()
    methods = Counter(detect(s).method for s in all_sentences)
    first_pass_s = time.perf_counter() - started
    sentence_samples = _timed(detect, all_sentences, SENTENCE_ROUNDS)

    document_samples: list[float] = []
    document_p50_us: dict[str, int] = {}
    for lang, document in documents.items():
        samples = _timed(detect, [document], DOCUMENT_ROUNDS)
        document_samples += samples
        document_p50_us[lang] = _stats(samples)["p50_us"]

    sentence_share: dict[str, float] = {}
    paragraph_share: dict[str, float] = {}
    own_label: dict[str, list[bool]] = {}
    for lang, sentences in sets.items():
        answers = [detect(s).lang for s in sentences]
        sentence_share[lang] = round(sum(a == lang for a in answers) / len(answers), 3)
        paragraphs = [" ".join(sentences[i : i + 3]) for i in range(0, len(sentences) - 2, 3)]
        paragraph_share[lang] = round(sum(detect(p).lang == lang for p in paragraphs) / len(paragraphs), 3)
        own_label[lang] = [a == lang for a in answers]

    def pair(a: str, b: str) -> float:
        right = own_label[a] + own_label[b]
        return round(sum(right) / len(right), 3)

    return {
        "detect_sentence": {
            **_stats(sentence_samples),
            "sentences": len(all_sentences),
            "mean_chars": round(sum(len(s) for s in all_sentences) / len(all_sentences)),
            "first_pass_s": round(first_pass_s, 2),
            "methods": dict(methods.most_common()),
            "accuracy_sentences": sentence_share,
            "accuracy_paragraphs": paragraph_share,
            "ms_vs_id": pair("ms", "id"),
            "zh_hans_vs_zh_hant": pair("zh-Hans", "zh-Hant"),
        },
        "detect_1000_words": {
            **_stats(document_samples),
            "documents": len(documents),
            "mean_chars": round(sum(len(d) for d in documents.values()) / len(documents)),
            "p50_us_by_language": document_p50_us,
        },
    }


RELEASE_EN = (
    "Pelabuhan Selatan Berhad today opened a container terminal at Port Klang whose cranes and yard "
    "vehicles run on electricity from rooftop solar panels and a battery store. The terminal can handle "
    "one million containers a year and is expected to cut the port's diesel use by a third. Shipping lines "
    "asked for greener calls, the chief executive said, and the company answered with a terminal that "
    "needs no diesel at all. Construction took two years and employed workers from the whole region. "
)


def _release_words(n: int = 500) -> str:
    words = RELEASE_EN.split()
    return " ".join(words[i % len(words)] for i in range(n))


def translation() -> dict[str, Any]:
    """Words per second per engine on a 500-word release, beside the raw `apertium` command.

    The engine figure includes Warta's markup handling (paragraph HTML in, HTML out) and runs on a
    warm pipeline; the raw command is what an operator would run by hand: `apertium eng-spa` on the
    same text as plain text, start-up included, and once more on 20 copies to show its ceiling
    once start-up is amortised."""
    import shutil
    import subprocess

    from warta.languages.engines.apertium import ApertiumEngine
    from warta.languages.engines.opencc_engine import OpenCCEngine
    from warta.languages.markup import translate_html

    text = _release_words(500)
    paragraphs = [" ".join(text.split()[i : i + 50]) for i in range(0, 500, 50)]
    html = "".join(f"<p>{p}</p>" for p in paragraphs)
    out: dict[str, Any] = {}
    apertium = ApertiumEngine()
    if apertium.available() and shutil.which("apertium"):
        translate_html(html, apertium, "en", "es")  # warm the pipeline
        samples = []
        for _ in range(20):
            t = time.perf_counter()
            translate_html(html, apertium, "en", "es")
            samples.append(time.perf_counter() - t)
        out["apertium_engine_500_words"] = {
            **summary(samples),
            "words_per_s": round(500 / sorted(samples)[10]),
        }
        raw = []
        for _ in range(5):
            t = time.perf_counter()
            subprocess.run(["apertium", "eng-spa"], input=text.encode(), capture_output=True, check=True)
            raw.append(time.perf_counter() - t)
        out["apertium_raw_500_words"] = {**summary(raw), "words_per_s": round(500 / sorted(raw)[2])}
        big = " ".join([text] * 20)
        t = time.perf_counter()
        subprocess.run(["apertium", "eng-spa"], input=big.encode(), capture_output=True, check=True)
        wall = time.perf_counter() - t
        out["apertium_raw_10000_words"] = {**summary([wall]), "words_per_s": round(10_000 / wall)}
        apertium.close()
    opencc = OpenCCEngine()
    hans = "南方港口公司今天宣布投资三亿令吉，在巴生港建设新的集装箱码头，采用软件管理系统和高速网络。" * 20
    samples = []
    for _ in range(50):
        t = time.perf_counter()
        opencc.translate([hans], "zh-Hans", "zh-Hant")
        samples.append(time.perf_counter() - t)
    out["opencc_1000_chars"] = {**summary(samples), "chars_per_s": round(len(hans) / sorted(samples)[25])}
    return out


def run() -> dict[str, Any]:
    results = {**detection(), **translation()}
    save("languages", {"results": results})
    return results
