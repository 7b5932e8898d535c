"""The follow-up of `edition.updated` sends only what routing's own plan did not: an edition that
existed when its release went out is routing's, even when its event reaches the follow-up first
(it waited on the bus with the release's own, and routing has not written the rows yet)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from conftest import release_payload
from warta.bus import MemoryBus
from warta.clock import utcnow
from warta.config import Settings
from warta.delivery.engine import Engine
from warta.editions.service import put_edition
from warta.intake import keys
from warta.intake.keys import Principal
from warta.intake.service import submit
from warta.intake.submission import ReleaseIn, clean
from warta.model import Delivery, Release
from warta.routing.followup import EditionFollowup
from warta.routing.recipients import RecipientIn, create_recipient
from warta.routing.stage import Router
from warta.runtime import load_channels
from warta.schedule import publish_due
from warta.store import Store

pytestmark = pytest.mark.fast


def test_an_edition_that_existed_at_the_release_is_left_to_routing(tmp_path: Path) -> None:
    cfg = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'warta.db'}", secret="s" * 32)
    store = Store(cfg.database_url)
    store.migrate()
    load_channels()
    try:
        with store.session() as s:
            org = keys.create_org(s, "Syarikat Contoh Berhad", verified=True, auto_approve=True)
            user, _ = keys.create_user(s, "Press", "issuer", org.id)
            editor, _ = keys.create_user(s, "Desk", "editor")
            who = Principal(user.id, user.name, "issuer", org.id)
            due = utcnow() + timedelta(seconds=1)
            data = ReleaseIn.model_validate(
                release_payload(
                    targets={"countries": ["MY"], "languages": ["ms", "en"]}, release_at=due.isoformat()
                )
            )
            rid = submit(s, cfg, who, org, clean(data, cfg.limits)).id
            release = s.get(Release, rid)
            assert release is not None
            put_edition(
                s,
                cfg,
                release,
                "en",
                headline="Syarikat Contoh Berhad invests RM250 million in a green data centre",
                summary="",
                body_html="<p>The data centre in Cyberjaya will create 400 jobs.</p>",
                about=None,
                user_id=editor.id,
            )
            for name, lang in (("Desk one", "en"), ("Desk two", "ms")):
                create_recipient(
                    s,
                    cfg,
                    RecipientIn(
                        kind="journalist",
                        name=name,
                        country="MY",
                        languages=[lang],
                        email=f"{lang}@x.example",
                    ),
                )
        publish_due(store, due + timedelta(seconds=1))
        router = Router(store, cfg, MemoryBus(), Engine(store, cfg).channels, on_rows=lambda: None)
        followup = EditionFollowup(store, MemoryBus(), router, on_rows=lambda: None)

        # the English edition's event, handled before routing has written the release's rows
        assert followup.follow(rid, "en") == 0
        router.route_release(rid)
        with store.session() as s:
            rows = s.execute(select(Delivery.channel, Delivery.lang).where(Delivery.release_id == rid)).all()
        # each journalist's copy, once, in their language
        assert sorted(lang for channel, lang in rows if channel == "email") == ["en", "ms"]
        assert len(rows) == len(set(rows))
    finally:
        store.close()
