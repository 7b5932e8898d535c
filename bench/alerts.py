"""Saved-alert matching: one 1,000-word edition against 100,000 and 1,000,000 alerts.

Synthetic but shaped like the real thing: a 50,000-word vocabulary whose frequent words are short, edition
text drawn from it with Zipf frequencies, alert terms drawn with the same Zipf frequencies from the words
ranked 1,000 and below (names and topics rather than everyday words), 1-4 terms per alert with phrases,
OR and NOT mixed in, about 30% of alerts filtered by language or country and 5% by sector. Everything is
seeded, so runs are comparable. `fire_rate` is the share of alerts one edition matches: the match time
grows with it, since every matched alert is reported.

    python -c "from bench import alerts; print(alerts.run())"
"""

from __future__ import annotations

import gc
import itertools
import random
import time
from pathlib import Path
from typing import Any

from bench.harness import save, summary
from warta.i18n.catalog import LANGUAGES
from warta.routing.alerts import AlertIndex, AlertSpec, Document

VOCABULARY = 50_000
ALERT_MIN_RANK = 1_000  # alerts name things and topics, not the everyday words of running text
DOC_WORDS = 1_000
DOCS = 50
SIZES = (100_000, 1_000_000)

LANGS = ["en"] * 5 + list(LANGUAGES)  # English-heavy, as the wire is
COUNTRIES = [
    "MY",
    "SG",
    "ID",
    "TH",
    "VN",
    "PH",
    "US",
    "GB",
    "DE",
    "FR",
    "ES",
    "PT",
    "BR",
    "MX",
    "JP",
    "KR",
    "CN",
    "TW",
    "HK",
    "IN",
    "AU",
    "NZ",
    "AE",
    "SA",
    "EG",
    "NG",
    "ZA",
    "KE",
    "CA",
    "IT",
    "NL",
    "SE",
    "RU",
    "TR",
    "PK",
    "BD",
]
SECTORS = ["top-story"] + [f"medtop:{n:02d}000000" for n in range(1, 18)]
ONSETS = [
    "b",
    "c",
    "d",
    "f",
    "g",
    "h",
    "j",
    "k",
    "l",
    "m",
    "n",
    "p",
    "r",
    "s",
    "t",
    "v",
    "w",
    "z",
    "br",
    "ch",
    "dr",
    "gr",
    "kr",
    "pl",
    "sh",
    "st",
    "tr",
]
VOWELS = ["a", "e", "i", "o", "u", "ai", "ei", "ou", "ia"]


def vocabulary(rng: random.Random) -> list[str]:
    """Unique pseudo-words, rank 0 the most frequent; length grows with rank as in real languages."""
    words: list[str] = []
    seen: set[str] = set()
    rank = 0
    while len(words) < VOCABULARY:
        target = max(2, min(14, int(1.5 + 0.9 * (rank + 1).bit_length()) + rng.randint(-1, 1)))
        word = ""
        while len(word) < target:
            word += rng.choice(ONSETS) + rng.choice(VOWELS)
        if word in seen:
            continue
        seen.add(word)
        words.append(word)
        rank += 1
    return words


def zipf_weights(first: int, last: int, s: float = 1.0) -> list[float]:
    """Cumulative Zipf weights of the words ranked first..last-1 (rank 0 the most frequent)."""
    return list(itertools.accumulate(1.0 / (r + 1) ** s for r in range(first, last)))


class Generator:
    def __init__(self, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.words = vocabulary(self.rng)
        self.doc_cum = zipf_weights(0, VOCABULARY)
        self.content = self.words[ALERT_MIN_RANK:]
        self.content_cum = zipf_weights(ALERT_MIN_RANK, VOCABULARY)
        self.country_sets = [
            frozenset(self.rng.sample(COUNTRIES, k)) for k in (1, 1, 1, 2, 2, 3) for _ in range(20)
        ]
        self.lang_sets = [frozenset(self.rng.sample(LANGS[5:], k)) for k in (1, 1, 2) for _ in range(10)]
        self.lang_sets += [frozenset({"en"})] * 20
        self.sector_sets = [frozenset(self.rng.sample(SECTORS, k)) for k in (1, 2) for _ in range(10)]

    def terms(self, k: int) -> list[str]:
        return self.rng.choices(self.content, cum_weights=self.content_cum, k=k)

    def query(self) -> str:
        r = self.rng.random()
        if r < 0.35:
            return self.terms(1)[0]
        if r < 0.55:
            return " ".join(self.terms(2))
        if r < 0.65:
            return " ".join(self.terms(self.rng.randint(3, 4)))
        if r < 0.75:
            a, b, c = self.terms(3)
            return f'"{a} {b}"' + (f" {c}" if self.rng.random() < 0.5 else "")
        if r < 0.90:
            a, b, c = self.terms(3)
            return self.rng.choice(
                [f"{a} OR {b}", f"({a} {b}) OR {c}", f"({a} OR {b}) {c}", f"{a} OR {b} OR {c}"]
            )
        a, b, c = self.terms(3)
        return self.rng.choice([f"{a} {b} -{c}", f"{a} NOT {c}", f"{a} -({b} OR {c})"])

    def alert(self, i: int) -> AlertSpec:
        rng = self.rng
        countries: frozenset[str] = frozenset()
        languages: frozenset[str] = frozenset()
        sectors: frozenset[str] = frozenset()
        r = rng.random()
        if r < 0.15:
            languages = rng.choice(self.lang_sets)
        elif r < 0.25:
            countries = rng.choice(self.country_sets)
        elif r < 0.30:
            languages = rng.choice(self.lang_sets)
            countries = rng.choice(self.country_sets)
        if rng.random() < 0.05:
            sectors = rng.choice(self.sector_sets)
        return AlertSpec(f"alr_{i:08d}", self.query(), countries, languages, sectors)

    def document(self) -> tuple[str, str, list[str], list[str]]:
        rng = self.rng
        words = rng.choices(self.words, cum_weights=self.doc_cum, k=DOC_WORDS)
        for i in range(12, DOC_WORDS, rng.randint(12, 20)):
            words[i] += "."
        countries = rng.sample(COUNTRIES, rng.randint(1, 4))
        sectors = rng.sample(SECTORS, rng.randint(1, 3))
        return " ".join(words), rng.choice(LANGS), countries, sectors


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def measure(gen: Generator, size: int, docs: list[Document]) -> dict[str, Any]:
    gc.collect()
    before = rss_mib()
    specs = [gen.alert(i) for i in range(size)]
    after_specs = rss_mib()
    start = time.perf_counter()
    index = AlertIndex.build(specs)
    build_s = time.perf_counter() - start
    gc.collect()
    after_index = rss_mib()
    index.match(docs[0])
    samples: list[float] = []
    matched: list[int] = []
    for doc in docs:
        t = time.perf_counter()
        found = index.match(doc)
        samples.append(time.perf_counter() - t)
        matched.append(len(found))
    stats = index.stats()
    result: dict[str, Any] = {
        **summary(samples),
        "alerts": size,
        "build_s": round(build_s, 1),
        "index_mib": round(after_index - after_specs, 1),
        "specs_mib": round(after_specs - before, 1),
        "matches_per_doc": round(sum(matched) / len(matched), 1),
        "fire_rate": round(sum(matched) / len(matched) / size, 4),
        "verified_share": round(stats["verified"] / max(1, stats["alerts"]), 3),
        "postings": stats["postings"],
        "buckets": stats["buckets"],
        "rejected": len(index.rejected),
    }
    del index, specs
    gc.collect()
    return result


def run(sizes: tuple[int, ...] = SIZES) -> dict[str, Any]:
    gen = Generator()
    raw = [gen.document() for _ in range(DOCS)]
    tokenize_samples: list[float] = []
    docs: list[Document] = []
    for text, lang, countries, sectors in raw:
        t = time.perf_counter()
        docs.append(Document.from_text(text, lang, countries, sectors))
        tokenize_samples.append(time.perf_counter() - t)
    results: dict[str, Any] = {
        "document_1000_words": {
            **summary(tokenize_samples),
            "distinct_terms": round(sum(len(d.terms) for d in docs) / len(docs)),
        }
    }
    for size in sizes:
        label = f"{size // 1_000_000}m" if size >= 1_000_000 else f"{size // 1000}k"
        results[f"match_{label}_alerts"] = measure(gen, size, docs)
    save("alerts", {"results": results})
    return results
