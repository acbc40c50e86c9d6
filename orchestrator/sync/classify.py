"""What applying a page decides, record by record: no database, no I/O.

``classify`` takes the records of one entity of a page as mapped (each Id at most once), what
the store holds for their keys (``Held``) and the store ids of the rows their references
name, and returns one ``Decision`` per record, in order. ``apply`` (reference records) and
``work_orders`` read what it needs in bulk around it (``comparable`` names the records whose
references and stored values it reads) and write its decisions in bulk.

A reference record (customer, site, contact, asset, certification):

- one older than the stored version is ``STALE``, and so is one stamped like the stored
  version when either is a deletion (this very deletion read again, or a version of a record
  deleted at that stamp);
- a deletion is a ``TOMBSTONE`` of the stored row, or ``NOTHING`` when none is stored;
- one whose reference names no stored row, or that the canonical model refuses, goes to
  ``QUARANTINE`` (the remote field and the reason);
- one the store lacks is an ``INSERT``; one whose owned fields equal a live stored row's is
  ``UNCHANGED`` (only a newer stamp is kept: ``restamp``); any other is an ``UPDATE`` of
  every owned field (a tombstoned row comes back to life).

A work order, by the ``OrderPolicy`` (intake once, then the ownership of fields; see
``work_orders``):

- one no newer than the stored version is ``STALE``;
- a deletion of a held order is ``IGNORED`` (recorded, nothing changes); of one the store
  lacks, ``NOTHING``;
- one the store lacks that carries a key of ours goes to ``QUARANTINE`` (the key names no
  order here); one in a status that is not an intake status is ``NOTHING`` (left where it
  is);
- a new order needs every reference to name a stored row, a held one only those the remote
  owns; a new order is then an ``INSERT`` (intake). Of a held one, the owned fields that
  differ are an ``UPDATE``, and a status edited there is recorded in ``ignored`` (``IGNORED``
  when nothing else changed); a version with neither is ``UNCHANGED`` (our own write coming
  back, say): its stamp and status are kept.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from mappings.records import Entity, Mapped

DANGLING = "(dangling reference)"  # in a quarantine reason: retried at the end of each run

Key = tuple[str, str]  # (system, external id)


class Action(StrEnum):
    """What applying one record does."""

    INSERT = "insert"  # a new row (a work order: intake)
    UPDATE = "update"  # the stored row's fields, from the record
    TOMBSTONE = "tombstone"  # the stored row marked deleted (it stays)
    IGNORED = "ignored"  # a work order's change there that the policy does not apply: recorded
    UNCHANGED = "unchanged"  # nothing the store keeps changed: skipped (a newer stamp is kept)
    STALE = "stale"  # older than the stored version, or the same one again: skipped
    NOTHING = "nothing"  # nothing to keep: skipped
    QUARANTINE = "quarantine"  # held, with the remote field and the reason


WRITTEN = frozenset({Action.INSERT, Action.UPDATE, Action.TOMBSTONE, Action.IGNORED})


@dataclass(frozen=True, slots=True)
class Held:
    """What the store holds for a record's key: the row's id, the remote stamp of the version
    stored, whether it is a tombstone, its stored values (None: not read) and, for a work
    order, the remote status last seen there."""

    id: int
    stamp: datetime | None
    deleted: bool = False
    content: Mapping[str, Any] | None = None
    remote_status: str | None = None


@dataclass(frozen=True, slots=True)
class OrderPolicy:
    """A work-order stream's policy: its system, the canonical fields the remote owns after
    intake, the remote statuses a new order is taken in at, and the remote field that carries
    our key (``WorkOrder.Fieldbridge_Key__c``)."""

    system: str
    owns: frozenset[str]
    intake_statuses: frozenset[str]
    key_field: str


@dataclass(frozen=True, slots=True)
class Decision:
    """What applying ``mapped`` does (``action``) to the stored row ``held`` (None: none).

    ``model`` is the canonical record of an ``INSERT``; ``changes`` the fields an ``UPDATE``
    writes. Of a work order, ``ignored`` is what the audit trail records as
    ``remote_change_ignored`` and ``remote_status`` the status kept as last seen there. A
    ``QUARANTINE`` names the remote field and the reason. ``compared``: decided on the
    references and the stored values (not on the stamps alone)."""

    action: Action
    mapped: Mapped[Any]
    held: Held | None = None
    model: Any = None
    changes: Mapping[str, Any] = field(default_factory=dict)
    ignored: Mapping[str, Any] = field(default_factory=dict)
    remote_status: str | None = None
    remote_field: str | None = None
    reason: str = ""
    compared: bool = False

    @property
    def written(self) -> bool:
        """Counted as written (else as skipped, or as quarantined)."""
        return self.action in WRITTEN

    @property
    def resolves(self) -> bool:
        """Applied one way or another: a held earlier version of the record is obsolete."""
        return self.action is not Action.QUARANTINE

    @property
    def restamp(self) -> bool:
        """Unchanged, but stamped later than the stored version: the stamp moves on (an older
        version read later stays stale)."""
        return (
            self.action is Action.UNCHANGED
            and self.held is not None
            and self.mapped.stamp != self.held.stamp
        )

    @property
    def row_id(self) -> int:
        """The id of the stored row the decision acts on."""
        if self.held is None:
            raise ValueError(f"{self.action} of {self.mapped.external_id}: no stored row")
        return self.held.id


def key_of(mapped: Mapped[Any]) -> Key:
    """The key a record is stored under: (system, external id)."""
    return mapped.system, mapped.external_id


def classify(
    records: Sequence[Mapped[Any]],
    held: Mapping[Key, Held],
    targets: Mapping[Entity, Mapping[Key, int]],
    remote_field: Callable[[str], str],
    orders: OrderPolicy | None = None,
) -> list[Decision]:
    """One decision for each of ``records`` (each Id at most once), in order; see the module.

    ``held``: what the store holds, by key (the stored values of the ``comparable`` records
    at least); ``targets``: the store id of each row the references of the comparable records
    name, by entity and key (a key not there names no row); ``remote_field``: the remote field
    a reference (``site_id``) was read from; ``orders``: the work-order policy (None: the
    records are reference records)."""
    decisions: list[Decision] = []
    for mapped in records:
        row = held.get(key_of(mapped))
        decision = _screen(mapped, row, orders)
        if decision is None:
            decision = _compare(mapped, row, targets, remote_field, orders)
        decisions.append(decision)
    return decisions


def comparable(
    records: Sequence[Mapped[Any]], held: Mapping[Key, Held], orders: OrderPolicy | None = None
) -> list[Mapped[Any]]:
    """Those of ``records`` the stamps alone do not decide: ``classify`` needs the rows their
    references name and their stored values (``held`` needs only ids, stamps, tombstones)."""
    return [
        mapped for mapped in records if _screen(mapped, held.get(key_of(mapped)), orders) is None
    ]


def _screen(mapped: Mapped[Any], row: Held | None, orders: OrderPolicy | None) -> Decision | None:
    """The decision the stamps alone make (None: the record is to be compared)."""
    if orders is not None:
        return _screen_order(mapped, row, orders)
    if row is not None and row.stamp is not None:
        older = mapped.stamp < row.stamp
        again = mapped.stamp == row.stamp and (mapped.deleted or row.deleted)
        if older or again:
            return Decision(Action.STALE, mapped, row)
    if mapped.deleted:
        return Decision(Action.NOTHING if row is None else Action.TOMBSTONE, mapped, row)
    return None


def _screen_order(mapped: Mapped[Any], row: Held | None, orders: OrderPolicy) -> Decision | None:
    """``_screen`` for a work order: intake once; a deletion there is only recorded."""
    if row is not None and row.stamp is not None and mapped.stamp <= row.stamp:
        return Decision(Action.STALE, mapped, row)
    if mapped.deleted:
        if row is None:
            return Decision(Action.NOTHING, mapped)
        ignored = {"system": orders.system, "deleted": True}
        return Decision(
            Action.IGNORED, mapped, row, ignored=ignored, remote_status=row.remote_status
        )
    if row is None and mapped.fieldbridge_id:
        why = f"names {mapped.fieldbridge_id}, which is no order here"
        return Decision(Action.QUARANTINE, mapped, remote_field=orders.key_field, reason=why)
    if row is None and mapped.remote_status not in orders.intake_statuses:
        return Decision(Action.NOTHING, mapped)  # not intake: left where it is
    return None


def _compare(
    mapped: Mapped[Any],
    row: Held | None,
    targets: Mapping[Entity, Mapping[Key, int]],
    remote_field: Callable[[str], str],
    orders: OrderPolicy | None,
) -> Decision:
    """The decision on a record the stamps let through: its references, its canonical model,
    then what of it differs from the stored row."""
    ids: dict[str, int | None] = {}
    missing = None
    for name, ref in mapped.refs.items():
        ids[name] = targets.get(ref.entity, {}).get((ref.system, ref.external_id))
        # A new order needs every reference; a held one only those the remote owns.
        needed = orders is None or row is None or name in orders.owns
        if ids[name] is None and missing is None and needed:
            missing = name
    if missing is not None:
        ref = mapped.refs[missing]
        why = f"no {ref.entity} with {ref.system} id {ref.external_id} {DANGLING}"
        return _hold(mapped, remote_field(missing), why)
    try:
        model = mapped.canonical(ids)
    except ValidationError as exc:
        first = exc.errors()[0]
        return _hold(mapped, ".".join(str(p) for p in first["loc"]) or None, first["msg"])
    if row is None:
        return Decision(Action.INSERT, mapped, model=model, compared=True)
    if orders is not None:
        return _owned(mapped, row, model.model_dump(), orders)
    owned = mapped.owned_fields | {"source_system", "external_id"}
    changes = {name: value for name, value in model.model_dump().items() if name in owned}
    was = row.content
    if was is not None and not row.deleted and all(was[n] == v for n, v in changes.items()):
        return Decision(Action.UNCHANGED, mapped, row, compared=True)
    return Decision(Action.UPDATE, mapped, row, changes=changes, compared=True)


def _hold(mapped: Mapped[Any], remote_field: str | None, reason: str) -> Decision:
    return Decision(
        Action.QUARANTINE, mapped, remote_field=remote_field, reason=reason, compared=True
    )


def _owned(
    mapped: Mapped[Any], row: Held, values: Mapping[str, Any], orders: OrderPolicy
) -> Decision:
    """A held order's later version, by the ownership policy: the fields the remote owns that
    differ are applied; a status edited there is recorded and ignored (the status is ours)."""
    was = row.content or {}
    changes = {
        name: values[name]
        for name in sorted(orders.owns & mapped.owned_fields)
        if values[name] != was.get(name)
    }
    ignored: dict[str, Any] = {}
    if row.remote_status is not None and mapped.remote_status != row.remote_status:
        ignored = {"system": orders.system, "status": mapped.remote_status}
    action = Action.UPDATE if changes else Action.IGNORED if ignored else Action.UNCHANGED
    return Decision(
        action,
        mapped,
        row,
        changes=changes,
        ignored=ignored,
        remote_status=mapped.remote_status,
        compared=True,
    )
