"""One release's delivery report, summed up from the ledger by GROUP BY queries.

Counts come from SQL aggregates. Only the latency figures need single values (for percentiles and
the timeline); for those just the delivered rows' times are fetched, never whole ledger rows.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from sqlalchemy import case, distinct, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import SQLColumnExpression

from warta.clock import aware, stamp, utcnow
from warta.model import Delivery, Recipient, Release, ReleaseVersion
from warta.model.states import DeliveryState

STATES: tuple[str, ...] = tuple(DeliveryState)
ATTEMPT_BUCKETS = ("0", "1", "2", "3+")
MAX_BUCKETS = 60
TOP_FAILURES = 10
_STEPS = (
    0.01,
    0.02,
    0.05,
    0.1,
    0.2,
    0.5,
    1,
    2,
    5,
    10,
    15,
    30,
    60,
    120,
    300,
    600,
    900,
    1800,
    3600,
    7200,
    10800,
    21600,
    43200,
    86400,
)


def could_go_out(release: Release) -> datetime | None:
    """The moment the release could first be sent: approval or release time, whichever is later."""
    moments = [m for m in (aware(release.approved_at), aware(release.release_at)) if m is not None]
    return max(moments) if moments else None


def percentile(ordered: list[float], p: float) -> float | None:
    """Nearest-rank percentile of an ascending list; None for an empty one."""
    if not ordered:
        return None
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def latency_summary(values: list[float]) -> dict[str, Any]:
    ordered = sorted(values)
    p50, p95 = percentile(ordered, 50), percentile(ordered, 95)
    return {
        "count": len(ordered),
        "p50": None if p50 is None else round(p50, 3),
        "p95": None if p95 is None else round(p95, 3),
        "max": round(ordered[-1], 3) if ordered else None,
    }


def bucket_timeline(offsets: list[float], max_buckets: int = MAX_BUCKETS) -> dict[str, Any]:
    """Cumulative count at each bucket edge: [(seconds, delivered so far)], at most max_buckets + 1 points."""
    if not offsets:
        return {"step": 1, "points": []}
    ordered = sorted(max(0.0, o) for o in offsets)
    span = ordered[-1]
    step: float = next((s for s in _STEPS if span / s <= max_buckets), 0)
    if not step:
        step = math.ceil(span / max_buckets)
    buckets = max(1, math.ceil(round(span / step, 6)))
    points: list[tuple[float, int]] = []
    seen = 0
    for b in range(buckets + 1):
        edge = round(b * step, 3)
        while seen < len(ordered) and ordered[seen] <= edge:
            seen += 1
        points.append((edge, seen))
    return {"step": step, "points": points}


def release_report(session: Session, release: Release) -> dict[str, Any]:
    """Everything the ledger knows about one release's distribution, as a JSON-ready dict."""
    mine = Delivery.release_id == release.id
    is_delivered = case((Delivery.state == DeliveryState.DELIVERED, 1), else_=0)
    is_failed = case((Delivery.state == DeliveryState.FAILED, 1), else_=0)

    states = dict.fromkeys(STATES, 0)
    for state, n in session.execute(
        select(Delivery.state, func.count()).where(mine).group_by(Delivery.state)
    ).all():
        states[state] = states.get(state, 0) + n
    total = sum(states.values())

    by_channel: dict[str, dict[str, int]] = {}
    for channel, state, n in session.execute(
        select(Delivery.channel, Delivery.state, func.count())
        .where(mine)
        .group_by(Delivery.channel, Delivery.state)
    ).all():
        by_channel.setdefault(channel, dict.fromkeys(STATES, 0))[state] = n
    channels = [
        {"channel": name, "total": sum(counts.values()), "states": counts}
        for name, counts in sorted(by_channel.items())
    ]

    def breakdown(key: SQLColumnExpression[Any]) -> list[dict[str, Any]]:
        rows = session.execute(
            select(
                key,
                func.count(),
                func.sum(is_delivered),
                func.sum(is_failed),
                func.count(distinct(Delivery.recipient_id)),
            )
            .select_from(Delivery)
            .outerjoin(Recipient, Recipient.id == Delivery.recipient_id)
            .where(mine)
            .group_by(key)
        ).all()
        out = [
            {
                "key": "unknown" if k is None else str(k),
                "rows": n,
                "delivered": int(d or 0),
                "failed": int(f or 0),
                "recipients": r,
            }
            for k, n, d, f, r in rows
        ]
        out.sort(key=lambda g: (-g["recipients"], -g["rows"], g["key"]))
        return out

    matched = case((Delivery.matched_by.like("alert:%"), "alert"), else_=Delivery.matched_by)
    attempts_bucket = case(
        (Delivery.attempts >= 3, "3+"),
        (Delivery.attempts == 2, "2"),
        (Delivery.attempts == 1, "1"),
        else_="0",
    )
    attempts = dict.fromkeys(ATTEMPT_BUCKETS, 0)
    for bucket, n in session.execute(
        select(attempts_bucket, func.count()).where(mine).group_by(attempts_bucket)
    ).all():
        attempts[bucket] = n

    failures = [
        {"error": (error or "(no error recorded)")[:500], "channel": channel, "count": n}
        for error, channel, n in session.execute(
            select(Delivery.last_error, Delivery.channel, func.count().label("n"))
            .where(mine, Delivery.state == DeliveryState.FAILED)
            .group_by(Delivery.last_error, Delivery.channel)
            .order_by(func.count().desc(), Delivery.last_error, Delivery.channel)
            .limit(TOP_FAILURES)
        ).all()
    ]

    recipients = session.scalar(select(func.count(distinct(Delivery.recipient_id))).where(mine)) or 0
    first, last = session.execute(
        select(func.min(Delivery.delivered_at), func.max(Delivery.delivered_at)).where(
            mine, Delivery.state == DeliveryState.DELIVERED
        )
    ).one()

    start = could_go_out(release)
    latency, offsets = _latencies(session, release, start)
    headline = session.scalar(
        select(ReleaseVersion.headline).where(
            ReleaseVersion.release_id == release.id, ReleaseVersion.version == release.version
        )
    )
    return {
        "release": {
            "id": release.id,
            "headline": headline,
            "status": release.status,
            "version": release.version,
            "approved_at": stamp(release.approved_at),
            "release_at": stamp(release.release_at),
            "embargo_until": stamp(release.embargo_until),
            "published_at": stamp(release.published_at),
            "could_go_out_at": stamp(start),
        },
        "generated_at": stamp(utcnow()),
        "total": total,
        "recipients": recipients,
        "states": states,
        "channels": channels,
        "recipient_kinds": breakdown(Recipient.kind),
        "countries": breakdown(Recipient.country),
        "languages": breakdown(Delivery.lang),
        "matched_by": breakdown(matched),
        "delivery_kinds": breakdown(Delivery.kind),
        "first_delivered_at": stamp(first),
        "last_delivered_at": stamp(last),
        "latency": latency,
        "attempts": attempts,
        "failures": failures,
        "timeline": bucket_timeline(offsets),
    }


def _latencies(
    session: Session, release: Release, start: datetime | None
) -> tuple[dict[str, Any], list[float]]:
    """Seconds from could-go-out to delivered for delivered editions: overall and per channel.

    Each row is measured from when it could leave: the release's start, a correction's own
    version time, and for untrusted recipients of an embargoed release the embargo lift.
    Also returns each delivery's offset from the release's start, for the timeline.
    """
    if start is None:
        return {**latency_summary([]), "by_channel": {}}, []
    lift = aware(release.embargo_until)
    version_start = {
        v: aware(created)
        for v, created in session.execute(
            select(ReleaseVersion.version, ReleaseVersion.created_at).where(
                ReleaseVersion.release_id == release.id
            )
        ).all()
    }
    overall: list[float] = []
    per_channel: dict[str, list[float]] = {}
    offsets: list[float] = []
    for channel, version, embargoed, delivered_at in session.execute(
        select(Delivery.channel, Delivery.version, Delivery.embargoed, Delivery.delivered_at).where(
            Delivery.release_id == release.id,
            Delivery.kind == "edition",
            Delivery.state == DeliveryState.DELIVERED,
            Delivery.delivered_at.is_not(None),
        )
    ).all():
        done = aware(delivered_at)
        assert done is not None
        begins = max(start, version_start.get(version) or start)
        if lift is not None and not embargoed:
            begins = max(begins, lift)
        seconds = max(0.0, (done - begins).total_seconds())
        overall.append(seconds)
        per_channel.setdefault(channel, []).append(seconds)
        offsets.append((done - start).total_seconds())
    summary = latency_summary(overall)
    summary["by_channel"] = {name: latency_summary(values) for name, values in sorted(per_channel.items())}
    return summary, offsets
