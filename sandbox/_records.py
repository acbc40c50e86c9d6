"""What the simulators' seeded record sets share: one lock, one seeded generator, records by
id, change stamps in whole seconds that never go back, a share malformed on purpose
(``malformed``: id -> reason, spoiled by the subclass's ``_spoil``) and the batch a ``touch``
changes (``NOUN`` names a record in errors, ``WRITABLE`` the fields ``touch`` may set).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

__all__ = ["SeededRecords"]


class SeededRecords:
    """Records by id, drawn and changed with ``rng``; every method takes ``lock``."""

    NOUN: ClassVar[str] = "record"
    WRITABLE: ClassVar[Collection[str]] = ()

    def __init__(self, rng: random.Random, last_stamp: datetime) -> None:
        self.lock = threading.RLock()
        self.rng = rng
        self.records: dict[str, dict[str, Any]] = {}
        self.malformed: dict[str, str] = {}  # id -> reason
        self.last_stamp = last_stamp

    def next_stamp(self) -> datetime:
        """The stamp of a change now: whole seconds, never going back, so that changes in the
        same second share it."""
        now = datetime.now(UTC).replace(microsecond=0)
        self.last_stamp = max(now, self.last_stamp)
        return self.last_stamp

    def count(self) -> int:
        with self.lock:
            return len(self.records)

    def _spoil_share(
        self, made: Sequence[dict[str, Any]], key: str, share: float, kinds: Sequence[str]
    ) -> None:
        """Spoil a share of ``made`` (none among fewer than ten, else at least one and at most
        a tenth), picked by ``rng``, with ``kinds`` in turn, and note each by its ``key``."""
        count = len(made)
        if share > 0 and count >= 10:
            spoiled = min(max(1, round(count * share)), count // 10)
            for index, position in enumerate(sorted(self.rng.sample(range(count), spoiled))):
                record, reason = made[position], kinds[index % len(kinds)]
                self._spoil(record, reason)
                self.malformed[record[key]] = reason

    def _spoil(self, record: dict[str, Any], reason: str) -> None:
        raise NotImplementedError

    def _batch(self, which: int | Sequence[str], fields: Mapping[str, Any] | None) -> list[str]:
        """The ids a ``touch`` changes: ``which`` records picked by ``rng`` (in id order), or
        these ids (each once). ``ValueError`` for a field not in ``WRITABLE``, ``KeyError``
        for an unknown id."""
        if fields is not None:
            unknown = set(fields) - set(self.WRITABLE)
            if unknown:
                raise ValueError(f"fields not writable: {', '.join(sorted(unknown))}")
        with self.lock:
            if isinstance(which, int):
                return sorted(self.rng.sample(sorted(self.records), min(which, len(self.records))))
            ids = list(dict.fromkeys(which))
            missing = [i for i in ids if i not in self.records]
            if missing:
                raise KeyError(f"no {self.NOUN} {missing[0]!r}")
            return ids
