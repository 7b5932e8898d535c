"""Alert matching for routing: the saved alerts' index, rebuilt when alerts change, the
recipients an edition's real-time alerts bring in, and the editions digest alerts queue."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from warta.clock import utcnow
from warta.intake.sanitize import html_to_text
from warta.model import Alert, DigestItem, Edition, Recipient, Release
from warta.model.states import RecipientStatus
from warta.routing import alerts as alert_matching
from warta.routing.due import lift_of


class AlertCache:
    def __init__(self) -> None:
        self.index: alert_matching.AlertIndex | None = None
        self.fingerprint: tuple[object, ...] = ()
        self.by_id: dict[str, tuple[str, str]] = {}  # alert id -> (recipient id, mode)

    def get(self, session: Session) -> alert_matching.AlertIndex:
        fp = tuple(session.execute(select(func.count(Alert.id), func.max(Alert.created_at))).one())
        if self.index is None or fp != self.fingerprint:
            rows = session.execute(
                select(Alert, Recipient.status).join(Recipient, Recipient.id == Alert.recipient_id)
            ).all()
            specs = []
            self.by_id = {}
            for alert, status in rows:
                if status != RecipientStatus.ACTIVE:
                    continue
                self.by_id[alert.id] = (alert.recipient_id, alert.mode)
                specs.append(
                    alert_matching.AlertSpec(
                        id=alert.id,
                        query=alert.query,
                        countries=frozenset(alert.countries),
                        languages=frozenset(alert.languages),
                        sectors=frozenset(alert.sectors),
                    )
                )
            self.index = alert_matching.AlertIndex.build(specs)
            self.fingerprint = fp
        return self.index


def alert_matches(
    alerts: AlertCache, session: Session, release: Release, editions: dict[str, Edition]
) -> tuple[dict[str, str], dict[str, str]]:
    """Recipients by a real-time alert, and digest alert ids, each with the edition that matched."""
    index = alerts.get(session)
    realtime: dict[str, str] = {}
    digest: dict[str, str] = {}
    if not len(index):
        return realtime, digest  # no saved alerts: no edition to read
    countries = {release.dateline_country, *release.target_countries}
    for edition in editions.values():
        text = " ".join((edition.headline, edition.summary, html_to_text(edition.body_html)))
        doc = alert_matching.Document.from_text(text, edition.lang, countries, release.sectors)
        for alert_id in index.match(doc):
            recipient_id, mode = alerts.by_id[alert_id]
            if mode == "realtime":
                realtime.setdefault(recipient_id, alert_id)
            else:
                digest.setdefault(alert_id, edition.id)
    return realtime, digest


def queue_digests(
    alerts: AlertCache,
    session: Session,
    release: Release,
    editions: dict[str, Edition],
    digest: dict[str, str],
) -> None:
    if not digest:
        return
    lift = lift_of(release)
    for alert_id, edition_id in digest.items():
        recipient_id, _ = alerts.by_id[alert_id]
        exists = session.scalar(
            select(DigestItem.id).where(DigestItem.alert_id == alert_id, DigestItem.edition_id == edition_id)
        )
        if exists is None:
            session.add(
                DigestItem(
                    alert_id=alert_id,
                    recipient_id=recipient_id,
                    edition_id=edition_id,
                    not_before=lift or utcnow(),
                )
            )
