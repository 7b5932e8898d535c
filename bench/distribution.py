"""Distribution: routing in process, then email, webhooks and the live stream through a real server.

Routing runs in this process against a temporary SQLite store: 100,000 recipients over 90 countries
and the wire's 15 languages and 100,000 saved alerts (the `bench.alerts` generator), all seeded and
inserted in bulk. It times building the audience index and the alert index (each read from the
database), selecting a circuit's audience (about a third of everyone) from the index, and
`Router.route_release` for one published release in five languages whose text is shaped like the
alerts' vocabulary, so alerts fire at their usual rate. A full route includes the alert match, the
edition choice per recipient and the ledger insert, in one transaction.

Email, webhooks and the stream each run a real `warta serve` (`bench.harness.warta_server`) with its
audience imported from CSV by `warta recipients import`, a circuit over all of it and one release.
The receivers run in processes of their own (this module, started as `python -m bench.distribution
ROLE`, or a C program), so they share neither the server's nor the harness's interpreter lock:

- email goes to Postfix's `smtp-sink` (`bench.anchors.smtp_sink`), which keeps no message and costs
  little CPU, so the sink does not starve the server. Its `-c` counters, read from a pipe, give the
  time each message's final dot arrived (see `bench.anchors`). Warta's rate is counted from the
  first to the last arrival. The ceiling (`email_postfix_ceiling`) is Postfix's `smtp-source`
  sending the same message into the same kind of sink. It uses as many persistent sessions as
  Warta's SMTP pool and is counted the same way, as the median of three runs. `email.of_ceiling`
  is Warta's rate divided by that ceiling. The message comes from Warta itself: after the measured
  release, `smtp-sink` gives way to `sink PORT` on the same port, and one more release goes to a
  one-recipient circuit;
- `sink PORT`: an aiosmtpd server that notes when each message arrived and keeps the first one;
- `hooks SPEC.json`: an asyncio HTTP server on one or many loopback addresses, answering 200, or
  sleeping 2 s first (the slow paths), or answering 500 (the failing paths);
- `sse URL KIND`: up to SSE_PER_PROCESS raw-socket Server-Sent Events clients, noting when the first
  `release` event arrives. KIND `warta` holds `GET /api/v1/stream` with a stream token and is ready
  at `event: hello`. KIND `nchan` holds `GET /sub/CHANNEL` on nginx + Nchan
  (`bench.anchors.nchan_server`) and is ready once the response headers have arrived (Nchan sends
  them when the subscription is in place).

The live stream is measured twice for each size: against Warta (one release through the API,
counted from its `published_at`) and against nginx + Nchan with one worker process. Nchan gets one
message, POSTed to the channel every client holds and counted from just before the POST. That
message is the data of a release event a Warta client caught (or a stand-in of the same shape, about
650 bytes). The same client code is used both times. `stream_*` then carries ratios to `nchan_*`:
`p50_vs_nchan` and `p99_vs_nchan` are Warta's latency over Nchan's, so above 1 means slower.
`rate_vs_nchan` is Warta's first-to-last deliveries per second over Nchan's, and `per_s_vs_nchan`
the same for deliveries per second from the publish; below 1 means slower. On a small machine the
Python clients may cap Nchan's figures, and then these ratios flatter Warta.

Each helper reads one command a line on stdin and answers one JSON line on stdout.

    WARTA_BENCH_EMAILS=5000 WARTA_BENCH_WEBHOOKS=1000 WARTA_BENCH_SSE=1000,5000,15000 python -m bench distribution
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import gc
import json
import math
import os
import random
import resource
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from bench import alerts as alert_gen
from bench import anchors
from bench.harness import RESULTS, Running, free_port, save, summary, warta_server, write_csv

ROOT = Path(__file__).resolve().parents[1]

ROUTING_RECIPIENTS = 100_000
ROUTING_ALERTS = 100_000
ROUTES = 5  # warm routes timed after the first (cold) one
PLAN_DESKTOPS = 15_000  # the live plan timed in process: as many desktops as the stream suite holds
EMAILS = 86_000  # the published reach
WEBHOOKS = 6_500
SSE = (1_000, 5_000, 15_000)
# rounds per size, each a fresh set of connections and one release: the figures are the rounds'
# medians, with each round's p99 and rate beside them (this machine's noise is tens of ms at 15,000)
SSE_ROUNDS = 5
EMAIL_ROUNDS = 3  # releases to the same journalists, one after another: the figures are their medians
SSE_PER_PROCESS = 2_500  # a process may hold ~20,000 open files; 15,000 connections take 6 processes
# seconds between submitting a measured release and its release time, so that the release goes out
# from the schedule as a real one does and the clock starts at its `published_at`
RELEASE_IN = float(os.environ.get("WARTA_BENCH_RELEASE_IN", "2.0"))
# Warta's default connections to the relay (WARTA_SMTP_POOL); the ceiling uses as many sessions
SMTP_POOL = int(os.environ.get("WARTA_SMTP_POOL", "32"))
PER_CONNECTION_SESSIONS = 20  # smtp-source's sessions when each message has its own connection
PROBE_COUNTRY = "NZ"  # the recipient whose message the ceiling sends; not in SERVER_COUNTRIES
SLOW_SHARE, FAIL_SHARE, SLOW_DELAY = 0.10, 0.05, 2.0
SHARED_HOST_OUTLETS = 1_000
WEBHOOK_ROUND_TIMEOUT = 120.0  # seconds a release may take to reach every outlet before the round gives up

# primary languages of the audience, in percent (sums to 100)
LANG_WEIGHTS = {
    "en": 25,
    "zh-Hans": 10,
    "id": 8,
    "ms": 7,
    "ja": 7,
    "ko": 6,
    "th": 5,
    "vi": 5,
    "es": 5,
    "fr": 4,
    "de": 4,
    "pt": 4,
    "ar": 4,
    "ru": 3,
    "zh-Hant": 3,
}
EDITION_LANGS = ("en", "ms", "id", "zh-Hans", "ja")  # the routed release: the original and four more
SERVER_COUNTRIES = ["MY", "ID", "SG", "TH", "VN", "PH", "JP", "KR", "AU", "IN"]
HEADLINES = {
    "en": "Pelabuhan Selatan opens a solar-powered container terminal",
    "ms": "Pelabuhan Selatan buka terminal kontena berkuasa solar",
    "id": "Pelabuhan Selatan membuka terminal peti kemas bertenaga surya",
    "zh-Hans": "南方港口启用太阳能集装箱码头",
}
BODIES = {
    "en": "Pelabuhan Selatan Berhad today opened a container terminal whose cranes run on solar power. "
    "The terminal handles 1.2 million containers a year and cuts the port's diesel use by a third. ",
    "ms": "Pelabuhan Selatan Berhad hari ini membuka terminal kontena yang krennya digerakkan tenaga solar. "
    "Terminal itu mengendalikan 1.2 juta kontena setahun. ",
    "id": "Pelabuhan Selatan Berhad hari ini membuka terminal peti kemas yang derek-dereknya bertenaga "
    "surya. Terminal itu menangani 1,2 juta peti kemas per tahun. ",
    "zh-Hans": "南方港口公司今天启用一座集装箱码头，其起重机由太阳能驱动。该码头每年处理120万个集装箱。",
}


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def _env_ints(name: str, default: tuple[int, ...]) -> tuple[int, ...]:
    value = os.environ.get(name, "").strip()
    return tuple(int(v) for v in value.split(",") if v.strip()) if value else default


def _stamp_s(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _rate(n: int, seconds: float) -> float:
    return round(n / seconds, 1) if seconds > 0 else 0.0


def _stats(samples: list[float]) -> dict[str, Any]:
    """`summary()`, or empty figures when nothing arrived at all."""
    if samples:
        return summary(samples)
    return {"n": 0, "p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None, "iqr_ms": None}


def _log(text: str) -> None:
    print(f"  {text}", flush=True)


# --- routing, in process ------------------------------------------------------------------


def countries90() -> list[str]:
    """The 36 countries the alerts suite uses, then 54 more ISO codes drawn with a fixed seed."""
    from warta.intake.submission import iso_countries

    rest = sorted(set(iso_countries()) - set(alert_gen.COUNTRIES))
    return [*alert_gen.COUNTRIES, *random.Random(90).sample(rest, 90 - len(alert_gen.COUNTRIES))]


def audience_rows(rng: random.Random, n: int) -> list[dict[str, Any]]:
    """Recipients as `recipients` rows: 70% journalists, 20% outlets, 10% desktops; countries with
    Zipf-like weights; a primary language by LANG_WEIGHTS, often English second, sometimes a third;
    60% take every sector; 2% paused."""
    import secrets

    from warta.clock import utcnow
    from warta.delivery.signing import new_secret
    from warta.ids import new_id

    countries = countries90()
    country_cum = list(_cumulative(1.0 / (r + 1) ** 0.8 for r in range(len(countries))))
    langs, lang_cum = list(LANG_WEIGHTS), list(_cumulative(LANG_WEIGHTS.values()))
    drawn = rng.choices(countries, cum_weights=country_cum, k=n)
    now = utcnow()
    rows = []
    for i in range(n):
        r = rng.random()
        kind = "journalist" if r < 0.7 else "outlet" if r < 0.9 else "desktop"
        primary = rng.choices(langs, cum_weights=lang_cum)[0]
        languages = [primary]
        if primary != "en" and rng.random() < 0.4:
            languages.append("en")
        if rng.random() < 0.15:
            extra = rng.choice(langs)
            if extra not in languages:
                languages.append(extra)
        sectors = [] if rng.random() < 0.6 else rng.sample(alert_gen.SECTORS, rng.randint(1, 3))
        rows.append(
            {
                "id": new_id("rcp_"),
                "kind": kind,
                "name": f"Recipient {i}",
                "country": drawn[i],
                "languages": languages,
                "sectors": sectors,
                "email": f"r{i}@news{i % 997}.example" if kind == "journalist" else None,
                "webhook_url": f"https://hooks{i % 500}.example/warta/{i}" if kind == "outlet" else None,
                "webhook_secret": new_secret() if kind == "outlet" else None,
                "webhook_format": "ninjs",
                "feed_token": secrets.token_urlsafe(24),
                "stream_token": secrets.token_urlsafe(24) if kind == "desktop" else None,
                "embargo_trusted": rng.random() < 0.05,
                "locale": primary,
                "timezone": "UTC",
                "status": "paused" if rng.random() < 0.02 else "active",
                "external_id": f"r{i}",
                "created_at": now,
                "updated_at": now,
            }
        )
    return rows


def _cumulative(values: Iterable[float]) -> Iterator[float]:
    total = 0.0
    for v in values:
        total += v
        yield total


def circuit_for_third(rows: list[dict[str, Any]], rng: random.Random) -> dict[str, Any]:
    """A circuit of countries (in a seeded order, added until a third of the audience is in), twelve of
    the fifteen languages and one sector (recipients who take every sector are in too)."""
    languages = [lang for lang in LANG_WEIGHTS if lang not in ("ar", "ru", "pt")]
    sector = "medtop:04000000"
    per_country: Counter[str] = Counter()
    for r in rows:
        if r["status"] != "active":
            continue
        if not set(r["languages"]) & set(languages):
            continue
        if r["sectors"] and sector not in r["sectors"]:
            continue
        per_country[r["country"]] += 1
    order = sorted(per_country)
    rng.shuffle(order)
    chosen, covered = [], 0
    for country in order:
        if covered >= len(rows) / 3:
            break
        chosen.append(country)
        covered += per_country[country]
    return {"countries": sorted(chosen), "languages": languages, "sectors": [sector], "kinds": []}


def _bulk(store: Any, table: Any, rows: list[dict[str, Any]], chunk: int = 5_000) -> float:
    from sqlalchemy import insert

    start = time.perf_counter()
    with store.session() as s:
        for i in range(0, len(rows), chunk):
            s.execute(insert(table), rows[i : i + chunk])
    return time.perf_counter() - start


ADDRESS_KEYS = ("email", "webhook_url", "webhook_secret", "webhook_format", "feed_token", "stream_token")


def _bulk_recipients(store: Any, rows: list[dict[str, Any]]) -> float:
    """Insert `audience_rows` as recipients and their endpoints (an email, a webhook, the private
    feed, a desktop's stream, as each row has them); returns the seconds it took."""
    from warta.ids import new_ids
    from warta.model import Endpoint, Recipient

    people: list[dict[str, Any]] = []
    endpoints: list[dict[str, Any]] = []
    for row in rows:
        people.append({k: v for k, v in row.items() if k not in ADDRESS_KEYS})
        common = {"recipient_id": row["id"], "state": "active", "created_at": row["created_at"]}
        common["updated_at"] = row["created_at"]
        if row.get("email"):
            endpoints.append({**common, "channel": "email", "address": row["email"]})
        if row.get("webhook_url"):
            hook = {"address": row["webhook_url"], "secret": row.get("webhook_secret")}
            endpoints.append({**common, "channel": "webhook", "format": row.get("webhook_format"), **hook})
        if row.get("feed_token"):
            endpoints.append({**common, "channel": "feed", "secret": row["feed_token"]})
        if row.get("stream_token"):
            endpoints.append({**common, "channel": "stream", "secret": row["stream_token"]})
    for endpoint, made in zip(endpoints, new_ids("end_", len(endpoints)), strict=True):
        endpoint["id"] = made
        for key in ("address", "format", "secret"):
            endpoint.setdefault(key, None)
    return _bulk(store, Recipient, people) + _bulk(store, Endpoint, endpoints)


@contextlib.contextmanager
def _scratch_store(prefix: str) -> Iterator[tuple[Any, Any]]:
    """A migrated SQLite store in a temporary folder, and settings for it; closed and removed after."""
    from warta.config import Settings
    from warta.store import Store

    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        url = f"sqlite:///{tmp}/warta.db"
        store = Store(url)
        store.migrate()
        try:
            yield store, Settings(data_dir=Path(tmp), database_url=url, secret="bench-secret")
        finally:
            store.close()


def _issuer_and_circuit(store: Any, slug: str, name: str, **circuit: Any) -> tuple[str, str]:
    """The bench's issuing organisation, one of its users and a circuit; (org id, user id)."""
    from warta.model import Circuit, Organisation, User

    with store.session() as s:
        org = Organisation(name="Pelabuhan Selatan Berhad", slug="pelabuhan-selatan", verified=True)
        s.add(org)
        s.flush()
        user = User(org_id=org.id, name="Issuer", role="issuer")
        s.add(user)
        s.add(Circuit(slug=slug, name=name, **circuit))
        s.flush()
        return org.id, user.id


def _published_release(
    store: Any, org_id: str, user_id: str, slug: str, text: str, n: int, release_in: float = 0.0
) -> str:
    """A published release targeted at the circuit, with editions in EDITION_LANGS (same text each);
    with `release_in`, an approved one due that many seconds later."""
    from warta.clock import utcnow
    from warta.model import Edition, Release, ReleaseVersion

    now = utcnow()
    due = now + timedelta(seconds=release_in)
    scheduled = release_in > 0
    headline = f"Pelabuhan Selatan opens terminal {n}"
    body = "".join(f"<p>{p}</p>" for p in text.split(". ") if p)
    with store.session() as s:
        release = Release(
            org_id=org_id,
            submitted_by=user_id,
            status="approved" if scheduled else "published",
            language="en",
            dateline_city="Kuala Lumpur",
            dateline_country="MY",
            sectors=["medtop:04000000", "top-story"],
            target_countries=[],
            target_languages=[],
            target_circuits=[slug],
            release_at=due,
            public_at=due,
            version=1,
            review={},
            approved_at=now,
            published_at=None if scheduled else now,
            created_at=now,
            updated_at=now,
        )
        s.add(release)
        s.flush()
        s.add(ReleaseVersion(release_id=release.id, version=1, headline=headline, body_html=body))
        for lang in EDITION_LANGS:
            s.add(
                Edition(
                    release_id=release.id,
                    version=1,
                    lang=lang,
                    headline=headline,
                    summary="Cranes run on solar power.",
                    body_html=body,
                    origin="original" if lang == "en" else "human",
                    status="published",
                )
            )
        return release.id


def routing(
    recipients: int = ROUTING_RECIPIENTS, n_alerts: int = ROUTING_ALERTS, routes: int = ROUTES
) -> dict[str, Any]:
    from sqlalchemy import func, select

    from warta.bus import MemoryBus
    from warta.delivery.base import CHANNELS
    from warta.model import Alert, Circuit, Delivery
    from warta.routing.alerts import AlertIndex
    from warta.routing.audience import AudienceIndex, Selector, load_index
    from warta.routing.stage import AlertCache, Router
    from warta.runtime import load_channels

    results: dict[str, Any] = {}
    rng = random.Random(20261127)
    with _scratch_store("warta-bench-routing-") as (store, settings):
        _log(f"generating {recipients:,} recipients and {n_alerts:,} alerts")
        rows = audience_rows(rng, recipients)
        circuit = circuit_for_third(rows, rng)
        gen = alert_gen.Generator(seed=11)
        ids = [r["id"] for r in rows]
        modes = ["realtime"] * 16 + ["daily"] * 3 + ["hourly"]
        alert_rows, specs = [], []
        for i in range(n_alerts):
            spec = gen.alert(i)
            specs.append(spec)
            alert_rows.append(
                {
                    "id": f"alr_bench{i:08d}",
                    "recipient_id": rng.choice(ids),
                    "name": "",
                    "query": spec.query,
                    "countries": sorted(spec.countries),
                    "languages": sorted(spec.languages),
                    "sectors": sorted(spec.sectors),
                    "mode": rng.choice(modes),
                    "created_at": rows[0]["created_at"],
                }
            )
        insert_recipients_s = _bulk_recipients(store, rows)
        insert_alerts_s = _bulk(store, Alert, alert_rows)
        _log(f"inserted in {insert_recipients_s:.1f} s + {insert_alerts_s:.1f} s")
        del alert_rows
        org_id, user_id = _issuer_and_circuit(store, "bench-third", "A third of the audience", **circuit)
        texts = [gen.document()[0] for _ in range(routes + 1)]
        release_ids = [
            _published_release(store, org_id, user_id, "bench-third", text, k) for k, text in enumerate(texts)
        ]

        # the two indexes, each read from the database and built, as a router does when they change
        samples = []
        with store.session() as s:
            for _ in range(3):
                gc.collect()
                t = time.perf_counter()
                index = load_index(s)
                samples.append(time.perf_counter() - t)
        active = len(index.recipients)
        t = time.perf_counter()
        AudienceIndex.build(index.recipients)
        build_only = time.perf_counter() - t
        results["audience_index"] = {
            **summary(samples),
            "recipients": recipients,
            "active": active,
            "build_only_ms": round(build_only * 1000, 1),
        }
        _log(f"audience index: {results['audience_index']}")
        samples = []
        with store.session() as s:
            for _ in range(3):
                gc.collect()
                cache = AlertCache()
                t = time.perf_counter()
                cache.get(s)
                samples.append(time.perf_counter() - t)
        gc.collect()
        t = time.perf_counter()
        AlertIndex.build(specs)
        build_only = time.perf_counter() - t
        results["alert_index"] = {
            **summary(samples),
            "alerts": n_alerts,
            "build_only_ms": round(build_only * 1000, 1),
        }
        del cache, specs
        _log(f"alert index: {results['alert_index']}")

        with store.session() as s:
            sel = Selector.of(s.scalars(select(Circuit)).one())
        samples = []
        for _ in range(30):
            t = time.perf_counter()
            picked = index.select(sel)
            samples.append(time.perf_counter() - t)
        results["audience_select"] = {
            **summary(samples),
            "selected": len(picked),
            "share": round(len(picked) / recipients, 3),
            "countries": len(circuit["countries"]),
        }
        _log(f"audience select: {results['audience_select']}")
        del index

        load_channels()
        channels = {name: cls(settings) for name, cls in CHANNELS.items()}
        router = Router(store, settings, MemoryBus(), channels, on_rows=lambda: None)
        gc.collect()
        t = time.perf_counter()
        first_rows = router.route_release(release_ids[0])
        cold = time.perf_counter() - t
        samples, offered = [], []
        for rid in release_ids[1:]:
            gc.collect()
            t = time.perf_counter()
            offered.append(router.route_release(rid))
            samples.append(time.perf_counter() - t)
        with store.session() as s:
            per_release = dict(
                s.execute(select(Delivery.release_id, func.count()).group_by(Delivery.release_id)).all()
            )
            by_channel = dict(
                s.execute(
                    select(Delivery.channel, func.count())
                    .where(Delivery.release_id == release_ids[-1])
                    .group_by(Delivery.channel)
                ).all()
            )
            recipients_routed = s.scalar(
                select(func.count(func.distinct(Delivery.recipient_id))).where(
                    Delivery.release_id == release_ids[-1]
                )
            )
        rows_each = per_release.get(release_ids[-1], 0)
        mean_s = sum(samples) / len(samples)
        results["route_release"] = {
            **summary(samples),
            "per_s": _rate(rows_each, mean_s),  # ledger rows written per second
            "rows": rows_each,
            "recipients": recipients_routed,
            "by_channel": by_channel,
            "cold_s": round(cold, 2),
            "cold_rows": first_rows,
            "ledger_rows": sum(per_release.values()),
        }
        _log(f"route release: {results['route_release']}")
    plans = live_plan(_env_int("WARTA_BENCH_PLAN_DESKTOPS", PLAN_DESKTOPS))
    results.update(plans)
    _log(f"live plan: {plans}")
    return results


def live_plan(desktops: int, releases: int = ROUTES) -> dict[str, Any]:
    """What stands between a release's publish and its first live event, in process: routing's
    live plan for `desktops` desktops (all in the circuit, EDITION_LANGS editions), decided at the
    publish, against the same plan rehearsed before the release time and only checked at the
    publish. The first of each is cold (bundles rendered for the first time)."""
    from sqlalchemy import select

    from warta.bus import MemoryBus
    from warta.clock import aware
    from warta.delivery.base import CHANNELS
    from warta.model import OutboxEvent, Release
    from warta.routing.stage import Router
    from warta.runtime import load_channels
    from warta.schedule import publish_due

    rng = random.Random(20261129)
    with _scratch_store("warta-bench-plan-") as (store, settings):
        rows = audience_rows(rng, desktops)
        for i, row in enumerate(rows):  # every one a desktop, in the stream suite's countries
            row.update(
                kind="desktop",
                country=SERVER_COUNTRIES[i % len(SERVER_COUNTRIES)],
                email=None,
                webhook_url=None,
                webhook_secret=None,
                stream_token=f"t{i}",
                status="active",
            )
        _bulk_recipients(store, rows)
        org_id, user_id = _issuer_and_circuit(store, "desks", "Every desk", countries=SERVER_COUNTRIES)
        text = alert_gen.Generator(seed=12).document()[0]
        load_channels()
        channels = {name: cls(settings) for name, cls in CHANNELS.items()}
        router = Router(store, settings, MemoryBus(), channels, on_rows=lambda: None)
        router.warm()  # the audience index is kept warm in a running server
        decided: list[float] = []
        groups = live = 0
        for k in range(releases + 1):
            rid = _published_release(store, org_id, user_id, "desks", text, k)
            gc.collect()
            t = time.perf_counter()
            plan = router.plan_release(rid, live=True)
            decided.append(time.perf_counter() - t)
            groups, live = len(plan.live), sum(len(g.recipients) for g in plan.live)
        checked: list[float] = []
        rehearsed = 0
        for k in range(releases + 1):
            rid = _published_release(store, org_id, user_id, "desks", text, 100 + k, release_in=5.0)
            assert router.rehearse(rid)
            with store.session() as s:
                at = aware(s.get(Release, rid).release_at)
            publish_due(store, at)
            with store.session() as s:
                event = s.scalars(
                    select(OutboxEvent.payload).where(OutboxEvent.key.startswith(f"published:{rid}:"))
                ).one()
            gc.collect()
            t = time.perf_counter()
            plan = router.plan_release(rid, live=True, changed_at=event["changed_at"])
            checked.append(time.perf_counter() - t)
            rehearsed += plan.rehearsed
    shape = {"desktops": desktops, "editions": len(EDITION_LANGS), "groups": groups, "live": live}
    return {
        "live_plan_at_publish": {**summary(decided[1:]), **shape, "cold_ms": round(decided[0] * 1000, 1)},
        "live_plan_rehearsed": {
            **summary(checked[1:]),
            **shape,
            "cold_ms": round(checked[0] * 1000, 1),
            "rehearsals_used": f"{rehearsed} of {len(checked)}",
        },
    }


# --- helper processes ---------------------------------------------------------------------


class Child:
    """A helper role of this module in its own process: one command a line in, one JSON line out."""

    def __init__(self, *args: str) -> None:
        self.role = args[0]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.distribution", *args],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def read(self) -> Any:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"helper {self.role!r} exited with {self.proc.wait()}")
        return json.loads(line)

    def ask(self, line: str) -> Any:
        self.send(line)
        return self.read()

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.send("quit")
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


@contextlib.contextmanager
def child(*args: str) -> Iterator[Child]:
    c = Child(*args)
    try:
        ready = c.read()
        assert ready.get("ready"), ready
        yield c
    finally:
        c.close()


def _commands(handlers: dict[str, Callable[[str], Any]]) -> None:
    """Answer commands from stdin until `quit` (or stdin closes)."""
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        name, _, arg = line.strip().partition(" ")
        if name == "quit":
            return
        print(json.dumps(handlers[name](arg)), flush=True)


def sink_main(port: int) -> None:
    """An SMTP sink that keeps arrival times and the first message (the Postfix ceiling sends it)."""
    import logging

    from aiosmtpd.controller import Controller

    logging.getLogger("mail.log").setLevel(logging.ERROR)
    times: list[float] = []
    total = [0]
    first: list[bytes] = []

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            times.append(time.time())
            content = envelope.original_content or envelope.content
            total[0] += len(content)
            if not first:
                first.append(content)
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()

    def reset(_: str) -> dict[str, Any]:
        times.clear()
        total[0] = 0
        return {"ok": True}

    def sample(path: str) -> dict[str, Any]:
        Path(path).write_bytes(first[0])
        return {"bytes": len(first[0])}

    try:
        _commands(
            {
                "count": lambda _: {"count": len(times)},
                "stats": lambda _: {"times": list(times), "bytes": total[0]},
                "reset": reset,
                "sample": sample,
            }
        )
    finally:
        controller.stop()


def hooks_main(spec_path: str) -> None:
    """Webhook endpoints: /hooks/<n> on every address in the spec, on one port."""
    spec = json.loads(Path(spec_path).read_text())
    slow, fail = set(spec["slow"]), set(spec["fail"])
    delay = float(spec["delay"])
    state = {"mixed": False}
    hits: dict[str, list[tuple[float, int]]] = {}

    open_writers: set[asyncio.StreamWriter] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        open_writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                request_line, _, rest = head.partition(b"\r\n")
                path = request_line.split(b" ")[1].decode()
                length = 0
                for header in rest.split(b"\r\n"):
                    name, _, value = header.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                if length:
                    await reader.readexactly(length)
                at = time.time()
                status = 200
                if state["mixed"]:
                    if path in slow:
                        await asyncio.sleep(delay)
                    elif path in fail:
                        status = 500
                hits.setdefault(path, []).append((at, status))
                body = b'{"ok":true}' if status == 200 else b'{"error":"down"}'
                reason = b"OK" if status == 200 else b"Internal Server Error"
                writer.write(
                    b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
                    % (status, reason, len(body), body)
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, IndexError):
            pass
        except asyncio.CancelledError:
            return
        finally:
            open_writers.discard(writer)
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, host=spec["hosts"], port=spec["port"], backlog=1024)
        loop = asyncio.get_running_loop()

        def progress() -> dict[str, Any]:
            ok = sum(1 for v in hits.values() if any(s == 200 for _, s in v))
            return {"ok_paths": ok, "requests": sum(len(v) for v in hits.values())}

        def mode(arg: str) -> dict[str, Any]:
            state["mixed"] = arg == "mixed"
            hits.clear()
            return {"ok": True}

        handlers: dict[str, Callable[[str], Any]] = {
            "progress": lambda _: progress(),
            "stats": lambda _: {"hits": hits},
            "mode": mode,
        }
        print(json.dumps({"ready": True}), flush=True)
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            name, _, arg = line.strip().partition(" ")
            if not line or name == "quit":
                break
            print(json.dumps(handlers[name](arg)), flush=True)
        server.close()
        for writer in list(open_writers):
            writer.close()
        await asyncio.sleep(0.2)

    asyncio.run(main())


def _raise_nofile() -> None:
    """Let this process open as many files as the hard limit allows (one socket per connection)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class _StdinLines:
    """Lines from fd 0 read with `os.read`, so that an epoll loop can watch fd 0 (a buffered
    `sys.stdin` could hold lines the loop never hears about)."""

    def __init__(self) -> None:
        self.pending = b""
        self.closed = False

    def feed(self) -> list[str]:
        """One `os.read` (call it when fd 0 is readable); the complete lines it finished."""
        chunk = os.read(0, 65536)
        if not chunk:
            self.closed = True
        *lines, self.pending = (self.pending + chunk).split(b"\n")
        return [line.decode() for line in lines]

    def line(self) -> str:
        """The next line, blocking ('' at the end of input)."""
        while b"\n" not in self.pending and not self.closed:
            chunk = os.read(0, 65536)
            self.closed = not chunk
            self.pending += chunk
        line, _, self.pending = self.pending.partition(b"\n")
        return line.decode()


SSE_DIALS = 64  # connections an SSE client process opens at once
SSE_DIAL_TIMEOUT = 60.0  # seconds one connection may take to be ready


def sse_main(base_url: str, kind: str = "warta") -> None:
    """Hold one SSE connection per item (a JSON list on the first stdin line: stream tokens for
    `warta`, channel names for `nchan`) and note when each one receives its first `release` event.
    The first connection also keeps that event's frame (`collect` answers it as `frame`).

    Plain non-blocking sockets and `select.epoll`: the connections are opened SSE_DIALS at a time,
    then, from the moment `connected` is answered, one level-triggered epoll set watches every
    ready socket and stdin. Each readable socket gets one `recv` and its arrival time is taken
    right then; a socket leaves the set once it has its release (the first one once it also has
    the whole frame). `collect T` answers when every socket is done or T seconds have passed;
    `quit` (or the end of stdin) closes everything."""
    parts = urlsplit(base_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    if kind not in ("warta", "nchan"):
        raise SystemExit(f"unknown SSE server kind {kind!r}")
    _raise_nofile()
    marker = b"event: release"
    keep = len(marker) - 1  # bytes a socket keeps between reads, for a marker split across them
    ready = b"\r\n\r\n" if kind == "nchan" else b"event: hello"  # what marks a connection ready

    def request(item: str) -> bytes:
        if kind == "nchan":
            head = f"GET /sub/{item} HTTP/1.1\r\n"
            return f"{head}Host: {host}:{port}\r\nAccept: text/event-stream\r\n\r\n".encode()
        head = f"GET /api/v1/stream HTTP/1.1\r\nHost: {host}:{port}\r\n"
        auth = f"Authorization: Bearer {item}\r\nAccept: text/event-stream\r\n\r\n"
        return (head + auth).encode()

    stdin = _StdinLines()
    items: list[str] = json.loads(stdin.line())
    n = len(items)
    family, socktype, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    socks: list[socket.socket | None] = [None] * n
    tails: list[bytes] = [b""] * n  # what each ready socket has read past its ready mark
    poller = select.epoll()

    # --- connecting (not timed): [slot, socket, started, request left to send, response so far]
    start = time.perf_counter()
    dialing: dict[int, list[Any]] = {}
    following = 0
    while following < n or dialing:
        while following < n and len(dialing) < SSE_DIALS:
            i, following = following, following + 1
            sock = socket.socket(family, socktype, proto)
            sock.setblocking(False)
            if sock.connect_ex(address) not in (0, errno.EINPROGRESS):
                sock.close()
                continue
            dialing[sock.fileno()] = [i, sock, time.monotonic(), request(items[i]), b""]
            poller.register(sock.fileno(), select.EPOLLOUT)
        for fd, _ in poller.poll(0.5):
            entry = dialing[fd]
            i, sock, _, out, got = entry
            try:
                if out:  # connected (or failed): send the request, then wait for the answer
                    if err := sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                        raise OSError(err, os.strerror(err))
                    entry[3] = out = out[sock.send(out) :]
                    if not out:
                        poller.modify(fd, select.EPOLLIN)
                    continue
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError("closed before it was ready")
                entry[4] = got = got + chunk
                if not got.startswith(b"HTTP/1.1 200") and b"\r\n\r\n" in got:
                    raise ConnectionError(got.partition(b"\r\n")[0].decode(errors="replace"))
                if ready not in got:
                    continue
            except OSError:
                poller.unregister(fd)
                sock.close()
                del dialing[fd]
                continue
            poller.unregister(fd)
            del dialing[fd]
            socks[i] = sock
            tails[i] = got[got.index(ready) + len(ready) :]
        now = time.monotonic()
        for fd in [fd for fd, entry in dialing.items() if now - entry[2] > SSE_DIAL_TIMEOUT]:
            poller.unregister(fd)
            dialing.pop(fd)[1].close()
    connect_s = time.perf_counter() - start

    # --- watching: one recv per readable socket, its time taken as soon as the marker is seen
    times: list[float | None] = [None] * n
    frame: bytes | None = None  # the first connection's release frame, while it is incomplete
    frame_text: str | None = None
    slot: dict[int, int] = {}  # fd -> index in items
    recvs: dict[int, Callable[[int], bytes]] = {}  # fd -> its socket's recv

    def take(i: int, data: bytes) -> bool:
        """`data` read on connection `i` (b"" once it closed); whether that connection is done."""
        nonlocal frame, frame_text
        if i == 0 and frame is not None:  # the rest of the first connection's frame
            frame += data
            if not data:  # closed before the frame ended: keep what came
                frame_text = frame.decode("utf-8", "replace")
                return True
        else:
            data = tails[i] + data
            if marker not in data:
                tails[i] = data[-keep:]
                return False
            times[i] = time.time()
            if i != 0:
                return True
            frame = data[data.index(marker) :]
        if b"\n\n" not in frame:
            return False
        frame_text = frame.partition(b"\n\n")[0].decode("utf-8", "replace")
        return True

    for i, held in enumerate(socks):
        if held is not None:
            slot[held.fileno()] = i
            recvs[held.fileno()] = held.recv
    connected = len(slot)
    # what came with the ready mark (a heartbeat or a comment: no release can have come yet)
    for fd, i in list(slot.items()):
        tail, tails[i] = tails[i], b""
        if take(i, tail):
            del slot[fd]
    once = select.EPOLLIN | select.EPOLLONESHOT  # a done socket needs no epoll_ctl to leave the set
    for fd in slot:
        poller.register(fd, once)
    poller.register(0, select.EPOLLIN)
    gc.disable()  # nothing here makes cycles; keep collections out of the timed loop
    print(json.dumps({"connected": connected, "connect_s": connect_s}), flush=True)

    deadline: float | None = None  # set by `collect`
    most = connected + 1
    poll, rearm, now_ = poller.poll, poller.modify, time.monotonic
    while True:
        if deadline is None:
            events = poll(-1, most)
        elif slot and (left := deadline - now_()) > 0:
            events = poll(left, most)
        else:
            print(json.dumps({"times": times, "frame": frame_text}), flush=True)
            deadline = None
            continue
        for fd, _ in events:
            if (k := slot.get(fd)) is not None:
                try:
                    data = recvs[fd](65536)
                except BlockingIOError:
                    rearm(fd, once)
                    continue
                except OSError:
                    data = b""
                if take(k, data) or not data:  # done, or closed without a release
                    del slot[fd]
                else:  # a heartbeat, a comment, or part of a frame: watch it again
                    rearm(fd, once)
                continue
            if fd != 0:
                continue
            stop = False
            for line in stdin.feed():
                name, _, arg = line.strip().partition(" ")
                if name == "quit":
                    stop = True
                elif name == "collect":
                    deadline = now_() + float(arg or 60)
            if stop or stdin.closed:
                poller.close()
                for held in socks:
                    if held is not None:
                        held.close()
                return


# --- driving a server ---------------------------------------------------------------------

CSV_FIELDS = ["kind", "name", "country", "languages", "sectors", "email", "webhook_url", "external_id"]


class Wire:
    """A running server with an editor, a trusted issuer (auto-approved), an unverified one (held)
    and helpers to import an audience and send a release to it."""

    def __init__(self, srv: Running) -> None:
        self.srv = srv

        def client(key: str) -> httpx.Client:
            return httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {key}"}, timeout=120)

        self.editor = client(
            srv.cli_json("admin", "create-user", "--role", "editor", "--name", "Desk")["api_key"]
        )
        self.trusted = client(
            srv.cli_json(
                "admin", "create-org", "--name", "Pelabuhan Selatan Berhad", "--verified", "--auto-approve"
            )["api_key"]
        )
        self.held = client(
            srv.cli_json("admin", "create-org", "--name", "Syarikat Baharu Sdn Bhd")["api_key"]
        )

    def close(self) -> None:
        for c in (self.editor, self.trusted, self.held):
            c.close()

    def import_rows(self, rows: list[dict[str, str]]) -> tuple[int, float]:
        with tempfile.TemporaryDirectory(prefix="warta-bench-csv-") as folder:
            path = write_csv(rows, Path(folder) / "audience.csv", CSV_FIELDS)
            start = time.perf_counter()
            out = self.srv.cli_json("recipients", "import", str(path))
            took = time.perf_counter() - start
        assert not out["errors"], out["errors"][:3]
        return int(out["created"]), took

    def circuit(self, countries: list[str], name: str = "Bench audience") -> str:
        resp = self.editor.post("/api/v1/circuits", json={"name": name, "countries": countries})
        assert resp.status_code == 201, resp.text
        return str(resp.json()["slug"])

    def recipients(self, kind: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        while True:
            page = self.editor.get(
                "/api/v1/recipients", params={"kind": kind, "limit": 1000, "offset": len(items)}
            ).json()
            items += page["items"]
            if len(items) >= page["total"]:
                return items

    def release(self, circuit: str, *, held: bool = False, release_in: float = 0.0) -> str:
        """A release to the circuit with editions in en, ms, id and zh-Hans."""
        issuer = self.held if held else self.trusted
        payload: dict[str, Any] = {
            "headline": HEADLINES["en"],
            "summary": "Cranes and yard vehicles run on rooftop solar and batteries.",
            "body": BODIES["en"] * 6,
            "language": "en",
            "dateline": {"city": "Kuala Lumpur", "country": "MY"},
            "sectors": ["business", "medtop:04000000"],
            "contact": {"name": "Aisyah Rahman", "email": "media@pelabuhan.example"},
            "about": "Pelabuhan Selatan Berhad runs container terminals in Malaysia.",
            "targets": {"circuits": [circuit]},
        }
        if release_in:
            payload["release_at"] = (datetime.now(UTC) + timedelta(seconds=release_in)).isoformat()
        resp = issuer.post("/api/v1/releases", json=payload)
        assert resp.status_code == 201, resp.text
        rid = str(resp.json()["id"])
        assert resp.json()["status"] == ("held" if held else "approved"), resp.json()["status"]
        for lang in ("ms", "id", "zh-Hans"):
            put = issuer.put(
                f"/api/v1/releases/{rid}/editions/{lang}",
                json={"headline": HEADLINES[lang], "body": BODIES[lang] * 6},
            )
            assert put.status_code == 200, put.text
        return rid

    def approve(self, rid: str) -> None:
        resp = self.editor.post(f"/api/v1/releases/{rid}/approve", json={})
        assert resp.status_code == 200, resp.text

    def published_at(self, rid: str, timeout: float = 60) -> float:
        deadline = time.monotonic() + timeout
        while True:
            data = self.editor.get(f"/api/v1/releases/{rid}").json()
            if data.get("published_at"):
                return _stamp_s(data["published_at"])
            if time.monotonic() > deadline:
                raise TimeoutError(f"release {rid} not published after {timeout} s")
            time.sleep(0.02)


def _cpu_s(pid: int | None) -> float:
    """User + system CPU seconds of a process, every thread (0 if unknown)."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _thread_cpu_s(pid: int | None) -> dict[int, float]:
    """User + system CPU seconds of each thread of a process, by thread id (empty if unknown)."""
    if pid is None:
        return {}
    out = {}
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return {}
    for task in tasks:
        try:
            fields = (task / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        out[int(task.name)] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return out


def _children(pid: int | None) -> list[int]:
    """The processes `pid` started (its sending processes)."""
    if pid is None:
        return []
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rpartition(")")[2].split()[1]) == pid:
            out.append(int(entry.name))
    return out


def _machine_cpu_s() -> float:
    """CPU seconds every core of the machine has spent busy (not idle or waiting), from /proc/stat."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return 0.0
    ticks = [int(f) for f in fields]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _server_pid(srv: Running) -> int | None:
    """The pid of this process's own `warta serve` child for `srv` (found in /proc by parent and port)."""
    port = srv.url.rsplit(":", 1)[1]
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        if ppid == os.getpid() and b"serve" in args and port.encode() in args:
            return int(entry.name)
    return None


def _stop(srv: Running, grace: float = 30.0) -> None:
    """Stop the server before the harness does: a server whose event loop is still busy may need
    longer than the harness's 10 s to finish, and one that never does is killed."""
    pid = _server_pid(srv)
    if pid is None:
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
        except OSError:
            return
        if state == "Z":
            return
        time.sleep(0.1)
    _log(f"the server did not stop within {grace:g} s of SIGTERM; killed")
    os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def server(**env: str) -> Iterator[Running]:
    with warta_server(**env) as srv:
        try:
            yield srv
        finally:
            _stop(srv)


def _arrivals(times: list[float], since: float) -> dict[str, Any]:
    """Statistics of arrival times (sorted) counted from `since`: per second from `since` to the
    last arrival and from the first to the last, and when the first and the last came."""
    if not times:
        return {**_stats([]), "per_s": None, "per_s_first_to_last": None, "first_s": None, "all_in_s": None}
    return {
        **_stats([t - since for t in times]),
        "per_s": _rate(len(times), times[-1] - since),
        "per_s_first_to_last": _rate(len(times) - 1, times[-1] - times[0]),
        "first_s": round(times[0] - since, 3),
        "all_in_s": round(times[-1] - since, 3),
    }


def _wait(predicate: Callable[[], bool], timeout: float, every: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return predicate()


def _langs(i: int) -> str:
    langs = list(LANG_WEIGHTS)
    first = langs[i % len(langs)]
    return first if first == "en" else f"{first};en"


# --- email --------------------------------------------------------------------------------


def _email_round(wire: Wire, sink: anchors.SmtpSink, circuit: str, n: int, pid: int | None) -> dict[str, Any]:
    """One release to the `n` journalists: when each message reached the sink, and the CPU spent."""
    rid = wire.release(circuit, held=True)
    sink.reset()
    cpu_before, sink_before, machine_before = _cpu_s(pid), _cpu_s(sink.proc.pid), _machine_cpu_s()
    threads_before = _thread_cpu_s(pid)
    # the server's sending processes (started with its first email, so maybe not yet there)
    senders_before = {child: _cpu_s(child) for child in _children(pid)}
    approved = time.time()
    wire.approve(rid)
    done = sink.wait(n, timeout=max(120.0, n / 20), every=0.2)
    threads = _thread_cpu_s(pid)
    senders = _children(pid)
    senders_s = sum(_cpu_s(child) - senders_before.get(child, 0.0) for child in senders)
    cpu_s = _cpu_s(pid) - cpu_before + senders_s
    sink_cpu_s = _cpu_s(sink.proc.pid) - sink_before
    machine_cpu_s = _machine_cpu_s() - machine_before
    wall_s = time.time() - approved
    published = wire.published_at(rid)
    times = sorted(sink.times())
    if not done:
        _log(f"email: only {len(times):,} of {n:,} arrived before the time-out")
    spread = _arrivals(times, approved)
    # the event loop's thread (the process's first: it does all the SMTP work) against the others
    # (the ledger's: claims, commit points and outcomes; routing's rows)
    loop_s = threads.get(pid, 0.0) - threads_before.get(pid, 0.0) if pid else 0.0
    others_s = sum(t - threads_before.get(tid, 0.0) for tid, t in threads.items() if tid != pid)
    return {
        **_stats([t - approved for t in times]),
        "release": rid,
        "per_s": spread["per_s_first_to_last"],
        "arrived": len(times),
        "published_after_approve_ms": round((published - approved) * 1000, 1),
        "first_after_approve_s": spread["first_s"],
        "last_after_approve_s": spread["all_in_s"],
        # the server's CPU time (user + system, every thread, its sending processes included) from
        # the approve until the last email arrived, per email, and as a share of that wall time; the
        # sink's CPU per email, and every core's busy time (all processes) over the same span
        "server_cpu_us_per_email": round(cpu_s / len(times) * 1e6, 1) if times and pid else None,
        "server_cpu_busy": round(cpu_s / wall_s, 2) if pid and wall_s > 0 else None,
        "sending_processes": len(senders),
        "sending_processes_busy": round(senders_s / wall_s, 2) if pid and wall_s > 0 else None,
        "sink_cpu_us_per_email": round(sink_cpu_s / len(times) * 1e6, 1) if times else None,
        "machine_cpu_busy": round(machine_cpu_s / wall_s, 2) if wall_s > 0 else None,
        "server_loop_thread_busy": round(loop_s / wall_s, 2) if pid and wall_s > 0 else None,
        "server_other_threads_busy": round(others_s / wall_s, 2) if pid and wall_s > 0 else None,
    }


EMAIL_ROUND_MEDIANS = (
    "per_s",
    "server_cpu_us_per_email",
    "server_cpu_busy",
    "sink_cpu_us_per_email",
    "machine_cpu_busy",
    "server_loop_thread_busy",
    "server_other_threads_busy",
    "sending_processes_busy",
    "first_after_approve_s",
    "last_after_approve_s",
)


REPORT_READS = 10


def _delivery_report(wire: Wire, rid: str) -> dict[str, Any]:
    """The issuer's delivery report (`GET /api/v1/releases/{id}/report`) of a release sent to the whole
    email audience, read REPORT_READS times one after another."""
    samples: list[float] = []
    total = 0
    for _ in range(_env_int("WARTA_BENCH_REPORT_READS", REPORT_READS)):
        started = time.perf_counter()
        resp = wire.held.get(f"/api/v1/releases/{rid}/report")
        samples.append(time.perf_counter() - started)
        assert resp.status_code == 200, resp.text
        total = resp.json()["total"]
    return {**_stats(samples), "rows": total}


def _email_over_rounds(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The round with the median rate (its latencies), the medians of the rounds' rates and costs,
    what arrived the least, and each round's rate and CPU per email."""
    import statistics

    ranked = sorted(rounds, key=lambda r: r["per_s"] or 0.0)
    out = dict(ranked[(len(ranked) - 1) // 2])
    for key in EMAIL_ROUND_MEDIANS:
        values = [r[key] for r in rounds if r.get(key) is not None]
        out[key] = round(statistics.median(values), 3) if values else None
    out["arrived"] = min(r["arrived"] for r in rounds)
    out["rounds"] = len(rounds)
    out["per_s_rounds"] = [r["per_s"] for r in rounds]
    out["server_cpu_us_rounds"] = [r["server_cpu_us_per_email"] for r in rounds]
    return out


def _recipient_rows(kind: str, n: int, extra: list[dict[str, str]] | None = None) -> list[dict[str, str]]:
    """`n` recipients of `kind` for the CSV import, spread over the server's countries and the
    wire's languages, the i-th with the fields of `extra[i]` too."""
    name = kind.capitalize()
    return [
        {
            "kind": kind,
            "name": f"{name} {i}",
            "country": SERVER_COUNTRIES[i % len(SERVER_COUNTRIES)],
            "languages": _langs(i),
            "external_id": f"{kind[0]}{i}",
            **(extra[i] if extra else {}),
        }
        for i in range(n)
    ]


def email(n: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    port = free_port()
    env = {"WARTA_SMTP_URL": f"smtp://127.0.0.1:{port}", "WARTA_SMTP_POOL": str(SMTP_POOL)}
    if os.environ.get("WARTA_BENCH_SENDING_PROCESSES"):  # else the server's default (`auto`)
        env["WARTA_SENDING_PROCESSES"] = os.environ["WARTA_BENCH_SENDING_PROCESSES"]
    with tempfile.TemporaryDirectory(prefix="warta-bench-email-") as tmp:
        sample = Path(tmp) / "message.eml"
        with server(**env) as srv:
            wire = Wire(srv)
            rows = _recipient_rows(
                "journalist", n, [{"email": f"j{i}@news{i % 50}.example"} for i in range(n)]
            )
            probe_row = {"kind": "journalist", "name": "Probe", "country": PROBE_COUNTRY, "languages": "en"}
            rows.append({**probe_row, "email": "probe@news.example", "external_id": "probe"})
            created, import_s = wire.import_rows(rows)
            _log(f"imported {created:,} journalists in {import_s:.1f} s")
            circuit = wire.circuit(SERVER_COUNTRIES)
            probe = wire.circuit([PROBE_COUNTRY], name="Bench probe")
            pid = _server_pid(srv)
            rounds: list[dict[str, Any]] = []
            with anchors.smtp_sink(port) as sink:
                # each round one more release to the same journalists (one import for all rounds)
                for _ in range(_env_int("WARTA_BENCH_EMAIL_ROUNDS", EMAIL_ROUNDS)):
                    rounds.append(_email_round(wire, sink, circuit, n, pid))
                    _log(
                        f"email round: {rounds[-1]['per_s']}/s, {rounds[-1]['server_cpu_us_per_email']} µs/email"
                    )
            releases = [r.pop("release") for r in rounds]
            results["delivery_report"] = _delivery_report(wire, releases[-1])
            _log(f"delivery report: {results['delivery_report']}")
            # the ceiling's message: one more release, to the probe alone, caught whole by aiosmtpd
            with child("sink", str(port)) as catcher:
                wire.release(probe)
                if _wait(lambda: catcher.ask("count")["count"] >= 1, timeout=60, every=0.1):
                    catcher.ask(f"sample {sample}")
            wire.close()
        results["email"] = {
            **_email_over_rounds(rounds),
            "recipients": n,
            "smtp_pool": SMTP_POOL,
            "import_s": round(import_s, 1),
        }
        _log(f"email via warta: {results['email']}")
        if not sample.exists():
            _log("email: the probe message never arrived; no Postfix ceiling")
            results["email"]["of_ceiling"] = None
            return results
        ceiling = anchors.postfix_ceiling(n, sample, sessions=SMTP_POOL)
        # smtp-source as it runs by default, a new connection for every message: what a sender
        # without a connection pool gets from the same sink (context, not the target's ceiling)
        results["email_postfix_per_connection"] = anchors.postfix_ceiling(
            n, sample, sessions=PER_CONNECTION_SESSIONS, runs=1, persistent=False
        )
    results["email_postfix_ceiling"] = ceiling
    mine, best = results["email"]["per_s"], ceiling["per_s"]
    results["email"]["message_bytes"] = ceiling["message_bytes"]
    results["email"]["of_ceiling"] = round(mine / best, 3) if mine and best else None
    _log(f"postfix ceiling (smtp-source -> smtp-sink): {ceiling}")
    _log(f"postfix, a connection per message: {results['email_postfix_per_connection']}")
    return results


# --- webhooks -----------------------------------------------------------------------------


def webhooks(outlets: int) -> dict[str, Any]:
    """Every outlet on its own host (the published reach), then up to SHARED_HOST_OUTLETS on one
    host (a hosting provider's shared endpoint, where the per-host pool is the limit)."""
    results: dict[str, Any] = {}
    for layout in ("own_hosts", "shared_host"):
        n = outlets if layout == "own_hosts" else min(outlets, SHARED_HOST_OUTLETS)
        rng = random.Random(1000)
        order = list(range(n))
        rng.shuffle(order)
        slow = {f"/hooks/{i}" for i in order[: int(n * SLOW_SHARE)]}
        fail = {f"/hooks/{i}" for i in order[int(n * SLOW_SHARE) : int(n * (SLOW_SHARE + FAIL_SHARE))]}
        paths = [f"/hooks/{i}" for i in range(n)]
        healthy = [p for p in paths if p not in slow and p not in fail]
        port = free_port()
        hosts = (
            [f"127.1.{i // 250}.{i % 250 + 1}" for i in range(n)]
            if layout == "own_hosts"
            else ["127.0.0.1"] * n
        )
        with tempfile.TemporaryDirectory() as tmp:
            spec = Path(tmp) / "hooks.json"
            spec.write_text(
                json.dumps(
                    {
                        "port": port,
                        "hosts": sorted(set(hosts)),
                        "slow": sorted(slow),
                        "fail": sorted(fail),
                        "delay": SLOW_DELAY,
                    }
                )
            )
            with child("hooks", str(spec)) as hooks, server(WARTA_WEBHOOK_ALLOW="127.0.0.0/8") as srv:
                wire = Wire(srv)
                urls = [f"http://{hosts[i]}:{port}{paths[i]}" for i in range(n)]
                rows = _recipient_rows("outlet", n, [{"sectors": "business", "webhook_url": u} for u in urls])
                created, import_s = wire.import_rows(rows)
                _log(f"{layout}: imported {created:,} outlets in {import_s:.1f} s")
                circuit = wire.circuit(SERVER_COUNTRIES)
                # a first release opens the connections; then one with every endpoint healthy, then
                # one with slow and failing neighbours
                warm = _webhook_round(wire, hooks, circuit, "healthy", paths, paths)
                _log(f"{layout}, first release (cold connections): {warm}")
                stalled = warm["timed_out"]
                for mode, key in (("healthy", "all_healthy"), ("mixed", "with_slow")):
                    if stalled:
                        _log(f"{layout}: the previous release timed out; {mode} round skipped")
                        continue
                    expect = paths if mode == "healthy" else healthy
                    wait_for = paths if mode == "healthy" else [p for p in paths if p not in fail]
                    r = _webhook_round(wire, hooks, circuit, mode, expect, wait_for)
                    r["import_s"] = round(import_s, 1)
                    if mode == "healthy":
                        r["cold_all_in_s"] = warm["all_in_s"]
                    results[f"webhooks_{layout}_{key}"] = r
                    stalled = r["timed_out"]
                    _log(f"{layout}, {mode}: {r}")
                if warm["timed_out"]:
                    results[f"webhooks_{layout}_cold"] = warm
                wire.close()
    return results


def _webhook_round(
    wire: Wire, hooks: Child, circuit: str, mode: str, measured: list[str], wait_for: list[str]
) -> dict[str, Any]:
    hooks.ask(f"mode {mode}")
    rid = wire.release(circuit, release_in=RELEASE_IN)
    published = wire.published_at(rid)
    wanted = len(wait_for)
    done = _wait(
        lambda: hooks.ask("progress")["ok_paths"] >= wanted, timeout=WEBHOOK_ROUND_TIMEOUT, every=0.1
    )
    hits: dict[str, list[list[float]]] = hooks.ask("stats")["hits"]
    got = {
        p: min(at for at, status in hits[p] if status == 200)
        for p in measured
        if p in hits and any(s == 200 for _, s in hits[p])
    }
    arrivals = sorted(got.values())
    if not done or len(arrivals) < len(measured):
        _log(f"webhooks: {len(arrivals)} of {len(measured)} measured endpoints answered before the time-out")
    attempts = Counter(status for p in hits for _, status in hits[p])
    return {
        **_arrivals(arrivals, published),
        "outlets": len(hits),
        "measured": len(measured),
        "reached": len(arrivals),
        "requests_500": attempts.get(500, 0),
        "timed_out": not done,
    }


# --- the live stream ----------------------------------------------------------------------


def _size_key(prefix: str, n: int) -> str:
    return f"{prefix}_{n // 1000}k" if n % 1000 == 0 else f"{prefix}_{n}"


def _sse_round(
    url: str, kind: str, items: list[str], publish: Callable[[], float]
) -> tuple[dict[str, Any], str]:
    """Connect one SSE client per item (spread over processes), call `publish` (which returns the
    time to count from) and collect when each client's first `release` arrived; the figures and the
    frame the first client received."""
    n = len(items)
    procs = math.ceil(n / SSE_PER_PROCESS)
    clients = [Child("sse", url, kind) for _ in range(procs)]
    try:
        for k, c in enumerate(clients):
            c.send(json.dumps(items[k::procs]))
        hello = [c.read() for c in clients]
        connected = sum(h["connected"] for h in hello)
        connect_s = max(h["connect_s"] for h in hello)
        _log(f"{kind} {n:,}: {connected:,} connected over {procs} processes in {connect_s:.1f} s")
        since = publish()
        for c in clients:
            c.send(f"collect {max(60.0, n / 50)}")
        answers = [c.read() for c in clients]
    finally:
        for c in clients:
            c.close()
    times = sorted(t for a in answers for t in a["times"] if t is not None)
    frame = next((a["frame"] for a in answers if a.get("frame")), "")
    figures = {
        **_arrivals(times, since),
        "connections": n,
        "connected": connected,
        "received": len(times),
        "client_processes": procs,
        "connect_s": round(connect_s, 1),
        "frame_bytes": len(frame.encode()) if frame else None,
    }
    return figures, frame


def _frame_data(frame: str) -> bytes:
    """The `data:` of an SSE frame."""
    lines = [line[5:].removeprefix(" ") for line in frame.split("\n") if line.startswith("data:")]
    return "\n".join(lines).encode()


def stand_in_release() -> bytes:
    """A release event shaped like Warta's (`event_data` in warta.delivery.channels.stream), for
    Nchan when no real one was caught."""
    base, rid, lang = "http://127.0.0.1:8000", "rel_01JDQ5W3T5M0Z8YV2K6H4N9C7B", "en"
    data = {
        "release_id": rid,
        "edition_id": "edn_01JDQ5W3TA4R7P2X9K3M6B8D1F",
        "version": 1,
        "lang": lang,
        "dir": "ltr",
        "headline": HEADLINES["en"],
        "summary": "Cranes and yard vehicles run on rooftop solar and batteries.",
        "dateline": "KUALA LUMPUR, Malaysia",
        "sectors": ["Business", "Economy, business and finance"],
        "url": f"{base}/releases/{rid}/{lang}",
        "ninjs_url": f"{base}/api/v1/releases/{rid}/editions/{lang}",
        "organisation": "Pelabuhan Selatan Berhad",
        "released_at": "2026-11-27T08:00:00Z",
        "embargoed": False,
        "embargoed_until": None,
    }
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def _publish_release(wire: Wire, circuit: str) -> float:
    """A release to the circuit through the API, released RELEASE_IN s later; its `published_at`,
    asked for once the release should be out (a question in the middle of the publish would take
    the server's time from the writes being measured)."""
    due = time.monotonic() + RELEASE_IN
    rid = wire.release(circuit, release_in=RELEASE_IN)
    time.sleep(max(0.0, due + 1.0 - time.monotonic()))
    return wire.published_at(rid)


def _publish_nchan(url: str, channel: str, body: bytes) -> float:
    """One message to the channel; the time just before the POST went out."""
    since, status = anchors.nchan_publish(url, channel, body)
    if status not in (200, 201, 202):
        _log(f"nchan: the publish answered {status}")
    return since


def _desktops(srv: Running, n: int) -> tuple[Wire, list[str], str]:
    """`n` desktops imported into the server, their stream tokens and a circuit over all of them."""
    wire = Wire(srv)
    created, import_s = wire.import_rows(_recipient_rows("desktop", n))
    tokens = [r["stream_token"] for r in wire.recipients("desktop")]
    _log(f"stream {n:,}: imported {created:,} desktops in {import_s:.1f} s")
    return wire, tokens, wire.circuit(SERVER_COUNTRIES)


def stream_cores() -> int:
    """How many cores the second pairing gives each side: Warta's writer threads by default
    (`WARTA_STREAM_WRITERS=auto`, a core each, at most four) and as many nginx workers."""
    return max(1, min(4, os.cpu_count() or 1))


class _StreamSide:
    """One server of a size: Warta (`tokens` and `circuit` set) or nginx + Nchan."""

    def __init__(
        self,
        key: str,
        n: int,
        url: str,
        wire: Wire | None = None,
        tokens: list[str] | None = None,
        circuit: str = "",
    ) -> None:
        self.key, self.n, self.url = key, n, url
        self.wire, self.tokens, self.circuit = wire, tokens, circuit
        self.rounds: list[dict[str, Any]] = []

    def round(self, payload: list[bytes]) -> dict[str, Any]:
        """One round: fresh connections, one publish; a Warta side keeps the first frame caught in
        `payload`, a Nchan side publishes it."""
        if self.wire is not None and self.tokens is not None:
            publish = functools.partial(_publish_release, self.wire, self.circuit)
            figures, frame = _sse_round(self.url, "warta", self.tokens, publish)
            if frame and not payload:
                payload.append(_frame_data(frame))
        else:
            # a channel per round: Nchan hands a new subscriber the channel's earlier messages
            channel = f"bench-{self.key}-{len(self.rounds)}".replace("_", "-")
            body = payload[0] if payload else stand_in_release()
            figures = _sse_round(
                self.url,
                "nchan",
                [channel] * self.n,
                functools.partial(_publish_nchan, self.url, channel, body),
            )[0]
        self.rounds.append(figures)
        return figures


def stream(sizes: tuple[int, ...]) -> dict[str, Any]:
    """Warta's live stream against nginx + Nchan at each size, the rounds taken in turn.

    Two pairings, each giving both sides the same cores: Warta writing from one thread
    (`WARTA_STREAM_WRITERS=1`) against Nchan with one worker (`stream_*` and `nchan_*`), and, where
    the machine has more than one core, Warta as it runs by default (a writer thread per core)
    against Nchan with as many workers (`stream_*_cores2`, `nchan_*_cores2` on two cores). All the
    servers of a size run at once and the rounds go Warta, Nchan, Warta, Nchan, so a slow moment of
    the machine falls on both sides alike. Nchan's message is the data of the release event a Warta
    client caught in the first round (or a stand-in of the same shape)."""
    cores = stream_cores()
    setups = [("", 1)] + ([(f"_cores{cores}", cores)] if cores > 1 else [])
    results: dict[str, Any] = {}
    payload: list[bytes] = []
    for n in sizes:
        with contextlib.ExitStack() as stack:
            sides: list[tuple[_StreamSide, int]] = []
            for suffix, threads in setups:
                srv = stack.enter_context(server(WARTA_STREAM_WRITERS=str(threads)))
                wire, tokens, circuit = _desktops(srv, n)
                stack.callback(wire.close)
                url = stack.enter_context(anchors.nchan_server(free_port(), workers=threads))
                sides.append(
                    (_StreamSide(_size_key("stream", n) + suffix, n, srv.url, wire, tokens, circuit), threads)
                )
                sides.append((_StreamSide(_size_key("nchan", n) + suffix, n, url), threads))
            for k in range(_env_int("WARTA_BENCH_SSE_ROUNDS", SSE_ROUNDS)):
                for side, _ in sides:
                    figures = side.round(payload)
                    _log(f"{side.key}, round {k + 1}: {figures}")
            for side, threads in sides:
                result = _over_rounds(side.rounds)
                if side.wire is not None:
                    result["writer_threads"] = threads
                else:
                    result["workers"] = threads
                    result["message_bytes"] = len(payload[0] if payload else stand_in_release())
                results[side.key] = result
                _log(f"{side.key}: {result}")
    return results


ROUND_MEDIANS = (
    *("p50_ms", "p95_ms", "p99_ms", "max_ms", "iqr_ms"),
    *("per_s", "per_s_first_to_last", "first_s", "all_in_s", "connect_s"),
)


def _over_rounds(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """One size's figures over its rounds: each figure the median of the rounds', what arrived the
    least of them, and each round's p99, rate (first to last) and first arrival."""
    import statistics

    out = dict(rounds[0])
    for key in ROUND_MEDIANS:
        values = [r[key] for r in rounds if r.get(key) is not None]
        out[key] = round(statistics.median(values), 3) if values else None
    out["n"] = min(r["n"] for r in rounds)
    out["received"] = min(r["received"] for r in rounds)
    out["rounds"] = len(rounds)
    out["p99_rounds_ms"] = [r["p99_ms"] for r in rounds]
    out["rate_rounds"] = [r["per_s_first_to_last"] for r in rounds]
    out["first_rounds_s"] = [r["first_s"] for r in rounds]
    return out


def _ratio(a: float | None, b: float | None, digits: int = 2) -> float | None:
    return round(a / b, digits) if a and b else None


def versus_nchan(results: dict[str, Any]) -> None:
    """Add to each `stream_*` result its ratios to the `nchan_*` result of the same size: latency
    Warta / Nchan (above 1: Warta is slower) and deliveries per second Warta / Nchan (below 1: slower)."""
    for key, mine in results.items():
        anchor = results.get("nchan_" + key.removeprefix("stream_")) if key.startswith("stream_") else None
        if not anchor:
            continue
        mine["p50_vs_nchan"] = _ratio(mine["p50_ms"], anchor["p50_ms"])
        mine["p99_vs_nchan"] = _ratio(mine["p99_ms"], anchor["p99_ms"])
        mine["rate_vs_nchan"] = _ratio(mine["per_s_first_to_last"], anchor["per_s_first_to_last"], 3)
        mine["per_s_vs_nchan"] = _ratio(mine["per_s"], anchor["per_s"], 3)


# --- the suite ----------------------------------------------------------------------------


PARTS = ("routing", "email", "webhooks", "stream")


def run() -> dict[str, Any]:
    """Every part, or those named in WARTA_BENCH_PARTS (say `email,stream`): their results replace
    the same keys in bench/results/distribution.json and the rest stay."""
    started = time.perf_counter()
    wanted = [p.strip() for p in os.environ.get("WARTA_BENCH_PARTS", "").split(",") if p.strip()] or list(
        PARTS
    )
    unknown = set(wanted) - set(PARTS)
    if unknown:
        raise SystemExit(f"unknown part(s) {', '.join(sorted(unknown))}; parts are {', '.join(PARTS)}")
    results: dict[str, Any] = {}
    if "routing" in wanted:
        print("routing (in process)", flush=True)
        recipients, alerts = _env_ints("WARTA_BENCH_ROUTING", (ROUTING_RECIPIENTS, ROUTING_ALERTS))
        results.update(routing(recipients, alerts))
        gc.collect()
    if "email" in wanted:
        print("email", flush=True)
        results.update(email(_env_int("WARTA_BENCH_EMAILS", EMAILS)))
    if "webhooks" in wanted:
        print("webhooks", flush=True)
        results.update(webhooks(_env_int("WARTA_BENCH_WEBHOOKS", WEBHOOKS)))
    if "stream" in wanted:
        sizes = _env_ints("WARTA_BENCH_SSE", SSE)
        print("stream: Warta and nginx + Nchan, rounds in turn", flush=True)
        results.update(stream(sizes))
        versus_nchan(results)
    took = round(time.perf_counter() - started)
    if set(wanted) != set(PARTS):
        previous = RESULTS / "distribution.json"
        if previous.exists():
            old = json.loads(previous.read_text())
            prefixes = {"stream": ("stream_", "nchan_"), "email": ("email",), "webhooks": ("webhooks_",)}
            dropped = tuple(pre for part in wanted for pre in prefixes.get(part, ()))
            kept = {
                k: v for k, v in old.get("results", {}).items() if not (dropped and k.startswith(dropped))
            }
            results = {**kept, **results}
    save("distribution", {"results": results, "took_s": took})
    return results


if __name__ == "__main__":
    role, *args = sys.argv[1:]
    if role == "sink":
        sink_main(int(args[0]))
    elif role == "hooks":
        hooks_main(args[0])
    elif role == "sse":
        sse_main(*args)
    else:
        raise SystemExit(f"unknown role {role!r}")
