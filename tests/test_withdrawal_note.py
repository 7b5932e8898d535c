"""A withdrawal's note is its own field: the release JSON says why it was withdrawn apart from
why it was ever rejected, and a database from before keeps its withdrawn releases' notes."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import text

from conftest import release_payload
from warta.clock import utcnow
from warta.config import Settings
from warta.intake import keys
from warta.intake.keys import Principal
from warta.intake.service import submit
from warta.intake.submission import ReleaseIn, clean
from warta.schedule import publish_due
from warta.store import Store
from warta.store.db import alembic_config
from warta.web.app import create_app

pytestmark = pytest.mark.fast

NOTE = "Issued in error: the plant opens next year, not this one."


def test_a_withdrawal_note_is_told_apart_from_a_reject_reason(tmp_path: Path) -> None:
    cfg = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'warta.db'}", secret="s" * 32)
    store = Store(cfg.database_url)
    store.migrate()
    try:
        with store.session() as s:
            org = keys.create_org(s, "Syarikat Contoh Berhad", verified=True, auto_approve=True)
            user, key = keys.create_user(s, "Press", "issuer", org.id)
            who = Principal(user.id, user.name, "issuer", org.id)
            data = ReleaseIn.model_validate(
                release_payload(release_at=(utcnow() + timedelta(seconds=1)).isoformat())
            )
            rid = submit(s, cfg, who, org, clean(data, cfg.limits)).id
        publish_due(store, utcnow() + timedelta(seconds=2))
        client = TestClient(create_app(cfg), headers={"Authorization": f"Bearer {key}"})
        answer = client.post(f"/api/v1/releases/{rid}/withdraw", json={"reason": NOTE})
        assert answer.status_code == 200, answer.text
        assert answer.json()["reason"] == NOTE
        release = client.get(f"/api/v1/releases/{rid}").json()
        assert release["status"] == "withdrawn"
        assert (release["withdrawal_note"], release["reject_reason"]) == (NOTE, None)

        # a database from before the field: the note was kept as the reject reason
        command.downgrade(alembic_config(cfg.database_url), "0010")
        with store.engine.connect() as conn:
            assert conn.scalar(text("SELECT reject_reason FROM releases WHERE id = :id"), {"id": rid}) == NOTE
        store.migrate()
        with store.engine.connect() as conn:
            row = conn.execute(
                text("SELECT withdrawal_note, reject_reason FROM releases WHERE id = :id"), {"id": rid}
            ).one()
        assert tuple(row) == (NOTE, None)
    finally:
        store.close()
