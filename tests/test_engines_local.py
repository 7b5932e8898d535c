"""The engines that run on the wire's own machine: OpenCC (script conversion) and Apertium (rule-based).

Apertium is required: `make test` installs it with its en-es, es-pt, fr-es and id-ms pairs, and these
tests fail (they do not skip) where it is missing.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import threading
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest

from warta.languages import markup
from warta.languages.engines.apertium import (
    ApertiumEngine,
    discover_modes,
    from_stream,
    parse_mode_name,
    parse_pipeline,
    to_stream,
)
from warta.languages.engines.base import ENGINES, EngineError
from warta.languages.engines.opencc_engine import OpenCCEngine

pytestmark = pytest.mark.fast  # in `make test-fast`, the developer's loop

GLOSSARY = ["Pelabuhan Selatan", "PSB", "Kuala Lumpur"]
NEEDED_PAIRS = {
    ("en", "es"): "apertium-eng-spa",
    ("es", "pt"): "apertium-es-pt",
    ("fr", "es"): "apertium-fr-es",
    ("ms", "id"): "apertium-ind-zlm",
    ("id", "ms"): "apertium-ind-zlm",
}


def require_apertium(engine: ApertiumEngine) -> None:
    if shutil.which("apertium") is None:
        pytest.fail(
            "Apertium is not installed: run `make test` (it installs the Debian packages) or "
            "`apt-get install apertium " + " ".join(sorted(set(NEEDED_PAIRS.values()))) + "`",
            pytrace=False,
        )
    missing = sorted({package for pair, package in NEEDED_PAIRS.items() if pair not in engine.pairs()})
    if missing:
        pytest.fail(
            f"Apertium pairs missing from {engine.datadir}/modes: apt-get install {' '.join(missing)}",
            pytrace=False,
        )


@pytest.fixture(scope="module")
def apertium() -> Iterator[ApertiumEngine]:
    engine = ApertiumEngine()
    require_apertium(engine)
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def opencc() -> OpenCCEngine:
    engine = OpenCCEngine(variant="tw")
    assert engine.available(), "opencc is not installed (it is a dependency of warta: pip install -e .)"
    return engine


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, tuple[tuple[str, str | None], ...]] | str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, tuple(attrs)))

    def handle_endtag(self, tag: str) -> None:
        self.tags.append("/" + tag)


def tags(html: str) -> list[tuple[str, tuple[tuple[str, str | None], ...]] | str]:
    parser = _Tags()
    parser.feed(html)
    parser.close()
    return parser.tags


def no_placeholders(text: str) -> bool:
    return re.search(r"(?<!\d)\d{7}(?!\d)", text) is None


# --- OpenCC -----------------------------------------------------------------------------------------


def test_opencc_is_registered_publishable_between_the_two_scripts(opencc: OpenCCEngine) -> None:
    assert ENGINES["opencc"] is OpenCCEngine
    assert opencc.tier == "publishable" and not opencc.handles_html
    assert opencc.pairs() == {("zh-Hans", "zh-Hant"), ("zh-Hant", "zh-Hans")}


def test_opencc_converts_to_taiwan_phrases_and_back(opencc: OpenCCEngine) -> None:
    hant = opencc.translate(["软件", "网络", "鼠标和打印机", "我们的信息服务", ""], "zh-Hans", "zh-Hant")
    assert hant == ["軟體", "網路", "滑鼠和印表機", "我們的資訊服務", ""]
    hans = opencc.translate(["軟體", "網路", "滑鼠和印表機", "我們的資訊服務"], "zh-Hant", "zh-Hans")
    assert hans == ["软件", "网络", "鼠标和打印机", "我们的信息服务"]


def test_opencc_reuses_its_converters(opencc: OpenCCEngine) -> None:
    first = opencc._converter("zh-Hans", "zh-Hant")
    opencc.translate(["软件"], "zh-Hans", "zh-Hant")
    assert opencc._converter("zh-Hans", "zh-Hant") is first


@pytest.mark.parametrize(
    ("variant", "expected"), [("tw", "軟體和網路"), ("hk", "軟件和網絡"), ("plain", "軟件和網絡")]
)
def test_opencc_variants(variant: str, expected: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARTA_OPENCC_VARIANT", variant)
    assert OpenCCEngine().translate(["软件和网络"], "zh-Hans", "zh-Hant") == [expected]


def test_opencc_rejects_unknown_variants_and_pairs(opencc: OpenCCEngine) -> None:
    with pytest.raises(ValueError, match="variant"):
        OpenCCEngine(variant="sg")
    with pytest.raises(EngineError):
        opencc.translate(["x"], "en", "zh-Hant")


def test_opencc_html_keeps_markup_and_attributes(opencc: OpenCCEngine) -> None:
    html = '<p>新的<a href="https://example.cn/软件" title="软件">软件</a>和<strong>网络</strong>服务。</p>'
    out = markup.translate_html(html, opencc, "zh-Hans", "zh-Hant")
    assert (
        out
        == '<p>新的<a href="https://example.cn/软件" title="软件">軟體</a>和<strong>網路</strong>服務。</p>'
    )


def test_glossary_through_opencc(opencc: OpenCCEngine) -> None:
    html = "<p>Pelabuhan Selatan（PSB）今天在Kuala Lumpur开设了网络软件中心。网络港口公司也参加了。</p>"
    out = markup.translate_html(html, opencc, "zh-Hans", "zh-Hant", [*GLOSSARY, "网络港口"])
    assert (
        out == "<p>Pelabuhan Selatan（PSB）今天在Kuala Lumpur開設了網路軟體中心。网络港口公司也參加了。</p>"
    )
    text = markup.translate_text("PSB 网络 Kuala Lumpur", opencc, "zh-Hans", "zh-Hant", GLOSSARY)
    assert text == "PSB 網路 Kuala Lumpur"


# --- Apertium: discovery ----------------------------------------------------------------------------


def test_mode_names_map_to_warta_codes() -> None:
    assert parse_mode_name("eng-spa") == ("en", "es", "")
    assert parse_mode_name("es-pt_BR") == ("es", "pt", "BR")
    assert parse_mode_name("zlm-ind") == ("ms", "id", "")
    assert parse_mode_name("fr-es") == ("fr", "es", "")
    assert parse_mode_name("spa-cat") is None
    assert parse_mode_name("eco-es-fr") is None
    assert parse_mode_name("eng-spa-morph") is None


def test_discovery_prefers_brazilian_portuguese_and_plain_modes(tmp_path: Path) -> None:
    (tmp_path / "modes").mkdir()
    for name in ("es-pt", "es-pt_BR", "spa-eng", "spa-eng_US", "spa-cat", "eco-fr-es"):
        (tmp_path / "modes" / f"{name}.mode").write_text("lt-proc x.bin\n")
    modes = discover_modes(tmp_path)
    assert {pair: mode.name for pair, mode in modes.items()} == {
        ("es", "pt"): "es-pt_BR",
        ("es", "en"): "spa-eng",
    }


def test_unavailable_without_modes_or_binary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert not ApertiumEngine(datadir=tmp_path).available()
    engine = ApertiumEngine()
    monkeypatch.setattr("warta.languages.engines.apertium.shutil.which", lambda name: None)
    assert not engine.available()


def test_parse_pipeline_fills_in_the_mode_options() -> None:
    text = "lt-proc -z '/a b/x.bin' | apertium-tagger -z -g $2 'y.prob' |apertium-pretransfer -z| lt-proc -z $1 g.bin\n"
    assert parse_pipeline(text, "-n") == [
        ["lt-proc", "-z", "/a b/x.bin"],
        ["apertium-tagger", "-z", "-g", "y.prob"],
        ["apertium-pretransfer", "-z"],
        ["lt-proc", "-z", "-n", "g.bin"],
    ]


@pytest.mark.parametrize(
    "fragment",
    [
        "Plain text, with [brackets] {braces} ^carets$ a/b @at #hash *star ~tilde \\ back &amp; &lt;tag&gt;",
        'The <a href="https://e.com/a?b=1&amp;c=[2]" title="x ~ y">big <strong>red</strong> dog</a> runs.',
        '<p>One</p>\n<ul><li>Two <em>three</em></li></ul><!-- note --><pre>a [b] c</pre>x<br>y<img src="i.png" alt="z">',
    ],
)
def test_stream_format_round_trip(fragment: str) -> None:
    stream, table = to_stream(fragment)
    assert "\0" not in stream
    expected = markup.serialize(markup.parse_fragment(fragment))
    assert from_stream(stream, table) == expected


# --- Apertium: translation --------------------------------------------------------------------------


def test_apertium_is_registered_as_a_draft_html_engine(apertium: ApertiumEngine) -> None:
    assert ENGINES["apertium"] is ApertiumEngine
    assert apertium.tier == "draft" and apertium.handles_html
    assert apertium.available()
    assert {
        ("en", "es"),
        ("es", "en"),
        ("es", "pt"),
        ("fr", "es"),
        ("ms", "id"),
        ("id", "ms"),
    } <= apertium.pairs()


def test_english_html_to_spanish_keeps_the_markup(apertium: ApertiumEngine) -> None:
    html = (
        '<p>The company <a href="https://example.com/news?id=1&amp;lang=en" title="Read more">opened a new '
        "office</a> in the capital today. It sells <b>software</b> and <em>services</em>.</p>"
    )
    out = markup.translate_html(html, apertium, "en", "es")
    print(out)
    assert tags(out) == tags(html)
    assert '<a href="https://example.com/news?id=1&amp;lang=en" title="Read more">' in out
    assert "La empresa" in out and "abrió una oficina nueva" in out and "<b>software</b>" in out
    assert "company" not in out and "today" not in out


def test_formatting_follows_the_words_through_reordering(apertium: ApertiumEngine) -> None:
    out = apertium.translate(["Two <b>new</b> products and a <em>big red</em> dog."], "en", "es")[0]
    assert out == "Dos productos <b>nuevos</b> y un perro <em>rojo grande</em>."


def test_malay_and_indonesian(apertium: ApertiumEngine) -> None:
    ms = "Syarikat itu membuka pejabat baharu di Johor hari ini."
    (to_id,) = apertium.translate([ms], "ms", "id")
    assert to_id == "Serikat itu membuka kantor baru di Johor hari ini."
    (back,) = apertium.translate(["Perusahaan itu membuka kantor baru di Jakarta hari ini."], "id", "ms")
    assert "pejabat" in back and "kantor" not in back


def test_spanish_to_portuguese(apertium: ApertiumEngine) -> None:
    (out,) = apertium.translate(["La empresa abrió una oficina nueva en Madrid."], "es", "pt")
    assert out == "A empresa abriu um escritório novo em Madri."


def test_french_to_spanish(apertium: ApertiumEngine) -> None:
    (out,) = apertium.translate(["La société a ouvert un nouveau bureau à Lyon."], "fr", "es")
    assert "ha abierto" in out and "nuevo" in out


def test_empty_and_markup_only_segments_are_not_sent(apertium: ApertiumEngine) -> None:
    assert apertium.translate(["", "  ", "<b></b>", "<img src=x.png>"], "en", "es") == [
        "",
        "  ",
        "<b></b>",
        "<img src=x.png>",
    ]
    assert apertium.translate([], "en", "es") == []
    with pytest.raises(EngineError, match="no mode"):
        apertium.translate(["x"], "en", "ja")


def test_glossary_through_apertium(apertium: ApertiumEngine) -> None:
    html = (
        '<p>Pelabuhan Selatan (PSB) opened a new office in <a href="https://psb.example/" title="PSB in '
        'Kuala Lumpur">Kuala Lumpur</a> today. <strong>PSB</strong> shares rose; PSBX did not. The Golden '
        "Harbour terminal opened.</p>"
    )
    out = markup.translate_html(html, apertium, "en", "es", [*GLOSSARY, "Golden Harbour"])
    print(out)
    assert out.startswith("<p>Pelabuhan Selatan (PSB) abrió una oficina nueva en ")
    assert '<a href="https://psb.example/" title="PSB in Kuala Lumpur">Kuala Lumpur</a>' in out
    assert "<strong>PSB</strong>" in out and "Golden Harbour" in out and no_placeholders(out)
    unprotected = markup.translate_html(html, apertium, "en", "es", GLOSSARY)
    assert "Golden Harbour" not in unprotected

    ms = "Pelabuhan Selatan (PSB) dan Syarikat Baharu membuka pejabat baharu di Kuala Lumpur."
    out_id = markup.translate_text(ms, apertium, "ms", "id", [*GLOSSARY, "Syarikat Baharu"])
    assert out_id == "Pelabuhan Selatan (PSB) dan Syarikat Baharu membuka kantor baru di Kuala Lumpur."
    title = markup.translate_text(
        "PSB opens a <new> office & more in Kuala Lumpur", apertium, "en", "es", GLOSSARY
    )
    assert title.startswith("PSB abre") and "Kuala Lumpur" in title
    assert "<" in title and ">" in title and "& " in title and "&amp;" not in title


def test_pipelines_stay_warm(apertium: ApertiumEngine) -> None:
    apertium.translate(["Warm up."], "en", "es")
    pids = apertium.pipeline_pids("en", "es")
    assert len(pids) > 5
    for i in range(50):
        apertium.translate([f"The port handled {i} ships today.", "Shares <b>rose</b>."], "en", "es")
    # the same processes did all 50 batches (the speed of warm against cold: bench/languages.py)
    assert apertium.pipeline_pids("en", "es") == pids


def test_a_killed_pipeline_is_restarted(apertium: ApertiumEngine) -> None:
    apertium.translate(["The office opened."], "en", "es")
    pids = apertium.pipeline_pids("en", "es")
    os.kill(pids[len(pids) // 2], signal.SIGKILL)
    (out,) = apertium.translate(["The office opened."], "en", "es")
    assert out == "La oficina abrió."
    new_pids = apertium.pipeline_pids("en", "es")
    assert new_pids and not set(new_pids) & set(pids)


def test_a_timeout_is_an_engine_error() -> None:
    engine = ApertiumEngine(timeout=0.001)
    try:
        with pytest.raises(EngineError, match="no reply"):
            engine.translate(["The office opened in the capital today."], "fr", "es")
        assert engine.pipeline_pids("fr", "es") == ()
    finally:
        engine.close()


def test_concurrent_batches_get_their_own_answers(apertium: ApertiumEngine) -> None:
    sentences = [f"The port handled {n} ships." for n in range(8)]
    expected = apertium.translate(sentences, "en", "es")
    results: dict[int, list[str]] = {}

    def work(n: int) -> None:
        results[n] = apertium.translate(sentences[n:] + sentences[:n], "en", "es")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for n in range(8):
        assert results[n] == expected[n:] + expected[:n]


def test_one_process_per_batch_fallback() -> None:
    engine = ApertiumEngine(warm=False)
    require_apertium(engine)
    fragments = ["The company <b>opened</b> a new office.", "", "Shares rose & fell."]
    out = engine.translate(fragments, "en", "es")
    assert out[0] == "La empresa <b>abrió</b> una oficina nueva." and out[1] == ""
    assert "acciones" in out[2].lower()
    assert engine.pipeline_pids("en", "es") == ()
