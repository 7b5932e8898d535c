"""Digests: editions matched by hourly or daily alerts, gathered into one email per recipient.

Hourly digests go out at the top of each hour and daily ones at 08:00, both in the recipient's
own time zone, carrying what matched before that moment. Each digest is one ledger row (kind
`digest`, channel `email`) whose `version` holds the digest's time slot in minutes since the
epoch, so a recipient gets one digest per slot however often this runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zoneinfo
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from warta.clock import aware, utcnow
from warta.delivery.ledger import NewRow, add_rows
from warta.model import Alert, Delivery, DigestItem, Edition, Endpoint, Recipient
from warta.model.states import EndpointState, RecipientStatus
from warta.store import Store

log = logging.getLogger(__name__)
DAILY_HOUR = 8


def last_slot(mode: str, now: datetime, tz: str) -> datetime:
    """The most recent digest moment at or before `now`, in UTC."""
    try:
        zone = zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = zoneinfo.ZoneInfo("UTC")
    local = now.astimezone(zone)
    if mode == "hourly":
        slot = local.replace(minute=0, second=0, microsecond=0)
    else:
        slot = local.replace(hour=DAILY_HOUR, minute=0, second=0, microsecond=0)
        if slot > local:
            slot -= timedelta(days=1)
    return slot.astimezone(UTC)


def make_digests(session: Session, lane: str, now: datetime | None = None) -> int:
    """Create the digest rows that are due; returns how many."""
    now = now or utcnow()
    pending = session.execute(
        select(DigestItem, Alert, Recipient)
        .join(Alert, Alert.id == DigestItem.alert_id)
        .join(Recipient, Recipient.id == DigestItem.recipient_id)
        .where(DigestItem.digest_delivery_id.is_(None), DigestItem.not_before <= now)
        .where(Recipient.status == RecipientStatus.ACTIVE)
    ).all()
    # a digest goes to the recipient's first active email endpoint (its items name one delivery)
    mailbox: dict[str, str] = {}
    for recipient_id, endpoint_id in session.execute(
        select(Endpoint.recipient_id, Endpoint.id)
        .where(Endpoint.recipient_id.in_({r.id for _, _, r in pending}))
        .where(Endpoint.channel == "email", Endpoint.state == EndpointState.ACTIVE)
        .order_by(Endpoint.created_at.desc(), Endpoint.id.desc())
    ):
        mailbox[recipient_id] = endpoint_id  # the earliest is written last
    due: dict[tuple[str, datetime], list[tuple[DigestItem, Alert]]] = {}
    zones: dict[str, str] = {}
    for item, alert, recipient in pending:
        if recipient.id not in mailbox:
            continue
        slot = last_slot(alert.mode, now, recipient.timezone)
        last = aware(alert.last_digest_at)
        created = aware(item.created_at) or now
        if created <= slot and (last is None or last < slot):
            due.setdefault((recipient.id, slot), []).append((item, alert))
            zones[recipient.id] = recipient.timezone
    made = 0
    for (recipient_id, slot), entries in due.items():
        editions = {
            e.id: e
            for e in session.scalars(
                select(Edition).where(Edition.id.in_({i.edition_id for i, _ in entries}))
            )
        }
        anchor = max(editions.values(), key=lambda e: (e.created_at, e.id))
        period = int(slot.timestamp() // 60)
        row = NewRow(
            release_id=anchor.release_id,
            edition_id=anchor.id,
            version=period,
            lang=anchor.lang,
            recipient_id=recipient_id,
            endpoint_id=mailbox[recipient_id],
            channel="email",
            kind="digest",
            destination=lane,
            embargoed=False,
            not_before=now,
            matched_by="digest",
        )
        add_rows(session, [row])
        delivery_id = session.scalar(
            select(Delivery.id).where(
                Delivery.release_id == anchor.release_id,
                Delivery.version == period,
                Delivery.recipient_id == recipient_id,
                Delivery.kind == "digest",
            )
        )
        ids = [item.id for item, _ in entries]
        session.execute(
            update(DigestItem).where(DigestItem.id.in_(ids)).values(digest_delivery_id=delivery_id)
        )
        for alert_id in {alert.id for _, alert in entries}:
            session.execute(update(Alert).where(Alert.id == alert_id).values(last_digest_at=slot))
        made += 1
    return made


class DigestScheduler:
    """Wakes at every minute boundary and makes the digests that are due."""

    def __init__(self, store: Store, on_rows: Callable[[], None], lane: str) -> None:
        self.store = store
        self.on_rows = on_rows
        self.lane = lane
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def pass_once(self, now: datetime | None = None) -> int:
        with self.store.session() as s:
            return make_digests(s, self.lane, now)

    async def _run(self) -> None:
        while True:
            try:
                if await asyncio.to_thread(self.pass_once):
                    self.on_rows()
            except Exception:
                log.exception("digest pass failed")
            now = utcnow()
            await asyncio.sleep(60 - now.second - now.microsecond / 1e6 + 0.05)
