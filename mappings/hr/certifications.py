"""The HR system's mapping: a certification feed record -> the certification a technician holds.

The feed sends one record per worker and certification code (``id`` ``<worker>|<code>``):
``worker_id``, ``code``, ``name``, ``issuer``, ``number``, ``issued_on``, ``expires_on``,
``status``, ``updated_at``. A record is read as the wire shape (``FeedRecord``, checked by
pydantic), its status through the mapping's explicit table, then as the canonical
``HeldCertification``; what cannot be read raises ``MappingError`` naming the field. The
worker is a reference to the technician whose ``(source_system, external_id)`` is
``("hr", worker_id)``, resolved by the sync engine.

The feed has no deletion flag: a certification the HR system no longer has is found by
reconciliation, not by the incremental sync.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from mappings.canonical import CertificationStatus, HeldCertification
from mappings.errors import MappingError, invalid
from mappings.records import Entity, ExternalRef, Mapped

__all__ = ["SYSTEM", "FeedRecord", "HRMapping"]

SYSTEM = "hr"
ENTITY: Entity = "certification"

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class FeedRecord(BaseModel):
    """One record of the certification feed as the HR system sends it."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: Annotated[Text, StringConstraints(max_length=128)]
    worker_id: Annotated[Text, StringConstraints(max_length=128)]
    code: Text
    name: str | None = None
    issuer: str | None = None
    number: str | None = None
    issued_on: date | None = None
    expires_on: date | None = None
    status: Text
    updated_at: AwareDatetime


DEFAULT_STATUSES: dict[str, CertificationStatus] = {
    "active": "active",
    "suspended": "suspended",
    "revoked": "revoked",
}


class HRMapping(BaseModel):
    """The mapping for one HR system: its status words, explicit (nothing defaults)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    statuses: dict[str, CertificationStatus] = Field(
        default_factory=lambda: dict(DEFAULT_STATUSES), min_length=1
    )

    def to_canonical(self, entity: Entity, raw: Mapping[str, Any]) -> Mapped[Any]:
        """One feed record as the certification a technician holds (``InboundMap``)."""
        if entity != ENTITY:
            raise KeyError(f"the HR feed holds certifications, not {entity}s")
        external_id = str(raw.get("id") or "?") if isinstance(raw, Mapping) else "?"

        def refused(field: str, reason: str) -> MappingError:
            return MappingError(SYSTEM, ENTITY, external_id, field, reason)

        if not isinstance(raw, Mapping):
            raise refused("record", "the record is not a JSON object")
        try:
            record = FeedRecord.model_validate(raw)
        except ValidationError as exc:
            raise invalid(SYSTEM, ENTITY, external_id, exc) from None
        status = self.statuses.get(record.status)
        if status is None:
            known = ", ".join(repr(s) for s in self.statuses)
            raise refused("status", f"{record.status!r} is not in the mapping's table ({known})")
        data = {
            "source_system": SYSTEM,
            "external_id": record.id,
            "code": record.code,
            "name": record.name,
            "issuer": record.issuer,
            "number": record.number,
            "issued_on": record.issued_on,
            "expires_on": record.expires_on,
            "status": status,
        }
        try:
            HeldCertification.model_validate({**data, "technician_id": 1})  # a stand-in id
        except ValidationError as exc:
            first = exc.errors()[0]
            reason = first["msg"].removeprefix("Value error, ")
            # a check across fields (expiry before issue) names the later one
            name = str(first["loc"][0]) if first["loc"] else reason.split()[0]
            raise refused(name, reason) from None
        return Mapped(
            SYSTEM,
            ENTITY,
            record.id,
            record.updated_at,
            False,
            HeldCertification,
            data=data,
            refs={"technician_id": ExternalRef(SYSTEM, "technician", record.worker_id)},
            owned_fields=frozenset({*data, "technician_id"}),
        )

    def remote_field(self, entity: Entity, ref: str) -> str:
        """The feed field a reference was read from: the worker (``InboundMap``)."""
        return "worker_id"
