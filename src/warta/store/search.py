"""Full-text search over editions.

Text is cut into words by :func:`warta.languages.tokens.tokenize`, the tokenizer saved alerts use
too, before it reaches the database: the index stores the tokens separated by spaces, and a query
is cut by the same rule, so a word of a release is the same term in the index, in a search and in
an alert, whichever the language. The database's own tokenizer then only has to split on the
spaces:

- PostgreSQL's parser (the `simple` configuration of migration 0004) takes each token whole.
- SQLite's FTS5 `unicode61` tokenizer counts only letters, digits and private-use characters as
  parts of a word, and would cut Thai words at their vowel and tone marks (and Japanese at voicing
  marks left apart). On SQLite each combining mark is therefore stored, and searched, as a
  character of the supplementary private-use planes (U+F0000 + its code point), which FTS5 keeps
  inside the word and leaves unchanged.

A query is its whitespace-separated words, all required; a word the tokenizer cuts into several
tokens (``e-commerce``, ``東京タワー``, Thai written without spaces) must occur as a phrase.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from functools import lru_cache

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from warta.intake.sanitize import html_to_text
from warta.languages.tokens import tokenize
from warta.model import Edition

# ts_rank weights in the order D, C, B, A: body (C) 1, summary (B) 2, headline (A) 4, as bm25 on SQLite.
_PG_WEIGHTS = "{0.1, 0.25, 0.5, 1.0}"
_PRIVATE_PLANES = 0xF0000


@lru_cache(maxsize=1)
def _fts5_table() -> dict[int, int]:
    """Combining marks (the only characters of tokens that FTS5 would split on) to private-use ones;
    tokens hold no marks beyond the first two planes."""
    return {cp: _PRIVATE_PLANES + cp for cp in range(0x20000) if unicodedata.category(chr(cp))[0] == "M"}


def index_terms(value: str) -> str:
    """The text as the index stores it: its tokens, separated by spaces."""
    return " ".join(tokenize(value))


def _for_fts5(terms: str) -> str:
    return terms if terms.isascii() else terms.translate(_fts5_table())


def query_phrases(query: str) -> list[list[str]]:
    """The query as index terms, one list per word; every word must occur, its terms in a row."""
    phrases = []
    for word in query.split():
        terms = tokenize(word)
        if terms:
            phrases.append(terms)
    return phrases


def match_expression(query: str) -> str | None:
    """A safe FTS5 MATCH expression: every word of the query must occur, its tokens as a phrase."""
    phrases = ['"' + _for_fts5(" ".join(terms)).replace('"', '""') + '"' for terms in query_phrases(query)]
    return " AND ".join(phrases) if phrases else None


def index_edition(session: Session, edition: Edition) -> None:
    session.execute(text("DELETE FROM edition_search WHERE edition_id = :id"), {"id": edition.id})
    _write_row(
        session.connection(),
        edition.id,
        edition.release_id,
        edition.lang,
        edition.headline,
        edition.summary,
        html_to_text(edition.body_html),
    )


def _write_row(conn: Connection, edition_id: str, release_id: str, lang: str, *fields: str) -> None:
    """Insert an edition's row of the index (headline, summary and body as plain text)."""
    postgresql = conn.dialect.name == "postgresql"
    insert = (
        "INSERT INTO edition_search (edition_id, release_id, lang, headline, summary, body) "
        "VALUES (:id, :rid, :lang, :h, :s, :b)"
    )
    if postgresql:
        # a concurrent re-index of the same edition replaces the row instead of failing on the key
        insert += (
            " ON CONFLICT (edition_id) DO UPDATE SET release_id = excluded.release_id, "
            "lang = excluded.lang, headline = excluded.headline, summary = excluded.summary, "
            "body = excluded.body"
        )
    headline, summary, body = (index_terms(f) if postgresql else _for_fts5(index_terms(f)) for f in fields)
    conn.execute(
        text(insert),
        {"id": edition_id, "rid": release_id, "lang": lang, "h": headline, "s": summary, "b": body},
    )


def reindex(conn: Connection) -> int:
    """Rebuild every row of the index from its edition, after a change of the tokenizer's rules;
    returns how many rows were written."""
    rows = conn.execute(
        text(
            "SELECT e.id, e.release_id, e.lang, e.headline, e.summary, e.body_html FROM editions AS e "
            "WHERE e.id IN (SELECT edition_id FROM edition_search)"
        )
    ).all()
    for edition_id, release_id, lang, headline, summary, body_html in rows:
        conn.execute(text("DELETE FROM edition_search WHERE edition_id = :id"), {"id": edition_id})
        _write_row(conn, edition_id, release_id, lang, headline, summary or "", html_to_text(body_html))
    return len(rows)


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
