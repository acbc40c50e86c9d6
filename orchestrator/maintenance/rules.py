"""When a plan's occurrences fall: pure, no I/O (python-dateutil's ``rrule``).

A plan's ``rule`` is an RFC 5545 RRULE (``FREQ=MONTHLY;INTERVAL=3``, with or without the
``RRULE:`` prefix), counted from ``starts_on``; occurrences are dates (no sub-daily
frequencies, no DTSTART of its own: ``starts_on`` is the plan's).

- ``schedule``: every occurrence of the rule from ``starts_on``, whatever happened to the
  orders before.
- ``completion``: the first occurrence on or after ``starts_on``; each next one counts from
  the day the previous order was completed (the rule started again on that day: its first
  occurrence after it), so a late job moves the next one, and an early one brings it
  forward. Until the previous order is completed there is no next one (a cancelled one
  counts from its due date, as if it had been done on time).

An occurrence due on ``D`` is generated on ``as_of`` once ``D - lead_days <= as_of +
horizon_days``: the horizon says how far ahead orders appear, the lead time brings a plan's
orders that many days earlier still (parts to order, a permit to ask for).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

from dateutil.rrule import DAILY, rrule, rrulestr

CountsFrom = Literal["schedule", "completion"]
COUNTS_FROM: tuple[CountsFrom, ...] = ("schedule", "completion")


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day)


@functools.lru_cache(maxsize=4096)
def parse(rule: str, starts_on: date) -> rrule:
    """The rule counted from ``starts_on``; ``ValueError`` saying why when it is not one
    RRULE of daily or coarser frequency. Kept (each plan's rule is asked for every asset and
    every run), with the occurrences it has found (``cache``)."""
    text = rule.strip()
    if text.upper().startswith("RRULE:"):
        text = text[len("RRULE:") :]
    if not text or "\n" in text or ":" in text:
        raise ValueError("one RFC 5545 RRULE (FREQ=...;...), without DTSTART or other lines")
    try:
        parsed = rrulestr(text, dtstart=_midnight(starts_on), cache=True)
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise ValueError(f"not an RFC 5545 RRULE: {exc or 'unreadable'}") from None
    if not isinstance(parsed, rrule):
        raise ValueError("one RRULE, not a set")
    if parsed._freq > DAILY:  # HOURLY, MINUTELY, SECONDLY
        raise ValueError("occurrences are days: FREQ is YEARLY, MONTHLY, WEEKLY or DAILY")
    return parsed


def check(rule: str) -> str:
    """``rule`` if it parses (``ValueError`` otherwise), as given."""
    parse(rule, date(2000, 1, 1))
    return rule


def first_after(rule: str, start: date, after: date, *, inclusive: bool) -> date | None:
    """The rule counted from ``start``: its first occurrence after ``after`` (on it too when
    ``inclusive``); None when it has no more."""
    found = parse(rule, start).after(_midnight(after), inc=inclusive)
    return None if found is None else found.date()


def through(as_of: date, horizon_days: int, lead_days: int) -> date:
    """The last due date generated on ``as_of``."""
    return as_of + timedelta(days=horizon_days + lead_days)


@dataclass(frozen=True)
class Last:
    """The latest occurrence made of a plan on an asset, and what became of its order:
    ``done_on`` the day it was completed (None: not yet), ``cancelled`` when it was."""

    due_on: date
    done_on: date | None = None
    cancelled: bool = False


def due(
    rule: str, starts_on: date, counts_from: CountsFrom, last: Last | None, until: date
) -> Iterator[date]:
    """The occurrences still to make, in order, due on or before ``until``: after ``last``
    (None: none made yet) by the plan's ``counts_from``."""
    if counts_from == "schedule":
        recurrence = parse(rule, starts_on)
        start = _midnight(starts_on if last is None else last.due_on + timedelta(days=1))
        for moment in recurrence.xafter(start, inc=True):
            if moment.date() > until:
                return
            yield moment.date()
        return
    if last is None:
        nxt = first_after(rule, starts_on, starts_on, inclusive=True)
    elif last.done_on is not None:
        # the rule started again on the completion day; never back to or before the last
        nxt = first_after(rule, last.done_on, max(last.done_on, last.due_on), inclusive=False)
    elif last.cancelled:
        nxt = first_after(rule, last.due_on, last.due_on, inclusive=False)
    else:
        return  # the previous order is still open: the next counts from its completion
    if nxt is not None and nxt <= until:
        yield nxt
