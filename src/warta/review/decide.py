"""An editor's decisions on held releases, and on corrections and editions waiting for review."""

from __future__ import annotations

from sqlalchemy.orm import Session

from warta.bus import emit
from warta.clock import utcnow
from warta.config import Settings
from warta.errors import Conflict, Forbidden
from warta.intake.keys import Principal
from warta.intake.sanitize import sanitize_text
from warta.model import Release
from warta.model.states import ReleaseStatus
from warta.review import revisions


class DecisionError(ValueError):
    pass


def approve(
    session: Session, release: Release, editor: Principal, note: str = "", *, settings: Settings | None = None
) -> Release:
    """Approve a held release, or what waits on it (a corrected version, issuers' editions).
    `settings` signs the editions it publishes; without it, held editions stay held."""
    if revisions.has_pending(session, release):
        if settings is None:
            raise DecisionError("publishing held editions or a corrected version needs the wire's settings")
        # a release held at submission is approved below as well; one that was out or approved
        # already (its correction held) is approved by taking the corrected version
        whole = (
            release.status in (ReleaseStatus.HELD, ReleaseStatus.REJECTED) and release.pending_version is None
        )
        revisions.approve_pending(session, settings, release, editor, note)
        if not whole:
            return release
    if release.status not in (ReleaseStatus.HELD, ReleaseStatus.REJECTED):
        raise DecisionError(f"a {release.status} release cannot be approved")
    now = utcnow()
    release.status = ReleaseStatus.APPROVED
    release.reviewed_by = editor.user_id
    release.reviewed_at = now
    release.approved_at = now
    release.reject_reason = None
    release.review = {**release.review, "editor": {"decision": "approve", "by": editor.name, "note": note}}
    release.updated_at = now
    emit(session, "release.approved", f"approved:{release.id}:{release.version}", {"release_id": release.id})
    return release


def reject(session: Session, release: Release, editor: Principal, reason: str) -> Release:
    """Reject a held or approved release; where a corrected version or issuers' editions wait,
    reject those and keep the release's approved text."""
    if not reason.strip():
        raise DecisionError("a rejection needs a reason")
    waiting = release.pending_version is not None or (
        release.status != ReleaseStatus.HELD and revisions.has_pending(session, release)
    )
    if waiting:  # the correction or editions are turned down, the approved release stays
        revisions.reject_pending(session, release, editor, reason.strip())
        return release
    if release.status not in (ReleaseStatus.HELD, ReleaseStatus.APPROVED):
        raise DecisionError(f"a {release.status} release cannot be rejected")
    now = utcnow()
    release.status = ReleaseStatus.REJECTED
    release.reviewed_by = editor.user_id
    release.reviewed_at = now
    release.reject_reason = reason.strip()
    release.approved_at = None
    release.review = {**release.review, "editor": {"decision": "reject", "by": editor.name, "note": reason}}
    release.updated_at = now
    emit(session, "release.rejected", f"rejected:{release.id}:{release.version}", {"release_id": release.id})
    return release


def withdraw(session: Session, release: Release, who: Principal, reason: str) -> Release:
    """Withdraw a release: it leaves the public surfaces, and routing sends a notice to everyone
    who received it. Its issuer or an editor may; the notices say which of them did."""
    if not who.is_editor and who.org_id != release.org_id:
        raise Forbidden("not your organisation's release")
    if release.status == ReleaseStatus.WITHDRAWN:
        raise Conflict("already withdrawn")
    note = sanitize_text(reason, "reason", 2000)
    previous = release.status
    release.status = ReleaseStatus.WITHDRAWN
    release.withdrawal_note = note
    by = "issuer" if who.org_id == release.org_id else "wire"
    release.review = {**release.review, "withdrawal": {"by": by, "name": who.name}}
    release.updated_at = utcnow()
    emit(session, "release.withdrawn", f"withdrawn:{release.id}", {"release_id": release.id, "was": previous})
    return release
