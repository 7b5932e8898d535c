"""The CTranslate2 engine on tiny random models built on the spot, and the LibreTranslate engine against a
LibreTranslate-compatible server on 127.0.0.1."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from libretranslate_server import LibreTranslateServer
from models import NLLB_LANGUAGES, tiny_model  # noqa: E402
from warta.languages.engines.base import ENGINES, EngineError
from warta.languages.engines.ctranslate2_engine import CTranslate2Engine, read_layout  # noqa: E402
from warta.languages.engines.libretranslate import LibreTranslateEngine, LibreTranslateError, read_languages

pytestmark = pytest.mark.fast  # in `make test-fast`, the developer's loop

SEGMENTS = ["The company announces new results today.", "  Shareholders and partners.\n", "Hello world"]


@pytest.fixture(scope="module")
def nllb_dir() -> Path:
    return tiny_model("nllb")


@pytest.fixture(scope="module")
def nllb(nllb_dir: Path) -> Iterator[CTranslate2Engine]:
    engine = CTranslate2Engine(model_dir=nllb_dir, device="cpu", beam_size=1, max_decoding_length=24)
    yield engine
    engine.close()


# -- CTranslate2 -------------------------------------------------------------------------------------


def test_registered_as_draft_engines() -> None:
    assert ENGINES["ctranslate2"] is CTranslate2Engine
    assert ENGINES["libretranslate"] is LibreTranslateEngine
    assert CTranslate2Engine.tier == LibreTranslateEngine.tier == "draft"


def test_translate_many_batches_targets(nllb: CTranslate2Engine) -> None:
    out = nllb.translate_many(SEGMENTS, "en", ["ms", "zh-Hant"])
    assert list(out) == ["ms", "zh-Hant"]
    for texts in out.values():
        assert len(texts) == len(SEGMENTS)
        assert all(isinstance(t, str) for t in texts)
    # Whitespace around a segment is kept around its translation.
    assert out["ms"][1].startswith("  ") and out["ms"][1].endswith("\n")
    # Greedy decoding is deterministic, and translate() is translate_many() with one target.
    assert nllb.translate_many(SEGMENTS, "en", ["ms", "zh-Hant"]) == out
    assert nllb.translate(SEGMENTS, "en", "zh-Hant") == out["zh-Hant"]
    # The language tokens never leak into the text.
    assert not any("zsm_Latn" in t or "zho_Hant" in t for texts in out.values() for t in texts)


def test_one_batch_for_all_targets(nllb: CTranslate2Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    translator = nllb._load().translator
    calls: list[tuple[list[list[str]], list[list[str]] | None]] = []

    class Spy:
        def translate_batch(self, source: list[list[str]], **options: Any) -> Any:
            calls.append((source, options.get("target_prefix")))
            return translator.translate_batch(source, **options)

    monkeypatch.setattr(nllb._load(), "translator", Spy())
    nllb.translate_many(SEGMENTS + [SEGMENTS[0], "   "], "en", ["ms", "fr"])
    assert len(calls) == 1
    sources, prefixes = calls[0]
    assert len(sources) == 6  # three distinct segments x two targets; the blank one is not sent
    assert all(s[0] == "eng_Latn" and s[-1] == "</s>" for s in sources)
    assert sorted(p[0] for p in prefixes or []) == ["fra_Latn"] * 3 + ["zsm_Latn"] * 3


def test_blank_segments_and_empty_batches(nllb: CTranslate2Engine) -> None:
    assert nllb.translate([], "en", "ms") == []
    assert nllb.translate(["", "  "], "en", "ms") == ["", "  "]


def test_pairs_from_the_model_vocabulary(nllb: CTranslate2Engine) -> None:
    pairs = nllb.pairs()
    assert {lang for pair in pairs for lang in pair} == set(NLLB_LANGUAGES)
    assert ("en", "zh-Hant") in pairs and ("zh-Hans", "ms") in pairs
    assert ("en", "ko") not in pairs and ("en", "en") not in pairs
    assert len(pairs) == len(NLLB_LANGUAGES) * (len(NLLB_LANGUAGES) - 1)
    with pytest.raises(EngineError, match="does not translate en into ko"):
        nllb.translate(["Hello"], "en", "ko")


def test_manifest_restricts_languages(nllb_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "model"
    shutil.copytree(nllb_dir, folder)
    (folder / "warta-model.json").write_text(json.dumps({"kind": "nllb", "languages": ["en", "ms", "ko"]}))
    assert read_layout(folder).pairs == {("en", "ms"), ("ms", "en")}


def test_device_auto_picks_cpu_here(nllb_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ctranslate2

    monkeypatch.delenv("WARTA_CT2_DEVICE", raising=False)
    monkeypatch.setenv("WARTA_CT2_MODEL", str(nllb_dir))
    engine = CTranslate2Engine()
    assert engine.device == "auto" and engine.model_dir == nllb_dir
    if ctranslate2.get_cuda_device_count() == 0:
        assert engine.resolved_device() == "cpu"
        assert engine.translate(["Hello world"], "en", "fr")[0] is not None
        assert engine._load().device == "cpu"
    monkeypatch.setattr(ctranslate2, "get_cuda_device_count", lambda: 1)
    assert CTranslate2Engine(model_dir=nllb_dir).resolved_device() == "cuda"
    assert CTranslate2Engine(model_dir=nllb_dir, device="cpu").resolved_device() == "cpu"
    bad = CTranslate2Engine(model_dir=nllb_dir, device="tpu")
    assert not bad.available()
    with pytest.raises(EngineError, match="WARTA_CT2_DEVICE must be one of cpu, cuda, auto"):
        bad.translate(["x"], "en", "fr")


def test_loads_once_under_concurrent_calls(nllb_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ctranslate2

    real = ctranslate2.Translator
    built: list[object] = []

    def counting(*args: Any, **kwargs: Any) -> Any:
        built.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(ctranslate2, "Translator", counting)
    engine = CTranslate2Engine(model_dir=nllb_dir, device="cpu", beam_size=1, max_decoding_length=12)
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda _: engine.translate(SEGMENTS, "en", "id"), range(12)))
    assert len(built) == 1
    assert all(r == results[0] for r in results)
    engine.close()


def test_bad_settings_surface_as_engine_errors(nllb_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARTA_CT2_BEAM_SIZE", "wide")
    engine = CTranslate2Engine(model_dir=nllb_dir)
    assert not engine.available()
    with pytest.raises(EngineError, match="WARTA_CT2_BEAM_SIZE must be a whole number, not 'wide'"):
        engine.translate(["x"], "en", "fr")


def test_unconfigured_and_missing_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WARTA_CT2_MODEL", raising=False)
    engine = CTranslate2Engine()
    assert not engine.available() and engine.pairs() == set()
    with pytest.raises(EngineError, match="no model folder configured"):
        engine.translate(["x"], "en", "fr")
    missing = CTranslate2Engine(model_dir=tmp_path / "nowhere")
    assert not missing.available() and missing.pairs() == set()
    with pytest.raises(EngineError, match=r"model folder .*nowhere does not exist"):
        missing.translate(["x"], "en", "fr")
    (tmp_path / "empty").mkdir()
    with pytest.raises(EngineError, match="has no model.bin"):
        CTranslate2Engine(model_dir=tmp_path / "empty").translate(["x"], "en", "fr")


def test_corrupt_model_folder(nllb_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "model"
    shutil.copytree(nllb_dir, folder)
    (folder / "model.bin").write_bytes(b"\x00not a model at all" * 10)
    engine = CTranslate2Engine(model_dir=folder, device="cpu")
    assert engine.available()  # the files are all there; only loading finds the damage
    with pytest.raises(EngineError, match=r"ctranslate2: cannot load the model in .* on cpu"):
        engine.translate(["Hello"], "en", "fr")

    spm_broken = tmp_path / "spm"
    shutil.copytree(nllb_dir, spm_broken)
    (spm_broken / "sentencepiece.bpe.model").write_bytes(b"garbage")
    with pytest.raises(EngineError, match="cannot load the SentencePiece model"):
        CTranslate2Engine(model_dir=spm_broken, device="cpu").translate(["Hello"], "en", "fr")

    for manifest, message in [
        ("{not json", "cannot read"),
        ('{"kind": "opennmt"}', "kind must be 'nllb' or 'marian'"),
        ('{"kind": "marian", "pairs": [["en", "de"]]}', "source.spm is missing"),
    ]:
        (spm_broken / "warta-model.json").write_text(manifest)
        with pytest.raises(EngineError, match=message):
            read_layout(spm_broken)


def test_marian_multi_target_model(tmp_path: Path) -> None:
    folder = tiny_model("marian")
    engine = CTranslate2Engine(model_dir=folder, device="cpu", beam_size=2, max_decoding_length=16)
    assert engine.pairs() == {("en", "de"), ("en", "fr")}
    out = engine.translate_many(SEGMENTS, "en", ["de", "fr"])
    assert [len(v) for v in out.values()] == [3, 3]
    assert not any(">>" in text for texts in out.values() for text in texts)
    with pytest.raises(EngineError, match="does not translate de into en"):
        engine.translate(["Hallo"], "de", "en")
    engine.close()

    copy = tmp_path / "marian"
    shutil.copytree(folder, copy)
    (copy / "warta-model.json").unlink()
    with pytest.raises(EngineError, match="name its pairs in warta-model.json"):
        read_layout(copy)
    (copy / "warta-model.json").write_text(
        json.dumps({"kind": "marian", "pairs": [["en", "de"], ["en", "fr"]]})
    )
    with pytest.raises(EngineError, match="needs target_tokens for de, fr"):
        read_layout(copy)


# -- LibreTranslate ----------------------------------------------------------------------------------


@pytest.fixture
def lt_server() -> Iterator[LibreTranslateServer]:
    server = LibreTranslateServer(api_key="s3cret").start()
    yield server
    server.stop()


@pytest.fixture
def lt(lt_server: LibreTranslateServer) -> Iterator[LibreTranslateEngine]:
    engine = LibreTranslateEngine(lt_server.url, "s3cret", timeout=5)
    yield engine
    engine.close()


def test_libretranslate_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WARTA_LIBRETRANSLATE_URL", raising=False)
    assert not LibreTranslateEngine().available()
    assert LibreTranslateEngine().pairs() == set()
    with pytest.raises(EngineError, match="no server configured"):
        LibreTranslateEngine().translate(["x"], "en", "es")
    monkeypatch.setenv("WARTA_LIBRETRANSLATE_URL", "http://lt.example:5000/")
    monkeypatch.setenv("WARTA_LIBRETRANSLATE_KEY", "k")
    monkeypatch.setenv("WARTA_LIBRETRANSLATE_TIMEOUT", "12")
    engine = LibreTranslateEngine()
    assert engine.available() and engine.url == "http://lt.example:5000"
    assert engine.api_key == "k" and engine.timeout == 12


def test_libretranslate_pairs_map_codes(lt: LibreTranslateEngine, lt_server: LibreTranslateServer) -> None:
    pairs = lt.pairs()
    assert {("en", "es"), ("en", "zh-Hans"), ("en", "zh-Hant"), ("zh-Hant", "zh-Hans"), ("en", "pt")} <= pairs
    assert ("id", "ms") in pairs and ("es", "de") not in pairs
    assert not any("eo" in pair for pair in pairs)
    assert lt.languages().codes["zh-Hant"] == "zt" and lt.languages().codes["pt"] == "pb"
    lt.pairs()
    assert sum(1 for r in lt_server.requests if r.path == "/languages") == 1  # cached

    newer = read_languages(
        [
            {"code": "zh-Hans", "targets": ["en", "zh-Hant"]},
            {"code": "zh", "targets": ["en"]},
            {"code": "zh-Hant", "targets": ["zh-Hans"]},
            {"code": "pt", "targets": ["en"]},
            {"code": "pb", "targets": ["en"]},
            {"code": "en", "targets": ["zh-Hans", "zh-Hant", "pt", "nb"]},
        ]
    )
    assert newer.codes == {"zh-Hans": "zh-Hans", "zh-Hant": "zh-Hant", "pt": "pt", "en": "en"}
    assert newer.pairs == {
        ("zh-Hans", "en"),
        ("zh-Hans", "zh-Hant"),
        ("zh-Hant", "zh-Hans"),
        ("pt", "en"),
        ("en", "zh-Hans"),
        ("en", "zh-Hant"),
        ("en", "pt"),
    }


def test_libretranslate_translates_a_list(lt: LibreTranslateEngine, lt_server: LibreTranslateServer) -> None:
    out = lt.translate(SEGMENTS + ["", SEGMENTS[0]], "en", "es")
    assert out == [
        "La empresa anuncia nuevos resultados hoy.",
        "  Shareholders y partners.\n",
        "Hola mundo",
        "",
        "La empresa anuncia nuevos resultados hoy.",
    ]
    (post,) = lt_server.posts("/translate")
    assert post.body["q"] == [s.strip() for s in SEGMENTS]
    assert post.body["format"] == "text" and post.body["api_key"] == "s3cret"
    assert lt.translate(["hello"], "en", "zh-Hant") == ["HELLO"]
    assert lt_server.posts("/translate")[-1].body["target"] == "zt"


def test_libretranslate_splits_large_batches(lt_server: LibreTranslateServer) -> None:
    engine = LibreTranslateEngine(lt_server.url, "s3cret", batch_size=2, char_limit=12)
    out = engine.translate(["hello", "world", "the company", "today"], "en", "es")
    assert out == ["hola", "mundo", "la empresa", "hoy"]
    assert [p.body["q"] for p in lt_server.posts("/translate")] == [
        ["hello", "world"],
        ["the company"],
        ["today"],
    ]
    engine.close()


def test_libretranslate_detect(lt: LibreTranslateEngine) -> None:
    assert lt.detect("Hello there")[0] == ("en", 0.9)
    guesses = lt.detect("公司今天宣布")
    assert [code for code, _ in guesses] == ["zh-Hans", "zh-Hant"]
    assert lt.detect("hola mundo")[0][0] == "es"


def test_libretranslate_unsupported_pair(lt: LibreTranslateEngine) -> None:
    with pytest.raises(
        EngineError, match="answered 400: de is not supported as a target language from es"
    ) as info:
        lt.translate(["hola"], "es", "de")
    assert isinstance(info.value, LibreTranslateError) and info.value.status == 400
    with pytest.raises(EngineError, match="answered 400: ko is not supported"):
        lt.translate(["x"], "ko", "en")


def test_libretranslate_bad_key(lt_server: LibreTranslateServer) -> None:
    engine = LibreTranslateEngine(lt_server.url, "wrong", timeout=5)
    with pytest.raises(EngineError, match="answered 403: Invalid API key") as info:
        engine.translate(["hello"], "en", "es")
    assert isinstance(info.value, LibreTranslateError) and info.value.server_message == "Invalid API key"
    with pytest.raises(EngineError, match="403"):
        engine.detect("hello")
    engine.close()


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("rate_limited", True, "answered 429: Too many request limits violations"),
        (
            "fail_with",
            (500, "Cannot translate text: argos crashed"),
            "answered 500: Cannot translate text: argos",
        ),
        ("garbage", True, "not JSON: '<html><body>502 Bad Gateway"),
    ],
)
def test_libretranslate_server_errors(
    lt: LibreTranslateEngine, lt_server: LibreTranslateServer, setting: str, value: object, message: str
) -> None:
    setattr(lt_server, setting, value)
    with pytest.raises(EngineError, match=message):
        lt.translate(["hello"], "en", "es")
    with pytest.raises(EngineError, match=message):
        lt.detect("hello")


def test_libretranslate_timeout_and_refused(lt_server: LibreTranslateServer) -> None:
    lt_server.delay = 1.0
    engine = LibreTranslateEngine(lt_server.url, "s3cret", timeout=0.2)
    engine.languages()
    with pytest.raises(EngineError, match=r"/translate did not answer within 0.2s"):
        engine.translate(["hello"], "en", "es")
    engine.close()

    from conftest import free_port

    nobody = LibreTranslateEngine(f"http://127.0.0.1:{free_port()}", timeout=2)
    assert nobody.pairs() == set()
    with pytest.raises(EngineError, match="cannot reach"):
        nobody.translate(["hello"], "en", "es")
    nobody.close()


def test_libretranslate_keeps_stale_pairs_when_server_goes(lt_server: LibreTranslateServer) -> None:
    engine = LibreTranslateEngine(lt_server.url, "s3cret", languages_ttl=0)
    before = engine.pairs()
    assert before
    lt_server.stop()
    assert engine.pairs() == before
    engine.close()
