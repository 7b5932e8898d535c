"""Issuing organisations and the wire's users, changed by admins and editors (API and CLI)."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from warta.config import Settings
from warta.errors import Forbidden, Invalid, NotFound
from warta.intake import keys
from warta.intake.keys import Principal
from warta.intake.sanitize import sanitize_text
from warta.intake.submission import clean_about
from warta.model import Organisation, User


def organisation(session: Session, org_id: str | None) -> Organisation | None:
    return session.get(Organisation, org_id) if org_id else None


def find_organisation(session: Session, id_or_slug: str) -> Organisation:
    """An organisation by its id or its slug, or NotFound."""
    found = session.scalar(
        select(Organisation).where(or_(Organisation.id == id_or_slug, Organisation.slug == id_or_slug))
    )
    if found is None:
        raise NotFound(f"no organisation {id_or_slug}")
    return found


def patch_organisation(
    session: Session,
    settings: Settings,
    who: Principal,
    org_id: str,
    *,
    verified: bool | None = None,
    auto_approve: bool | None = None,
    about: str | None = None,
    glossary: list[str] | None = None,
) -> Organisation:
    """Editors verify issuers and grant auto-approve to trusted ones; an issuer may change its own
    "About" boilerplate and glossary of do-not-translate terms. None leaves a field as it is."""
    org = session.get(Organisation, org_id)
    if org is None or not (who.is_editor or who.org_id == org_id):
        raise NotFound(f"no organisation {org_id}")
    if not who.is_editor and (verified is not None or auto_approve is not None):
        raise Forbidden("only editors verify issuers or grant auto-approve")
    if glossary is not None:
        terms = [sanitize_text(t, f"glossary[{i}]", 100) for i, t in enumerate(glossary)]
        org.glossary = [t for t in dict.fromkeys(terms) if t]
    if verified is not None:
        org.verified = verified
    if auto_approve is not None:
        org.auto_approve = auto_approve
    if about is not None:
        org.about = clean_about(about, settings.limits)
    return org


def verify_organisation(session: Session, id_or_slug: str, *, auto_approve: bool = False) -> Organisation:
    """Mark an organisation verified, and trusted too with `auto_approve` (never un-trusted here)."""
    org = find_organisation(session, id_or_slug)
    org.verified = True
    org.auto_approve = org.auto_approve or auto_approve
    return org


def create_user(
    session: Session, name: str, role: str, org_id: str | None = None, email: str | None = None
) -> tuple[User, str]:
    """A user of an existing organisation (or of the wire) and its API key, shown this once."""
    if org_id and session.get(Organisation, org_id) is None:
        raise Invalid("org_id: no such organisation", "org_id")
    try:
        return keys.create_user(session, sanitize_text(name, "name", 200), role, org_id, email)
    except ValueError as exc:
        raise Invalid(str(exc), "role") from exc
