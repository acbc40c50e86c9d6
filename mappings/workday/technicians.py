"""Workday's mapping: a worker -> the technician, as far as Workday owns one.

The technicians stream hands the engine one record per worker the filter selects
(``technician_records``): the worker's id, the parts of ``Worker_Data`` Workday owns here
(``Personal_Data``: name, work e-mail and phone; ``Employment_Data/Worker_Status_Data``:
active, termination, leaves) made JSON-safe, and the moment the read is as of
(``As_Of_Entry_DateTime``, the record's stamp). ``WorkdayMapping.to_canonical`` makes each a
``WorkdayTechnician``: the Workday-owned fields (``WORKDAY_OWNS`` but the certifications,
which are the certifications stream's) and ``unavailable``, the periods ``Employment``
reads (a termination from its effective date on, open-ended; a leave for its dates). The
office's fields (``OFFICE_OWNS``) are never in it: the engine keeps whatever the stored row
has, and a technician made here has them empty until the office fills them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError

from mappings.canonical import Name
from mappings.errors import MappingError
from mappings.records import Entity, Mapped, stamp_of
from mappings.workday.workers import SYSTEM, Employment, worker_id

__all__ = ["OWNED", "WorkdayTechnician", "technician_record", "technician_records", "unavailable"]

ENTITY: Entity = "technician"
AS_OF = "As_Of_Entry_DateTime"
OWNED = frozenset({"name", "email", "phone", "active", "unavailable"})
"""The technician's columns the technicians stream writes (the rest are the office's)."""


class WorkdayTechnician(BaseModel):
    """A technician as Workday gives one: who (by ``external_id``, the worker id), the
    Workday-owned fields, and when they are not to be sent out (``unavailable``: ``from``,
    ``to`` (null: open-ended) as ISO dates, and ``why``)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    source_system: Annotated[str, StringConstraints(max_length=32)]
    external_id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    name: Name
    email: Annotated[str, StringConstraints(max_length=320)] | None = None
    phone: Annotated[str, StringConstraints(max_length=64)] | None = None
    active: bool = True
    unavailable: list[dict[str, str | None]] = []


def _plain(value: Any) -> Any:
    """``value`` with dates and date-times as ISO text (the record is kept as JSON)."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


def technician_record(worker: Mapping[str, Any], as_of: datetime) -> dict[str, Any] | None:
    """The worker's record for the technicians stream (None for a worker with no id)."""
    key = worker_id(worker)
    if key is None:
        return None
    data = worker.get("Worker_Data") or {}
    status = (data.get("Employment_Data") or {}).get("Worker_Status_Data")
    kept = {
        "Personal_Data": data.get("Personal_Data"),
        "Employment_Data": {"Worker_Status_Data": status},
    }
    return {"id": key, "Worker_Data": _plain(kept), AS_OF: as_of.isoformat()}


def technician_records(worker: Mapping[str, Any], as_of: datetime) -> list[dict[str, Any]]:
    """``technician_record`` as a list: one record, or none."""
    record = technician_record(worker, as_of)
    return [] if record is None else [record]


def unavailable(employment: Employment) -> list[dict[str, str | None]]:
    """When the worker is not to be sent out: a termination from its effective date on,
    each leave for its dates (an open leave open-ended), in order."""
    periods: list[dict[str, str | None]] = []
    if employment.terminated_on is not None:
        periods.append(
            {"from": employment.terminated_on.isoformat(), "to": None, "why": "terminated"}
        )
    for start, end in employment.leaves:
        periods.append(
            {"from": start.isoformat(), "to": None if end is None else end.isoformat(),
             "why": "leave"}
        )  # fmt: skip
    return sorted(periods, key=lambda p: (p["from"] or "", p["why"] or ""))


def to_technician(raw: Mapping[str, Any]) -> Mapped[WorkdayTechnician]:
    """One technician record (``technician_record``) as the technician Workday owns."""
    external_id = str(raw.get("id") or "?") if isinstance(raw, Mapping) else "?"

    def refused(field: str, reason: str) -> MappingError:
        return MappingError(SYSTEM, ENTITY, external_id, field, reason)

    if not isinstance(raw, Mapping) or not isinstance(raw.get("Worker_Data"), Mapping):
        raise refused("Worker_Data", "the record carries no Worker_Data")
    stamp = stamp_of(raw.get(AS_OF))
    if stamp is None:
        raise refused(AS_OF, "the record carries no as-of moment")
    if not isinstance(raw.get("id"), str) or not raw["id"].strip():
        raise refused("Worker_Reference", "the worker has no Employee_ID")
    employment = Employment.of({"Worker_Data": raw["Worker_Data"]})
    fields = {
        "source_system": SYSTEM,
        "external_id": external_id,
        "name": employment.name,
        "email": employment.email,
        "phone": employment.phone,
        "active": employment.active,
        "unavailable": unavailable(employment),
    }
    remote = {"name": "Personal_Data.Name_Data", "email": "Personal_Data.Contact_Data",
              "phone": "Personal_Data.Contact_Data"}  # fmt: skip
    try:
        model = WorkdayTechnician.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else "name"
        reason = first["msg"].removeprefix("Value error, ")
        raise refused(remote.get(name, name), reason) from None
    data = model.model_dump()
    return Mapped(
        SYSTEM,
        ENTITY,
        external_id,
        stamp,
        False,
        WorkdayTechnician,
        data=data,
        owned_fields=OWNED,
    )
