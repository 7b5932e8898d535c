"""Routing between languages (direct, pivoted, by tier) and putting translations back into markup.

The real-engine tests need Apertium (`make test` installs it) and fail where it is missing.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from typing import ClassVar

import pytest

from warta.languages import markup
from warta.languages.engines.apertium import ApertiumEngine
from warta.languages.engines.base import ENGINES, EngineError, Translator
from warta.languages.engines.opencc_engine import OpenCCEngine
from warta.languages.router import Route, TranslationRouter

pytestmark = pytest.mark.fast  # in `make test-fast`, the developer's loop

GLOSSARY = ["Pelabuhan Selatan", "PSB", "Kuala Lumpur"]


# --- fake engines -----------------------------------------------------------------------------------


class FakeEngine(Translator):
    """Translates by tagging each segment with ``[source>target]``; records every call."""

    name: ClassVar[str] = "fake"
    tier: ClassVar[str] = "draft"
    links: ClassVar[set[tuple[str, str]]] = set()

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], str, str]] = []

    def pairs(self) -> set[tuple[str, str]]:
        return set(self.links)

    def translate(self, segments: list[str], source: str, target: str) -> list[str]:
        if (source, target) not in self.links:
            raise EngineError(f"{self.name} cannot do {source}→{target}")
        self.calls.append((list(segments), source, target))
        return [f"{segment} [{source}>{target}]" for segment in segments]


def fake(name: str, tier: str, *links: str, html: bool = False) -> FakeEngine:
    """An engine instance named ``name`` for links written "en>es"."""
    pairs = {tuple(link.split(">")) for link in links}
    cls = type(
        name.title(), (FakeEngine,), {"name": name, "tier": tier, "links": pairs, "handles_html": html}
    )
    engine = cls()
    assert isinstance(engine, FakeEngine)
    return engine


class Upper(Translator):
    """A plain-text engine that upper-cases text."""

    name = "upper"
    tier = "gist"

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def pairs(self) -> set[tuple[str, str]]:
        return {("en", "xx")}

    def translate(self, segments: list[str], source: str, target: str) -> list[str]:
        self.calls.append(list(segments))
        return [segment.upper() for segment in segments]


class UpperHtml(Upper):
    """An HTML engine that upper-cases text and keeps tags (as an HTML-aware engine would)."""

    name = "upper-html"
    handles_html = True

    def translate(self, segments: list[str], source: str, target: str) -> list[str]:
        self.calls.append(list(segments))
        return [re.sub(r"(^|>)([^<]*)", lambda m: m.group(1) + m.group(2).upper(), s) for s in segments]


# --- routing rules ----------------------------------------------------------------------------------


def test_direct_route_and_its_description() -> None:
    router = TranslationRouter([fake("a", "draft", "en>es")])
    route = router.route("en", "es")
    assert route == Route((("a", "en", "es"),), ("draft",))
    assert route.engines == ("a",) and route.tier == "draft"
    assert route.describe() == "en→es (a)" and str(route) == "en→es (a)"
    assert route.source == "en" and route.target == "es"


def test_pivot_through_any_language() -> None:
    router = TranslationRouter([fake("a", "draft", "en>es", "es>pt", "es>fr", "fr>de")])
    route = router.route("en", "pt")
    assert route is not None and route.describe() == "en→es (a) → pt (a)"
    assert route.hops == (("a", "en", "es"), ("a", "es", "pt"))
    three = router.route("en", "de")
    assert three is not None and three.describe() == "en→es (a) → fr (a) → de (a)"
    assert router.route("pt", "en") is None


def test_at_most_three_hops() -> None:
    router = TranslationRouter([fake("a", "draft", "en>es", "es>fr", "fr>de", "de>ru")])
    assert router.route("en", "de") is not None
    assert router.route("en", "ru") is None


def test_higher_tier_beats_fewer_hops() -> None:
    """The rule: tier first (a route is as good as its worst hop), then fewer hops, then preference."""
    draft = fake("draft", "draft", "en>zh-Hant")
    publishable = fake("pub", "publishable", "en>zh-Hans", "zh-Hans>zh-Hant")
    router = TranslationRouter([draft, publishable])
    route = router.route("en", "zh-Hant")
    assert route is not None and route.describe() == "en→zh-Hans (pub) → zh-Hant (pub)"
    assert route.tier == "publishable"


def test_route_tier_is_its_lowest_hop() -> None:
    router = TranslationRouter(
        [fake("pub", "publishable", "zh-Hans>zh-Hant"), fake("mt", "draft", "en>zh-Hans")]
    )
    route = router.route("en", "zh-Hant")
    assert route is not None and route.tiers == ("draft", "publishable") and route.tier == "draft"
    assert route.engines == ("mt", "pub")
    assert route.describe() == "en→zh-Hans (mt) → zh-Hant (pub)"


def test_same_tier_fewer_hops_win_then_engine_order() -> None:
    first = fake("first", "draft", "en>es", "es>pt")
    second = fake("second", "draft", "en>pt", "en>es", "es>pt")
    router = TranslationRouter([first, second])
    assert router.route("en", "pt") == Route((("second", "en", "pt"),), ("draft",))
    assert router.route("en", "es") == Route((("first", "en", "es"),), ("draft",))
    reversed_router = TranslationRouter([second, first])
    assert reversed_router.route("en", "es") == Route((("second", "en", "es"),), ("draft",))


def test_a_gist_hop_makes_a_gist_route_and_loses_to_draft() -> None:
    router = TranslationRouter([fake("g", "gist", "en>th"), fake("d", "draft", "en>vi", "vi>th")])
    route = router.route("en", "th")
    assert route is not None and route.engines == ("d", "d") and route.tier == "draft"


def test_no_route_to_the_same_language_and_unknown_pairs() -> None:
    router = TranslationRouter([fake("a", "draft", "en>es", "es>en")])
    assert router.route("en", "en") is None
    assert router.route("en", "ja") is None
    assert router.routes_from("en", ["es", "ja", "en"]) == {"es": Route((("a", "en", "es"),), ("draft",))}


def test_duplicate_engine_names_are_refused() -> None:
    with pytest.raises(ValueError, match="two engines"):
        TranslationRouter([fake("a", "draft", "en>es"), fake("a", "draft", "es>pt")])


def test_router_runs_every_hop_in_order() -> None:
    a = fake("a", "draft", "en>es", "es>pt")
    router = TranslationRouter([a])
    route = router.route("en", "pt")
    assert route is not None
    assert router.translate_text(route, "Hello") == "Hello [en>es] [es>pt]"
    html = router.translate_html(route, '<p>Hi <a href="/x">there</a></p>')
    assert html == '<p>Hi [en&gt;es] [es&gt;pt] <a href="/x">there [en&gt;es] [es&gt;pt]</a></p>'
    assert [call[1:] for call in a.calls] == [("en", "es"), ("es", "pt"), ("en", "es"), ("es", "pt")]
    assert router.translate_texts(route, ["One", "", "Two"]) == [
        "One [en>es] [es>pt]",
        "",
        "Two [en>es] [es>pt]",
    ]


def test_from_registry_skips_engines_that_cannot_run(monkeypatch: pytest.MonkeyPatch) -> None:
    class Missing(FakeEngine):
        name = "missing"
        links = {("en", "ja")}

        def available(self) -> bool:
            return False

    class Broken(FakeEngine):
        name = "broken"
        links = {("en", "ko")}

        def __init__(self) -> None:
            raise RuntimeError("no model")

    class Here(FakeEngine):
        name = "here"
        links = {("en", "vi")}

    monkeypatch.setitem(ENGINES, "missing", Missing)
    monkeypatch.setitem(ENGINES, "broken", Broken)
    monkeypatch.setitem(ENGINES, "here", Here)
    router = TranslationRouter.from_registry(["missing", "broken", "here", "nonexistent"])
    assert list(router.engines) == ["here"]
    assert router.route("en", "ja") is None and router.route("en", "vi") is not None


# --- markup -----------------------------------------------------------------------------------------


def test_plain_text_engine_gets_text_nodes_in_one_call() -> None:
    engine = Upper()
    html = (
        '<h2>Big news</h2>\n<p>The <a href="https://e.com/a?b=1&amp;c=2" title="a title">port</a> &amp; '
        "<strong>city</strong> grow.</p><pre>keep me</pre><p>Run <code>make test</code> now.</p>"
    )
    out = markup.translate_html(html, engine, "en", "xx")
    assert out == (
        '<h2>BIG NEWS</h2>\n<p>THE <a href="https://e.com/a?b=1&amp;c=2" title="a title">PORT</a> &amp; '
        "<strong>CITY</strong> GROW.</p><pre>keep me</pre><p>RUN <code>make test</code> NOW.</p>"
    )
    assert engine.calls == [["Big news", "The", "port", "&", "city", "grow.", "Run", "now."]]


def test_html_engine_gets_inline_runs_of_each_block_in_one_call() -> None:
    engine = UpperHtml()
    html = (
        "<p>The <b>port</b> grows.</p>\n<ul>\n  <li>One <em>item</em></li>\n  <li>Two</li>\n</ul>"
        "<table><tr><td>Cell</td><td> </td></tr></table><pre>keep</pre>"
    )
    out = markup.translate_html(html, engine, "en", "xx")
    assert engine.calls == [["The <b>port</b> grows.", "One <em>item</em>", "Two", "Cell"]]
    assert out == (
        "<p>THE <b>PORT</b> GROWS.</p>\n<ul>\n  <li>ONE <em>ITEM</em></li>\n  <li>TWO</li>\n</ul>"
        "<table><tr><td>CELL</td><td> </td></tr></table><pre>keep</pre>"
    )


def test_nothing_to_translate_means_no_call() -> None:
    engine = Upper()
    assert (
        markup.translate_html("<p> </p><img src='x.png'>", engine, "en", "xx") == "<p> </p><img src='x.png'>"
    )
    assert markup.translate_texts(["", "  "], engine, "en", "xx") == ["", "  "]
    assert engine.calls == []


def test_glossary_terms_are_kept_in_text_and_untouched_in_attributes() -> None:
    engine = Upper()
    html = (
        '<p title="Pelabuhan Selatan">Pelabuhan Selatan (PSB) opens in Kuala Lumpur; PSBX, psb and '
        "Kuala Lumpurs are not terms.</p>"
    )
    out = markup.translate_html(html, engine, "en", "xx", GLOSSARY)
    assert out == (
        '<p title="Pelabuhan Selatan">Pelabuhan Selatan (PSB) OPENS IN Kuala Lumpur; PSBX, PSB AND '
        "KUALA LUMPURS ARE NOT TERMS.</p>"
    )
    sent = " ".join(engine.calls[0])
    assert "Selatan" not in sent and "Kuala Lumpur;" not in sent and "(PSB)" not in sent


def test_glossary_with_markup_characters_in_an_html_engine() -> None:
    engine = UpperHtml()
    out = markup.translate_html(
        "<p>AT&amp;T <i>and</i> R&lt;D&gt; sign.</p>", engine, "en", "xx", ["AT&T", "R<D>"]
    )
    assert out == "<p>AT&amp;T <i>AND</i> R&lt;D&gt; SIGN.</p>"
    assert markup.translate_text("AT&T and R<D> sign", engine, "en", "xx", ["AT&T"]) == "AT&T AND R<D> SIGN"


def test_placeholders_avoid_numbers_already_in_the_text() -> None:
    guard = markup.GlossaryGuard(["PSB"], sample="Call 9990000 or PSB.")
    protected = guard.protect("Call 9990000 or PSB.")
    assert protected == f"Call 9990000 or {guard.placeholder(0)}." and guard.prefix != 999
    assert guard.restore(protected) == "Call 9990000 or PSB."


def test_plain_fields_keep_their_outer_whitespace() -> None:
    assert markup.translate_texts([" headline ", "x"], Upper(), "en", "xx") == [" HEADLINE ", "X"]


# --- the real engines -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def router() -> Iterator[TranslationRouter]:
    if shutil.which("apertium") is None:
        pytest.fail("Apertium is not installed: run `make test`, which installs it", pytrace=False)
    local = TranslationRouter.from_registry(["opencc", "apertium"])
    if list(local.engines) != ["opencc", "apertium"]:
        pytest.fail(f"OpenCC and Apertium must both be available, got {list(local.engines)}", pytrace=False)
    yield local
    local.close()


def test_real_routes(router: TranslationRouter) -> None:
    expected = {
        ("en", "es"): "en→es (apertium)",
        ("en", "pt"): "en→es (apertium) → pt (apertium)",
        ("en", "fr"): "en→es (apertium) → fr (apertium)",
        ("ms", "id"): "ms→id (apertium)",
        ("id", "ms"): "id→ms (apertium)",
        ("zh-Hans", "zh-Hant"): "zh-Hans→zh-Hant (opencc)",
        ("zh-Hant", "zh-Hans"): "zh-Hant→zh-Hans (opencc)",
    }
    for (source, target), description in expected.items():
        route = router.route(source, target)
        assert route is not None and route.describe() == description, (source, target)
    tiers = {pair: route.tier for pair in expected if (route := router.route(*pair)) is not None}
    assert tiers[("zh-Hans", "zh-Hant")] == "publishable" and tiers[("en", "pt")] == "draft"
    assert router.route("en", "ja") is None


def test_registry_router_includes_local_engines() -> None:
    if shutil.which("apertium") is None:
        pytest.fail("Apertium is not installed: run `make test`, which installs it", pytrace=False)
    everything = TranslationRouter.from_registry()
    try:
        assert isinstance(everything.engines["opencc"], OpenCCEngine)
        assert isinstance(everything.engines["apertium"], ApertiumEngine)
        assert list(everything.engines).index("opencc") < list(everything.engines).index("apertium")
    finally:
        everything.close()


def test_english_to_portuguese_via_spanish_with_markup_and_glossary(router: TranslationRouter) -> None:
    route = router.route("en", "pt")
    assert route is not None
    html = (
        '<p>Pelabuhan Selatan (PSB) opened a new office in <a href="https://psb.example/kl">Kuala Lumpur</a>'
        " today.</p><ul><li>Two new products</li></ul>"
    )
    out = router.translate_html(route, html, GLOSSARY)
    assert out == (
        '<p>Pelabuhan Selatan (PSB) abriu um escritório novo em <a href="https://psb.example/kl">Kuala Lumpur</a>'
        " hoje.</p><ul><li>Dois produtos novos</li></ul>"
    )
    assert router.translate_text(route, "PSB opens a new office in Kuala Lumpur", GLOSSARY) == (
        "PSB abre um escritório novo em Kuala Lumpur"
    )


def test_simplified_to_traditional_through_the_router(router: TranslationRouter) -> None:
    route = router.route("zh-Hans", "zh-Hant")
    assert route is not None
    html = '<p>PSB在<a href="https://psb.example/软件">Kuala Lumpur</a>推出网络软件。</p>'
    out = router.translate_html(route, html, GLOSSARY)
    assert out == '<p>PSB在<a href="https://psb.example/软件">Kuala Lumpur</a>推出網路軟體。</p>'
