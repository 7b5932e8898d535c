"""SQLAlchemy 2 mappings. Portable types only, so SQLite and PostgreSQL share one schema."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from warta.clock import utcnow
from warta.ids import new_id
from warta.model.states import EditionStatus, VersionState


class Base(DeclarativeBase):
    type_annotation_map = {datetime: DateTime(timezone=True), dict[str, Any]: JSON, list[Any]: JSON}


class Organisation(Base):
    """An issuer: the company or institution that sends releases."""

    __tablename__ = "organisations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("org_"))
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    domain: Mapped[str | None] = mapped_column(String(255))
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    auto_approve: Mapped[bool] = mapped_column(Boolean, default=False)
    about: Mapped[str] = mapped_column(Text, default="")
    website: Mapped[str | None] = mapped_column(String(500))
    # do-not-translate terms: names, tickers, brands
    glossary: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    users: Mapped[list[User]] = relationship(back_populates="organisation")


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("usr_"))
    org_id: Mapped[str | None] = mapped_column(ForeignKey("organisations.id"))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(16))  # issuer | editor | admin
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    organisation: Mapped[Organisation | None] = relationship(back_populates="users")
    keys: Mapped[list[ApiKey]] = relationship(back_populates="user")


class ApiKey(Base):
    """An API key, stored only as a SHA-256 digest; the key itself is shown once."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("key_"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(back_populates="keys")


class Release(Base):
    """What an issuer submits: the content lives in versions, the editions hang off each version."""

    __tablename__ = "releases"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("rel_"))
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    submitted_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(16), index=True)  # held|rejected|approved|published|withdrawn
    language: Mapped[str] = mapped_column(String(16))
    # how the language was known: "issuer", or the detector's method, with its confidence
    language_source: Mapped[str] = mapped_column(String(32), default="issuer")
    language_confidence: Mapped[float] = mapped_column(Float, default=1.0)
    dateline_city: Mapped[str] = mapped_column(String(100))
    dateline_country: Mapped[str] = mapped_column(String(2))
    sectors: Mapped[list[Any]] = mapped_column(default=list)
    target_countries: Mapped[list[Any]] = mapped_column(default=list)
    target_languages: Mapped[list[Any]] = mapped_column(default=list)
    target_circuits: Mapped[list[Any]] = mapped_column(default=list)
    release_at: Mapped[datetime] = mapped_column(index=True)
    embargo_until: Mapped[datetime | None]
    # max(release_at, embargo_until): the moment the public (pages, feeds, search) may see it
    public_at: Mapped[datetime] = mapped_column(index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    # a corrected version the review chain held: it waits for an editor while `version` stays public
    pending_version: Mapped[int | None] = mapped_column(Integer)
    review: Mapped[dict[str, Any]] = mapped_column(default=dict)
    reviewed_by: Mapped[str | None] = mapped_column(String(32))
    reviewed_at: Mapped[datetime | None]
    # why the review chain or an editor rejected it
    reject_reason: Mapped[str | None] = mapped_column(Text)
    # the issuer's or the wire's note when withdrawing it, which every withdrawal notice carries
    withdrawal_note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    approved_at: Mapped[datetime | None]
    published_at: Mapped[datetime | None]

    organisation: Mapped[Organisation] = relationship()
    versions: Mapped[list[ReleaseVersion]] = relationship(
        back_populates="release", order_by="ReleaseVersion.version", cascade="all, delete-orphan"
    )
    editions: Mapped[list[Edition]] = relationship(
        back_populates="release", order_by="Edition.id", cascade="all, delete-orphan"
    )

    __table_args__ = (Index("ix_releases_public", "status", "public_at"),)


class ReleaseVersion(Base):
    """The release's own content at one version; corrections add a version, none is overwritten."""

    __tablename__ = "release_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    release_id: Mapped[str] = mapped_column(ForeignKey("releases.id"))
    version: Mapped[int] = mapped_column(Integer)
    headline: Mapped[str] = mapped_column(String(400))
    summary: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str] = mapped_column(Text)
    about: Mapped[str] = mapped_column(Text, default="")
    contact: Mapped[dict[str, Any]] = mapped_column(default=dict)
    media: Mapped[list[Any]] = mapped_column(default=list)
    note: Mapped[str | None] = mapped_column(Text)
    # a correction's: approved | pending (waiting for an editor) | rejected; only approved ones
    # are history (the first version stays "approved": the release's own status says if it is out)
    state: Mapped[str] = mapped_column(String(16), default=VersionState.APPROVED, server_default="approved")
    # the chain's outcome for this version (None stored as SQL NULL, not JSON null)
    review: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    created_by: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    release: Mapped[Release] = relationship(back_populates="versions")

    __table_args__ = (UniqueConstraint("release_id", "version"),)


class Edition(Base):
    """One language version of one release version, and how it was made."""

    __tablename__ = "editions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("edn_"))
    release_id: Mapped[str] = mapped_column(ForeignKey("releases.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    lang: Mapped[str] = mapped_column(String(16), index=True)
    headline: Mapped[str] = mapped_column(String(400))
    summary: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str] = mapped_column(Text)
    about: Mapped[str] = mapped_column(Text, default="")
    origin: Mapped[str] = mapped_column(String(16))  # original | human | machine
    engine: Mapped[str | None] = mapped_column(String(64))
    route: Mapped[list[Any]] = mapped_column(default=list)
    tier: Mapped[str] = mapped_column(String(16), default="publishable")  # publishable | draft | gist
    # published | draft | needs_translation | outdated | held (an issuer's, waiting for an editor)
    status: Mapped[str] = mapped_column(String(24), default=EditionStatus.PUBLISHED)
    digest: Mapped[str] = mapped_column(String(64), default="")
    signature: Mapped[str] = mapped_column(String(128), default="")
    # an issuer's replacement the review chain held: its fields, who sent it and the verdicts
    pending: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    created_by: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    release: Mapped[Release] = relationship(back_populates="editions")

    __table_args__ = (UniqueConstraint("release_id", "version", "lang"),)


class OutboxEvent(Base):
    """Stage events written in the same transaction as the state they announce."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(128), unique=True)  # idempotency: one event per fact
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    dispatched_at: Mapped[datetime | None] = mapped_column(index=True)
