"""An editor's decisions on held releases."""

from __future__ import annotations

from sqlalchemy.orm import Session

from warta.bus import emit
from warta.clock import utcnow
from warta.intake.keys import Principal
from warta.model import Release


class DecisionError(ValueError):
    pass


def approve(session: Session, release: Release, editor: Principal, note: str = "") -> Release:
    if release.status not in ("held", "rejected"):
        raise DecisionError(f"a {release.status} release cannot be approved")
    now = utcnow()
    release.status = "approved"
    release.reviewed_by = editor.user_id
    release.reviewed_at = now
    release.approved_at = now
    release.reject_reason = None
    release.review = {**release.review, "editor": {"decision": "approve", "by": editor.name, "note": note}}
    release.updated_at = now
    emit(session, "release.approved", f"approved:{release.id}:{release.version}", {"release_id": release.id})
    return release


def reject(session: Session, release: Release, editor: Principal, reason: str) -> Release:
    if release.status not in ("held", "approved"):
        raise DecisionError(f"a {release.status} release cannot be rejected")
    if not reason.strip():
        raise DecisionError("a rejection needs a reason")
    now = utcnow()
    release.status = "rejected"
    release.reviewed_by = editor.user_id
    release.reviewed_at = now
    release.reject_reason = reason.strip()
    release.approved_at = None
    release.review = {**release.review, "editor": {"decision": "reject", "by": editor.name, "note": reason}}
    release.updated_at = now
    emit(session, "release.rejected", f"rejected:{release.id}:{release.version}", {"release_id": release.id})
    return release
