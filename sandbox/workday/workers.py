"""The simulator's workers: a seeded workforce, each worker's versions by entry moment (so a
read as of a moment answers what was true then), and the transaction log that says who
changed when.

A worker is kept in the shape the ``Worker`` element of ``Get_Workers_Response`` is
serialized from (``Worker_Reference``, ``Worker_Data``): references as ``{"ID": [{"_value_1":
id, "type": kind}]}``, dates as ``date``.
"""

from __future__ import annotations

import copy
import random
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

__all__ = ["CATALOGUE", "TECHNICIAN_ORGS", "TECHNICIAN_PROFILE", "Workers"]

CATALOGUE: dict[str, tuple[str, str, int]] = {
    # code: (name, issuer, years valid)
    "GAS_SAFE": ("Gas Safe registration", "Gas Safe Register", 1),
    "F_GAS": ("F-Gas handling category I", "City & Guilds", 5),
    "BS7671": ("18th Edition wiring regulations", "City & Guilds", 3),
    "CONFINED_SPACE": ("Confined space entry", "IOSH", 3),
    "WORK_AT_HEIGHT": ("Working at height", "IPAF", 5),
    "FIRST_AID": ("First aid at work", "St John Ambulance", 3),
    "ASBESTOS_AWARE": ("Asbestos awareness", "UKATA", 1),
    "LEGIONELLA": ("Legionella control", "BOHS", 2),
}
TECHNICIAN_PROFILE = ("FIELD_SERVICE_TECH", "Field Service Technician")
OFFICE_PROFILES = (
    ("SERVICE_COORDINATOR", "Service Coordinator"),
    ("ACCOUNTANT", "Accountant"),
    ("SALES_EXECUTIVE", "Sales Executive"),
    ("HR_PARTNER", "HR Business Partner"),
)
TECHNICIAN_ORGS = ("SUP_FIELD_NORTH", "SUP_FIELD_SOUTH")
OFFICE_ORGS = ("SUP_FINANCE", "SUP_SALES", "SUP_PEOPLE")
FIRST = ("Amira", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hugo", "Isla",
         "Jonah", "Kaya", "Liam", "Maya", "Noah", "Olu", "Priya", "Quinn", "Rosa")  # fmt: skip
LAST = ("Adeyemi", "Brown", "Chen", "Davies", "Evans", "Fischer", "Gallagher", "Hughes",
        "Iqbal", "Jones", "Kowalski", "Lewis", "Murphy", "Nowak", "O'Brien", "Patel")  # fmt: skip
EPOCH = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def _ref(value: str, kind: str, descriptor: str | None = None) -> dict[str, Any]:
    ref: dict[str, Any] = {"ID": [{"_value_1": value, "type": kind}]}
    if descriptor is not None:
        ref["Descriptor"] = descriptor
    return ref


def _usage(kind: str = "WORK") -> list[dict[str, Any]]:
    return [
        {
            "Type_Data": [
                {"Type_Reference": _ref(kind, "Communication_Usage_Type_ID"), "Primary": True}
            ],
            "Public": True,
        }
    ]


@dataclass
class Version:
    stamp: datetime  # the entry moment (when it was keyed in Workday)
    worker: dict[str, Any] | None  # None: not a worker (yet)


class Workers:
    """The workforce under ``lock``; ``clock`` gives each change's entry moment."""

    def __init__(self, seed: int, clock: Callable[[], datetime] | None = None) -> None:
        self._rng = random.Random(seed)  # nosec B311  # a simulator's seeded world; it guards nothing
        self._clock = clock or (lambda: datetime.now(UTC))
        self.lock = threading.RLock()
        self.history: dict[str, list[Version]] = {}
        self.technicians: set[str] = set()
        self._next = 0

    # -- seeding -------------------------------------------------------------------------

    def seed(self, workers: int, technicians: int) -> None:
        """``workers`` workers, the first ``technicians`` of them (in a seeded order) field
        technicians with 1 to 4 certifications; every tenth a contingent worker. All are
        entered at ``EPOCH``."""
        if not 0 <= technicians <= workers:
            raise ValueError("technicians must be between 0 and workers")
        picked = set(self._rng.sample(range(workers), technicians))
        with self.lock:
            for index in range(workers):
                self._add(self._make(index in picked), EPOCH)

    def hire(self, technician: bool = True) -> str:
        """A new worker, entered now; their id."""
        with self.lock:
            return self._add(self._make(technician), self._now())

    def _now(self) -> datetime:
        """Now, never before the latest entry (so each change has its own later stamp)."""
        now = self._clock().astimezone(UTC)
        latest = max((v[-1].stamp for v in self.history.values()), default=EPOCH)
        return max(now, latest + timedelta(microseconds=1000))

    def _add(self, worker: dict[str, Any], stamp: datetime) -> str:
        key = str(worker["Worker_Data"]["Worker_ID"])
        self.history[key] = [Version(stamp, worker)]
        return key

    def _make(self, technician: bool) -> dict[str, Any]:  # long: one worker's whole record
        rng, number = self._rng, self._next
        self._next += 1
        contingent = number % 10 == 9
        key = f"C{30000 + number}" if contingent else str(21000 + number)
        kind = "Contingent_Worker_ID" if contingent else "Employee_ID"
        first, last = rng.choice(FIRST), rng.choice(LAST)
        hired = EPOCH.date() - timedelta(days=rng.randrange(30, 3000))
        profile = TECHNICIAN_PROFILE if technician else rng.choice(OFFICE_PROFILES)
        org = rng.choice(TECHNICIAN_ORGS if technician else OFFICE_ORGS)
        if technician:
            self.technicians.add(key)
        certifications = []
        if technician:
            for code in rng.sample(sorted(CATALOGUE), rng.randint(1, 4)):
                certifications.append(self._certification(code, key))
        login = f"{first}.{last}".lower().replace("'", "")
        return {
            "Worker_Reference": {
                "ID": [
                    {"_value_1": f"{number:032x}", "type": "WID"},
                    {"_value_1": key, "type": kind},
                ],
                "Descriptor": f"{first} {last}",
            },
            "Worker_Data": {
                "Worker_ID": key,
                "User_ID": login,
                "Personal_Data": {
                    "Name_Data": {
                        "Legal_Name_Data": {
                            "Name_Detail_Data": {
                                "Country_Reference": _ref("GB", "ISO_3166-1_Alpha-2_Code"),
                                "First_Name": first,
                                "Last_Name": last,
                                "Formatted_Name": f"{first} {last}",
                            }
                        }
                    },
                    "Contact_Data": {
                        "Phone_Data": [
                            {
                                "Country_ISO_Code": "GBR",
                                "International_Phone_Code": "44",
                                "Phone_Number": f"7700 9{number % 100000:05d}",
                                "Usage_Data": _usage(),
                                "Formatted_Phone": f"+44 7700 9{number % 100000:05d}",
                            }
                        ],
                        "Email_Address_Data": [
                            {
                                "Email_Address": f"{login}{number}@example.co.uk",
                                "Usage_Data": _usage(),
                            },
                            {
                                "Email_Address": f"{login}@home.example",
                                "Usage_Data": _usage("HOME"),
                            },
                        ],
                    },
                },
                "Employment_Data": {
                    "Worker_Job_Data": [
                        {
                            "Position_Data": {
                                "Position_ID": f"P-{number:05d}",
                                "Business_Title": profile[1],
                                "Start_Date": hired,
                                "Job_Profile_Summary_Data": {
                                    "Job_Profile_Reference": _ref(profile[0], "Job_Profile_ID"),
                                    "Job_Profile_Name": profile[1],
                                },
                                "Effective_Date": hired,
                            },
                            "Primary_Job": True,
                        }
                    ],
                    "Worker_Status_Data": {
                        "Active": True,
                        "Active_Status_Date": hired,
                        "Hire_Date": hired,
                        "Original_Hire_Date": hired,
                        "Terminated": False,
                    },
                },
                "Organization_Data": {
                    "Worker_Organization_Data": [
                        {
                            "Organization_Reference": _ref(org, "Organization_Reference_ID"),
                            "Organization_Data": {
                                "Organization_Reference_ID": org,
                                "Organization_Name": org.removeprefix("SUP_").replace("_", " "),
                                "Organization_Type_Reference": _ref(
                                    "SUPERVISORY", "Organization_Type_ID"
                                ),
                            },
                        }
                    ]
                },
                "Qualification_Data": {"Certification": certifications},
            },
        }

    def _certification(self, code: str, worker: str, issued: date | None = None) -> dict[str, Any]:
        name, issuer, years = CATALOGUE[code]
        rng = self._rng
        issued = issued or EPOCH.date() - timedelta(days=rng.randrange(10, 365 * years))
        return {
            "Certification_Reference": _ref(f"{worker}-{code}", "Certification_Skill_ID"),
            "Certification_Data": [
                {
                    "Certification_Reference": _ref(code, "Certification_ID", name),
                    "Certification_Name": name,
                    "Issuer": issuer,
                    "Certification_Number": f"{code[:3]}-{rng.randrange(10**6, 10**7)}",
                    "Issued_Date": issued,
                    "Expiration_Date": issued.replace(year=issued.year + years)
                    if not (issued.month == 2 and issued.day == 29)
                    else issued + timedelta(days=365 * years),
                }
            ],
        }

    # -- reading -------------------------------------------------------------------------

    def as_of(self, moment: datetime | None) -> dict[str, dict[str, Any]]:
        """Every worker as entered at ``moment`` (None: now), by id, in id order."""
        out: dict[str, dict[str, Any]] = {}
        with self.lock:
            for key in sorted(self.history):
                version = self._version(key, moment)
                if version is not None and version.worker is not None:
                    out[key] = version.worker
        return out

    def _version(self, key: str, moment: datetime | None) -> Version | None:
        found = None
        for version in self.history[key]:
            if moment is None or version.stamp <= moment:
                found = version
        return found

    def changed(self, start: datetime, end: datetime) -> set[str]:
        """The workers with a transaction entered from ``start`` through ``end``."""
        with self.lock:
            return {
                key
                for key, versions in self.history.items()
                if any(start <= v.stamp <= end for v in versions)
            }

    def find(
        self,
        moment: datetime | None,
        updated: tuple[datetime, datetime] | None,
        organizations: Sequence[str],
        page: int,
        count: int,
    ) -> tuple[list[dict[str, Any]], int]:
        """Page ``page`` (from 1) of ``count`` workers as of ``moment``, in id order (those
        with a transaction in ``updated`` only, and of ``organizations`` only, when given),
        and how many there are in all."""
        with self.lock:
            workers = self.as_of(moment)
            if updated is not None:
                wanted = self.changed(*updated)
                workers = {k: w for k, w in workers.items() if k in wanted}
            if organizations:
                workers = {k: w for k, w in workers.items() if set(organizations) & set(orgs_of(w))}
            keys = list(workers)
            start = (page - 1) * count
            return [copy.deepcopy(workers[k]) for k in keys[start : start + count]], len(keys)

    def get(self, key: str) -> dict[str, Any] | None:
        """The worker as entered now (None when there is no such worker)."""
        with self.lock:
            if key not in self.history:
                return None
            worker = self.history[key][-1].worker
            return copy.deepcopy(worker) if worker is not None else None

    # -- changes -------------------------------------------------------------------------

    def change(self, key: str, edit: Callable[[dict[str, Any]], None]) -> datetime:
        """A new version of worker ``key``, ``edit`` applied to a copy of the current one,
        entered now; its entry moment. ``KeyError`` for no such worker."""
        with self.lock:
            current = self.history[key][-1].worker
            if current is None:
                raise KeyError(key)
            worker = copy.deepcopy(current)
            edit(worker)
            stamp = self._now()
            self.history[key].append(Version(stamp, worker))
            return stamp

    def renew(self, key: str, code: str, issued: date) -> datetime:
        """Worker ``key``'s certification ``code`` renewed on ``issued`` (a new number, a new
        expiry)."""

        def edit(worker: dict[str, Any]) -> None:
            certs = certifications_of(worker)
            for index, cert in enumerate(certs):
                if (
                    cert["Certification_Data"][0]["Certification_Reference"]["ID"][0]["_value_1"]
                    == code
                ):
                    certs[index] = self._certification(code, key, issued)
                    return
            raise KeyError(f"{key} holds no {code}")

        return self.change(key, edit)

    def certify(self, key: str, code: str, issued: date) -> datetime:
        """Worker ``key`` gains certification ``code``, issued on ``issued``."""
        return self.change(
            key, lambda w: certifications_of(w).append(self._certification(code, key, issued))
        )

    def revoke(self, key: str, code: str) -> datetime:
        """Worker ``key``'s certification ``code`` is removed."""

        def edit(worker: dict[str, Any]) -> None:
            certs = certifications_of(worker)
            kept = [c for c in certs if certification_code(c) != code]
            if len(kept) == len(certs):
                raise KeyError(f"{key} holds no {code}")
            certs[:] = kept

        return self.change(key, edit)

    def terminate(self, key: str, on: date) -> datetime:
        """Worker ``key`` terminated with effect from ``on`` (inactive from then on)."""

        def edit(worker: dict[str, Any]) -> None:
            status = worker["Worker_Data"]["Employment_Data"]["Worker_Status_Data"]
            status.update({"Terminated": True, "Termination_Date": on,
                           "Termination_Last_Day_of_Work": on - timedelta(days=1)})  # fmt: skip
            if on <= self._clock().date():
                status.update({"Active": False, "Active_Status_Date": on})

        return self.change(key, edit)

    def leave(self, key: str, start: date, end: date) -> datetime:
        """Worker ``key`` on a leave of absence from ``start``, expected back after ``end``."""

        def edit(worker: dict[str, Any]) -> None:
            status = worker["Worker_Data"]["Employment_Data"]["Worker_Status_Data"]
            status.setdefault("Leave_Status_Data", []).append(
                {
                    "Leave_Request_Description": "Leave of absence",
                    "On_Leave": True,
                    "Leave_Start_Date": start,
                    "Estimated_Leave_End_Date": end,
                    "Leave_Last_Day_of_Work": start - timedelta(days=1),
                }
            )

        return self.change(key, edit)

    def edit_contact(self, key: str, fields: Mapping[str, str]) -> datetime:
        """Worker ``key``'s work ``email`` or ``phone`` (as formatted) changed."""

        def edit(worker: dict[str, Any]) -> None:
            contact = worker["Worker_Data"]["Personal_Data"]["Contact_Data"]
            if "email" in fields:
                contact["Email_Address_Data"][0]["Email_Address"] = fields["email"]
            if "phone" in fields:
                contact["Phone_Data"][0]["Formatted_Phone"] = fields["phone"]

        return self.change(key, edit)


def certifications_of(worker: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The worker's ``Qualification_Data/Certification`` list (the stored one, to edit)."""
    data = worker["Worker_Data"].setdefault("Qualification_Data", {})
    found: list[dict[str, Any]] = data.setdefault("Certification", [])
    return found


def certification_code(achievement: Mapping[str, Any]) -> str:
    return str(achievement["Certification_Data"][0]["Certification_Reference"]["ID"][0]["_value_1"])


def orgs_of(worker: Mapping[str, Any]) -> list[str]:
    memberships = (worker["Worker_Data"].get("Organization_Data") or {}).get(
        "Worker_Organization_Data"
    ) or []
    return [m["Organization_Data"]["Organization_Reference_ID"] for m in memberships]
