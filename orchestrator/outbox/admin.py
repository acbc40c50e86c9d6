"""The outbox as operators see it: counts by state and destination, the oldest pending age,
the dead letters with the remote's answer; retrying a row and replaying delivered ones."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update

from orchestrator.domain.errors import NotFound
from orchestrator.store import models
from orchestrator.store.db import utcnow
from orchestrator.store.uow import UnitOfWork

OUTBOX = models.table_of(models.OutboxMessage)
STATES = ("pending", "parked", "delivered", "dead")
"""Every state a row can be in (README: the outbox's states)."""
_SHOWN = (
    "id",
    "key",
    "event",
    "destination",
    "work_order_id",
    "state",
    "attempts",
    "next_attempt_at",
    "created_at",
    "delivered_at",
    "dead_at",
    "remote_id",
    "last_error",
)


@dataclass(frozen=True)
class Tally:
    """The outbox counted: rows by destination and state (every state, zeros included), and
    when the oldest pending row of each destination was written."""

    by_destination: dict[str, dict[str, int]]
    oldest_pending: dict[str, datetime]

    @property
    def by_state(self) -> dict[str, int]:
        out = dict.fromkeys(STATES, 0)
        for counts in self.by_destination.values():
            for state, count in counts.items():
                out[state] = out.get(state, 0) + count
        return out

    def oldest_pending_age_s(self, now: datetime) -> float | None:
        oldest = min(self.oldest_pending.values(), default=None)
        return None if oldest is None else (now - oldest).total_seconds()


def tally(connection: Any) -> Tally:
    """Two grouped queries: the counts, and the oldest pending row, by destination."""
    outbox = OUTBOX.c
    by_destination: dict[str, dict[str, int]] = {}
    for destination, state, count in connection.execute(
        select(outbox.destination, outbox.state, func.count()).group_by(
            outbox.destination, outbox.state
        )
    ):
        by_destination.setdefault(destination, dict.fromkeys(STATES, 0))[state] = int(count)
    oldest = connection.execute(
        select(outbox.destination, func.min(outbox.created_at))
        .where(outbox.state == "pending")
        .group_by(outbox.destination)
    )
    return Tally(by_destination, {d: when for d, when in oldest})


def status(
    uow: UnitOfWork, *, dead_letters: int = 50, now: datetime | None = None
) -> dict[str, Any]:
    """``{"by_state", "by_destination", "oldest_pending_age_s", "dead_letters"}``: every
    state and destination counted (zeros included), the age of the oldest pending row (None
    when none is), and the newest dead letters with the remote's last answer."""
    now = now or utcnow()
    outbox = OUTBOX.c
    connection = uow.connection()
    counted = tally(connection)
    dead = connection.execute(
        select(*(getattr(outbox, n) for n in _SHOWN))
        .where(outbox.state == "dead")
        .order_by(outbox.dead_at.desc(), outbox.id.desc())
        .limit(dead_letters)
    )
    return {
        "by_state": counted.by_state,
        "by_destination": counted.by_destination,
        "oldest_pending_age_s": counted.oldest_pending_age_s(now),
        "dead_letters": [dict(r._mapping) for r in dead],
    }


def alerts(uow: UnitOfWork, alert_age_s: float, *, now: datetime | None = None) -> list[str]:
    """Why the outbox needs a person: dead letters, or a pending row older than
    ``alert_age_s`` (a remote down). Parked rows (their destination not configured) wait for
    the settings, not for a person: they raise no alert."""
    now = now or utcnow()
    counted = tally(uow.connection())
    reasons = []
    dead = counted.by_state["dead"]
    if dead:
        reasons.append(f"{dead} dead letter{'s' if dead != 1 else ''} in the outbox")
    age = counted.oldest_pending_age_s(now)
    if age is not None and age > alert_age_s:
        reasons.append(
            f"the oldest pending outbox row is {int(age)} s old (alert at {alert_age_s:g} s)"
        )
    return reasons


def rows(
    uow: UnitOfWork, *, state: str | None = None, limit: int = 100, after_id: int = 0
) -> list[dict[str, Any]]:
    """Rows in id order, of one state or all."""
    outbox = OUTBOX.c
    query = select(*(getattr(outbox, n) for n in _SHOWN)).where(outbox.id > after_id)
    if state is not None:
        query = query.where(outbox.state == state)
    found = uow.connection().execute(query.order_by(outbox.id).limit(limit))
    return [dict(r._mapping) for r in found]


def retry(uow: UnitOfWork, ident: int, *, now: datetime | None = None) -> dict[str, Any]:
    """Make a dead (or waiting) row due now, its attempts counted afresh. A delivered row is
    left as it is (``replay`` sends delivered rows again)."""
    now = now or utcnow()
    outbox = OUTBOX.c
    row = (
        uow.connection().execute(select(outbox.id, outbox.state).where(outbox.id == ident)).first()
    )
    if row is None:
        raise NotFound("outbox row", ident)
    if row.state != "delivered":
        uow.connection().execute(
            update(OUTBOX)
            .where(outbox.id == ident)
            .values(
                state="pending",
                attempts=0,
                next_attempt_at=now,
                dead_at=None,
                lease_owner=None,
                lease_until=None,
            )
        )
    (out,) = rows(uow, after_id=ident - 1, limit=1)
    uow.commit()
    return out


def expire_leases(uow: UnitOfWork, *, now: datetime | None = None) -> int:
    """Let go of leases that ran out (their relay died): the rows were claimable already;
    now they also look free. How many."""
    now = now or utcnow()
    outbox = OUTBOX.c
    done = uow.connection().execute(
        update(OUTBOX)
        .where(
            (outbox.state == "pending")
            & outbox.lease_until.is_not(None)
            & (outbox.lease_until < now)
        )
        .values(lease_owner=None, lease_until=None)
    )
    uow.commit()
    return int(done.rowcount)


def replay(uow: UnitOfWork, since: datetime, *, now: datetime | None = None) -> int:
    """Send the rows delivered at or after ``since`` again (same keys, same payloads: each
    remote's idempotency makes the repeat create nothing new); how many."""
    now = now or utcnow()
    outbox = OUTBOX.c
    done = uow.connection().execute(
        update(OUTBOX)
        .where((outbox.state == "delivered") & (outbox.delivered_at >= since))
        .values(state="pending", attempts=0, next_attempt_at=now, delivered_at=None)
    )
    uow.commit()
    return int(done.rowcount)
