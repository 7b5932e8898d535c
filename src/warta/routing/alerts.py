"""Saved alerts: a small query language and an index that matches one edition against every alert at once.

A query is words, "quoted phrases", AND / OR / NOT (in any case), a leading ``-`` to exclude a word and
parentheses. Juxtaposed terms are ANDed, AND binds tighter than OR and NOT binds tightest::

    solar "data centre" -coal
    (Cyberjaya OR Johor) AND investment
    東京 NOT 大阪

Text is tokenised by :func:`warta.languages.tokens.tokenize`, the tokenizer of the full-text search
too: case folded, Latin and Greek diacritics and Arabic harakat removed, Thai segmented into words, and
runs of Chinese, Japanese and Korean characters split into overlapping bigrams so that 東京 matches
inside 東京都. A bare word that tokenises to several tokens (``e-commerce``, ``東京タワー``) is a phrase.

Matching does not evaluate every alert. :class:`AlertIndex` files each alert under *anchors*: keys of one
or two tokens such that any document matching the alert contains every token of at least one key (an AND
needs one key, chosen from its rarest required tokens; an OR needs one key per branch). A document's
distinct tokens select the keys it contains. Alerts whose query is exactly a term, two ANDed terms or an
OR of those, and whose filters are fully covered by the bucket they are filed in, match by the lookup
alone; every other candidate is verified against its whole expression (phrases by token positions, NOT,
filters).

Filters: an alert's languages, countries and sectors (each empty for "any") are bucketed: the alert is
filed once per combination of its filter values, so a document looks only at the buckets for its own
language, countries and sectors. Languages follow RFC 4647 basic filtering: an alert for ``zh`` matches
editions in ``zh-Hans`` and ``zh-Hant``.
"""

from __future__ import annotations

import functools
import itertools
import re
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from warta.languages.tokens import CJK_RANGES, normalize, tokenize

__all__ = [
    "MAX_QUERY_CHARS",
    "MAX_QUERY_TERMS",
    "AlertIndex",
    "AlertSpec",
    "And",
    "Document",
    "QueryNode",
    "Not",
    "Or",
    "Phrase",
    "QueryError",
    "Term",
    "anchors",
    "filters_accept",
    "matches",
    "normalize",
    "parse",
    "tokenize",
]

MAX_QUERY_CHARS = 1000
MAX_QUERY_TERMS = 64
MAX_DEPTH = 32
# An alert is filed under at most this many filter combinations; dimensions that would exceed it are
# left out of the bucket key and checked when the alert is verified.
MAX_FILTER_KEYS = 8

# ---------------------------------------------------------------------------------------------------
# Query expressions


class QueryError(ValueError):
    """A query that cannot be used; `position` is the 0-based character offset it refers to, if any."""

    def __init__(self, message: str, position: int | None = None) -> None:
        self.message = message
        self.position = position
        super().__init__(message if position is None else f"{message} (at character {position + 1})")


@dataclass(frozen=True, slots=True)
class Term:
    token: str

    def evaluate(self, doc: Document) -> bool:
        return self.token in doc.terms

    def __str__(self) -> str:
        return f'"{self.token}"' if self.token.upper() in _OPERATORS else self.token


@dataclass(frozen=True, slots=True)
class Phrase:
    """Tokens that must occur at consecutive positions."""

    tokens: tuple[str, ...]

    def evaluate(self, doc: Document) -> bool:
        positions = doc.positions
        lists = []
        for offset, token in enumerate(self.tokens):
            found = positions.get(token)
            if found is None:
                return False
            lists.append((len(found), offset, found))
        lists.sort()
        starts: set[int] | None = None
        for _, offset, found in lists:
            shifted = {p - offset for p in found}
            starts = shifted if starts is None else starts & shifted
            if not starts:
                return False
        return True

    def __str__(self) -> str:
        return '"' + " ".join(self.tokens) + '"'


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[QueryNode, ...]

    def evaluate(self, doc: Document) -> bool:
        return all(child.evaluate(doc) for child in self.children)

    def __str__(self) -> str:
        return "(" + " AND ".join(map(str, self.children)) + ")"


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[QueryNode, ...]

    def evaluate(self, doc: Document) -> bool:
        return any(child.evaluate(doc) for child in self.children)

    def __str__(self) -> str:
        return "(" + " OR ".join(map(str, self.children)) + ")"


@dataclass(frozen=True, slots=True)
class Not:
    child: QueryNode

    def evaluate(self, doc: Document) -> bool:
        return not self.child.evaluate(doc)

    def __str__(self) -> str:
        return f"NOT {self.child}"


QueryNode = Term | Phrase | And | Or | Not


def matches(node: QueryNode, doc: Document) -> bool:
    """Whether the document satisfies the expression (filters are not part of it)."""
    return node.evaluate(doc)


# ---------------------------------------------------------------------------------------------------
# Parser

_OPERATORS = {"AND", "OR", "NOT"}
_QUOTES = '"\u201c\u201d\u201e'
_LEX = re.compile(
    rf"\s+|(?P<LP>\()|(?P<RP>\))|[{_QUOTES}](?P<PHRASE>[^{_QUOTES}]*)(?P<close>[{_QUOTES}])?"
    rf"|(?P<NOT>-)(?=[^\s)])|(?P<WORD>[^\s(){_QUOTES}]+)"
)


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # WORD PHRASE LP RP AND OR NOT
    text: str
    pos: int


def _lex(query: str) -> list[_Tok]:
    toks: list[_Tok] = []
    for m in _LEX.finditer(query):
        kind = m.lastgroup
        if kind is None:
            continue
        if kind == "close":
            toks.append(_Tok("PHRASE", m.group("PHRASE"), m.start()))
        elif kind == "PHRASE":
            raise QueryError("this quotation mark is never closed", m.start())
        elif kind == "WORD":
            word = m.group()
            upper = word.upper()
            toks.append(_Tok(upper if upper in _OPERATORS else kind, word, m.start()))
        else:
            toks.append(_Tok(kind, m.group(), m.start()))
    return toks


def _leaf(tok: _Tok) -> QueryNode:
    tokens = tokenize(tok.text)
    if not tokens:
        if tok.kind == "PHRASE":
            raise QueryError("the quoted phrase has no letters or digits", tok.pos)
        if tok.text in ("&&", "&"):
            raise QueryError(f"use AND instead of '{tok.text}'", tok.pos)
        if tok.text in ("||", "|"):
            raise QueryError(f"use OR instead of '{tok.text}'", tok.pos)
        if tok.text == "-":
            raise QueryError("'-' must be followed directly by the word to exclude, as in -word", tok.pos)
        raise QueryError(f"'{tok.text}' has no letters or digits to search for", tok.pos)
    if len(tokens) == 1:
        return Term(tokens[0])
    return Phrase(tuple(tokens))


def _join(kind: type[And] | type[Or], parts: list[QueryNode]) -> QueryNode:
    if len(parts) == 1:
        return parts[0]
    flat: list[QueryNode] = []
    for part in parts:
        if isinstance(part, kind):
            flat.extend(part.children)
        else:
            flat.append(part)
    return kind(tuple(flat))


class _Parser:
    def __init__(self, toks: list[_Tok]) -> None:
        self.toks = toks
        self.i = 0
        self.depth = 0

    def peek(self) -> _Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def query(self) -> QueryNode:
        node = self.or_expr(None)
        tok = self.peek()
        if tok is not None:
            raise QueryError("')' has no matching '('", tok.pos)
        return node

    def or_expr(self, after: _Tok | None) -> QueryNode:
        parts = [self.and_expr(after)]
        while (tok := self.peek()) is not None and tok.kind == "OR":
            self.i += 1
            parts.append(self.and_expr(tok))
        return _join(Or, parts)

    def and_expr(self, after: _Tok | None) -> QueryNode:
        parts = [self.unary(after)]
        while (tok := self.peek()) is not None and tok.kind not in ("OR", "RP"):
            if tok.kind == "AND":
                self.i += 1
                parts.append(self.unary(tok))
            else:
                parts.append(self.unary(None))
        return _join(And, parts)

    def unary(self, after: _Tok | None) -> QueryNode:
        tok = self.peek()
        if tok is None or tok.kind in ("AND", "OR", "RP"):
            if after is not None:
                raise QueryError(f"{after.text} needs a term after it", after.pos)
            if tok is None:
                raise QueryError("the query is empty", 0)
            if tok.kind == "RP":
                raise QueryError("')' has no matching '('", tok.pos)
            raise QueryError(f"{tok.text} needs a term before it", tok.pos)
        self.i += 1
        if tok.kind == "NOT":
            self.enter(tok)
            node: QueryNode = Not(self.unary(tok))
            self.depth -= 1
            return node
        if tok.kind == "LP":
            nxt = self.peek()
            if nxt is not None and nxt.kind == "RP":
                raise QueryError("empty parentheses", tok.pos)
            self.enter(tok)
            node = self.or_expr(tok)
            self.depth -= 1
            close = self.peek()
            if close is None or close.kind != "RP":
                raise QueryError("this '(' is never closed", tok.pos)
            self.i += 1
            return node
        return _leaf(tok)

    def enter(self, tok: _Tok) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise QueryError(f"the query is nested more than {MAX_DEPTH} levels deep", tok.pos)


def _count_terms(node: QueryNode) -> int:
    if isinstance(node, Term):
        return 1
    if isinstance(node, Phrase):
        return len(node.tokens)
    if isinstance(node, Not):
        return _count_terms(node.child)
    return sum(_count_terms(child) for child in node.children)


def _indexable(node: QueryNode, negated: bool = False) -> bool:
    """Whether every match must contain some positive term (so the alert can be filed under it)."""
    if isinstance(node, Not):
        return _indexable(node.child, not negated)
    if isinstance(node, Term | Phrase):
        return not negated
    if isinstance(node, And) != negated:
        return any(_indexable(c, negated) for c in node.children)
    return all(_indexable(c, negated) for c in node.children)


def parse(query: str) -> QueryNode:
    """The expression of a saved-alert query; `QueryError` if it is empty, malformed, too long or
    cannot be indexed (no word that has to appear, such as ``NOT x`` on its own)."""
    if len(query) > MAX_QUERY_CHARS:
        raise QueryError(f"the query is {len(query)} characters long; the limit is {MAX_QUERY_CHARS}")
    if not query.strip():
        raise QueryError("the query is empty")
    toks = _lex(query)
    node = _Parser(toks).query()
    count = _count_terms(node)
    if count > MAX_QUERY_TERMS:
        raise QueryError(f"the query has {count} search terms; the limit is {MAX_QUERY_TERMS}")
    if not _indexable(node):
        first_not = next((t.pos for t in toks if t.kind == "NOT"), None)
        raise QueryError(
            "the query needs at least one word that has to appear: NOT (or -) on its own would match "
            "almost everything",
            first_not,
        )
    return node


# Expressions are immutable, so alerts with the same query can share one.
_parse_shared = functools.lru_cache(maxsize=1 << 16)(parse)

# ---------------------------------------------------------------------------------------------------
# Anchors

Key = tuple[str, ...]  # one or two tokens, rarest first
Weight = Callable[[str], float]


def default_weight(token: str) -> float:
    """Estimated share of editions containing the token: short words are common, CJK bigrams rare."""
    if token[0] >= "\u1100" and _CJK_CHAR.match(token):
        return 0.02 if len(token) > 1 else 0.2
    return min(0.9, 4.0 / 2.0 ** len(token))


_CJK_CHAR = re.compile(f"[{CJK_RANGES}]")


def _key(tokens: Iterable[str], weight: Weight) -> tuple[Key, float]:
    """The (up to) two rarest tokens, rarest first, and the estimated share of editions holding both."""
    ranked = sorted({(weight(t), t) for t in tokens})[:2]
    if len(ranked) == 2:
        return (ranked[0][1], ranked[1][1]), ranked[0][0] * ranked[1][0]
    return (ranked[0][1],), ranked[0][0]


Cover = tuple[list[Key], float]


def _best(options: Iterable[Cover | None]) -> Cover | None:
    best: Cover | None = None
    for option in options:
        if option is not None and (best is None or (option[1], len(option[0])) < (best[1], len(best[0]))):
            best = option
    return best


def _union(parts: Iterable[Cover | None]) -> Cover | None:
    keys: list[Key] = []
    cost = 0.0
    for part in parts:
        if part is None:
            return None
        keys.extend(k for k in part[0] if k not in keys)
        cost += part[1]
    return keys, cost


def _cover(node: QueryNode, weight: Weight, negated: bool = False) -> Cover | None:
    """Keys such that every document matching the node (or its negation) contains one key's tokens."""
    if isinstance(node, Not):
        return _cover(node.child, weight, not negated)
    if isinstance(node, Term | Phrase):
        if negated:
            return None
        keys, cost = _key((node.token,) if isinstance(node, Term) else node.tokens, weight)
        return [keys], cost
    if isinstance(node, And) != negated:
        # a conjunction: one conjunct's key suffices; directly required tokens make the best pairs
        required = [] if negated else [t for c in node.children for t in _leaf_tokens(c)]
        options: list[Cover | None] = []
        if required:
            key, cost = _key(required, weight)
            options.append(([key], cost))
        options.extend(
            _cover(c, weight, negated) for c in node.children if negated or not isinstance(c, Term | Phrase)
        )
        return _best(options)
    return _union(_cover(c, weight, negated) for c in node.children)


def _leaf_tokens(node: QueryNode) -> tuple[str, ...]:
    if isinstance(node, Term):
        return (node.token,)
    if isinstance(node, Phrase):
        return node.tokens
    return ()


def anchors(node: QueryNode, weight: Weight | None = None) -> list[Key]:
    """The keys an alert is filed under (empty if the expression cannot be indexed)."""
    cover = _cover(node, weight or default_weight)
    return cover[0] if cover is not None else []


def _simple_keys(node: QueryNode, weight: Weight) -> list[Key] | None:
    """The keys that decide a match on their own, when the expression is a term, two ANDed terms or
    an OR of those; None for anything else."""

    def conj(n: QueryNode) -> Key | None:
        if isinstance(n, Term):
            return (n.token,)
        if isinstance(n, And) and all(isinstance(c, Term) for c in n.children):
            tokens = {c.token for c in n.children if isinstance(c, Term)}
            if len(tokens) <= 2:
                return _key(tokens, weight)[0]
        return None

    keys: list[Key] = []
    for branch in node.children if isinstance(node, Or) else (node,):
        key = conj(branch)
        if key is None:
            return None
        if key not in keys:
            keys.append(key)
    return keys


# ---------------------------------------------------------------------------------------------------
# Alerts and documents


def _lang_range(tag: str) -> frozenset[str]:
    parts = tag.split("-")
    return frozenset("-".join(parts[:i]) for i in range(1, len(parts) + 1) if parts[0])


_EMPTY: frozenset[str] = frozenset()
# Alerts share their filter sets (most are empty or one of a few hundred combinations).
_SHARED_SETS: weakref.WeakValueDictionary[frozenset[str], frozenset[str]] = weakref.WeakValueDictionary()


def _norm_set(values: Iterable[str], fn: Callable[[str], str]) -> frozenset[str]:
    norm = frozenset(v for v in (fn(x.strip()) for x in values) if v)
    if not norm:
        return _EMPTY
    return _SHARED_SETS.setdefault(norm, norm)


@dataclass(frozen=True, slots=True)
class AlertSpec:
    """A saved alert. Empty filter sets mean "any"; codes are normalised (countries upper case,
    language tags lower case, sectors stripped)."""

    id: str
    query: str
    countries: frozenset[str] = frozenset()
    languages: frozenset[str] = frozenset()
    sectors: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        for name, fn in (("countries", str.upper), ("languages", str.lower), ("sectors", str)):
            value = getattr(self, name)
            norm = _norm_set(value, fn)
            if norm is not value:
                object.__setattr__(self, name, norm)


@dataclass
class Document:
    """One edition as the matcher sees it: token positions, language, countries (dateline and targets)
    and sectors."""

    positions: dict[str, list[int]]
    lang: str = ""
    countries: frozenset[str] = frozenset()
    sectors: frozenset[str] = frozenset()
    # a set rather than a frozenset: intersecting a dict's keys with a set scans the smaller side
    terms: set[str] = field(init=False)
    lang_range: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        self.lang = self.lang.strip().lower()
        self.countries = _norm_set(self.countries, str.upper)
        self.sectors = _norm_set(self.sectors, str)
        self.terms = set(self.positions)
        self.lang_range = _lang_range(self.lang)

    @classmethod
    def from_text(cls, text: str, lang: str, countries: Iterable[str], sectors: Iterable[str]) -> Document:
        """Headline, summary and body joined into `text` (a phrase may span the joins)."""
        positions: dict[str, list[int]] = {}
        for i, token in enumerate(tokenize(text)):
            found = positions.get(token)
            if found is None:
                positions[token] = [i]
            else:
                found.append(i)
        return cls(positions, lang, frozenset(countries), frozenset(sectors))


def filters_accept(spec: AlertSpec, doc: Document) -> bool:
    """Whether the alert's language, country and sector filters admit the document."""
    return (
        (not spec.languages or not spec.languages.isdisjoint(doc.lang_range))
        and (not spec.countries or not spec.countries.isdisjoint(doc.countries))
        and (not spec.sectors or not spec.sectors.isdisjoint(doc.sectors))
    )


# ---------------------------------------------------------------------------------------------------
# The index

FilterKey = tuple[str, str, str]  # language, country, sector; "" for any
_Check = tuple[tuple[str, ...], tuple[str, ...], tuple[QueryNode, ...], AlertSpec | None]
_EXACT, _CHECK = 0, 1


class _Bucket:
    """Postings of the alerts filed under one filter combination, as alert numbers.

    one[kind][token] and two[kind][rarer][other], kind _EXACT (the lookup decides) or _CHECK (verify).
    """

    __slots__ = ("one", "two")

    def __init__(self) -> None:
        self.one: tuple[dict[str, list[int]], dict[str, list[int]]] = ({}, {})
        self.two: tuple[dict[str, dict[str, list[int]]], dict[str, dict[str, list[int]]]] = ({}, {})

    def empty(self) -> bool:
        return not any(self.one) and not any(self.two)


def _filter_keys(spec: AlertSpec) -> tuple[list[FilterKey], bool]:
    """The bucket keys of an alert, and whether they express its filters completely."""
    dims = (spec.languages, spec.countries, spec.sectors)
    if not (dims[0] or dims[1] or dims[2]):
        return [("", "", "")], True
    chosen = [False, False, False]
    product = 1
    for size, i in sorted((len(d), i) for i, d in enumerate(dims) if d):
        if product * size <= MAX_FILTER_KEYS:
            chosen[i] = True
            product *= size
    complete = all(chosen[i] or not dims[i] for i in range(3))
    values = [sorted(dims[i]) if chosen[i] else [""] for i in range(3)]
    return [(lang, country, sector) for lang, country, sector in itertools.product(*values)], complete


class AlertIndex:
    """Every saved alert, indexed so that one edition is matched against all of them at once.

    `weight(token)` estimates the share of editions containing a token; anchors prefer rare tokens. It
    must not change while the index lives (removal recomputes where an alert was filed).
    """

    def __init__(self, weight: Weight | None = None) -> None:
        self._weight = weight or default_weight
        self._buckets: dict[FilterKey, _Bucket] = {}
        self._num: dict[str, int] = {}
        self._specs: list[AlertSpec | None] = []
        self._ids: list[str] = []
        self._checks: list[_Check | None] = []  # for alerts that need verifying
        self._free: list[int] = []
        self._ordered = True  # alert numbers follow id order, so results sort as numbers
        self.rejected: dict[str, QueryError] = {}

    @classmethod
    def build(cls, specs: Iterable[AlertSpec], weight: Weight | None = None) -> AlertIndex:
        """An index of the alerts; those whose query no longer parses are left out and listed in
        `rejected` (alert id -> error) rather than failing the whole index."""
        index = cls(weight)
        for spec in sorted(specs, key=_spec_id):
            try:
                index.add(spec)
            except QueryError as exc:
                index.rejected[spec.id] = exc
        return index

    def __len__(self) -> int:
        return len(self._num)

    def __contains__(self, alert_id: object) -> bool:
        return alert_id in self._num

    def add(self, spec: AlertSpec) -> None:
        """Index the alert (replacing one with the same id); `QueryError` if its query is unusable."""
        node = _parse_shared(spec.query)
        if spec.id in self._num:
            self.remove(spec.id)
        if self._free:
            num = self._free.pop()
            self._specs[num] = spec
            self._ids[num] = spec.id
            self._ordered = False
        else:
            num = len(self._specs)
            if self._ids and spec.id < self._ids[-1]:
                self._ordered = False
            self._specs.append(spec)
            self._ids.append(spec.id)
            self._checks.append(None)
        self._num[spec.id] = num
        fkeys, keys, kind, complete = self._placement(spec, node)
        self._checks[num] = _compile(node, None if complete else spec) if kind == _CHECK else None
        for fkey in fkeys:
            bucket = self._buckets.get(fkey)
            if bucket is None:
                bucket = self._buckets[fkey] = _Bucket()
            for key in keys:
                if len(key) == 1:
                    bucket.one[kind].setdefault(key[0], []).append(num)
                else:
                    bucket.two[kind].setdefault(key[0], {}).setdefault(key[1], []).append(num)

    def remove(self, alert_id: str) -> None:
        """Drop the alert; `KeyError` if it is not indexed."""
        num = self._num.pop(alert_id)
        spec = self._specs[num]
        assert spec is not None
        fkeys, keys, kind, _ = self._placement(spec, _parse_shared(spec.query))
        for fkey in fkeys:
            bucket = self._buckets[fkey]
            for key in keys:
                if len(key) == 1:
                    _discard(bucket.one[kind], key[0], num)
                else:
                    inner = bucket.two[kind][key[0]]
                    _discard(inner, key[1], num)
                    if not inner:
                        del bucket.two[kind][key[0]]
            if bucket.empty():
                del self._buckets[fkey]
        self._specs[num] = None
        self._ids[num] = ""
        self._checks[num] = None
        self._free.append(num)

    def match(self, doc: Document) -> list[str]:
        """The ids of the alerts the document matches, sorted."""
        terms = doc.terms
        hits: set[int] = set()
        candidates: set[int] = set()
        buckets = self._buckets
        for fkey in itertools.product(("", *doc.lang_range), ("", *doc.countries), ("", *doc.sectors)):
            bucket = buckets.get(fkey)
            if bucket is None:
                continue
            for kind, out in ((_EXACT, hits), (_CHECK, candidates)):
                one = bucket.one[kind]
                if one:
                    out.update(*[one[t] for t in one.keys() & terms])
                two = bucket.two[kind]
                if two:
                    for first in two.keys() & terms:
                        inner = two[first]
                        out.update(*[inner[t] for t in inner.keys() & terms])
        checks = self._checks
        for num in candidates:
            check = checks[num]
            if check is None:
                continue
            required, excluded, rest, spec = check
            if (
                terms.issuperset(required)
                and terms.isdisjoint(excluded)
                and (spec is None or filters_accept(spec, doc))
            ):
                for node in rest:
                    if not node.evaluate(doc):
                        break
                else:
                    hits.add(num)
        ids = self._ids
        if self._ordered:
            return list(map(ids.__getitem__, sorted(hits)))
        return sorted(map(ids.__getitem__, hits))

    def specs(self) -> Iterator[AlertSpec]:
        """The indexed alerts (normalised)."""
        return (s for s in self._specs if s is not None)

    def stats(self) -> dict[str, int]:
        """Counts for monitoring: alerts, how many need verifying, buckets and postings."""
        postings = 0
        for bucket in self._buckets.values():
            for kind in (_EXACT, _CHECK):
                postings += sum(map(len, bucket.one[kind].values()))
                postings += sum(len(v) for inner in bucket.two[kind].values() for v in inner.values())
        verified = sum(1 for c in self._checks if c is not None)
        return {
            "alerts": len(self._num),
            "exact": len(self._num) - verified,
            "verified": verified,
            "buckets": len(self._buckets),
            "postings": postings,
        }

    def _placement(self, spec: AlertSpec, node: QueryNode) -> tuple[list[FilterKey], list[Key], int, bool]:
        """Bucket keys, anchor keys, whether the lookup alone decides, whether the buckets hold the
        filters completely."""
        fkeys, complete = _filter_keys(spec)
        keys = _simple_keys(node, self._weight)
        if keys is not None:
            return fkeys, keys, _EXACT if complete else _CHECK, complete
        return fkeys, anchors(node, self._weight), _CHECK, complete


def _compile(node: QueryNode, spec: AlertSpec | None) -> _Check:
    """The verification of an expression: tokens that must all occur (a quick test, phrases included),
    terms that must not, the remaining conjuncts to evaluate, and the filters when buckets left some out."""
    required: dict[str, None] = {}
    excluded: dict[str, None] = {}
    rest: list[QueryNode] = []
    for part in node.children if isinstance(node, And) else (node,):
        if isinstance(part, Term):
            required[part.token] = None
        elif isinstance(part, Not) and isinstance(part.child, Term):
            excluded[part.child.token] = None
        else:
            if isinstance(part, Phrase):
                required.update(dict.fromkeys(part.tokens))
            rest.append(part)
    return tuple(required), tuple(excluded), tuple(rest), spec


def _spec_id(spec: AlertSpec) -> str:
    return spec.id


def _discard(postings: dict[str, list[int]], token: str, num: int) -> None:
    found = postings[token]
    found.remove(num)
    if not found:
        del postings[token]
