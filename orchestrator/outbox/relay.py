"""The relay: claims due outbox rows with a lease, hands them to their destinations, records
each outcome. Delivery is guaranteed by the database, not by a broker.

A claim takes the due rows (``pending``, ``next_attempt_at`` passed, no live lease) in id
order, at most one batch, and leases them to this relay (``lease_owner`` until
``lease_until``): with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so relays side by side take
different rows; SQLite has one writer. A row waits while an earlier row of its sequence
(``sequence_key``: a work order, or one technician's certification) and destination is still
pending, so one order's deliveries to one remote go out in order, and different orders in
parallel. A relay killed mid-batch leaves leases that run out; the rows
are claimed again and the remote's idempotency (an upsert by external id, SAP's message UUID,
a webhook id) makes the repeat harmless.

An outcome is recorded only by the relay that still holds the row's lease: delivered (with
the remote's id), or failed: a ``Permanent`` answer, the attempts used up (``max_attempts``)
or the row too old (``max_age_s``) make it a dead letter holding the remote's last answer;
otherwise (any other failure, ours included) its next attempt is stored (``next_attempt_at``:
the connectors' jittered exponential backoff, never before a ``Retry-After``) rather than
slept through.

A row owed to a destination this relay cannot reach (its system is not configured: the
composition root says why) waits ``parked``, saying why, and counts towards no alert; it is
``pending`` again, due at once, as soon as a relay that can reach its destination looks
(``park``, at the start of each ``drain``).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Update,
    bindparam,
    exists,
    literal_column,
    or_,
    select,
    update,
)

from connectors.errors import ConnectorError, Permanent
from connectors.retry import backoff_s
from orchestrator.store import models
from orchestrator.store.db import lease_owner, utcnow
from orchestrator.store.uow import UnitOfWork

__all__ = [
    "ByEvent",
    "Destination",
    "Message",
    "Outcome",
    "Relay",
    "RelayPolicy",
    "RelayResult",
]

log = logging.getLogger("orchestrator.outbox")
OUTBOX = models.table_of(models.OutboxMessage)
_DUE, _EARLIER = OUTBOX.alias("due"), OUTBOX.alias("earlier")
_PENDING: ColumnElement[str] = literal_column("'pending'")
"""Written into the statement, not bound, so that the partial indexes on pending rows match it
also in a prepared statement's generic plan (a bound value cannot be proven to match their
predicate). Without statistics the planner may still choose badly: DEVELOPERS.md."""


def _claim_statement() -> Update:
    """Lease the oldest due rows of some events in one statement: a row is due when pending,
    its attempt's time has come, no live lease holds it and no earlier row of its sequence
    for the same destination is still pending. On PostgreSQL the rows are picked ``FOR UPDATE
    SKIP LOCKED`` (two relays never wait for each other nor take the same row); SQLite has
    one writer, so the statement is atomic there as it stands. Built once: a relay claims
    several times a second."""
    outbox, candidate, earlier = OUTBOX.c, _DUE.c, _EARLIER.c
    now: BindParameter[datetime] = bindparam("now")
    waiting = exists().where(
        (earlier.sequence_key == candidate.sequence_key)
        & (earlier.destination == candidate.destination)
        & (earlier.id < candidate.id)
        & (earlier.state == _PENDING)
    )
    due = (
        select(candidate.id)
        .where(
            (candidate.state == _PENDING)
            & (candidate.next_attempt_at <= now)
            & candidate.event.in_(bindparam("events", expanding=True))
            & or_(candidate.lease_until.is_(None), candidate.lease_until < now)
            & ~waiting
        )
        .order_by(candidate.id)
        .limit(bindparam("batch"))
        .with_for_update(skip_locked=True, of=_DUE)
    )
    return (
        update(OUTBOX)
        .where(outbox.id.in_(due))
        .values(lease_owner=bindparam("owner"), lease_until=bindparam("until"))
        .returning(
            outbox.id,
            outbox.key,
            outbox.event,
            outbox.work_order_id,
            outbox.payload,
            outbox.attempts,
            outbox.created_at,
        )
    )


_CLAIM = _claim_statement()
_HELD = select(OUTBOX.c.id).where(
    OUTBOX.c.id.in_(bindparam("ids", expanding=True))
    & (OUTBOX.c.lease_owner == bindparam("owner"))
    & (OUTBOX.c.state == "pending")
)
_HELD_LOCKED = _HELD.with_for_update()
_PARK = (
    update(OUTBOX)
    .where((OUTBOX.c.state == _PENDING) & OUTBOX.c.event.in_(bindparam("events", expanding=True)))
    .values(state="parked", last_error=bindparam("why"))
)
_RELEASE = (
    update(OUTBOX)
    .where((OUTBOX.c.state == "parked") & OUTBOX.c.event.in_(bindparam("events", expanding=True)))
    .values(state="pending", last_error=None, next_attempt_at=bindparam("now"))
)
_FIXED: dict[str, dict[str, Any]] = {
    "delivered": {"state": "delivered", "last_error": None},
    "dead": {"state": "dead"},
    "retried": {},
}
_STAMPED = {"delivered": "delivered_at", "dead": "dead_at"}


@dataclass(frozen=True)
class Message:
    """A claimed row, as a destination sees it."""

    id: int
    key: str
    event: str
    work_order_id: int | None
    payload: Mapping[str, Any]
    attempts: int
    created_at: datetime


@dataclass(frozen=True)
class Outcome:
    """A delivery's outcome: ``remote_id`` when delivered, else the ``error`` (a
    ``ConnectorError`` in the connectors' vocabulary: ``Permanent`` makes a dead letter)."""

    remote_id: str | None = None
    error: BaseException | None = None

    @property
    def delivered(self) -> bool:
        return self.error is None


class Destination(Protocol):
    """A remote the relay delivers to: one outcome per message, in order. A destination
    batches as its remote allows (Salesforce: 200 records a call)."""

    def deliver(self, messages: Sequence[Message]) -> list[Outcome]: ...


class ByEvent:
    """One destination made of several, by event (Salesforce: completed jobs and
    certification pushes); outcomes come back in the messages' order."""

    def __init__(self, parts: Mapping[str, Destination]) -> None:
        self.parts = dict(parts)

    def deliver(self, messages: Sequence[Message]) -> list[Outcome]:
        outcomes: list[Outcome] = [Outcome(error=RuntimeError("not sent"))] * len(messages)
        by_event: dict[str, list[int]] = {}
        for index, message in enumerate(messages):
            by_event.setdefault(message.event, []).append(index)
        for event, indexes in by_event.items():
            part = self.parts.get(event)
            if part is None:
                for index in indexes:
                    outcomes[index] = Outcome(
                        error=Permanent("outbox", f"nothing delivers {event}")
                    )
                continue
            for index, outcome in zip(indexes, part.deliver([messages[index] for index in indexes]),
                                  strict=True):  # fmt: skip
                outcomes[index] = outcome
        return outcomes


@dataclass(frozen=True)
class RelayPolicy:
    lease_s: float = 120.0
    max_attempts: int = 12
    max_age_s: float = 3 * 86400.0
    batch: int = 1000
    backoff_base_s: float = 2.0
    backoff_max_s: float = 900.0


@dataclass
class RelayResult:
    claimed: int = 0
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    lost_leases: int = 0  # outcomes not recorded: the lease ran out and another relay has it
    by_destination: dict[str, int] = field(default_factory=dict)

    def add(self, other: RelayResult) -> None:
        self.claimed += other.claimed
        self.delivered += other.delivered
        self.retried += other.retried
        self.dead += other.dead
        self.lost_leases += other.lost_leases
        for name, count in other.by_destination.items():
            self.by_destination[name] = self.by_destination.get(name, 0) + count


RELEASE_EVERY_S = 30.0
"""How often a relay looks for parked rows it can deliver (it always does at its first
drain: its destinations are configured now)."""
ANALYZE_AFTER_ROWS = 1000
ANALYZE_EVERY_S = 10.0
"""A relay refreshes PostgreSQL's statistics of the outbox once it has moved this many rows
out of ``pending``, at most every so many seconds. The claim's plan follows them, and
autovacuum refreshes them at most once a minute (its naptime): a claim planned on the picture
a burst left (every row pending) walks the primary key through every row the burst delivered,
many times slower a claim, while the API waits for it (DEVELOPERS.md has the figures)."""


class Relay:
    """Delivers the outbox: ``run_once`` claims one batch and delivers it; ``drain`` repeats
    until nothing is due. ``routes`` maps an event to the name of its destination in
    ``destinations``; an event routed nowhere stays pending (``status`` shows it)."""

    def __init__(
        self,
        new_uow: Callable[[], UnitOfWork],
        destinations: Mapping[str, Destination],
        routes: Mapping[str, str],
        policy: RelayPolicy | None = None,
        *,
        parked: Mapping[str, str] | None = None,
        owner: str | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.new_uow, self.destinations, self.routes = new_uow, destinations, dict(routes)
        self.parked = dict(parked or {})
        """Destinations routed to but not reachable here, and why (their rows are parked)."""
        self.policy = policy or RelayPolicy()
        self.owner = owner or lease_owner()
        self.clock = clock
        self._moved = 0  # rows this relay took out of pending since it last analyzed
        self._released_at = -RELEASE_EVERY_S
        self._analyzed_at = -ANALYZE_EVERY_S

    def routed_events(self) -> list[str]:
        return sorted(e for e, d in self.routes.items() if d in self.destinations)

    def claim(self, events: Sequence[str] | None = None) -> list[Message]:
        """Lease the due rows of ``events`` (default: every routed event), at most one batch,
        oldest first."""
        events = self.routed_events() if events is None else sorted(events)
        if not events:
            return []
        now = self.clock()
        params = {
            "now": now,
            "events": events,
            "batch": self.policy.batch,
            "owner": self.owner,
            "until": now + timedelta(seconds=self.policy.lease_s),
        }
        with self.new_uow() as uow:
            rows = sorted(uow.connection().execute(_CLAIM, params), key=lambda r: r.id)
            uow.commit()
        return [Message(*r) for r in rows]

    def run_once(self) -> RelayResult:
        """One round: for each destination, claim a batch of its rows, deliver it, record the
        outcomes (a batch per destination, so Salesforce's is whole Collections of 200)."""
        result = RelayResult()
        by_destination: dict[str, list[str]] = {}
        for event in self.routed_events():
            by_destination.setdefault(self.routes[event], []).append(event)
        for name, events in by_destination.items():
            messages = self.claim(events)
            if not messages:
                continue
            result.claimed += len(messages)
            try:
                outcomes = self.destinations[name].deliver(messages)
                if len(outcomes) != len(messages):
                    raise RuntimeError(f"{name} answered {len(outcomes)} of {len(messages)}")
            except Exception as exc:  # a destination that fails as a whole fails each row
                log.exception("outbox: destination %s failed", name)
                outcomes = [Outcome(error=exc)] * len(messages)
            self._record(messages, outcomes, result)
            result.by_destination[name] = result.by_destination.get(name, 0) + len(messages)
        return result

    def park(self) -> tuple[int, int]:
        """Pending rows routed to a destination this relay cannot reach become ``parked``,
        saying why; parked rows it can deliver become ``pending``, due now (looked for at
        most every ``RELEASE_EVERY_S``: another process may have parked them). (parked,
        released)."""
        routed = self.routed_events()
        release = bool(routed) and time.monotonic() >= self._released_at + RELEASE_EVERY_S
        if not (self.parked or release):
            return 0, 0
        parked = released = 0
        with self.new_uow() as uow:
            connection = uow.connection()
            for name, why in sorted(self.parked.items()):
                events = sorted(e for e, d in self.routes.items() if d == name)
                parked += connection.execute(_PARK, {"events": events, "why": why}).rowcount
            if release:
                found = connection.execute(_RELEASE, {"events": routed, "now": self.clock()})
                released, self._released_at = found.rowcount, time.monotonic()
            uow.commit()
        if parked:
            log.info("outbox: %d rows parked (their destination is not configured)", parked)
        if released:
            log.info("outbox: %d parked rows released (their destination is configured)", released)
        return parked, released

    def drain(self, *, max_rounds: int = 10_000) -> RelayResult:
        """``run_once`` until a round claims nothing (rows waiting for a later attempt stay),
        after parking and releasing rows (``park``)."""
        self.park()
        total = RelayResult()
        for _ in range(max_rounds):
            once = self.run_once()
            total.add(once)
            if not once.claimed:
                break
        return total

    def _record(
        self, messages: Sequence[Message], outcomes: Sequence[Outcome], result: RelayResult
    ) -> None:
        """The outcomes, for the rows this relay still holds (a row whose lease ran out and
        another relay took is left to that one: ``lost_leases``), in one statement per shape
        of outcome."""
        now = self.clock()
        policy = self.policy
        waits: dict[int, float] = {}  # one wait per failure: a batch refused as a whole
        rows: dict[str, list[dict[str, Any]]] = {}
        for message, outcome in zip(messages, outcomes, strict=True):
            attempts = message.attempts + 1
            values: dict[str, Any] = {"id_": message.id, "attempts": attempts}
            if outcome.error is None:
                values |= {"remote_id": outcome.remote_id}
                kind = "delivered"
            else:
                error = outcome.error
                values["last_error"] = _answer(error)
                age = (now - message.created_at).total_seconds()
                # a permanent refusal is final; anything else (the remote's bad minute, our
                # database's hiccup) is tried again until the attempts or the age run out
                if (
                    isinstance(error, Permanent)
                    or attempts >= policy.max_attempts
                    or age >= policy.max_age_s
                ):
                    kind = "dead"
                    log.error("outbox: %s is a dead letter: %s", message.key, error)
                else:
                    if id(error) not in waits:  # comes due again as one batch
                        waits[id(error)] = backoff_s(
                            attempts,
                            error,
                            base_s=policy.backoff_base_s,
                            max_s=policy.backoff_max_s,
                        )
                    values["next_attempt_at"] = now + timedelta(seconds=waits[id(error)])
                    kind = "retried"
            rows.setdefault(kind, []).append(values)
        with self.new_uow() as uow:
            connection = uow.connection()
            ids = [m.id for m in messages]
            held_query = _HELD_LOCKED if uow.dialect == "postgresql" else _HELD
            held = set(connection.scalars(held_query, {"ids": ids, "owner": self.owner}))
            result.lost_leases += len(ids) - len(held)
            for kind, batch in rows.items():
                mine = [v | {"now": now, "owner": self.owner} for v in batch if v["id_"] in held]
                if mine:
                    connection.execute(_record_statement(kind, tuple(batch[0])), mine)
                    setattr(result, kind, getattr(result, kind) + len(mine))
                    self._moved += len(mine) if kind in _STAMPED else 0
            uow.commit()
        self._refresh_statistics()

    def _refresh_statistics(self) -> None:
        """``ANALYZE outbox`` on PostgreSQL once ``ANALYZE_AFTER_ROWS`` rows left pending, at
        most every ``ANALYZE_EVERY_S`` (a role that may not analyze gets the server's warning,
        not an error; SQLite's planner needs none)."""
        soon = time.monotonic() < self._analyzed_at + ANALYZE_EVERY_S
        if self._moved < ANALYZE_AFTER_ROWS or soon:
            return
        self._moved, self._analyzed_at = 0, time.monotonic()
        uow = self.new_uow()
        if uow.dialect != "postgresql":
            return  # and no transaction begun (on SQLite it would take the write lock)
        with uow:
            uow.connection().exec_driver_sql("ANALYZE outbox")
            uow.commit()


@functools.cache
def _record_statement(kind: str, keys: tuple[str, ...]) -> Update:
    """The update recording one kind of outcome for rows given as ``keys`` (and ``now``,
    ``owner``), made once per shape."""
    outbox = OUTBOX.c
    values: dict[str, Any] = {k: bindparam(k) for k in keys if k != "id_"}
    values |= _FIXED[kind] | {"lease_owner": None, "lease_until": None}
    if kind in _STAMPED:
        values[_STAMPED[kind]] = bindparam("now")
    return (
        update(OUTBOX)
        .where((outbox.id == bindparam("id_")) & (outbox.lease_owner == bindparam("owner")))
        .values(values)
    )


def _answer(error: BaseException) -> str:
    """The remote's answer, for the dead letter (or the row's last error)."""
    if isinstance(error, ConnectorError):
        body = f" | {error.body}" if error.body not in (None, "", {}) else ""
        return f"{type(error).__name__}: {error}{body}"[:4000]
    return f"{type(error).__name__}: {error}"[:4000]
