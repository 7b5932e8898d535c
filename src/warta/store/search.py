"""Full-text search over editions.

Text is turned into index terms here, before it reaches the database, so SQLite (FTS5) and
PostgreSQL index the same terms: space-separated scripts go through as they are, Thai is
segmented into words (PyThaiNLP newmm), runs of Chinese, Japanese and Korean characters become
overlapping bigrams (so a two-character query such as 東京 matches inside a longer word).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.orm import Session

from warta.intake.sanitize import html_to_text
from warta.languages.segment import segment_thai
from warta.model import Edition

_CJK = (
    "\u1100-\u11ff\u3040-\u309f\u30a0-\u30ff\u3130-\u318f\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
)
_CJK_RUN = re.compile(f"[{_CJK}]+")
_WORD = re.compile(r"\w+", re.UNICODE)


def _bigrams(run: str) -> str:
    if len(run) == 1:
        return run
    return " ".join(run[i : i + 2] for i in range(len(run) - 1))


def index_terms(value: str) -> str:
    """The text as the index sees it: Thai segmented into words, CJK runs split into overlapping bigrams."""
    return _CJK_RUN.sub(lambda m: f" {_bigrams(m.group(0))} ", segment_thai(value))


def match_expression(query: str) -> str | None:
    """A safe FTS5 MATCH expression: every word of the query must occur (CJK words as bigram phrases)."""
    phrases = []
    for word in _WORD.findall(segment_thai(query)):
        terms = index_terms(word).split()
        if terms:
            phrases.append('"' + " ".join(t.replace('"', '""') for t in terms) + '"')
    return " AND ".join(phrases) if phrases else None


def index_edition(session: Session, edition: Edition) -> None:
    session.execute(text("DELETE FROM edition_search WHERE edition_id = :id"), {"id": edition.id})
    session.execute(
        text(
            "INSERT INTO edition_search (edition_id, release_id, lang, headline, summary, body) "
            "VALUES (:id, :rid, :lang, :h, :s, :b)"
        ),
        {
            "id": edition.id,
            "rid": edition.release_id,
            "lang": edition.lang,
            "h": index_terms(edition.headline),
            "s": index_terms(edition.summary),
            "b": index_terms(html_to_text(edition.body_html)),
        },
    )


def drop_release(session: Session, release_id: str) -> None:
    session.execute(text("DELETE FROM edition_search WHERE release_id = :id"), {"id": release_id})


def search_edition_ids(session: Session, query: str, limit: int = 200) -> Sequence[str]:
    """Edition ids matching the query, best first. Callers apply visibility."""
    expr = match_expression(query)
    if expr is None:
        return []
    dialect = session.get_bind().dialect.name
    if dialect != "sqlite":
        raise NotImplementedError(f"full-text search is implemented for SQLite only, not {dialect}")
    rows = session.execute(
        text(
            "SELECT edition_id FROM edition_search WHERE edition_search MATCH :q "
            "ORDER BY bm25(edition_search, 0, 0, 0, 4.0, 2.0, 1.0) LIMIT :n"
        ),
        {"q": expr, "n": limit},
    )
    return [r[0] for r in rows]
