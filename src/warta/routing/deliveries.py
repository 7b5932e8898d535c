"""A release's deliveries as its issuer and the desk see them, and sending one again."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from warta.clock import utcnow
from warta.editions.queries import unreleased_view
from warta.errors import Conflict, NotFound
from warta.intake.keys import Principal
from warta.model import Delivery, Endpoint
from warta.model.states import DeliveryState
from warta.routing import endpoints
from warta.routing.recipients import resend_refusal

RESENDABLE = (DeliveryState.FAILED, DeliveryState.CANCELLED)


def release_deliveries(
    session: Session,
    release_id: str,
    who: Principal,
    *,
    state: str | None = None,
    channel: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[int, list[Delivery]]:
    """How many ledger rows match, and one page of them in the order they were made."""
    unreleased_view(session, release_id, who)
    stmt = select(Delivery).where(Delivery.release_id == release_id)
    if state:
        stmt = stmt.where(Delivery.state == state)
    if channel:
        stmt = stmt.where(Delivery.channel == channel)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(Delivery.created_at, Delivery.id).limit(limit).offset(offset))
    return total, list(rows)


def resend(session: Session, delivery_id: str, who: Principal) -> Delivery:
    """Make a failed (or cancelled) delivery due now; never an edition of a withdrawn release, nor
    a copy of a version a correction superseded. The caller wakes the delivery engine after commit."""
    delivery = session.get(Delivery, delivery_id)
    if delivery is None:
        raise NotFound(f"no delivery {delivery_id}")
    release = unreleased_view(session, delivery.release_id, who)
    if delivery.state not in RESENDABLE:
        raise Conflict(f"a {delivery.state} delivery is not resent")
    refused = resend_refusal(delivery, release)
    if refused:
        raise Conflict(refused)
    endpoint = session.get(Endpoint, delivery.endpoint_id)
    if endpoint is not None:
        endpoints.enable(endpoint)  # one a channel disabled (a 410): the operator vouches for it again
    delivery.state, delivery.next_attempt_at, delivery.last_error = DeliveryState.PENDING, utcnow(), None
    return delivery
