"""The nouns of distribution: recipients, circuits, alerts, the delivery ledger and digest queue."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from warta.clock import utcnow
from warta.ids import new_id
from warta.model.states import DeliveryState, EndpointState, RecipientStatus
from warta.model.tables import Base


class Recipient(Base):
    """Someone (or something) the wire delivers to: an outlet, a journalist or a desktop."""

    __tablename__ = "recipients"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("rcp_"))
    kind: Mapped[str] = mapped_column(String(16), index=True)  # outlet | journalist | desktop
    name: Mapped[str] = mapped_column(String(200))
    country: Mapped[str] = mapped_column(String(2), index=True)
    languages: Mapped[list[Any]] = mapped_column(default=list)  # preference order
    sectors: Mapped[list[Any]] = mapped_column(default=list)  # empty: every sector
    embargo_trusted: Mapped[bool] = mapped_column(Boolean, default=False)
    locale: Mapped[str] = mapped_column(String(16), default="en")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    status: Mapped[str] = mapped_column(String(16), default=RecipientStatus.ACTIVE)
    external_id: Mapped[str | None] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # indexed: routing's check for changed recipients reads the latest without a scan
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # every endpoint, removed ones included (the ledger names them); loaded with their recipients
    endpoints: Mapped[list[Endpoint]] = relationship(
        back_populates="recipient", lazy="selectin", order_by="Endpoint.created_at, Endpoint.id"
    )


class Endpoint(Base):
    """Where a recipient takes deliveries on one channel: an email address, a webhook URL (with its
    signing secret and format), a private feed or a live stream (a capability token as its secret).
    A recipient may have several of a kind; each delivery row names the endpoint it goes to."""

    __tablename__ = "endpoints"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("end_"))
    recipient_id: Mapped[str] = mapped_column(ForeignKey("recipients.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))  # email | webhook | feed | stream
    address: Mapped[str | None] = mapped_column(String(2000))  # the email address or URL
    format: Mapped[str | None] = mapped_column(String(16))  # a webhook's: ninjs | newsml
    # a webhook's signing secret, a feed's or stream's token (unique: tokens are looked up by it)
    secret: Mapped[str | None] = mapped_column(String(100), unique=True)
    state: Mapped[str] = mapped_column(String(16), default=EndpointState.ACTIVE)
    disabled_reason: Mapped[str | None] = mapped_column(Text)  # why, e.g. "410 Gone"
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    recipient: Mapped[Recipient] = relationship(back_populates="endpoints")


class Circuit(Base):
    """A named audience: recipients by country x language x sector x kind (an empty list matches all)."""

    __tablename__ = "circuits"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("cir_"))
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    countries: Mapped[list[Any]] = mapped_column(default=list)
    languages: Mapped[list[Any]] = mapped_column(default=list)
    sectors: Mapped[list[Any]] = mapped_column(default=list)
    kinds: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Alert(Base):
    """A recipient's saved search; real time, or gathered into an hourly or daily digest."""

    __tablename__ = "alerts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("alr_"))
    recipient_id: Mapped[str] = mapped_column(ForeignKey("recipients.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    query: Mapped[str] = mapped_column(Text)
    countries: Mapped[list[Any]] = mapped_column(default=list)
    languages: Mapped[list[Any]] = mapped_column(default=list)
    sectors: Mapped[list[Any]] = mapped_column(default=list)
    mode: Mapped[str] = mapped_column(String(16), default="realtime")  # realtime | hourly | daily
    last_digest_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Delivery(Base):
    """One row per (release version, recipient, endpoint, kind): the ledger's unique key decides 'once'.

    The edition is the one language version routing chose for this recipient.
    """

    __tablename__ = "deliveries"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("dlv_"))
    release_id: Mapped[str] = mapped_column(ForeignKey("releases.id"), index=True)
    edition_id: Mapped[str] = mapped_column(ForeignKey("editions.id"))
    version: Mapped[int] = mapped_column(Integer)
    lang: Mapped[str] = mapped_column(String(16))
    recipient_id: Mapped[str] = mapped_column(ForeignKey("recipients.id"), index=True)
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("endpoints.id"))
    channel: Mapped[str] = mapped_column(String(16))  # the endpoint's: email | webhook | feed | stream
    kind: Mapped[str] = mapped_column(String(16), default="edition")  # edition | withdrawal | digest
    destination: Mapped[str] = mapped_column(String(300))  # the lane: relay, endpoint host, stream
    # pending -> sending -> (committing) -> delivered | retrying -> failed
    state: Mapped[str] = mapped_column(String(16), default=DeliveryState.PENDING)
    embargoed: Mapped[bool] = mapped_column(Boolean, default=False)  # an early copy for a trusted recipient
    not_before: Mapped[datetime] = mapped_column(default=utcnow)  # never sent earlier (embargo lift)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    matched_by: Mapped[str] = mapped_column(
        String(64), default="target"
    )  # target | circuit:<slug> | alert:<id>
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    first_attempt_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    # the delivery worker holding a `sending` / `committing` row, and until when it holds it unless
    # it renews; a row whose lease ran out belongs to a dead worker and is settled by the others
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint(
            "release_id", "version", "recipient_id", "endpoint_id", "kind", name="uq_delivery_once"
        ),
        Index("ix_deliveries_due", "state", "next_attempt_at"),
        Index("ix_deliveries_channel_due", "channel", "state", "next_attempt_at"),
    )


class DigestItem(Base):
    """An edition matched by a digest alert, waiting for the recipient's next digest."""

    __tablename__ = "digest_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[str] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    recipient_id: Mapped[str] = mapped_column(ForeignKey("recipients.id"), index=True)
    edition_id: Mapped[str] = mapped_column(ForeignKey("editions.id"))
    not_before: Mapped[datetime] = mapped_column(default=utcnow)
    digest_delivery_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("alert_id", "edition_id"),)
