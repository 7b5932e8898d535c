"""A multi-target engine (CTranslate2 with an NLLB-style model) translates an edition's fields into
all its target languages in one batch per field, not one pass per language."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from models import tiny_model
from test_embargo_property import release, world
from warta.editions.translations import make_machine_editions
from warta.languages.engines.ctranslate2_engine import CTranslate2Engine
from warta.languages.router import TranslationRouter
from warta.model import Edition, Release, ReleaseVersion

pytestmark = pytest.mark.fast  # in `make test-fast`, the developer's loop


def test_one_batch_per_field_for_every_target_language() -> None:
    # a random model writes noise: keep it short so the edition passes the headline limit
    engine = CTranslate2Engine(model_dir=tiny_model("nllb"), device="cpu", max_decoding_length=12)
    calls: list[tuple[str, tuple[str, ...]]] = []
    many = engine.translate_many

    def counting(segments: list[str], source: str, targets: list[str]) -> dict[str, list[str]]:
        calls.append((source, tuple(targets)))
        return many(segments, source, targets)

    engine.translate_many = counting  # type: ignore[method-assign]
    router = TranslationRouter([engine])
    with tempfile.TemporaryDirectory() as tmp:
        store, cfg = world(Path(tmp), [False])
        rid = release(store, cfg, -5, None)
        with store.session() as s:
            rel = s.get(Release, rid)
            assert rel is not None
            rel.target_languages = ["ms", "id", "fr"]
            version = s.scalar(select(ReleaseVersion).where(ReleaseVersion.release_id == rid))
            assert version is not None
            made = make_machine_editions(s, cfg, rel, version, router=router)
            by_lang: dict[str, Any] = {e.lang: e for e in made}
            assert sorted(by_lang) == ["fr", "id", "ms"]
            for e in by_lang.values():
                assert e.engine == "ctranslate2" and e.route == [
                    {"engine": "ctranslate2", "from": "en", "to": e.lang}
                ]
                assert e.status == "draft" and e.headline and e.body_html
            count = len(s.scalars(select(Edition).where(Edition.release_id == rid)).all())
            assert count == 4
        store.close()
    # headline, body and about: one call each for all three languages (the empty summary needs none)
    assert calls and all(targets == ("ms", "id", "fr") for _, targets in calls)
    assert len(calls) <= 4
