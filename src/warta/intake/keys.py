"""Organisations, users and their API keys. Keys are random, shown once, stored as SHA-256 digests."""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from warta.clock import utcnow
from warta.model import ApiKey, Organisation, User

ROLES = ("issuer", "editor", "admin")
KEY_PREFIX = "wk_"


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def slugify(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return slug[:100] or "org"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the user behind an API key."""

    user_id: str
    name: str
    role: str
    org_id: str | None

    @property
    def is_editor(self) -> bool:
        return self.role in ("editor", "admin")

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def can_see_unreleased(self, org_id: str) -> bool:
        return self.is_editor or self.org_id == org_id


def create_org(
    session: Session,
    name: str,
    domain: str | None = None,
    *,
    verified: bool = False,
    auto_approve: bool = False,
    about: str = "",
    website: str | None = None,
) -> Organisation:
    base = slugify(name)
    slug, n = base, 1
    while session.scalar(select(Organisation.id).where(Organisation.slug == slug)):
        n += 1
        slug = f"{base}-{n}"
    org = Organisation(
        name=name,
        slug=slug,
        domain=domain,
        verified=verified,
        auto_approve=auto_approve,
        about=about,
        website=website,
    )
    session.add(org)
    session.flush()
    return org


def issue_key(session: Session, user: User) -> str:
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiKey(user_id=user.id, prefix=key[:12], digest=digest(key)))
    session.flush()
    return key


def create_user(
    session: Session, name: str, role: str, org_id: str | None = None, email: str | None = None
) -> tuple[User, str]:
    """A user and a fresh API key (the only time the key is seen in clear)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if role == "issuer" and not org_id:
        raise ValueError("an issuer belongs to an organisation")
    user = User(name=name, role=role, org_id=org_id, email=email)
    session.add(user)
    session.flush()
    return user, issue_key(session, user)


def authenticate(session: Session, key: str) -> Principal | None:
    if not key.startswith(KEY_PREFIX) or len(key) > 200:
        return None
    row = session.execute(
        select(ApiKey, User).join(User, ApiKey.user_id == User.id).where(ApiKey.digest == digest(key))
    ).first()
    if row is None:
        return None
    api_key, user = row
    if api_key.revoked_at is not None:
        return None
    api_key.last_used_at = utcnow()
    return Principal(user_id=user.id, name=user.name, role=user.role, org_id=user.org_id)
