"""Recall in every language of the wire: words and phrases of a release find it, on SQLite and on
PostgreSQL, through `/api/v1/search`, and the same words saved as alerts match it.

Each language has a release written for this test (`tests/data/recall/<lang>.txt`: the headline, a
blank line, the body) and its queries (`<lang>.queries`): under `[present]` words and phrases copied
from the release as they are written there, under `[variants]` the same words typed another way
(without diacritics or harakat, in other case, in half-width kana, as ASCII digits), and under
`[absent]` words the release does not hold, which must find nothing.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from pg import pg_server, pg_url  # noqa: F401  (fixtures, found by name)
from warta.clock import utcnow
from warta.config import Settings
from warta.intake import keys
from warta.intake.keys import Principal
from warta.intake.sanitize import html_to_text
from warta.intake.service import submit
from warta.intake.submission import Contact, Dateline, ReleaseIn, Targets, clean
from warta.model import Edition, Release
from warta.routing.alerts import AlertIndex, AlertSpec, Document
from warta.schedule import publish_due
from warta.store import Store
from warta.web.app import create_app

pytestmark = pytest.mark.fast  # in `make test-fast`, the developer's loop

DATA = Path(__file__).parent / "data" / "recall"
DATELINES = {
    "en": ("Chelmsford", "GB"),
    "fr": ("Privas", "FR"),
    "de": ("Würzburg", "DE"),
    "es": ("Martos", "ES"),
    "pt": ("Sines", "PT"),
    "id": ("Takengon", "ID"),
    "ms": ("Bintulu", "MY"),
    "vi": ("Sóc Trăng", "VN"),
    "ru": ("Новосибирск", "RU"),
    "ar": ("ينبع", "SA"),
    "th": ("ขอนแก่น", "TH"),
    "zh-Hans": ("德令哈", "CN"),
    "zh-Hant": ("澎湖", "TW"),
    "ja": ("釧路", "JP"),
    "ko": ("신안", "KR"),
}


@dataclasses.dataclass(frozen=True)
class Case:
    lang: str
    headline: str
    body: str
    present: tuple[str, ...]
    variants: tuple[str, ...]
    absent: tuple[str, ...]


def load(lang: str) -> Case:
    headline, body = (DATA / f"{lang}.txt").read_text(encoding="utf-8").strip().split("\n\n", 1)
    sections: dict[str, list[str]] = {}
    current: list[str] = []
    for line in (DATA / f"{lang}.queries").read_text(encoding="utf-8").splitlines():
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), [])
        elif line.strip():
            current.append(line.strip())
    return Case(
        lang,
        headline,
        body,
        tuple(sections.get("present", ())),
        tuple(sections.get("variants", ())),
        tuple(sections.get("absent", ())),
    )


CASES = [load(lang) for lang in DATELINES]


def test_the_queries_are_taken_from_the_releases() -> None:
    for case in CASES:
        written = f"{case.headline}\n{case.body}"
        text = written.casefold()
        assert len(case.body.split()) >= 150 or len(case.body) >= 300, case.lang
        assert len(case.present) + len(case.variants) >= 20, case.lang
        assert len(case.absent) >= 3, case.lang
        assert [q for q in case.present if q.casefold() not in text] == [], case.lang
        # a variant is not written so anywhere in the release, as a word of its own
        assert [q for q in case.variants if re.search(rf"(?<!\w){re.escape(q)}(?!\w)", written)] == [], (
            case.lang
        )
        assert [q for q in case.absent if q.casefold() in text] == [], case.lang


def publish_all(store: Store, cfg: Settings) -> dict[str, str]:
    """Every language's release, submitted by its own verified issuer and published: lang -> id."""
    now = utcnow()
    ids = {}
    with store.session() as s:
        for case in CASES:
            city, country = DATELINES[case.lang]
            org = keys.create_org(s, f"Issuer {case.lang}", verified=True, auto_approve=True)
            user, _ = keys.create_user(s, "Press", "issuer", org.id)
            data = ReleaseIn(
                headline=case.headline,
                body=case.body,
                body_format="text",
                language=case.lang,
                dateline=Dateline(city=city, country=country),
                sectors=["business"],
                contact=Contact(name="Press office", email="press@issuer.example"),
                about="About the issuer.",
                targets=Targets(countries=[country]),
                release_at=now - timedelta(seconds=5),
            )
            who = Principal(user.id, user.name, "issuer", org.id)
            ids[case.lang] = submit(s, cfg, who, org, clean(data, cfg.limits)).id
    publish_due(store, now)
    return ids


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'warta.db'}"
    else:
        yield request.getfixturevalue("pg_url")


@pytest.fixture
def wire(database: str, tmp_path: Path) -> Iterator[tuple[Store, TestClient, dict[str, str]]]:
    cfg = Settings(data_dir=tmp_path, database_url=database, secret="s" * 32)
    store = Store(cfg.database_url)
    store.migrate()
    try:
        ids = publish_all(store, cfg)
        # the app's stages are not started (no lifespan): only the request path is exercised
        yield store, TestClient(create_app(cfg)), ids
    finally:
        store.close()


def found(client: TestClient, q: str) -> set[str]:
    resp = client.get("/api/v1/search", params={"q": q})
    assert resp.status_code == 200, resp.text
    return {item["id"] for item in resp.json()["items"]}


def test_every_language_finds_its_release_by_its_words(
    wire: tuple[Store, TestClient, dict[str, str]],
) -> None:
    _, client, ids = wire
    missed, wrong = [], []
    for case in CASES:
        for q in case.present + case.variants:
            if ids[case.lang] not in found(client, q):
                missed.append((case.lang, q))
        for q in case.absent:
            if hits := found(client, q):
                wrong.append((case.lang, q, sorted(lang for lang, rid in ids.items() if rid in hits)))
    assert missed == []
    assert wrong == []


def test_the_same_words_as_saved_alerts_match_the_release(
    wire: tuple[Store, TestClient, dict[str, str]],
) -> None:
    store, _, ids = wire
    specs = [
        AlertSpec(id=f"{case.lang}/{kind}/{i}", query=q)
        for case in CASES
        for kind, queries in (("present", case.present + case.variants), ("absent", case.absent))
        for i, q in enumerate(queries)
    ]
    index = AlertIndex.build(specs)
    assert index.rejected == {}
    with store.session() as s:
        for case in CASES:
            release = s.get(Release, ids[case.lang])
            assert release is not None
            edition = s.scalars(
                select(Edition).where(Edition.release_id == release.id, Edition.lang == case.lang)
            ).one()
            # the document routing builds from a published edition
            text = " ".join((edition.headline, edition.summary, html_to_text(edition.body_html)))
            doc = Document.from_text(
                text, edition.lang, {release.dateline_country, *release.target_countries}, release.sectors
            )
            matched = set(index.match(doc))
            wanted = {spec.id for spec in specs if spec.id.startswith(f"{case.lang}/present/")}
            assert wanted - matched == set(), case.lang
            assert {m for m in matched if m.startswith(f"{case.lang}/absent/")} == set(), case.lang


def test_an_index_written_by_the_old_rules_is_rebuilt_at_upgrade(tmp_path: Path) -> None:
    """A wire upgraded from before the shared tokenizer finds its Arabic and Thai releases again."""
    from alembic import command
    from sqlalchemy import text

    from warta.store import search
    from warta.store.db import alembic_config

    cfg = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'warta.db'}", secret="s" * 32)
    store = Store(cfg.database_url)
    store.migrate()
    try:
        ids = publish_all(store, cfg)
        with store.engine.begin() as conn:
            # what the old rules stored: Arabic letters apart, Thai cut at its vowel and tone marks
            for lang in ("ar", "th"):
                conn.execute(
                    text(
                        "UPDATE edition_search SET headline = :t, summary = '', body = :t WHERE release_id = :r"
                    ),
                    {"t": "ا ل م ص ن ع", "r": ids[lang]},
                )
        command.downgrade(alembic_config(cfg.database_url), "0008")
        by_lang = {case.lang: case for case in CASES}
        with store.session() as s:
            assert search.search_edition_ids(s, by_lang["ar"].present[0]) == []
        # the app brings the schema to head as it starts
        client = TestClient(create_app(cfg))
        for lang in ("ar", "th"):
            assert [q for q in by_lang[lang].present if ids[lang] not in found(client, q)] == [], lang
    finally:
        store.close()
