"""Word segmentation for scripts written without spaces between words.

Thai is segmented with PyThaiNLP's dictionary-based `newmm` (offline, the dictionary ships with
the package). Search and alert matching both go through here, so a Thai query finds the words
the index holds.
"""

from __future__ import annotations

import re
from functools import lru_cache

THAI_RUN = re.compile(r"[\u0e00-\u0e7f]+")


@lru_cache(maxsize=65536)
def thai_words(run: str) -> tuple[str, ...]:
    from pythainlp.tokenize import word_tokenize

    return tuple(w for w in word_tokenize(run, engine="newmm", keep_whitespace=False) if w.strip())


def segment_thai(text: str) -> str:
    """`text` with every Thai run split into space-separated words."""
    if not THAI_RUN.search(text):
        return text
    return THAI_RUN.sub(lambda m: " " + " ".join(thai_words(m.group(0))) + " ", text)
