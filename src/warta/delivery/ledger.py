"""The delivery ledger: creating rows once, claiming due rows, recording outcomes, retry timing."""

from __future__ import annotations

import functools
import operator
import random
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple, cast

from sqlalchemy import Select, Table, Update, bindparam, func, insert, or_, select, true, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from warta.clock import aware, utcnow
from warta.ids import new_ids
from warta.model import Delivery, Endpoint, Recipient
from warta.model.states import DeliveryState, EndpointState

DELIVERIES = cast(Table, Delivery.__table__)
MAX_ATTEMPTS = 16
BACKOFF_CAP = timedelta(hours=3)
DUE_STATES = (DeliveryState.PENDING, DeliveryState.RETRYING)
# bound once: `row_values` picks one of them for each of thousands of rows
_PENDING, _DELIVERED = DeliveryState.PENDING, DeliveryState.DELIVERED


def backoff(attempt: int, base: float, rng: random.Random | None = None) -> timedelta:
    """Exponential with 'equal jitter': half fixed, half random. With a 5 s base and 16 attempts the
    retries spread over about a day before a row is given up as failed."""
    uniform = rng.uniform if rng else random.uniform
    full = min(BACKOFF_CAP.total_seconds(), base * 2 ** max(0, attempt - 1))
    return timedelta(seconds=full / 2 + uniform(0, full / 2))


@dataclass(slots=True)
class NewRow:
    release_id: str
    edition_id: str
    version: int
    lang: str
    recipient_id: str
    endpoint_id: str
    channel: str
    kind: str
    destination: str
    embargoed: bool
    not_before: datetime
    matched_by: str
    delivered_at: datetime | None = None  # routing published it already (the live stream)


def add_rows(session: Session, rows: Iterable[NewRow]) -> int:
    """Insert ledger rows, skipping any whose (release, version, recipient, endpoint, kind) exists.

    Returns how many rows were offered; the unique key makes offering a row twice harmless."""
    return insert_values(session, row_values(rows))


def row_values(rows: Iterable[NewRow]) -> list[dict[str, Any]]:
    """The column values of new ledger rows, ready for `insert_values` (built before a write
    begins, so the write holds the database only while it inserts)."""
    now = utcnow()
    rows = rows if isinstance(rows, list) else list(rows)
    ids = new_ids("dlv_", len(rows))
    return [
        {
            "id": row_id,
            "release_id": r.release_id,
            "edition_id": r.edition_id,
            "version": r.version,
            "lang": r.lang,
            "recipient_id": r.recipient_id,
            "endpoint_id": r.endpoint_id,
            "channel": r.channel,
            "kind": r.kind,
            "destination": r.destination,
            "state": _PENDING if r.delivered_at is None else _DELIVERED,
            "embargoed": r.embargoed,
            "not_before": r.not_before,
            "next_attempt_at": r.not_before,
            "attempts": 0 if r.delivered_at is None else 1,
            "first_attempt_at": r.delivered_at,
            "delivered_at": r.delivered_at,
            "matched_by": r.matched_by,
            "created_at": now,
        }
        for row_id, r in zip(ids, rows, strict=True)
    ]


# the columns `row_values` fills, in its order
_NEW_COLUMNS = (
    "id",
    "release_id",
    "edition_id",
    "version",
    "lang",
    "recipient_id",
    "endpoint_id",
    "channel",
    "kind",
    "destination",
    "state",
    "embargoed",
    "not_before",
    "next_attempt_at",
    "attempts",
    "first_attempt_at",
    "delivered_at",
    "matched_by",
    "created_at",
)


@functools.lru_cache(maxsize=2)
def _insert(dialect: str) -> Any:
    if dialect == "sqlite":
        return insert(DELIVERIES).prefix_with("OR IGNORE").values({k: bindparam(k) for k in _NEW_COLUMNS})
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(DELIVERIES).on_conflict_do_nothing()
    raise NotImplementedError(dialect)


def _connection(db: Session | Connection) -> Connection:
    """The connection of a session's transaction, or the connection itself: the ledger's hottest
    writes run on a bare connection, which begins and commits in a fraction of a session's time."""
    return db.connection() if isinstance(db, Session) else db


def insert_values(db: Session | Connection, values: list[dict[str, Any]]) -> int:
    """Insert rows made by `row_values`, skipping any that exist; returns how many were offered."""
    if not values:
        return 0
    conn = _connection(db)
    dialect = conn.dialect.name
    stmt = _insert(dialect)
    for i in range(0, len(values), 5000):
        if dialect == "sqlite":
            # straight to the driver: SQLAlchemy's own handling of the parameters (a date made a
            # string five times a row) cost as much as SQLite's insert with its indexes
            _run_many(conn, stmt, values[i : i + 5000])
        else:
            conn.execute(stmt, values[i : i + 5000])  # one multi-row INSERT per batch
    return len(values)


@functools.lru_cache(maxsize=16)
def _due_query(channel: str | None, state: str, postgres: bool) -> Select[Any]:
    """Due rows of one state (and channel), oldest first: `now` and `budget` are bound per claim."""
    c = DELIVERIES.c
    due = select(c.next_attempt_at, c.id).where(
        c.state == state, c.next_attempt_at <= bindparam("now"), c.not_before <= bindparam("now")
    )
    if channel is not None:
        due = due.where(c.channel == channel)
    due = due.order_by(c.next_attempt_at).limit(bindparam("budget"))
    if postgres:
        # rows another worker is claiming right now are locked by it: pass them over
        due = due.with_for_update(skip_locked=True)
    return due


class Claimed(NamedTuple):
    """What the engine needs of a claimed row (a plain tuple: read by the thousand, only read)."""

    id: str
    release_id: str
    edition_id: str
    recipient_id: str
    endpoint_id: str
    channel: str
    kind: str
    destination: str
    attempts: int  # this attempt's number: counted by the claim
    embargoed: bool
    not_before: datetime


_c = DELIVERIES.c
# statements built once: building one costs more than running it for a few dozen rows
_TAKE = (
    update(DELIVERIES)
    .where(_c.id.in_(bindparam("ids", expanding=True)), _c.state.in_(DUE_STATES))
    .values(
        state=DeliveryState.SENDING,
        attempts=_c.attempts + 1,
        claimed_by=bindparam("owner"),
        lease_until=bindparam("lease_until"),
        first_attempt_at=func.coalesce(_c.first_attempt_at, bindparam("now")),
    )
    .returning(*(_c[name] for name in Claimed._fields))
)


def claim(
    session: Session,
    limit: int,
    now: datetime | None = None,
    owner: str | None = None,
    lease: float = 60.0,
    channels: dict[str, int] | None = None,
) -> list[Claimed]:
    """Due rows, marked `sending` with the attempt counted, held by `owner` for `lease` seconds:
    at most `limit` in all, and with `channels` at most that many of each channel named (and none
    of the others)."""
    now = now or utcnow()
    postgres = session.get_bind().dialect.name == "postgresql"
    conn = session.connection()
    # one query per (channel, state), each read in the order of an index: a single
    # `state IN (...) ORDER BY next_attempt_at` makes SQLite sort every due row at every claim,
    # which with 86,000 rows waiting costs more than sending the emails
    budgets: list[tuple[str | None, int]] = (
        list(channels.items()) if channels is not None else [(None, limit)]
    )
    # (the due times as the database gives them: dates stored as text on SQLite, which sort alike)
    picked: list[tuple[Any, str]] = []
    for channel, budget in budgets:
        found: list[tuple[Any, str]] = []
        for state in DUE_STATES:
            found += raw_rows(conn, _due_query(channel, state, postgres), {"now": now, "budget": budget})
        found.sort()
        picked += found[:budget]
    picked.sort()
    ids = [row_id for _, row_id in picked[:limit]]
    if not ids:
        return []
    # plain tuples, not ORM objects: thousands per claim, read once (`settle` writes any change
    # back); the first attempt's time is set in the same statement
    params = {"ids": ids, "owner": owner, "lease_until": now + timedelta(seconds=lease), "now": now}
    rows = raw_rows(conn, _TAKE, params)
    if conn.dialect.name != "sqlite":
        return [Claimed(*row) for row in rows]
    when = _result_processor(conn.dialect, "not_before")
    return [
        Claimed(i, rel, ed, rcp, end, ch, kind, dest, attempts, bool(embargoed), when(nb) if when else nb)
        for i, rel, ed, rcp, end, ch, kind, dest, attempts, embargoed, nb in rows
    ]


@functools.lru_cache(maxsize=16)
def _result_processor(dialect: Any, column: str) -> Callable[[Any], Any] | None:
    """How SQLAlchemy turns the driver's value of a ledger column into Python's (SQLite's dates)."""
    kind = DELIVERIES.c[column].type
    return cast(Callable[[Any], Any] | None, kind.dialect_impl(dialect).result_processor(dialect, None))


def raw_rows(conn: Connection, stmt: Any, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The rows of `stmt` as plain tuples. On SQLite straight from the driver's cursor, with the
    driver's values (dates as text, booleans as integers): a claim reads thousands of rows, and
    SQLAlchemy's result rows cost more per row than the database's work for it."""
    dialect = conn.dialect
    if dialect.name != "sqlite":
        return [tuple(row) for row in conn.execute(stmt, params)]
    known = _driver_statement(conn, stmt)
    args: list[Any] = []
    sql: list[str] = [known.parts[0]]
    part = 1
    for name in known.names:
        value = params[name] if name in params else known.fixed[name]
        convert = known.convert.get(name)
        if name in known.expanding:
            items = list(value)
            args += [convert(v) for v in items] if convert else items
            sql += ["(", ",".join("?" * len(items)) if items else "NULL", ")", known.parts[part]]
            part += 1
        else:
            args.append(convert(value) if convert and value is not None else value)
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute("".join(sql), args)
        return cast(list[tuple[Any, ...]], cursor.fetchall())
    finally:
        cursor.close()


@dataclass(frozen=True)
class _DriverStatement:
    """A statement compiled once for a dialect, run with values as its database driver takes them."""

    stmt: Any
    sql: str
    names: tuple[str, ...]  # the parameters, in the order a positional driver wants them
    fixed: dict[str, Any]  # values the statement carries itself (literals such as 'sending')
    convert: dict[str, Any]  # parameter -> the type's conversion for this driver (SQLite's dates)
    positional: bool
    parts: tuple[str, ...]  # the SQL around each list parameter (`IN (...)`), rendered per call
    expanding: frozenset[str]  # the list parameters

    @functools.cached_property
    def pick(self) -> Callable[[dict[str, Any]], tuple[Any, ...]] | None:
        """A row's values as the tuple a positional driver wants (None: the driver takes names)."""
        if not self.positional:
            return None
        if len(self.names) <= 1:
            names = self.names
            return lambda values: tuple([values[name] for name in names])
        return cast(Callable[[dict[str, Any]], tuple[Any, ...]], operator.itemgetter(*self.names))


# the statements come from bounded caches of their own; a statement evicted there and built again
# is a new object, so this is emptied now and then rather than left to grow
_DRIVER_STATEMENTS: dict[tuple[int, str], _DriverStatement] = {}
_DRIVER_STATEMENTS_MAX = 256


def _driver_statement(conn: Connection, stmt: Any) -> _DriverStatement:
    """`stmt` compiled for the connection's dialect, once."""
    dialect = conn.dialect
    known = _DRIVER_STATEMENTS.get((id(stmt), dialect.name))
    if known is None or known.stmt is not stmt:
        compiled = stmt.compile(dialect=dialect)
        convert = {}
        for name, bind in compiled.binds.items():
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                convert[name] = processor
        names = tuple(compiled.positiontup or ())
        expanding = frozenset(name for name, bind in compiled.binds.items() if bind.expanding)
        assert [n for n in names if n in expanding] == re.findall(
            r"__\[POSTCOMPILE_(\w+)\]", compiled.string
        ), compiled.string
        known = _DriverStatement(
            stmt,
            compiled.string,
            names,
            {name: bind.effective_value for name, bind in compiled.binds.items() if not bind.required},
            convert,
            dialect.positional,
            tuple(re.split(r"\(__\[POSTCOMPILE_\w+\]\)", compiled.string)),
            expanding,
        )
        if len(_DRIVER_STATEMENTS) >= _DRIVER_STATEMENTS_MAX:
            _DRIVER_STATEMENTS.clear()
        _DRIVER_STATEMENTS[(id(stmt), dialect.name)] = known
    return known


def _run_many(conn: Connection, stmt: Any, rows: list[dict[str, Any]]) -> int:
    """`stmt` once per row, straight to the driver's executemany; returns the rows changed.

    For the ledger's hottest writes (a commit point, an outcome: one per message sent), where
    SQLAlchemy's per-row parameter handling would cost more than the database's own work."""
    known = _driver_statement(conn, stmt)
    params: list[Any] = []
    # the same value converted once per call: the rows of one release share their dates
    converted: dict[tuple[str, Any], Any] = {}
    fixed, conversions, pick = known.fixed, tuple(known.convert.items()), known.pick
    for row in rows:
        values = {**fixed, **row} if fixed else dict(row) if conversions else row
        for name, convert in conversions:
            value = values[name]
            try:
                values[name] = converted[name, value]
            except KeyError:
                values[name] = converted[name, value] = convert(value)
            except TypeError:  # not hashable (a JSON value)
                values[name] = convert(value)
        params.append(pick(values) if pick is not None else values)
    result = conn.exec_driver_sql(known.sql, params)
    return int(result.rowcount)


@functools.lru_cache(maxsize=64)
def _write_by_id(shape: tuple[str, ...], held: bool) -> Update:
    c = DELIVERIES.c
    stmt = update(DELIVERIES).where(c.id == bindparam("b_id"))
    if held:
        stmt = stmt.where(
            c.attempts == bindparam("b_attempt"),
            c.claimed_by == bindparam("b_owner"),
            or_(c.state == DeliveryState.SENDING, c.state == DeliveryState.COMMITTING),  # no IN: executemany
        )
    return stmt.values({k: bindparam(k) for k in shape})


def settle(
    db: Session | Connection,
    changes: Sequence[tuple[str, dict[str, Any]]],
    held_by: dict[str, tuple[int, str]] | None = None,
) -> None:
    """Write column values to rows: (row id, values) each, in one statement per set of columns.

    With `held_by` (row id -> attempt, owner) a change applies only while the row is still held
    by the claim that made it; rows are written in id order, one lock order for every worker."""
    by_shape: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row_id, values in changes:
        row = {"b_id": row_id, **values}
        if held_by is not None:
            row["b_attempt"], row["b_owner"] = held_by[row_id]
        by_shape.setdefault(tuple(sorted(values)), []).append(row)
    conn = _connection(db)
    for shape, rows in by_shape.items():
        if held_by is not None:
            rows.sort(key=lambda row: row["b_id"])  # fewer deadlocks among workers
        _run_many(conn, _write_by_id(shape, held_by is not None), rows)


def next_due(session: Session) -> datetime | None:
    firsts = [
        session.scalar(
            select(Delivery.next_attempt_at)
            .where(Delivery.state == state)
            .order_by(Delivery.next_attempt_at)
            .limit(1)
        )
        for state in DUE_STATES  # one index-ordered read per state (see `claim`)
    ]
    return aware(min((f for f in firsts if f is not None), default=None))


class LostClaim(Exception):
    """The row is no longer this claim's: its lease ran out and another claim took it over."""


def mark_committing(
    db: Session | Connection, claims: Sequence[tuple[str, int]], owner: str | None
) -> set[str]:
    """Mark claimed rows `committing`; returns the ids that were still held by these claims.

    A claim is (row id, attempt number at the claim) by `owner`: a row that was taken over since —
    recovered after its lease ran out and claimed again, by anyone — has another attempt number,
    so a stale claim can never pass its point of no return."""
    if not claims:
        return set()
    wanted = dict(claims)
    update_stmt, held_stmt = _committing(owner)
    conn = _connection(db)
    marked = _run_many(conn, update_stmt, [{"b_id": i, "b_attempt": a} for i, a in sorted(wanted.items())])
    if marked == len(wanted):
        return set(wanted)  # every claim still held: nothing to read back
    rows = conn.execute(held_stmt, {"ids": list(wanted)})
    return {i for i, attempts, holder in rows if attempts == wanted[i] and holder == owner}


@functools.lru_cache(maxsize=8)
def _committing(owner: str | None) -> tuple[Update, Select[Any]]:
    """One statement run for every claim (a CASE over the batch would be compiled anew for every
    batch size), then one read of what is now ours."""
    c = DELIVERIES.c
    mark = (
        update(DELIVERIES)
        .where(
            c.id == bindparam("b_id"),
            c.attempts == bindparam("b_attempt"),
            c.state == DeliveryState.SENDING,
            c.claimed_by == owner,  # a literal: `IS NULL` when there is no owner
        )
        .values(state=DeliveryState.COMMITTING)
    )
    held = select(c.id, c.attempts, c.claimed_by).where(
        c.id.in_(bindparam("ids", expanding=True)), c.state == DeliveryState.COMMITTING
    )
    return mark, held


def mark_passed(session: Session, passed: Sequence[tuple[str, int]]) -> int:
    """Rows a commit journal says passed their commit point (id, attempt), marked `committing` if
    they are still `sending` under that attempt (the others have their outcome); returns how many."""
    if not passed:
        return 0
    c = DELIVERIES.c
    stmt = (
        update(DELIVERIES)
        .where(
            c.id == bindparam("b_id"), c.attempts == bindparam("b_attempt"), c.state == DeliveryState.SENDING
        )
        .values(state=DeliveryState.COMMITTING)
    )
    return _run_many(
        _connection(session), stmt, [{"b_id": i, "b_attempt": a} for i, a in sorted(set(passed))]
    )


def renew(session: Session, owner: str, lease: float, now: datetime | None = None) -> int:
    """Extend the lease on every row `owner` is still working on; returns how many."""
    now = now or utcnow()
    res = session.execute(
        update(Delivery)
        .where(
            Delivery.claimed_by == owner,
            Delivery.state.in_((DeliveryState.SENDING, DeliveryState.COMMITTING)),
        )
        .values(lease_until=now + timedelta(seconds=lease))
        .execution_options(synchronize_session=False)
    )
    return int(getattr(res, "rowcount", 0) or 0)


def recover(
    session: Session, committing_policy: dict[str, str], *, expired_only: bool = False
) -> dict[str, int]:
    """After a crash: `sending` rows never reached the point of no return and go back to pending;
    `committing` rows are settled per channel (delivered, or pending for an idempotent resend).

    A process that is the only delivery worker settles every such row when it starts. Among many
    workers (`expired_only`), only rows whose lease ran out are settled: their worker is gone."""
    now = utcnow()
    counts = {}
    orphaned = or_(Delivery.lease_until.is_(None), Delivery.lease_until < now) if expired_only else true()
    res = session.execute(
        update(Delivery)
        .where(Delivery.state == DeliveryState.SENDING, orphaned)
        .values(state=DeliveryState.PENDING, next_attempt_at=now, claimed_by=None, lease_until=None)
        .execution_options(synchronize_session=False)
    )
    counts["sending->pending"] = getattr(res, "rowcount", 0) or 0
    for channel, policy in committing_policy.items():
        stmt = (
            update(Delivery)
            .where(Delivery.state == DeliveryState.COMMITTING, Delivery.channel == channel, orphaned)
            .execution_options(synchronize_session=False)
        )
        if policy == DeliveryState.DELIVERED:
            res = session.execute(
                stmt.values(
                    state=DeliveryState.DELIVERED,
                    delivered_at=now,
                    last_error="settled as delivered after a restart",
                )
            )
        else:
            res = session.execute(stmt.values(state=DeliveryState.PENDING, next_attempt_at=now))
        counts[f"committing->{policy} ({channel})"] = getattr(res, "rowcount", 0) or 0
    return counts


def disable_endpoint(conn: Connection, endpoint_id: str, reason: str) -> None:
    """Stop using an endpoint that said it is gone (a webhook's 410); the recipient's other
    endpoints go on. Its recipient counts as changed, so routing's audience drops the endpoint."""
    conn.execute(
        update(Endpoint)
        .where(Endpoint.id == endpoint_id, Endpoint.state == EndpointState.ACTIVE)
        .values(state=EndpointState.DISABLED, disabled_reason=reason, updated_at=utcnow())
    )
    owner = select(Endpoint.recipient_id).where(Endpoint.id == endpoint_id).scalar_subquery()
    conn.execute(update(Recipient).where(Recipient.id == owner).values(updated_at=utcnow()))
