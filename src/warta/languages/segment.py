"""Segmentation of Thai, which is written without spaces between words.

Thai runs are cut into syllables with PyThaiNLP (its dictionary-based maximal matching over the
syllable list that ships with the package, offline). Syllables rather than dictionary words: the
word list holds compounds (มีประสิทธิภาพ, "efficient", beside ประสิทธิภาพ, "efficiency"), so the
word segmenter cuts the same word differently in running text and in a query on its own, and a word
inside a compound would find nothing. Syllables come out the same either way, and a word is matched
as the phrase of its syllables, as Chinese and Japanese words are matched by their bigrams.
"""

from __future__ import annotations

from functools import lru_cache
from sys import intern


@lru_cache(maxsize=65536)
def thai_syllables(run: str) -> tuple[str, ...]:
    """The syllables of a run of Thai letters and marks, in order."""
    from pythainlp.tokenize import syllable_tokenize

    return tuple(intern(s) for s in syllable_tokenize(run, engine="dict", keep_whitespace=False) if s.strip())
