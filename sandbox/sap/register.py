"""What the SAP simulator's record sets share beyond ``SeededRecords``: records kept in the
shape of a query response's element, found in id order after the last returned id, loaded
in batches that share a change stamp, and deleted without a trace (SAP's queries carry no
deletion flag). The selections of a query (``IDRange``, ``StampRange``) include or exclude
as SAP's ``InclusionExclusionCode`` says (``selects``)."""

from __future__ import annotations

import bisect
import copy
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, Protocol

from sandbox._records import SeededRecords

__all__ = ["LOAD_BATCH", "IDRange", "Register", "StampRange", "pattern", "selects"]

LOAD_BATCH = 100  # records the initial data load stamps alike


class _Range(Protocol):
    @property
    def include(self) -> bool: ...

    def matches(self, value: Any) -> bool: ...


@dataclass(frozen=True)
class IDRange:
    """One selection by an identifier or a code: ``I``nclude or ``E``xclude, ``1`` equal to
    ``lower`` or ``3`` between ``lower`` and ``upper`` (both included)."""

    include: bool
    lower: str
    upper: str | None = None

    def matches(self, value: str) -> bool:
        if self.upper is None:
            return value == self.lower
        return self.lower <= value <= self.upper


@dataclass(frozen=True)
class StampRange:
    """One selection by a date-time (SAP's ``IntervalBoundaryTypeCode``): ``1`` equal to
    ``lower``, ``3`` between ``lower`` and ``upper`` (both included), ``8`` after ``lower``,
    ``9`` at or after ``lower``."""

    include: bool
    kind: str
    lower: datetime
    upper: datetime | None = None

    KINDS: ClassVar[tuple[str, ...]] = ("1", "3", "8", "9")

    def matches(self, value: datetime) -> bool:
        if self.kind == "1":
            return value == self.lower
        if self.kind == "3":
            return self.upper is not None and self.lower <= value <= self.upper
        if self.kind == "8":
            return value > self.lower
        return value >= self.lower


def pattern(rng: random.Random, template: str) -> str:
    """``template`` filled in: ``#`` a digit (1 to 9), ``@`` a letter, the rest as it is."""
    letters = "ABDEFGHJLNPQRSTUWXYZ"
    return "".join(
        str(rng.randint(1, 9)) if c == "#" else rng.choice(letters) if c == "@" else c
        for c in template
    )


def selects(ranges: Sequence[_Range], value: Any) -> bool:
    """Whether ``value`` is selected: by one of the including ranges (when there are any)
    and by none of the excluding ones."""
    includes = [r for r in ranges if r.include]
    if includes and not any(r.matches(value) for r in includes):
        return False
    return not any(r.matches(value) for r in ranges if not r.include)


class Register(SeededRecords):
    """Records by ``KEY``, with ``ids`` sorted; every method takes ``lock``."""

    KEY: ClassVar[str] = "ID"

    def __init__(self, rng: random.Random, last_stamp: datetime) -> None:
        super().__init__(rng, last_stamp)
        self.ids: list[str] = []  # sorted

    def _stamp(self, record: dict[str, Any], stamp: datetime) -> None:
        raise NotImplementedError

    def _load(self, made: Sequence[dict[str, Any]], clock: datetime) -> None:
        """``made`` loaded in batches of ``LOAD_BATCH`` sharing a stamp (from ``clock`` on),
        then two bulk changes that stamp scattered records alike."""
        rng, count = self.rng, len(made)
        for start in range(0, count, LOAD_BATCH):
            for record in made[start : start + LOAD_BATCH]:
                self._stamp(record, clock)
                self.records[record[self.KEY]] = record
            clock += timedelta(seconds=rng.randint(1, 4))
        for _ in range(2):  # bulk changes: scattered records, one stamp each
            clock += timedelta(days=rng.randint(3, 15), hours=rng.randint(0, 8))
            picked = rng.sample(sorted(self.records), max(1, count // 10)) if count else []
            for key in picked:
                self._stamp(self.records[key], clock)
        self.ids = sorted(self.records)
        self.last_stamp = max(self.last_stamp, clock)

    def _select(
        self, after: str | None, limit: int | None, keep: Callable[[str, dict[str, Any]], bool]
    ) -> tuple[list[dict[str, Any]], bool]:
        """Up to ``limit`` (all, when None) records that ``keep`` keeps, after ``after`` in id
        order (copies); and whether more are there."""
        with self.lock:
            start = bisect.bisect_right(self.ids, after) if after is not None else 0
            hits: list[dict[str, Any]] = []
            for key in self.ids[start:]:
                record = self.records[key]
                if not keep(key, record):
                    continue
                if limit is not None and len(hits) == limit:
                    return hits, True
                hits.append(copy.deepcopy(record))
            return hits, False

    def all(self) -> list[dict[str, Any]]:
        with self.lock:
            return [copy.deepcopy(self.records[i]) for i in self.ids]

    def get(self, key: str) -> dict[str, Any] | None:
        with self.lock:
            record = self.records.get(key)
            return copy.deepcopy(record) if record is not None else None

    def delete(self, key: str) -> None:
        """The record is gone: no query finds it any more."""
        with self.lock:
            if key not in self.records:
                raise KeyError(f"no {self.NOUN} {key!r}")
            del self.records[key]
            del self.ids[bisect.bisect_left(self.ids, key)]
            self.malformed.pop(key, None)
