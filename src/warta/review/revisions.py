"""Changes after submission go through the review chain again: corrections and issuers' editions.

What the chain would pass (auto-approval included) takes effect at once. What it would not waits
for an editor, and the approved text stays the one readers and recipients get meanwhile: a held
correction is a `pending` version beside the current one (a release not yet out is held, so it
does not go out with the text its issuer replaced), and a held edition keeps its text in the
edition's `pending` field. Editors' own changes are not reviewed again: they are the review.
The editor sees what changed against the approved text, field by field.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from warta.bus import emit
from warta.clock import stamp, utcnow
from warta.config import Settings
from warta.editions import service as editions
from warta.intake.keys import Principal
from warta.intake.sanitize import html_to_text
from warta.model import Edition, Organisation, Release, ReleaseVersion
from warta.model.states import EditionStatus, ReleaseStatus, VersionState
from warta.review.chain import Draft, Outcome, review

STATUS_FOR = {"approve": ReleaseStatus.APPROVED, "hold": ReleaseStatus.HELD, "reject": ReleaseStatus.REJECTED}


class ReviewConflict(ValueError):
    """A change that cannot be made in the release's present state (answered 409)."""


@dataclass(frozen=True)
class Correction:
    """The fields a correction changes (None: unchanged) and the note saying what was corrected."""

    note: str
    headline: str | None = None
    summary: str | None = None
    body_html: str | None = None
    about: str | None = None
    contact: dict[str, str] | None = None


def _draft(
    settings: Settings,
    release: Release,
    org: Organisation,
    *,
    headline: str,
    summary: str,
    body_html: str,
    about: str,
    contact: dict[str, Any],
    media: list[dict[str, str]] | None = None,
) -> Draft:
    return Draft(
        headline=headline,
        summary=summary,
        body_html=body_html,
        body_text=html_to_text(body_html),
        sectors=list(release.sectors),
        contact=dict(contact),
        about=html_to_text(about) if "<" in about else about,
        org_verified=org.verified,
        org_auto_approve=org.auto_approve,
        banned_terms=settings.banned_terms,
        media=tuple(media or ()),
    )


def review_version(
    settings: Settings, release: Release, org: Organisation, version: ReleaseVersion
) -> Outcome:
    return review(
        _draft(
            settings,
            release,
            org,
            headline=version.headline,
            summary=version.summary,
            body_html=version.body_html,
            about=version.about,
            contact=version.contact,
            media=version.media,
        )
    )


def _org(session: Session, release: Release) -> Organisation:
    org = session.get(Organisation, release.org_id)
    assert org is not None
    return org


def correct(
    session: Session, settings: Settings, who: Principal, release: Release, change: Correction
) -> ReleaseVersion:
    """A correction: a new version, reviewed like a submission unless an editor makes it.

    The release's current version stays current while the new one waits for an editor; a release
    that has no approved version yet (held at submission) simply takes the new version and the
    chain's decision, as a fresh submission would."""
    if release.status in (ReleaseStatus.REJECTED, ReleaseStatus.WITHDRAWN):
        raise ReviewConflict(f"a {release.status} release cannot be corrected")
    if release.pending_version is not None:
        raise ReviewConflict(
            f"version {release.pending_version} is waiting for an editor; "
            "it must be approved or rejected before another correction"
        )
    new = editions.add_version(
        session,
        settings,
        release,
        note=change.note,
        user_id=who.user_id,
        headline=change.headline,
        summary=change.summary,
        body_html=change.body_html,
        about=change.about,
        contact=change.contact,
    )
    if who.is_editor:
        new.review = {"decision": "approve", "note": f"corrected by editor {who.name}", "rules": []}
        editions.make_current(session, release, new)
        return new
    outcome = review_version(settings, release, _org(session, release), new)
    new.review = outcome.as_dict()
    now = utcnow()
    if release.status == ReleaseStatus.HELD:  # nothing approved yet: the release is reviewed afresh
        editions.make_current(session, release, new)
        _decided_by_chain(session, release, outcome, now)
        return new
    if outcome.decision == "approve":
        editions.make_current(session, release, new)
        return new
    new.state = VersionState.PENDING
    release.pending_version = new.version
    if release.status == ReleaseStatus.APPROVED:
        release.status = (
            ReleaseStatus.HELD
        )  # it does not go out at its time with the text the issuer replaced
    release.updated_at = now
    return new


def _decided_by_chain(session: Session, release: Release, outcome: Outcome, now: Any) -> None:
    release.status = STATUS_FOR[outcome.decision]
    release.review = outcome.as_dict()
    release.reviewed_at = now
    release.reject_reason = "; ".join(v.reason for v in outcome.verdicts if v.verdict == "reject") or None
    if release.status == ReleaseStatus.APPROVED:
        release.approved_at = now
        emit(
            session,
            "release.approved",
            f"approved:{release.id}:{release.version}",
            {"release_id": release.id},
        )


def supply_edition(
    session: Session,
    settings: Settings,
    who: Principal,
    release: Release,
    lang: str,
    *,
    headline: str,
    summary: str,
    body_html: str,
    about: str | None,
) -> Edition:
    """An edition of the current version supplied by a person: an issuer's goes through the chain
    (with the version's contact and the release's sectors); one it would not pass is held."""
    if release.status in (ReleaseStatus.REJECTED, ReleaseStatus.WITHDRAWN):
        raise ReviewConflict(f"a {release.status} release takes no new editions")
    if not who.is_editor:
        version = editions.version_row(session, release, release.version)
        outcome = review(
            _draft(
                settings,
                release,
                _org(session, release),
                headline=headline,
                summary=summary,
                body_html=body_html,
                about=about if about is not None else version.about,
                contact=version.contact,
            )
        )
        if outcome.decision != "approve":
            return editions.hold_edition(
                session,
                release,
                lang,
                headline=headline,
                summary=summary,
                body_html=body_html,
                about=about,
                user_id=who.user_id,
                review=outcome.as_dict(),
            )
    return editions.put_edition(
        session,
        settings,
        release,
        lang,
        headline=headline,
        summary=summary,
        body_html=body_html,
        about=about,
        user_id=who.user_id,
    )


# --- what waits, and the editor's decision on it ------------------------------------------------


def held_editions(session: Session, release: Release) -> list[Edition]:
    return list(
        session.scalars(
            select(Edition)
            .where(
                Edition.release_id == release.id,
                Edition.version == release.version,
                Edition.pending.is_not(None),
            )
            .order_by(Edition.lang)
        )
    )


def has_pending(session: Session, release: Release) -> bool:
    return release.pending_version is not None or bool(held_editions(session, release))


def approve_pending(
    session: Session, settings: Settings, release: Release, editor: Principal, note: str
) -> None:
    """Pass what waits: the held version becomes current (a correction, where the release is out),
    then the held editions of the (new) current version are published."""
    now = utcnow()
    decision = {"decision": "approve", "by": editor.name, "note": note, "at": stamp(now)}
    if release.pending_version is not None:
        pending = editions.version_row(session, release, release.pending_version)
        pending.review = {**(pending.review or {}), "editor": decision}
        editions.make_current(session, release, pending)
        if release.status == ReleaseStatus.HELD:
            release.status = ReleaseStatus.APPROVED
            release.approved_at = now
            emit(
                session,
                "release.approved",
                f"approved:{release.id}:{release.version}",
                {"release_id": release.id},
            )
    for edition in held_editions(session, release):
        editions.apply_held_edition(session, settings, release, edition)
    release.reviewed_by = editor.user_id
    release.reviewed_at = now
    release.review = {**release.review, "editor": {**decision, "version": release.version}}
    release.updated_at = now


def reject_pending(session: Session, release: Release, editor: Principal, reason: str) -> None:
    """Turn down what waits: the approved version stays current (a release not yet out goes back
    to approved and out at its time), held editions are dropped."""
    now = utcnow()
    decision = {"decision": "reject", "by": editor.name, "note": reason, "at": stamp(now)}
    if release.pending_version is not None:
        pending = editions.version_row(session, release, release.pending_version)
        pending.state = VersionState.REJECTED
        pending.review = {**(pending.review or {}), "editor": decision}
        release.pending_version = None
        if release.status == ReleaseStatus.HELD:
            release.status = ReleaseStatus.APPROVED
            # the scheduler looks again: the release may be due already
            emit(
                session,
                "release.approved",
                f"approved:{release.id}:{release.version}:kept:{pending.version}",
                {"release_id": release.id},
            )
    for edition in held_editions(session, release):
        editions.drop_held_edition(session, edition)
    release.reviewed_by = editor.user_id
    release.reviewed_at = now
    release.review = {**release.review, "editor": {**decision, "version": release.version}}
    release.updated_at = now


# --- what the editor sees ---------------------------------------------------------------------


def _text(value: str) -> str:
    return html_to_text(value) if "<" in value else value


def _contact_text(contact: dict[str, Any]) -> str:
    return "\n".join(f"{k}: {v}" for k, v in sorted(contact.items()) if v)


def field_diff(before: dict[str, str], after: dict[str, str]) -> dict[str, Any]:
    """The fields that differ: each with the text before and after and a line diff between them."""
    out: dict[str, Any] = {}
    for name, new in after.items():
        old = before.get(name, "")
        if old == new:
            continue
        lines = list(
            difflib.unified_diff(old.splitlines(), new.splitlines(), "approved", "proposed", lineterm="", n=1)
        )
        out[name] = {"before": old, "after": new, "diff": lines}
    return out


def _version_fields(version: ReleaseVersion | None) -> dict[str, str]:
    if version is None:
        return {}
    return {
        "headline": version.headline,
        "summary": version.summary,
        "body": _text(version.body_html),
        "about": _text(version.about),
        "contact": _contact_text(version.contact),
    }


def pending_json(session: Session, release: Release) -> dict[str, Any] | None:
    """What waits for an editor on this release, with its review and what changed against the
    approved text; None when nothing does."""
    held = held_editions(session, release)
    if release.pending_version is None and not held:
        return None
    out: dict[str, Any] = {"version": None, "editions": []}
    if release.pending_version is not None:
        pending = editions.version_row(session, release, release.pending_version)
        approved = editions.version_row(session, release, release.version)
        out["version"] = {
            "version": pending.version,
            "against": approved.version,
            "note": pending.note,
            "created_at": stamp(pending.created_at),
            "review": pending.review,
            "headline": pending.headline,
            "summary": pending.summary,
            "body_html": pending.body_html,
            "about": pending.about,
            "contact": pending.contact,
            "changes": field_diff(_version_fields(approved), _version_fields(pending)),
        }
    for edition in held:
        proposal = edition.pending or {}
        shown = edition.status in (EditionStatus.PUBLISHED, EditionStatus.OUTDATED)
        before = (
            {
                "headline": edition.headline,
                "summary": edition.summary,
                "body": _text(edition.body_html),
                "about": _text(edition.about),
            }
            if shown
            else {}
        )
        after = {
            "headline": proposal.get("headline", ""),
            "summary": proposal.get("summary", ""),
            "body": _text(proposal.get("body_html", "")),
            "about": _text(proposal.get("about") or ""),
        }
        out["editions"].append(
            {
                "lang": edition.lang,
                "version": edition.version,
                "replaces": edition.status if shown else None,
                "sent_at": proposal.get("at"),
                "review": proposal.get("review"),
                "changes": field_diff(before, after),
            }
        )
    return out
