"""The store on PostgreSQL: the same migrations, the same search results as SQLite, a ledger that
several workers can claim from at once. Runs against a throwaway server (tests/pg.py)."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import func, inspect, select, text

from pg import pg_server, pg_url  # noqa: F401
from warta.bus import MemoryBus
from warta.clock import utcnow
from warta.config import Settings
from warta.delivery import ledger
from warta.delivery.engine import Engine
from warta.intake import keys
from warta.intake.keys import Principal
from warta.intake.service import submit
from warta.intake.submission import Contact, Dateline, ReleaseIn, Targets, clean
from warta.model import Delivery, Edition
from warta.routing import recipients as rcp
from warta.routing.stage import Router
from warta.runtime import load_channels
from warta.schedule import publish_due
from warta.store import Store
from warta.store.db import alembic_config, database_url
from warta.store.search import index_terms, search_edition_ids

pytestmark = pytest.mark.fast  # in `make test-fast`, the developer's loop

RELEASES = [
    (
        "ja",
        "JP",
        "東京",
        "東京都の新しい太陽光発電所が稼働",
        "東京都に建設された太陽光発電所が本日稼働を開始しました。年間の発電量は一般家庭三万世帯分に相当します。",
    ),
    (
        "ko",
        "KR",
        "서울",
        "서울 반도체 기업 매출 급증",
        "서울의 반도체 기업이 올해 매출이 크게 늘었다고 발표했습니다. 수출이 매출 증가를 이끌었습니다.",
    ),
    (
        "th",
        "TH",
        "Bangkok",
        "บริษัทไทยประกาศผลกำไรเพิ่มขึ้น",
        "บริษัทในกรุงเทพประกาศผลกำไรประจำปีเพิ่มขึ้นอย่างมากจากการส่งออกสินค้าเกษตรไปยังต่างประเทศ",
    ),
    (
        "fr",
        "FR",
        "Paris",
        "La Société Générale ouvre un café à Paris",
        "La Société Générale a ouvert aujourd'hui un café pour ses clients dans le centre de Paris, "
        "avec une terrasse et une bibliothèque.",
    ),
    (
        "en",
        "MY",
        "Kuala Lumpur",
        "Pelabuhan Selatan opens a solar terminal",
        "Pelabuhan Selatan Berhad today opened a container terminal whose cranes run on solar power. " * 3,
    ),
]
QUERIES = [
    "東京",
    "매출",
    "ผลกำไร",
    "societe",
    "Société",
    "SOCIÉTÉ générale",
    "solar terminal",
    "café",
    "東京 発電",
    "nothing",
]


def world(tmp: Path, url: str, recipients: int = 3) -> tuple[Store, Settings]:
    base = Settings(data_dir=tmp, database_url=url, secret="s" * 32)
    cfg = dataclasses.replace(base, smtp_url="smtp://127.0.0.1:9", webhook_allow=("127.0.0.1",))
    store = Store(cfg.database_url)
    store.migrate()
    with store.session() as s:
        for i in range(recipients):
            rcp.create_recipient(
                s,
                cfg,
                rcp.RecipientIn(
                    kind="journalist",
                    name=f"R{i}",
                    country="MY",
                    languages=["en"],
                    email=f"r{i}@x.example",
                    embargo_trusted=bool(i % 2),
                ),
            )
    return store, cfg


def release(store: Store, cfg: Settings, lang: str, country: str, city: str, headline: str, body: str) -> str:
    now = utcnow()
    with store.session() as s:
        org = keys.create_org(s, f"Issuer {lang}", verified=True, auto_approve=True)
        user, _ = keys.create_user(s, "Press", "issuer", org.id)
        data = ReleaseIn(
            headline=headline,
            body=body,
            language=lang,
            dateline=Dateline(city=city, country=country),
            sectors=["business"],
            contact=Contact(name="A", email="a@x.example"),
            about="About us.",
            targets=Targets(countries=["MY"]),
            release_at=now - timedelta(seconds=5),
        )
        who = Principal(user.id, user.name, "issuer", org.id)
        rid = submit(s, cfg, who, org, clean(data, cfg.limits)).id
    publish_due(store, now)
    return rid


def searched(store: Store) -> dict[str, list[str]]:
    """Release ids found per query, in the order the index ranks them."""
    found = {}
    with store.session() as s:
        for q in QUERIES:
            ids = search_edition_ids(s, q)
            by_id = {e.id: e.release_id for e in s.scalars(select(Edition).where(Edition.id.in_(ids)))}
            found[q] = [by_id[i] for i in ids]
    return found


@pytest.fixture
def pg_store(pg_url: str, tmp_path: Path) -> Iterator[tuple[Store, Settings]]:  # noqa: F811
    store, cfg = world(tmp_path, pg_url)
    try:
        yield store, cfg
    finally:
        store.close()


def test_plain_postgresql_urls_use_psycopg() -> None:
    assert database_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert database_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert database_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    assert database_url("sqlite:///x.db") == "sqlite:///x.db"


def test_migrations_run_down_and_up_again(pg_url: str) -> None:  # noqa: F811
    store = Store(pg_url.replace("postgresql+psycopg://", "postgresql://"))
    try:
        assert store.dialect == "postgresql"
        store.migrate()
        with store.engine.connect() as conn:
            assert conn.scalar(text("SELECT version_num FROM alembic_version")) == "0011"
            assert "pending_version" in {c["name"] for c in inspect(conn).get_columns("releases")}
            assert {"state", "review"} <= {c["name"] for c in inspect(conn).get_columns("release_versions")}
            assert "pending" in {c["name"] for c in inspect(conn).get_columns("editions")}
            assert "ix_deliveries_channel_due" in {i["name"] for i in inspect(conn).get_indexes("deliveries")}
            assert "ix_recipients_updated_at" in {i["name"] for i in inspect(conn).get_indexes("recipients")}
            columns = {c["name"] for c in inspect(conn).get_columns("edition_search")}
            assert "tsv" in columns
            indexes = {i["name"] for i in inspect(conn).get_indexes("edition_search")}
            assert "ix_edition_search_tsv" in indexes
        cfg = alembic_config(store.url)
        command.downgrade(cfg, "base")
        with store.engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) == {"alembic_version"}
        store.migrate()
        with store.engine.connect() as conn:
            assert "deliveries" in inspect(conn).get_table_names()
            assert conn.scalar(text("SELECT version_num FROM alembic_version")) == "0011"
    finally:
        store.close()


def test_search_finds_what_sqlite_finds(pg_store: tuple[Store, Settings], tmp_path: Path) -> None:
    load_channels()
    lite_dir = tmp_path / "lite"
    lite_store, lite_cfg = world(lite_dir, f"sqlite:///{lite_dir / 'w.db'}")
    store, cfg = pg_store
    try:
        names = {}
        for lang, country, city, headline, body in RELEASES:
            pg_rid = release(store, cfg, lang, country, city, headline, body)
            lite_rid = release(lite_store, lite_cfg, lang, country, city, headline, body)
            names[pg_rid] = names[lite_rid] = lang
        pg_found = {q: [names[r] for r in rids] for q, rids in searched(store).items()}
        lite_found = {q: [names[r] for r in rids] for q, rids in searched(lite_store).items()}
    finally:
        lite_store.close()

    assert pg_found["東京"] == ["ja"]
    assert pg_found["東京 発電"] == ["ja"]
    assert pg_found["매출"] == ["ko"]
    assert pg_found["ผลกำไร"] == ["th"]
    assert pg_found["societe"] == pg_found["Société"] == pg_found["SOCIÉTÉ générale"] == ["fr"]
    assert pg_found["café"] == ["fr"]
    assert pg_found["solar terminal"] == ["en"]
    assert pg_found["nothing"] == []
    assert {q: sorted(v) for q, v in pg_found.items()} == {q: sorted(v) for q, v in lite_found.items()}


def test_search_ranks_headline_over_body_and_escapes_operators(pg_store: tuple[Store, Settings]) -> None:
    store, _ = pg_store
    with store.session() as s:
        for eid, headline, body in [
            ("e_body", "Quarterly update", "solar"),
            ("e_head", "Solar news", "update"),
        ]:
            s.execute(
                text(
                    "INSERT INTO edition_search (edition_id, release_id, lang, headline, summary, body) "
                    "VALUES (:id, 'r', 'en', :h, '', :b)"
                ),
                {"id": eid, "h": index_terms(headline), "b": index_terms(body)},
            )
    with store.session() as s:
        assert search_edition_ids(s, "solar") == ["e_head", "e_body"]
        for hostile in ["solar & | ! <-> :* ( ) '", "'solar'", "solar:*A", "!!!", "(", "\\"]:
            found = search_edition_ids(s, hostile)
            assert set(found) <= {"e_head", "e_body"}
        assert search_edition_ids(s, "!!!") == []


def _routed(store: Store, cfg: Settings) -> str:
    load_channels()
    rid = release(store, cfg, *RELEASES[-1])
    Router(store, cfg, MemoryBus(), Engine(store, cfg).channels, on_rows=lambda: None).route_release(rid)
    return rid


def _offered_again(store: Store) -> list[ledger.NewRow]:
    with store.session() as s:
        return [
            ledger.NewRow(
                release_id=d.release_id,
                edition_id=d.edition_id,
                version=d.version,
                lang=d.lang,
                recipient_id=d.recipient_id,
                endpoint_id=d.endpoint_id,
                channel=d.channel,
                kind=d.kind,
                destination=d.destination,
                embargoed=d.embargoed,
                not_before=d.not_before,
                matched_by=d.matched_by,
            )
            for d in s.scalars(select(Delivery))
        ]


def test_ledger_rows_are_added_once(pg_store: tuple[Store, Settings]) -> None:
    store, cfg = pg_store
    _routed(store, cfg)
    with store.session() as s:
        before = s.scalar(select(func.count()).select_from(Delivery))
    assert before
    rows = _offered_again(store)
    assert len(rows) == before
    with store.session() as s:
        assert ledger.add_rows(s, rows) == before
    with store.session() as s:
        assert ledger.add_rows(s, rows) == before
        assert s.scalar(select(func.count()).select_from(Delivery)) == before


def test_concurrent_claims_skip_each_others_rows(pg_url: str, tmp_path: Path) -> None:  # noqa: F811
    store, cfg = world(tmp_path, pg_url, recipients=12)
    try:
        _routed(store, cfg)
        later = utcnow() + timedelta(days=1)
        with store.session() as s:
            # rows waiting for a worker (the feeds' are settled by routing)
            total = s.scalar(select(func.count()).select_from(Delivery).where(Delivery.state == "pending"))
        assert total is not None and total > 8

        # one worker claims and holds its transaction open while a second one claims
        first_claimed, second_done = threading.Event(), threading.Event()
        got: dict[str, list[str]] = {}
        errors: list[BaseException] = []

        def worker(name: str) -> None:
            try:
                if name == "second":
                    assert first_claimed.wait(10)
                with store.session() as s:
                    got[name] = [d.id for d in ledger.claim(s, 4, now=later)]
                    if name == "first":
                        first_claimed.set()
                        assert second_done.wait(10), "the second claim waited on the first one's rows"
                if name == "second":
                    second_done.set()
            except BaseException as exc:
                errors.append(exc)
                first_claimed.set()
                second_done.set()

        threads = [threading.Thread(target=worker, args=(n,)) for n in ("first", "second")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert not errors, errors
        assert len(got["first"]) == len(got["second"]) == 4
        assert not set(got["first"]) & set(got["second"])

        # and several workers draining the rest together hand out each row once
        claimed: list[str] = []
        lock = threading.Lock()

        def drain() -> None:
            while True:
                with store.session() as s:
                    ids = [d.id for d in ledger.claim(s, 3, now=later)]
                if not ids:
                    return
                with lock:
                    claimed.extend(ids)

        drains = [threading.Thread(target=drain) for _ in range(4)]
        for t in drains:
            t.start()
        for t in drains:
            t.join(30)
        assert len(claimed) == len(set(claimed)) == total - 8
        assert not set(claimed) & (set(got["first"]) | set(got["second"]))
    finally:
        store.close()
