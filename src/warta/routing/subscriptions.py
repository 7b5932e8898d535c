"""Who receives the wire, read and changed for the desk: recipients, their alerts, circuits, the
one-click unsubscribe, and the tokens of private feeds and desktop streams."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from warta.clock import utcnow
from warta.delivery.base import RecipientView
from warta.errors import NotFound
from warta.model import Alert, Circuit, Delivery, Edition, Organisation, Recipient, Release, ReleaseVersion
from warta.model.states import DeliveryState, RecipientStatus, ReleaseStatus
from warta.routing import endpoints
from warta.routing.audience import view

# a recipient in these states gets nothing, and its private feed is gone
INACTIVE = (RecipientStatus.DELETED, RecipientStatus.UNSUBSCRIBED)
PRIVATE_FEED_SIZE = 50


# --- recipients ----------------------------------------------------------------------------------


def recipient(session: Session, recipient_id: str) -> Recipient:
    """A recipient that was not deleted, or NotFound."""
    found = session.get(Recipient, recipient_id)
    if found is None or found.status == RecipientStatus.DELETED:
        raise NotFound(f"no recipient {recipient_id}")
    return found


def list_recipients(
    session: Session,
    *,
    kind: str | None = None,
    country: str | None = None,
    status: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[int, list[Recipient]]:
    """How many recipients match, and one page of them, oldest first."""
    stmt = select(Recipient).where(Recipient.status != RecipientStatus.DELETED)
    if kind:
        stmt = stmt.where(Recipient.kind == kind)
    if country:
        stmt = stmt.where(Recipient.country == country.upper())
    if status:
        stmt = stmt.where(Recipient.status == status)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(Recipient.created_at, Recipient.id).limit(limit).offset(offset))
    return total, list(rows)


def delete_recipient(session: Session, recipient_id: str) -> None:
    """No further deliveries; contact details erased; the ledger keeps its history."""
    r = recipient(session, recipient_id)
    r.status = RecipientStatus.DELETED
    endpoints.remove_all(r)
    r.name = "(deleted)"
    r.updated_at = utcnow()
    session.query(Alert).filter(Alert.recipient_id == r.id).delete()


def unsubscribe(session: Session, recipient_id: str) -> bool:
    """The recipient asked for nothing more (RFC 8058 one click): it is marked unsubscribed and
    what was still waiting for it is cancelled. False when there was no such active recipient."""
    r = session.get(Recipient, recipient_id)
    if r is None or r.status == RecipientStatus.DELETED:
        return False
    r.status, r.updated_at = RecipientStatus.UNSUBSCRIBED, utcnow()
    session.execute(
        update(Delivery)
        .where(
            Delivery.recipient_id == recipient_id,
            Delivery.state.in_((DeliveryState.PENDING, DeliveryState.RETRYING)),
        )
        .values(state=DeliveryState.CANCELLED, last_error="recipient unsubscribed")
    )
    return True


# --- alerts and circuits ---------------------------------------------------------------------------


def alerts_of(session: Session, recipient_id: str) -> list[Alert]:
    return list(
        session.scalars(select(Alert).where(Alert.recipient_id == recipient_id).order_by(Alert.created_at))
    )


def delete_alert(session: Session, alert_id: str) -> None:
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise NotFound(f"no alert {alert_id}")
    session.delete(alert)


def all_circuits(session: Session) -> list[Circuit]:
    return list(session.scalars(select(Circuit).order_by(Circuit.name)))


def delete_circuit(session: Session, slug: str) -> None:
    circuit = session.scalar(select(Circuit).where(Circuit.slug == slug))
    if circuit is None:
        raise NotFound(f"no circuit {slug}")
    session.delete(circuit)


# --- private feeds and desktop streams -------------------------------------------------------------


def feed_recipient(session: Session, token: str) -> Recipient:
    """The active recipient a private feed token belongs to, or NotFound."""
    r = endpoints.by_token(session, "feed", token)
    if r is None or r.status in INACTIVE:
        raise NotFound("unknown feed")
    return r


def private_feed_items(session: Session, r: Recipient) -> list[tuple[Any, ...]]:
    """What the feed channel delivered to `r` of releases still out, newest first, as
    (delivery, edition, release, organisation, version) rows."""
    rows = session.execute(
        select(Delivery, Edition, Release, Organisation, ReleaseVersion)
        .join(Edition, Edition.id == Delivery.edition_id)
        .join(Release, Release.id == Delivery.release_id)
        .join(Organisation, Organisation.id == Release.org_id)
        .join(
            ReleaseVersion,
            (ReleaseVersion.release_id == Edition.release_id) & (ReleaseVersion.version == Edition.version),
        )
        .where(
            Delivery.recipient_id == r.id,
            Delivery.channel == "feed",
            Delivery.kind == "edition",
            Delivery.state == DeliveryState.DELIVERED,
            Release.status == ReleaseStatus.PUBLISHED,
        )
        .order_by(Delivery.delivered_at.desc())
        .limit(PRIVATE_FEED_SIZE)
    ).all()
    return [tuple(row) for row in rows]


def stream_recipient(session: Session, token: str) -> RecipientView | None:
    """The active desktop recipient a stream token belongs to, or None."""
    r = endpoints.by_token(session, "stream", token)
    if r is None or r.status != RecipientStatus.ACTIVE or r.kind != "desktop":
        return None
    return view(r)
