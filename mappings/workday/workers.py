"""Workday's workers, as ``Get_Workers`` answers them (``plain`` data in the shape of the
``Worker`` element): who a worker is here, whether they are a technician, what of them
Workday owns, and the certifications they hold.

- identity: a worker's ``Employee_ID`` (or ``Contingent_Worker_ID``) is the technician's
  ``external_id`` in the ``workday`` system (``worker_id``);
- which workers are technicians is ``TechnicianFilter`` (``FIELDBRIDGE_WORKDAY_
  TECHNICIAN_FILTER``, JSON: ``organizations``, ``job_profiles``, or a ``field`` and
  ``value``);
- Workday owns a technician's name, work e-mail, work phone, active status and
  certifications (``WORKDAY_OWNS``); the office owns the rest (``OFFICE_OWNS``);
- ``Employment`` reads a worker's status: not dispatchable from a termination's effective
  date (a future-dated one leaves them dispatchable until then), unavailable for a leave's
  dates.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

__all__ = [
    "OFFICE_OWNS",
    "SYSTEM",
    "WORKDAY_OWNS",
    "WORKER_ID_TYPES",
    "Employment",
    "TechnicianFilter",
    "certifications_of",
    "ids_of",
    "worker_id",
]

SYSTEM = "workday"
WORKER_ID_TYPES = ("Employee_ID", "Contingent_Worker_ID")
WORKDAY_OWNS = frozenset({"name", "email", "phone", "active", "certifications"})
OFFICE_OWNS = frozenset(
    {
        "home_latitude",
        "home_longitude",
        "time_zone",
        "weekly_hours",
        "skills",
        "van_stock",
        "territory_id",
    }
)


def _get(value: Any, path: str) -> Any:
    """The value at a slash path (``Worker_Data/Worker_ID``); a list step takes its first."""
    for step in path.split("/"):
        if isinstance(value, list):
            value = value[0] if value else None
        if not isinstance(value, Mapping):
            return None
        value = value.get(step)
    return value


def ids_of(reference: Any, kind: str | None = None) -> list[str]:
    """The IDs of a Workday reference (``{"ID": [{"_value_1": id, "type": kind}]}``), of
    ``kind`` only when given."""
    if not isinstance(reference, Mapping):
        return []
    out = []
    for item in reference.get("ID") or []:
        if isinstance(item, Mapping):
            if kind is None or item.get("type") == kind:
                value = item.get("_value_1")
                if isinstance(value, str) and value.strip():
                    out.append(value.strip())
        elif isinstance(item, str) and kind is None:
            out.append(item)
    return out


def worker_id(worker: Mapping[str, Any]) -> str | None:
    """The worker's ``Employee_ID`` or ``Contingent_Worker_ID`` (from its reference, else its
    ``Worker_ID``); None when it has neither."""
    reference = worker.get("Worker_Reference")
    for kind in WORKER_ID_TYPES:
        found = ids_of(reference, kind)
        if found:
            return found[0]
    fallback = _get(worker, "Worker_Data/Worker_ID")
    return fallback.strip() if isinstance(fallback, str) and fallback.strip() else None


def organizations_of(worker: Mapping[str, Any]) -> set[str]:
    memberships = _get(worker, "Worker_Data/Organization_Data") or {}
    out: set[str] = set()
    for member in memberships.get("Worker_Organization_Data") or []:
        out.update(ids_of(member.get("Organization_Reference")))
        org_id = _get(member, "Organization_Data/Organization_Reference_ID")
        if isinstance(org_id, str):
            out.add(org_id)
    return out


def job_profiles_of(worker: Mapping[str, Any]) -> set[str]:
    jobs = _get(worker, "Worker_Data/Employment_Data") or {}
    out: set[str] = set()
    for job in jobs.get("Worker_Job_Data") or []:
        profile = _get(job, "Position_Data/Job_Profile_Summary_Data/Job_Profile_Reference")
        out.update(ids_of(profile))
    return out


class TechnicianFilter(BaseModel):
    """Which workers are technicians: members of any of ``organizations``
    (``Organization_Reference_ID``), or holding any of ``job_profiles`` (``Job_Profile_ID``),
    or whose ``field`` (a slash path into the ``Worker`` element, e.g.
    ``Worker_Data/Employment_Data/Worker_Job_Data/Position_Data/Business_Title``) is
    ``value``. Empty: every worker is one."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    organizations: frozenset[str] = Field(default_factory=frozenset)
    job_profiles: frozenset[str] = Field(default_factory=frozenset)
    field: str | None = None
    value: str | None = None

    @model_validator(mode="after")
    def _field_and_value(self) -> TechnicianFilter:
        if (self.field is None) != (self.value is None):
            raise ValueError("field and value go together")
        return self

    @classmethod
    def from_json(cls, text: str | None) -> TechnicianFilter:
        """The filter a setting holds (``ValueError`` saying what is wrong); None or blank:
        every worker."""
        if text is None or not text.strip():
            return cls()
        try:
            return cls.model_validate(json.loads(text))
        except (json.JSONDecodeError, ValidationError) as exc:
            raise ValueError(f"not a technician filter: {exc}") from None

    def matches(self, worker: Mapping[str, Any]) -> bool:
        if not (self.organizations or self.job_profiles or self.field):
            return True
        if self.organizations & organizations_of(worker):
            return True
        if self.job_profiles & job_profiles_of(worker):
            return True
        return self.field is not None and str(_get(worker, self.field)) == self.value


def _usage_is(entry: Mapping[str, Any], kind: str) -> bool:
    for usage in entry.get("Usage_Data") or []:
        for typed in usage.get("Type_Data") or []:
            if kind in ids_of(typed.get("Type_Reference")):
                return True
    return False


@dataclass(frozen=True)
class Employment:
    """What Workday says of a worker that dispatch needs: the Workday-owned fields, whether
    they are active, when a termination takes effect, and their leaves (start, end: the end
    None when open)."""

    name: str | None
    email: str | None
    phone: str | None
    active: bool
    terminated_on: date | None
    leaves: tuple[tuple[date, date | None], ...]

    @classmethod
    def of(cls, worker: Mapping[str, Any]) -> Employment:
        data = worker.get("Worker_Data") or {}
        detail = _get(data, "Personal_Data/Name_Data/Preferred_Name_Data/Name_Detail_Data") or (
            _get(data, "Personal_Data/Name_Data/Legal_Name_Data/Name_Detail_Data") or {}
        )
        name = detail.get("Formatted_Name") or " ".join(
            str(detail[p]) for p in ("First_Name", "Middle_Name", "Last_Name") if detail.get(p)
        )
        contact = _get(data, "Personal_Data/Contact_Data") or {}
        email = next(
            (e.get("Email_Address") for e in contact.get("Email_Address_Data") or []
             if _usage_is(e, "WORK")), None,
        )  # fmt: skip
        phone = next(
            (p.get("Formatted_Phone") or _dialled(p) for p in contact.get("Phone_Data") or []
             if _usage_is(p, "WORK")), None,
        )  # fmt: skip
        status = _get(data, "Employment_Data/Worker_Status_Data") or {}
        terminated_on = _date(status.get("Termination_Date")) if status.get("Terminated") else None
        leaves = tuple(
            (start, _date(leave.get("Leave_End_Date") or leave.get("Estimated_Leave_End_Date")))
            for leave in status.get("Leave_Status_Data") or []
            if leave.get("On_Leave", True) and (start := _date(leave.get("Leave_Start_Date")))
        )
        return cls(
            name=name or None,
            email=email,
            phone=phone,
            active=bool(status.get("Active", terminated_on is None)),
            terminated_on=terminated_on,
            leaves=leaves,
        )

    def dispatchable_on(self, day: date) -> bool:
        """Whether the worker may be sent out on ``day``: not from a termination's effective
        date on, nor during a leave."""
        if self.terminated_on is not None and day >= self.terminated_on:
            return False
        if self.terminated_on is None and not self.active:
            return False
        return not any(start <= day and (end is None or day <= end) for start, end in self.leaves)


def _dialled(phone: Mapping[str, Any]) -> str | None:
    parts = [
        phone.get("International_Phone_Code"),
        phone.get("Area_Code"),
        phone.get("Phone_Number"),
    ]
    text = " ".join(str(p) for p in parts if p)
    return f"+{text}" if text and phone.get("International_Phone_Code") else text or None


def _date(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def certifications_of(worker: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Each ``Certification_Data`` (``Certification_Achievement_DataType``) the worker
    holds."""
    qualifications = _get(worker, "Worker_Data/Qualification_Data") or {}
    for achievement in qualifications.get("Certification") or []:
        if isinstance(achievement, Mapping):
            for data in achievement.get("Certification_Data") or []:
                if isinstance(data, Mapping):
                    yield data
