"""Intake: store a clean submission as a release, its first version and original edition, and review it.

All of it happens in the caller's transaction, so a failure leaves no row behind; machine editions are
made after it by the editions stage (`editions/stage.py`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from warta.bus import emit
from warta.clock import utcnow
from warta.config import Settings
from warta.editions import embargo
from warta.editions.service import make_original_edition
from warta.editions.targets import request_editions
from warta.intake.keys import Principal
from warta.intake.sanitize import ContentError
from warta.intake.submission import CleanRelease
from warta.model import Organisation, Release, ReleaseVersion
from warta.model.states import ReleaseStatus
from warta.review import Draft, review

STATUS_FOR = {"approve": ReleaseStatus.APPROVED, "hold": ReleaseStatus.HELD, "reject": ReleaseStatus.REJECTED}


def check_times(settings: Settings, now: datetime, **times: datetime | None) -> None:
    """No backdating and nothing absurdly far ahead: each time lies between the submission less
    the clock-skew allowance and the submission plus the horizon; a ContentError names the field."""
    earliest = now - timedelta(seconds=settings.clock_skew)
    latest = now + timedelta(days=settings.max_horizon_days)
    for name, value in times.items():
        if value is None:
            continue
        if value < earliest:
            raise ContentError(
                name, f"lies in the past (more than {settings.clock_skew:g} s before the submission)"
            )
        if value > latest:
            raise ContentError(name, f"lies more than {settings.max_horizon_days:g} days ahead")


def submit(
    session: Session,
    settings: Settings,
    who: Principal,
    org: Organisation,
    data: CleanRelease,
    *,
    history: bool = False,
) -> Release:
    """Store and review a submission. `history` lets the demo seed releases dated in the past; every
    issuer's submission has its times checked."""
    now = utcnow()
    if not history:
        check_times(settings, now, release_at=data.release_at, embargo_until=data.embargo_until)
    release_at = data.release_at or now
    about = data.about if data.about is not None else org.about
    outcome = review(
        Draft(
            headline=data.headline,
            summary=data.summary,
            body_html=data.body_html,
            body_text=data.body_text,
            sectors=data.sectors,
            contact=data.contact,
            about=about,
            org_verified=org.verified,
            org_auto_approve=org.auto_approve,
            banned_terms=settings.banned_terms,
            media=tuple(data.media),
        )
    )
    status = STATUS_FOR[outcome.decision]
    release = Release(
        org_id=org.id,
        submitted_by=who.user_id,
        status=status,
        language=data.language,
        language_source=data.language_source,
        language_confidence=data.language_confidence,
        dateline_city=data.city,
        dateline_country=data.country,
        sectors=data.sectors,
        target_countries=data.countries,
        target_languages=data.languages,
        target_circuits=data.circuits,
        release_at=release_at,
        embargo_until=data.embargo_until,
        public_at=embargo.public_at(release_at, data.embargo_until),
        version=1,
        review=outcome.as_dict(),
        reviewed_at=now,
        reject_reason="; ".join(v.reason for v in outcome.verdicts if v.verdict == "reject") or None,
        approved_at=now if status == ReleaseStatus.APPROVED else None,
        created_at=now,
        updated_at=now,
    )
    session.add(release)
    session.flush()
    version = ReleaseVersion(
        release_id=release.id,
        version=1,
        headline=data.headline,
        summary=data.summary,
        body_html=data.body_html,
        about=about,
        contact=data.contact,
        media=data.media,
        review=outcome.as_dict(),
        created_by=who.user_id,
        created_at=now,
    )
    session.add(version)
    session.flush()
    make_original_edition(session, settings, release, version)
    if status != ReleaseStatus.REJECTED:  # the editions stage makes the machine editions after this commits
        request_editions(session, release, version.version)
    emit(session, "release.submitted", f"submitted:{release.id}", {"release_id": release.id})
    if status == ReleaseStatus.APPROVED:
        emit(session, "release.approved", f"approved:{release.id}:1", {"release_id": release.id})
    return release
