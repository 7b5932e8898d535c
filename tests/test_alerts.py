"""Saved-alert queries and the index that matches an edition against all alerts at once."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from warta.routing.alerts import (
    MAX_QUERY_CHARS,
    AlertIndex,
    AlertSpec,
    And,
    Document,
    Not,
    Or,
    Phrase,
    QueryError,
    Term,
    anchors,
    filters_accept,
    matches,
    parse,
    tokenize,
)

pytestmark = pytest.mark.fast  # in `make test-fast`, the developer's loop


def doc(
    text: str, lang: str = "en", countries: tuple[str, ...] = ("MY",), sectors: tuple[str, ...] = ()
) -> Document:
    return Document.from_text(text, lang, countries, sectors)


def spec(alert_id: str, query: str, **filters: frozenset[str]) -> AlertSpec:
    return AlertSpec(alert_id, query, **filters)


def T(token: str) -> Term:
    return Term(token)


# --- tokenisation ------------------------------------------------------------------------------------


def test_tokenize_casefolds_and_strips_diacritics() -> None:
    assert tokenize("Société GÉNÉRALE, Straße") == ["societe", "generale", "strasse"]
    assert tokenize("Tiếng Việt đồng") == ["tieng", "viet", "dong"]
    assert tokenize("ＡＢＣ　２０２６") == ["abc", "2026"]  # full-width forms fold too


def test_tokenize_cjk_bigrams_agree_with_search_index() -> None:
    from warta.store.search import index_terms

    for text in ("東京タワー", "東京都庁で発表", "매출액 증가", "北京 上海", "東"):
        assert tokenize(text) == index_terms(text).split()
    assert tokenize("東京2026年") == ["東京", "2026", "年"]


def test_tokenize_keeps_hangul_syllables_and_thai_syllables() -> None:
    assert tokenize("매출") == ["매출"]  # not decomposed into jamo
    # Thai is cut into syllables, vowel and tone marks staying inside them
    assert tokenize("สวัสดีครับ ประเทศไทย") == ["สวัส", "ดี", "ครับ", "ประ", "เทศ", "ไทย"]
    assert tokenize("บริษัทประกาศผลกำไร") == tokenize("บริษัท ประกาศ ผลกำไร")
    assert tokenize("مَرْحَبًا") == tokenize("مرحبا") == ["مرحبا"]  # Arabic vowel marks are optional


# --- parser ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("solar", T("solar")),
        ("Solar Panels", And((T("solar"), T("panels")))),
        ("a AND b", And((T("a"), T("b")))),
        ("a and b", And((T("a"), T("b")))),
        ("a b OR c", Or((And((T("a"), T("b"))), T("c")))),
        ("a OR b c", Or((T("a"), And((T("b"), T("c")))))),
        ("a OR b AND c OR d", Or((T("a"), And((T("b"), T("c"))), T("d")))),
        ("(a OR b) c", And((Or((T("a"), T("b"))), T("c")))),
        ("a NOT b", And((T("a"), Not(T("b"))))),
        ("a -b", And((T("a"), Not(T("b"))))),
        ("NOT b a", And((Not(T("b")), T("a")))),
        ("a not (b or c)", And((T("a"), Not(Or((T("b"), T("c"))))))),
        ('"data centre"', Phrase(("data", "centre"))),
        ("\u201cdata centre\u201d", Phrase(("data", "centre"))),
        ('"solar"', T("solar")),
        ('"and"', T("and")),
        ("e-commerce", Phrase(("e", "commerce"))),
        ("東京", T("東京")),
        ("東京タワー", Phrase(("東京", "京タ", "タワ", "ワー"))),
        ('a "b c" -"d e"', And((T("a"), Phrase(("b", "c")), Not(Phrase(("d", "e")))))),
        ("((a))", T("a")),
        ("NOT NOT a", Not(Not(T("a")))),
    ],
)
def test_parse(query: str, expected: object) -> None:
    assert parse(query) == expected


@pytest.mark.parametrize(
    "query",
    ["a b OR c", 'x -"y z" OR (p q)', "NOT NOT a", '"and" OR "not"', "東京タワー -大阪", "a OR (b -c d)"],
)
def test_rendered_expression_parses_back_to_itself(query: str) -> None:
    node = parse(query)
    assert parse(str(node)) == node


@pytest.mark.parametrize(
    ("query", "message", "position"),
    [
        ("", "empty", None),
        ("   ", "empty", None),
        ("NOT a", "at least one word that has to appear", 0),
        ("-a -b", "at least one word that has to appear", 0),
        ("a OR -b", "at least one word that has to appear", 5),
        ("(a", "'(' is never closed", 0),
        ("a)", "')' has no matching '('", 1),
        ("a (b OR c", "'(' is never closed", 2),
        ("()", "empty parentheses", 0),
        ('a "b c', "quotation mark is never closed", 2),
        ("a OR", "OR needs a term after it", 2),
        ("OR a", "OR needs a term before it", 0),
        ("a AND OR b", "AND needs a term after it", 2),
        ("a NOT", "NOT needs a term after it", 2),
        ("a && b", "use AND", 2),
        ("a || b", "use OR", 2),
        ("a -", "'-' must be followed directly", 2),
        ('a ""', "no letters or digits", 2),
        ("a !!!", "no letters or digits", 2),
        ("x" * (MAX_QUERY_CHARS + 1), "characters long", None),
        (" ".join(["w"] * 65), "65 search terms", None),
        ("(" * 40 + "a" + ")" * 40, "nested", 32),
    ],
)
def test_parse_errors(query: str, message: str, position: int | None) -> None:
    with pytest.raises(QueryError) as info:
        parse(query)
    assert message in str(info.value)
    assert info.value.position == position
    assert isinstance(info.value, ValueError)


def test_anchors_one_key_per_or_branch_and_one_for_an_and() -> None:
    assert anchors(parse("cyberjaya investment")) == [("investment", "cyberjaya")]
    assert anchors(parse("cyberjaya OR johor")) == [("cyberjaya",), ("johor",)]
    assert anchors(parse("(cyberjaya OR johor) semiconductor")) == [("semiconductor",)]
    assert anchors(parse("solar -coal")) == [("solar",)]
    assert anchors(parse("-(-cyberjaya) solar")) == [("cyberjaya",)]
    assert anchors(parse("NOT NOT cyberjaya")) == [("cyberjaya",)]


# --- matching ----------------------------------------------------------------------------------------

TEXT = (
    "Syarikat Contoh Berhad opens a green data centre in Cyberjaya. "
    "The centre runs on solar power; the data show lower costs. Société Générale financed it."
)


def test_phrase_needs_consecutive_words() -> None:
    d = doc(TEXT)
    assert matches(parse('"data centre"'), d)
    assert matches(parse("centre data"), d)
    assert not matches(parse('"centre data"'), d)
    assert not matches(parse('"data costs"'), d)
    assert matches(parse('"lower costs"'), d)
    assert matches(parse("e-commerce"), doc("E-commerce grows"))
    assert not matches(parse("e-commerce"), doc("commerce e grows"))


def test_not_excludes_and_or_alternates() -> None:
    d = doc(TEXT)
    assert matches(parse("solar -coal"), d)
    assert not matches(parse("solar -power"), d)
    assert not matches(parse('solar NOT "solar power"'), d)
    assert matches(parse("wind OR solar"), d)
    assert not matches(parse("wind OR hydro"), d)
    assert matches(parse("(wind OR solar) cyberjaya -(coal OR gas)"), d)


def test_diacritics_match_either_way() -> None:
    assert matches(parse("societe generale"), doc(TEXT))
    assert matches(parse('"Société Générale"'), doc("societe generale"))
    assert matches(parse("Việt"), doc("Viet Nam"))


def test_cjk_two_character_terms_match_inside_longer_words() -> None:
    assert matches(parse("東京"), doc("東京都庁で発表", lang="ja"))
    assert matches(parse("매출"), doc("올해 매출액이 증가했다", lang="ko"))
    assert matches(parse("東京都"), doc("東京都庁で発表", lang="ja"))
    assert not matches(parse("京東"), doc("東京都庁で発表", lang="ja"))
    assert not matches(parse("東京都庁"), doc("東京 都庁", lang="ja"))


def test_index_matches_with_filters() -> None:
    index = AlertIndex.build(
        [
            spec("any", "solar"),
            spec("my", "solar", countries=frozenset({"my"})),
            spec("sg", "solar", countries=frozenset({"SG"})),
            spec("en", "solar", languages=frozenset({"EN"})),
            spec("ms", "solar", languages=frozenset({"ms"})),
            spec("zh", "solar", languages=frozenset({"zh"})),
            spec("energy", "solar", sectors=frozenset({"medtop:20000000"})),
            spec("top", "solar", sectors=frozenset({"top-story"}), countries=frozenset({"MY", "ID"})),
            spec("coal", "coal"),
        ]
    )
    assert index.match(doc(TEXT, countries=("MY", "ID"))) == ["any", "en", "my"]
    assert index.match(doc(TEXT, lang="ms", countries=("SG",), sectors=("top-story",))) == ["any", "ms", "sg"]
    assert index.match(doc(TEXT, countries=("ID",), sectors=("top-story", "medtop:20000000"))) == [
        "any",
        "en",
        "energy",
        "top",
    ]
    assert index.match(doc(TEXT, lang="zh-Hans", countries=())) == ["any", "zh"]
    assert index.match(doc("nothing relevant")) == []


def test_filters_beyond_the_bucket_limit_are_verified() -> None:
    langs = frozenset({"en", "de", "fr"})
    countries = frozenset({"MY", "SG", "ID", "TH"})
    sectors = frozenset({"top-story", "medtop:04000000"})
    index = AlertIndex.build([spec("wide", "solar", languages=langs, countries=countries, sectors=sectors)])
    assert index.match(doc(TEXT, lang="de", countries=("TH",), sectors=("top-story",))) == ["wide"]
    assert index.match(doc(TEXT, lang="de", countries=("TH",), sectors=("medtop:20000000",))) == []
    assert index.match(doc(TEXT, lang="ko", countries=("TH",), sectors=("top-story",))) == []
    assert index.match(doc(TEXT, lang="de", countries=("VN",), sectors=("top-story",))) == []


def test_index_expressions() -> None:
    alerts = {
        "phrase": '"data centre"',
        "reversed": '"centre data"',
        "and": "cyberjaya solar",
        "and3": "cyberjaya solar green",
        "or": "wind OR hydro OR cyberjaya",
        "not": "solar -coal",
        "not-hit": "solar -power",
        "cjk": "東京",
        "nested": "(wind OR (solar power)) -(coal gas)",
        "double-not": "NOT NOT solar",
    }
    index = AlertIndex.build(spec(k, q) for k, q in alerts.items())
    assert index.match(doc(TEXT)) == ["and", "and3", "double-not", "nested", "not", "or", "phrase"]
    assert index.match(doc("東京都の発表", lang="ja")) == ["cjk"]


def test_add_replace_remove() -> None:
    index = AlertIndex()
    index.add(spec("b", "solar"))
    index.add(spec("a", "cyberjaya solar -coal"))
    index.add(spec("c", '"data centre"', countries=frozenset({"MY"})))
    d = doc(TEXT)
    assert index.match(d) == ["a", "b", "c"]
    index.add(spec("b", "wind"))
    assert len(index) == 3 and "b" in index
    assert index.match(d) == ["a", "c"]
    index.remove("c")
    assert index.match(d) == ["a"]
    with pytest.raises(KeyError):
        index.remove("c")
    index.add(spec("c", "solar"))  # reuses the freed slot; results stay sorted
    index.add(spec("0", "solar"))
    assert index.match(d) == ["0", "a", "c"]
    index.remove("a")
    index.remove("b")
    index.remove("c")
    index.remove("0")
    assert index.stats() == {"alerts": 0, "exact": 0, "verified": 0, "buckets": 0, "postings": 0}


def test_add_rejects_bad_queries_and_build_sets_them_aside() -> None:
    index = AlertIndex()
    index.add(spec("ok", "solar"))
    with pytest.raises(QueryError):
        index.add(spec("ok", "NOT solar"))
    assert index.match(doc(TEXT)) == ["ok"]  # a failed replacement keeps the old alert
    built = AlertIndex.build([spec("good", "solar"), spec("bad", "(solar")])
    assert list(built.rejected) == ["bad"]
    assert built.match(doc(TEXT)) == ["good"]


def test_alert_spec_normalises_codes() -> None:
    s = AlertSpec(
        "x", "q", countries=frozenset({" my"}), languages=frozenset({"zh-Hans"}), sectors=frozenset({""})
    )
    assert s.countries == {"MY"} and s.languages == {"zh-hans"} and s.sectors == frozenset()


# --- the index equals evaluating every alert ---------------------------------------------------------

VOCAB = ["alpha", "beta", "gamma", "delta", "société", "東京", "大阪", "매출"]
LANGS = ["en", "ko", "zh"]
DOC_LANGS = ["en", "ko", "zh-hans", "zh-hant", "ja"]
COUNTRIES = ["MY", "SG", "JP"]
SECTORS = ["top-story", "medtop:04000000"]

words = st.sampled_from(VOCAB)
leaf = st.one_of(
    words,
    st.lists(words, min_size=2, max_size=3).map(lambda ws: '"' + " ".join(ws) + '"'),
)


def _combine(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    pair = st.tuples(inner, inner)
    return st.one_of(
        pair.map(lambda p: f"({p[0]} {p[1]})"),
        pair.map(lambda p: f"({p[0]} OR {p[1]})"),
        pair.map(lambda p: f"{p[0]} AND NOT {p[1]}"),
        pair.map(lambda p: f"{p[0]} -{p[1]}"),
        st.tuples(inner, inner, inner).map(lambda p: f"{p[0]} {p[1]} OR {p[2]}"),
        inner.map(lambda x: f"NOT NOT {x}"),
    )


queries = st.recursive(leaf, _combine, max_leaves=6)


@st.composite
def alert_specs(draw: st.DrawFn, i: int) -> AlertSpec:
    return AlertSpec(
        f"a{draw(st.integers(0, 999)):03d}-{i}",
        draw(queries),
        countries=draw(st.frozensets(st.sampled_from(COUNTRIES), max_size=3)),
        languages=draw(st.frozensets(st.sampled_from(LANGS), max_size=3)),
        sectors=draw(st.frozensets(st.sampled_from(SECTORS), max_size=2)),
    )


@st.composite
def alert_sets(draw: st.DrawFn) -> list[AlertSpec]:
    n = draw(st.integers(0, 12))
    return [draw(alert_specs(i)) for i in range(n)]


@st.composite
def documents(draw: st.DrawFn) -> Document:
    text = " ".join(draw(st.lists(words, max_size=12)))
    return Document.from_text(
        text,
        draw(st.sampled_from(DOC_LANGS)),
        draw(st.lists(st.sampled_from(COUNTRIES), max_size=2)),
        draw(st.lists(st.sampled_from(SECTORS), max_size=2)),
    )


def reference_filters(a: AlertSpec, d: Document) -> bool:
    lang_ok = not a.languages or any(d.lang == lang or d.lang.startswith(lang + "-") for lang in a.languages)
    return (
        lang_ok
        and (not a.countries or bool(a.countries & d.countries))
        and (not a.sectors or bool(a.sectors & d.sectors))
    )


WEIGHTS: list[Callable[[str], float] | None] = [
    None,
    lambda t: 1.0,
    lambda t: 0.9 / len(t),
    lambda t: len(t) / 10,
]


@pytest.mark.slow  # 300 examples: left out of `make test-fast`
@settings(max_examples=300, deadline=None)
@given(
    alerts=alert_sets(),
    docs=st.lists(documents(), min_size=1, max_size=4),
    weight=st.sampled_from(WEIGHTS),
    drop=st.sets(st.integers(0, 11), max_size=4),
)
def test_index_equals_brute_force(
    alerts: list[AlertSpec], docs: list[Document], weight: Callable[[str], float] | None, drop: set[int]
) -> None:
    valid: list[AlertSpec] = []
    for a in alerts:
        try:
            parse(a.query)
        except QueryError:
            continue
        valid.append(a)
    index = AlertIndex.build(alerts, weight)
    assert set(index.rejected) == {a.id for a in alerts} - {a.id for a in valid}
    for i in sorted(drop):
        if i < len(valid):
            index.remove(valid[i].id)
    kept = [a for i, a in enumerate(valid) if i not in drop]
    for d in docs:
        expected = sorted(a.id for a in kept if matches(parse(a.query), d) and reference_filters(a, d))
        assert index.match(d) == expected
        assert all(filters_accept(a, d) == reference_filters(a, d) for a in kept)
