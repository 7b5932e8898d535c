"""Full-text search over editions.

Text is turned into index terms here, before it reaches the database, so SQLite (FTS5) and
PostgreSQL index the same terms: space-separated scripts go through as they are, Thai is
segmented into words (PyThaiNLP newmm), runs of Chinese, Japanese and Korean characters become
overlapping bigrams (so a two-character query such as 東京 matches inside a longer word). The terms
are then folded the way FTS5's `unicode61 remove_diacritics 2` tokenizer folds them (split on
anything that is not a letter, digit or private-use character; lower case; accents taken off Latin
letters), so PostgreSQL's `simple` configuration sees exactly the words SQLite sees.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache

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
_ASCII_SEPARATORS = re.compile(r"[^a-z0-9]+")
_LATIN = ("\u00c0", "\u024f"), ("\u1e00", "\u1eff")
# ts_rank weights in the order D, C, B, A: body (C) 1, summary (B) 2, headline (A) 4, as bm25 on SQLite.
_PG_WEIGHTS = "{0.1, 0.25, 0.5, 1.0}"


def _bigrams(run: str) -> str:
    if len(run) == 1:
        return run
    return " ".join(run[i : i + 2] for i in range(len(run) - 1))


@lru_cache(maxsize=16384)
def _fold_char(ch: str) -> str:
    if any(lo <= ch <= hi for lo, hi in _LATIN):
        bare = "".join(c for c in unicodedata.normalize("NFD", ch) if not unicodedata.combining(c))
        if len(bare) == 1:
            ch = bare
    ch = ch.lower()
    if all(unicodedata.category(c)[0] in "LN" or unicodedata.category(c) == "Co" for c in ch):
        return ch
    return " "


def fold(value: str) -> str:
    """Space-separated lower-case words, Latin accents removed: what FTS5 unicode61 would make of it."""
    if value.isascii():
        return " ".join(_ASCII_SEPARATORS.sub(" ", value.lower()).split())
    value = unicodedata.normalize("NFC", value)
    return " ".join("".join(_fold_char(ch) for ch in value).split())


def index_terms(value: str) -> str:
    """The text as the index sees it: Thai segmented into words, CJK runs split into overlapping bigrams."""
    return fold(_CJK_RUN.sub(lambda m: f" {_bigrams(m.group(0))} ", segment_thai(value)))


def query_phrases(query: str) -> list[list[str]]:
    """The query as index terms, one list per word; every word must occur, its terms in a row."""
    phrases = []
    for word in _WORD.findall(segment_thai(query)):
        terms = index_terms(word).split()
        if terms:
            phrases.append(terms)
    return phrases


def match_expression(query: str) -> str | None:
    """A safe FTS5 MATCH expression: every word of the query must occur (CJK words as bigram phrases)."""
    phrases = ['"' + " ".join(t.replace('"', '""') for t in terms) + '"' for terms in query_phrases(query)]
    return " AND ".join(phrases) if phrases else None


def index_edition(session: Session, edition: Edition) -> None:
    session.execute(text("DELETE FROM edition_search WHERE edition_id = :id"), {"id": edition.id})
    insert = (
        "INSERT INTO edition_search (edition_id, release_id, lang, headline, summary, body) "
        "VALUES (:id, :rid, :lang, :h, :s, :b)"
    )
    if session.get_bind().dialect.name == "postgresql":
        # a concurrent re-index of the same edition replaces the row instead of failing on the key
        insert += (
            " ON CONFLICT (edition_id) DO UPDATE SET release_id = excluded.release_id, "
            "lang = excluded.lang, headline = excluded.headline, summary = excluded.summary, "
            "body = excluded.body"
        )
    session.execute(
        text(insert),
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
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return _search_postgresql(session, query, limit)
    if dialect != "sqlite":
        raise NotImplementedError(f"full-text search is implemented for SQLite and PostgreSQL, not {dialect}")
    expr = match_expression(query)
    if expr is None:
        return []
    rows = session.execute(
        text(
            "SELECT edition_id FROM edition_search WHERE edition_search MATCH :q "
            "ORDER BY bm25(edition_search, 0, 0, 0, 4.0, 2.0, 1.0) LIMIT :n"
        ),
        {"q": expr, "n": limit},
    )
    return [r[0] for r in rows]


def _search_postgresql(session: Session, query: str, limit: int) -> Sequence[str]:
    """The same words as on SQLite: each word a phrase (`<->` between its terms), all words required.

    The terms travel as bound parameters through phraseto_tsquery, so no query text is parsed as
    tsquery syntax."""
    phrases = query_phrases(query)
    if not phrases:
        return []
    params: dict[str, object] = {"n": limit, "weights": _PG_WEIGHTS}
    parts = []
    for i, terms in enumerate(phrases):
        params[f"w{i}"] = " ".join(terms)
        parts.append(f"phraseto_tsquery('simple', :w{i})")
    rows = session.execute(
        text(
            f"SELECT s.edition_id FROM edition_search AS s, (SELECT {' && '.join(parts)} AS q) AS query "
            "WHERE s.tsv @@ query.q "
            "ORDER BY ts_rank(CAST(:weights AS real[]), s.tsv, query.q) DESC, s.edition_id LIMIT :n"
        ),
        params,
    )
    return [r[0] for r in rows]
