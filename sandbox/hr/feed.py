"""The HR system's certifications: a seeded, realistic register of technicians' field-service
certifications, kept in feed order (``updated_at``, ``id``), and read page by page after a
cursor.

Records are stamped as the HR system stamps them: whole seconds, in batches that share one
``updated_at`` (the initial data load, then renewal runs and other bulk changes that stamp
scattered records alike), never going back. A share of the records is malformed on purpose
(``MALFORMED_KINDS``): the feed serves them as they are, as a real HR system would.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sandbox._records import SeededRecords

__all__ = [
    "CATALOGUE",
    "MALFORMED_KINDS",
    "STATUSES",
    "Certification",
    "CursorError",
    "Register",
    "stamp_text",
]

LOAD_BATCH = 100  # records the initial data load stamps alike
STATUSES = ("active", "suspended", "revoked")
MALFORMED_KINDS = ("expires_before_issued", "unknown_status", "missing_code", "unparseable_date")
WRITABLE = frozenset({"code", "name", "issuer", "number", "issued_on", "expires_on", "status"})


@dataclass(frozen=True)
class Certification:
    """One kind of certificate: ``validity_years`` None for one that never expires."""

    code: str
    name: str
    issuer: str
    number_prefix: str
    validity_years: int | None


CATALOGUE: tuple[Certification, ...] = (
    Certification("GAS-SAFE", "Gas Safe Register", "Gas Safe Register", "GS", 1),
    Certification("OFTEC-101", "OFTEC Oil Firing Technician (OFT10-101)", "OFTEC", "OF", 5),
    Certification(
        "ELEC-18ED", "BS 7671 18th Edition Wiring Regulations", "City & Guilds", "CG2382", None
    ),
    Certification("ECS-GOLD", "ECS Gold Card (Installation Electrician)", "JIB", "ECS", 5),
    Certification("HV-AP", "High Voltage Authorised Person", "EUSR", "HV", 3),
    Certification("WAH", "Working at Height", "RoSPA", "WAH", 3),
    Certification("IPAF-3A", "IPAF Mobile Elevating Work Platform 3a", "IPAF", "IPAF", 5),
    Certification("PASMA", "PASMA Towers for Users", "PASMA", "PT", 5),
    Certification(
        "CONF-SPACE", "Confined Space Entry (Medium Risk, 6150-02)", "City & Guilds", "CS", 3
    ),
    Certification(
        "FGAS-CAT1", "F-Gas Category I Refrigerant Handling (2079-11)", "CITB", "FG", None
    ),
    Certification("ASBESTOS-AW", "UKATA Asbestos Awareness", "UKATA", "UKA", 1),
    Certification("FIRST-AID", "First Aid at Work", "St John Ambulance", "FAW", 3),
    Certification("CSCS-BLUE", "CSCS Skilled Worker Card", "CSCS", "CSCS", 5),
)
BY_CODE = {c.code: c for c in CATALOGUE}


class CursorError(ValueError):
    """A cursor this feed did not hand out."""


def stamp_text(moment: datetime) -> str:
    """``2026-11-30T08:00:00Z``: UTC, whole seconds."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def encode_cursor(stamp: datetime, record_id: str) -> str:
    raw = json.dumps({"v": 1, "u": stamp_text(stamp), "id": record_id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        spec = json.loads(raw)
        if spec.get("v") != 1 or not isinstance(spec.get("id"), str):
            raise ValueError("not a cursor")
        stamp = datetime.strptime(spec["u"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except (ValueError, TypeError, KeyError, AttributeError, binascii.Error) as exc:
        raise CursorError("the cursor is not one this feed handed out") from exc
    return stamp, spec["id"]


def _years_before(day: date, years: int) -> date:
    """The same day ``years`` earlier (later, if negative); 28 February for 29 February."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


class Register(SeededRecords):
    """The certifications, in feed order; every method takes ``lock``."""

    NOUN = "certification"
    WRITABLE = WRITABLE

    def __init__(self, *, seed: int, today: date) -> None:
        start = datetime.combine(today, datetime.min.time(), UTC) - timedelta(days=60)
        super().__init__(random.Random(f"hr-{seed}"), start)  # nosec B311  # a simulator's seeded randomness (the same seed, the same world); it guards nothing
        self.today = today
        self.stamps: dict[str, datetime] = {}
        self.order: list[tuple[datetime, str]] = []  # sorted (stamp, id)

    # --- stamps ----------------------------------------------------------------------------

    def _put(self, record: dict[str, Any], stamp: datetime) -> None:
        record_id = record["id"]
        old = self.stamps.get(record_id)
        if old is not None:
            del self.order[bisect.bisect_left(self.order, (old, record_id))]
        record["updated_at"] = stamp_text(stamp)
        self.records[record_id] = record
        self.stamps[record_id] = stamp
        bisect.insort(self.order, (stamp, record_id))

    # --- seeding ---------------------------------------------------------------------------

    def seed(self, workers: int, per_worker: int, malformed: float) -> None:
        """``workers`` technicians with ``per_worker`` certifications each (distinct codes),
        loaded in batches of ``LOAD_BATCH`` sharing a stamp, then three bulk renewal runs."""
        rng = self.rng
        per_worker = min(per_worker, len(CATALOGUE))
        made: list[dict[str, Any]] = []
        first = 100 + rng.randrange(900)
        for worker in range(workers):
            worker_id = f"W{first + worker:06d}"
            for cert in sorted(rng.sample(CATALOGUE, per_worker), key=lambda c: c.code):
                made.append(self._make(worker_id, cert))
        count = len(made)
        self._spoil_share(made, "id", malformed, MALFORMED_KINDS)
        clock = self.last_stamp + timedelta(hours=6)
        for start in range(0, count, LOAD_BATCH):
            for record in made[start : start + LOAD_BATCH]:
                self._put(record, clock)
            clock += timedelta(seconds=rng.randint(1, 4))
        for _ in range(3):  # renewal runs: scattered records, one stamp each run
            clock += timedelta(days=rng.randint(3, 15), hours=rng.randint(0, 8))
            ids = sorted(rng.sample(sorted(self.records), max(1, count // 12))) if count else []
            for record_id in ids:
                self._put(self.records[record_id], clock)
        self.last_stamp = max(self.last_stamp, clock)

    def _make(self, worker_id: str, cert: Certification) -> dict[str, Any]:
        # every date of issue before the data load (60 days ago) that stamps the record
        rng, today = self.rng, self.today
        expires: date | None
        if cert.validity_years is None:
            issued = today - timedelta(days=rng.randint(90, 3650))
            expires = None
        else:
            expiry_roll = rng.random()
            if expiry_roll < 0.10:  # expired
                expires = today - timedelta(days=rng.randint(1, 400))
            elif expiry_roll < 0.22:  # expiring within 30 days
                expires = today + timedelta(days=rng.randint(0, 30))
            else:
                expires = today + timedelta(days=rng.randint(90, cert.validity_years * 365 - 61))
            issued = _years_before(expires, cert.validity_years)
        status_roll = rng.random()
        status = (
            "suspended" if status_roll < 0.03 else "revoked" if status_roll < 0.05 else "active"
        )
        return {
            "id": f"{worker_id}|{cert.code}",
            "worker_id": worker_id,
            "code": cert.code,
            "name": cert.name,
            "issuer": cert.issuer,
            "number": f"{cert.number_prefix}-{rng.randint(100000, 9999999)}",
            "issued_on": issued.isoformat(),
            "expires_on": expires.isoformat() if expires is not None else None,
            "status": status,
            "updated_at": "",
        }

    def _spoil(self, record: dict[str, Any], reason: str) -> None:
        rng = self.rng
        if reason == "expires_before_issued":
            issued = date.fromisoformat(record["issued_on"])
            record["expires_on"] = (issued - timedelta(days=rng.randint(1, 365))).isoformat()
        elif reason == "unknown_status":
            record["status"] = rng.choice(("lapsed", "pending_review", "ACTIVE"))
        elif reason == "missing_code":
            del record["code"]
        elif reason == "unparseable_date":  # written the British way
            issued = date.fromisoformat(record["issued_on"])
            record["issued_on"] = issued.strftime("%d/%m/%Y")

    # --- reading ---------------------------------------------------------------------------

    def page(
        self, since: datetime | None, after: tuple[datetime, str] | None, limit: int
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Up to ``limit`` records with ``updated_at >= since`` after the position ``after``,
        in feed order, and the cursor to the next page (None when there is none now)."""
        with self.lock:
            start = 0
            if since is not None:
                start = bisect.bisect_left(self.order, (since.astimezone(UTC), ""))
            if after is not None:
                start = max(start, bisect.bisect_right(self.order, after))
            keys = self.order[start : start + limit]
            items = [dict(self.records[record_id]) for _, record_id in keys]
            more = start + limit < len(self.order)
            cursor = encode_cursor(*keys[-1]) if keys and more else None
            return items, cursor

    def all(self) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(self.records[record_id]) for _, record_id in self.order]

    def get(self, record_id: str) -> dict[str, Any] | None:
        with self.lock:
            record = self.records.get(record_id)
            return dict(record) if record is not None else None

    # --- changes ---------------------------------------------------------------------------

    def touch(
        self, which: int | Sequence[str], fields: Mapping[str, Any] | None = None
    ) -> tuple[list[str], str]:
        """Change records in one batch that stamps them alike: ``which`` records picked by
        the seeded generator, or these ids. Without ``fields`` each gets a typical change (a
        renewal, or a reissued card for one that never expires); malformed records are
        stamped only."""
        with self.lock:
            ids = self._batch(which, fields)
            stamp = self.next_stamp()
            for record_id in ids:
                record = self.records[record_id]
                if fields is not None:
                    record.update(fields)
                elif record_id not in self.malformed:
                    record.update(self._typical_change(record))
                self._put(record, stamp)
            return ids, stamp_text(stamp)

    def _typical_change(self, record: dict[str, Any]) -> dict[str, Any]:
        cert = BY_CODE.get(record.get("code", ""))
        number = f"{cert.number_prefix if cert else 'NO'}-{self.rng.randint(100000, 9999999)}"
        if cert is None or cert.validity_years is None:
            return {"number": number}
        issued = self.today
        expires = _years_before(issued, -cert.validity_years)
        return {"issued_on": issued.isoformat(), "expires_on": expires.isoformat()}

    def delete(self, record_id: str) -> None:
        """The HR system forgets the record: it leaves the feed."""
        with self.lock:
            if record_id not in self.records:
                raise KeyError(f"no certification {record_id!r}")
            stamp = self.stamps.pop(record_id)
            del self.order[bisect.bisect_left(self.order, (stamp, record_id))]
            del self.records[record_id]
            self.malformed.pop(record_id, None)
