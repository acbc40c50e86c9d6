"""Workday's mapping: a worker's certifications -> the certifications a technician holds.

The certifications stream reads workers and hands the engine one record per worker and
certification (``certification_records``): the worker's id (``worker_id``), the
``Certification_Data`` as Workday sent it and the moment the read is as of
(``As_Of_Entry_DateTime``: the record's stamp; a worker element carries no change stamp).
Its ``id`` is ``<worker>|<code>``, the code the ``Certification_Reference``'s
``Certification_ID``. ``WorkdayMapping.to_canonical`` makes each a ``HeldCertification`` of
the technician whose ``(source_system, external_id)`` is ``("workday", worker id)``; what
cannot be read raises ``MappingError`` naming the Workday field.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from pydantic import ValidationError

from mappings.canonical import HeldCertification
from mappings.errors import MappingError
from mappings.records import Entity, ExternalRef, Mapped, stamp_of
from mappings.workday.technicians import to_technician
from mappings.workday.workers import (
    SYSTEM,
    TechnicianFilter,
    certifications_of,
    ids_of,
    worker_id,
)

__all__ = ["AS_OF", "CERTIFICATION_ID", "WorkdayMapping", "certification_records"]

ENTITY: Entity = "certification"
AS_OF = "As_Of_Entry_DateTime"
CERTIFICATION_ID = "Certification_ID"
DATA = "Certification_Data"


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _day(value: Any) -> date | str | None:
    """A date, None when absent, the text itself when it is not one (refused later)."""
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return str(value)


def certification_records(worker: Mapping[str, Any], as_of: datetime) -> list[dict[str, Any]]:
    """One JSON-safe record per certification the worker holds (none for a worker with no
    id), stamped ``as_of``."""
    key = worker_id(worker)
    if key is None:
        return []
    out = []
    for data in certifications_of(worker):
        codes = ids_of(data.get("Certification_Reference"), CERTIFICATION_ID) or ids_of(
            data.get("Certification_Reference")
        )
        code = codes[0] if codes else "?"
        safe = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in data.items()}
        out.append({"id": f"{key}|{code}", "worker_id": key, DATA: safe, AS_OF: as_of.isoformat()})
    return out


class WorkdayMapping:
    """Workday's inbound mapping (``InboundMap``), with the technician filter."""

    def __init__(self, technicians: TechnicianFilter | None = None) -> None:
        self.technicians = technicians or TechnicianFilter()

    def to_canonical(self, entity: Entity, raw: Mapping[str, Any]) -> Mapped[Any]:
        """One certification record (``certification_records``) as the certification a
        technician holds; one technician record (``technicians.technician_record``) as the
        technician Workday owns."""
        if entity == "technician":
            return to_technician(raw)
        if entity != ENTITY:
            raise KeyError(
                f"the Workday mapping reads technicians and certifications, not {entity}s"
            )
        external_id = str(raw.get("id") or "?") if isinstance(raw, Mapping) else "?"

        def refused(field: str, reason: str) -> MappingError:
            return MappingError(SYSTEM, ENTITY, external_id, field, reason)

        if not isinstance(raw, Mapping) or not isinstance(raw.get(DATA), Mapping):
            raise refused(DATA, "the record carries no Certification_Data")
        stamp = stamp_of(raw.get(AS_OF))
        if stamp is None:
            raise refused(AS_OF, "the record carries no as-of moment")
        worker = _text(raw.get("worker_id"))
        if worker is None:
            raise refused("Worker_Reference", "the worker has no Employee_ID")
        data = raw[DATA]
        codes = ids_of(data.get("Certification_Reference"), CERTIFICATION_ID)
        if not codes:
            raise refused(f"{DATA}.Certification_Reference", "no Certification_ID")
        fields = {
            "source_system": SYSTEM,
            "external_id": external_id,
            "code": codes[0],
            "name": _text(data.get("Certification_Name")),
            "issuer": _text(data.get("Issuer")),
            "number": _text(data.get("Certification_Number")),
            "issued_on": _day(data.get("Issued_Date")),
            "expires_on": _day(data.get("Expiration_Date")),
            "status": "active",
        }
        remote = {"code": "Certification_Reference", "name": "Certification_Name",
                  "issuer": "Issuer", "number": "Certification_Number",
                  "issued_on": "Issued_Date", "expires_on": "Expiration_Date"}  # fmt: skip
        try:
            model = HeldCertification.model_validate({**fields, "technician_id": 1})
        except ValidationError as exc:
            first = exc.errors()[0]
            name = str(first["loc"][0]) if first["loc"] else "expires_on"
            reason = first["msg"].removeprefix("Value error, ")
            raise refused(f"{DATA}.{remote.get(name, name)}", reason) from None
        data_out = model.model_dump(exclude={"technician_id"})
        return Mapped(
            SYSTEM,
            ENTITY,
            external_id,
            stamp,
            False,
            HeldCertification,
            data=data_out,
            refs={"technician_id": ExternalRef(SYSTEM, "technician", worker)},
            owned_fields=frozenset({*data_out, "technician_id"}),
        )

    def remote_field(self, entity: Entity, ref: str) -> str:
        """The Workday field a reference was read from: the worker's id."""
        return "Worker_Reference.Employee_ID"
