"""Corrections and withdrawals: who had a release hears of its new version, or that it was
withdrawn, the way they had it; copies of older versions still waiting are cancelled."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from warta.clock import utcnow
from warta.delivery.ledger import NewRow, add_rows
from warta.model import Delivery, Recipient, Release
from warta.model.states import LIVE_DELIVERY_STATES, DeliveryState, RecipientStatus, ReleaseStatus
from warta.routing.audience import view
from warta.routing.due import deliverable
from warta.routing.planning import Planner
from warta.store import Store


class Notices:
    def __init__(self, store: Store, planner: Planner) -> None:
        self.store = store
        self.planner = planner

    def earlier_recipients(self, session: Session, release: Release) -> dict[str, str]:
        """Recipients who got (or were about to get) an earlier version, with how they were matched."""
        rows = session.execute(
            select(Delivery.recipient_id, Delivery.matched_by)
            .where(
                Delivery.release_id == release.id,
                Delivery.kind == "edition",
                Delivery.version < release.version,
            )
            .where(Delivery.state.in_((DeliveryState.DELIVERED, *LIVE_DELIVERY_STATES)))
        ).all()
        return {r[0]: r[1] for r in rows}

    def route_correction(self, release_id: str) -> int:
        with self.store.session() as s:
            release = s.get(Release, release_id)
            if release is None or release.status != ReleaseStatus.PUBLISHED:
                return 0
            earlier = self.earlier_recipients(s, release)
            # copies of older versions still waiting are superseded
            s.execute(
                update(Delivery)
                .where(
                    Delivery.release_id == release.id,
                    Delivery.version < release.version,
                    Delivery.state.in_((DeliveryState.PENDING, DeliveryState.RETRYING)),
                )
                .values(state=DeliveryState.CANCELLED, last_error=f"superseded by version {release.version}")
            )
            editions = deliverable(s, release)
            people = s.scalars(
                select(Recipient).where(Recipient.id.in_(earlier), Recipient.status == RecipientStatus.ACTIVE)
            )
            rows = self.planner.rows(
                release, editions, ((view(r), earlier[r.id]) for r in people), kind="edition"
            )
            return add_rows(s, rows)

    def route_withdrawal(self, release_id: str) -> int:
        with self.store.session() as s:
            release = s.get(Release, release_id)
            if release is None or release.status != ReleaseStatus.WITHDRAWN:
                return 0
            s.execute(
                update(Delivery)
                .where(
                    Delivery.release_id == release.id,
                    Delivery.state.in_((DeliveryState.PENDING, DeliveryState.RETRYING)),
                )
                .values(state=DeliveryState.CANCELLED, last_error="release withdrawn")
            )
            got = s.execute(
                select(
                    Delivery.recipient_id,
                    Delivery.endpoint_id,
                    Delivery.channel,
                    Delivery.destination,
                    Delivery.edition_id,
                    Delivery.lang,
                    Delivery.version,
                    Delivery.matched_by,
                    Delivery.embargoed,
                )
                .where(Delivery.release_id == release.id, Delivery.kind == "edition")
                .where(
                    Delivery.state.in_(
                        (DeliveryState.DELIVERED, DeliveryState.COMMITTING, DeliveryState.SENDING)
                    )
                )
                .order_by(Delivery.version)
            ).all()
            # the latest copy each of a recipient's endpoints got; the notice goes the same way
            last = {r.endpoint_id: r for r in got}
            active = set(
                s.scalars(
                    select(Recipient.id).where(
                        Recipient.id.in_({r.recipient_id for r in last.values()}),
                        Recipient.status == RecipientStatus.ACTIVE,
                    )
                )
            )
            now = utcnow()
            rows = [
                NewRow(
                    release_id=release.id,
                    edition_id=r.edition_id,
                    version=release.version,
                    lang=r.lang,
                    recipient_id=r.recipient_id,
                    endpoint_id=r.endpoint_id,
                    channel=r.channel,
                    kind="withdrawal",
                    destination=r.destination,
                    # to an early copy's holder, at once: the engine holds no withdrawal for the lift
                    embargoed=bool(r.embargoed),
                    not_before=now,
                    matched_by=r.matched_by,
                )
                for r in last.values()
                if r.recipient_id in active
            ]
            return add_rows(s, rows)
