"""What a map hands the sync engine for one inbound record (``Mapped``), and what the engine
needs of a system's inbound mapping (``InboundMap``).

Inbound records name other records by the remote's ids; the engine resolves those
(``ExternalRef``) to store ids, then builds the canonical model with ``Mapped.canonical``.
The result carries what the engine needs to apply it safely: the key to upsert by
(``system``, ``entity``, ``external_id``), the remote's change stamp (an update older than
the stored stamp is ignored), and whether it is a deletion (a tombstone, with no data).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, Literal, Protocol, TypeVar

from pydantic import BaseModel

Entity = Literal[
    "customer", "site", "contact", "asset", "work_order", "technician", "certification"
]

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class ExternalRef:
    """Another record, by the remote's id: resolved by the engine to a store id."""

    system: str
    entity: Entity
    external_id: str


@dataclass(frozen=True)
class Mapped(Generic[M]):
    """One inbound record mapped to one canonical entity.

    ``data`` holds the canonical fields the remote gives (``source_system`` and
    ``external_id`` included), already validated as ``model`` with the references in
    ``refs`` standing in; ``refs`` maps a canonical id field (``customer_id``) to the record
    it names. A deletion (``deleted``) has empty ``data`` and ``refs``.

    ``owned_fields`` are the canonical fields the mapping takes from the remote: the engine
    overwrites those (a reference the remote left empty included: it is None now) and keeps
    every other field of the stored row (a site's territory, say).

    ``fieldbridge_id`` is the value of the remote's external-id field: set when fieldbridge
    wrote or stamped the record, so an inbound work order that carries it is an echo of our
    own write-back, not intake. ``state`` is the lifecycle state the remote's status maps to,
    and ``remote_status`` that status as the remote names it (work orders only).
    """

    system: str
    entity: Entity
    external_id: str
    stamp: datetime
    deleted: bool
    model: type[M]
    data: Mapping[str, Any] = field(default_factory=dict)
    refs: Mapping[str, ExternalRef] = field(default_factory=dict)
    owned_fields: frozenset[str] = frozenset()
    fieldbridge_id: str | None = None
    state: str | None = None
    remote_status: str | None = None

    def __post_init__(self) -> None:
        if self.stamp.tzinfo is None:
            raise ValueError("stamp must be an aware datetime")

    def canonical(self, ids: Mapping[str, int | None]) -> M:
        """The canonical model, given the store id of each reference (None: not found).

        ``ids`` must answer every key of ``refs``; a reference that resolves to None is left
        None, which the model refuses where the reference is required.
        """
        if self.deleted:
            raise ValueError(f"{self.entity} {self.external_id} is a deletion: it has no model")
        missing = sorted(set(self.refs) - set(ids))
        if missing:
            raise KeyError(f"unresolved references: {', '.join(missing)}")
        return self.model.model_validate({**self.data, **{k: ids[k] for k in self.refs}})

    def as_json(self) -> dict[str, Any]:
        """A plain, stable form (for golden files and quarantine rows)."""
        return {
            "system": self.system,
            "entity": self.entity,
            "external_id": self.external_id,
            "stamp": self.stamp.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "deleted": self.deleted,
            "model": self.model.__name__,
            "fieldbridge_id": self.fieldbridge_id,
            "state": self.state,
            "data": dict(self.data),
            "refs": {
                name: {"system": r.system, "entity": r.entity, "external_id": r.external_id}
                for name, r in sorted(self.refs.items())
            },
            "owned_fields": sorted(self.owned_fields),
        }


def stamp_of(value: Any) -> datetime | None:
    """A change stamp as ISO 8601 text with an offset (``2026-01-31T08:00:00.000+0000``,
    ``...Z``), aware UTC; None when ``value`` is not one."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo is not None else None


class InboundMap(Protocol):
    """A system's inbound mapping as the sync engine uses it (``SalesforceMapping`` is one)."""

    def to_canonical(self, entity: Entity, raw: Mapping[str, Any]) -> Mapped[Any]:
        """One raw record as one canonical ``entity``; raises ``MappingError`` when it
        cannot be."""
        ...

    def remote_field(self, entity: Entity, ref: str) -> str:
        """The remote field ``entity``'s reference ``ref`` (``site_id``) was read from, as
        quarantine reasons name it (``Asset.AccountId``)."""
        ...
