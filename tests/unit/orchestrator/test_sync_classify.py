"""``orchestrator.sync.classify``: what applying a page decides, record by record, with no
database.

The properties apply pages of versions of assets (SAP's: a serial and a name from the
remote; the model and the site are ours) to ``Store``, a small in-memory model of what
``apply_rows`` keeps, by doing what each decision says. A remote gives one version a stamp:
the versions drawn hold at most one per record and stamp (the same version may come again).
A deletion is drawn only for a record the store already holds: a deletion of a record never
stored keeps nothing, so an older version read after it would be taken in.

The examples show the rules on one stamp and on references, and the work-order policy on
Salesforce records as the mapping reads them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from mappings import canonical
from mappings.records import Entity, ExternalRef, Mapped
from mappings.salesforce import SalesforceMapping, to_canonical
from orchestrator.sync.classify import (
    DANGLING,
    Action,
    Decision,
    Held,
    Key,
    classify,
    comparable,
    key_of,
)
from orchestrator.sync.work_orders import policy_of
from tests.support.salesforce_answers import FIXTURES

# -- the model: assets, versions of them, and a store that follows the decisions -------------

SYSTEM = "sap"
T0 = datetime(2026, 11, 4, 7, 0, tzinfo=UTC)
OWNED = frozenset({"serial", "name"})  # what the remote gives; the model and the site are ours
SEEDED = ("A1", "A2")  # held by the store before any page
NEW = ("B1", "B2")  # not held: a first version of one is inserted
SKIPS = {Action.STALE, Action.UNCHANGED, Action.NOTHING}


def at(minute: int) -> datetime:
    return T0 + timedelta(minutes=minute)


def version(key: str, minute: int, body: tuple[str, str | None] | None) -> Mapped[Any]:
    """An asset as a mapping hands it over: ``body`` is its (serial, name); None: a deletion."""
    if body is None:
        return Mapped(SYSTEM, "asset", key, at(minute), True, canonical.Asset)
    serial, name = body
    data = {"source_system": SYSTEM, "external_id": key, "serial": serial, "name": name}
    return Mapped(
        SYSTEM, "asset", key, at(minute), False, canonical.Asset, data=data, owned_fields=OWNED
    )


def seed(key: str) -> dict[str, Any]:
    """A seeded row's values: a first version (stamped at minute 0), placed and modelled by us."""
    return {
        "source_system": SYSTEM,
        "external_id": key,
        "serial": "S0",
        "name": None,
        "model": "ours",
        "site_id": 7,
    }


def rounds(page: Sequence[Mapped[Any]]) -> list[list[Mapped[Any]]]:
    """``page`` as the engine applies it: the n-th version of each key in the n-th round."""
    seen: dict[str, int] = {}
    batches: list[list[Mapped[Any]]] = []
    for mapped in page:
        count = seen.get(mapped.external_id, 0)
        seen[mapped.external_id] = count + 1
        if count == len(batches):
            batches.append([])
        batches[count].append(mapped)
    return batches


@dataclass
class Row:
    id: int
    stamp: datetime
    deleted: bool
    values: dict[str, Any]


@dataclass
class Store:
    """The rows of one table of the store by key, changed only as the decisions say;
    ``writes`` counts the rows written (a new stamp alone included)."""

    rows: dict[Key, Row] = field(default_factory=dict)
    writes: int = 0

    @classmethod
    def seeded(cls) -> Store:
        store = cls()
        for number, key in enumerate(SEEDED, 1):
            store.rows[SYSTEM, key] = Row(number, at(0), False, seed(key))
        return store

    def held(self, records: Sequence[Mapped[Any]]) -> dict[Key, Held]:
        """What ``apply_rows`` reads: each row's id, stamp and tombstone, and the stored
        values of the records to be compared."""
        held = {key: Held(row.id, row.stamp, row.deleted) for key, row in self.rows.items()}
        for key in map(key_of, comparable(records, held)):
            if key in held:
                held[key] = replace(held[key], content=dict(self.rows[key].values))
        return held

    def apply(self, page: Sequence[Mapped[Any]]) -> list[Decision]:
        decisions: list[Decision] = []
        for batch in rounds(page):
            made = classify(batch, self.held(batch), {}, lambda name: name)
            for decision in made:
                self.follow(decision)
            decisions += made
        return decisions

    def follow(self, decision: Decision) -> None:
        mapped = decision.mapped
        key = key_of(mapped)
        if decision.action is Action.INSERT:
            values = decision.model.model_dump()
            self.rows[key] = Row(len(self.rows) + 1, mapped.stamp, False, values)
        elif decision.action is Action.UPDATE:
            row = self.rows[key]
            row.values.update(decision.changes)
            row.stamp, row.deleted = mapped.stamp, False
        elif decision.action is Action.TOMBSTONE:
            row = self.rows[key]
            row.stamp, row.deleted = mapped.stamp, True
        elif decision.restamp:
            self.rows[key].stamp = mapped.stamp
        else:
            assert decision.action in SKIPS, decision
            return
        self.writes += 1

    def view(self) -> dict[str, tuple[Any, ...]]:
        """What a reader sees of each record: a tombstone and its stamp (the values under it
        do not count), or the live row's stamp and values."""
        return {
            key[1]: ("deleted", row.stamp) if row.deleted else ("live", row.stamp, row.values)
            for key, row in self.rows.items()
        }


def newest(versions: Sequence[Mapped[Any]]) -> dict[str, tuple[Any, ...]]:
    """What the store shows once every one of ``versions`` is in: each record's newest
    version (a seeded record's first version when there is none)."""
    latest: dict[str, Mapped[Any]] = {}
    for mapped in versions:
        if mapped.external_id not in latest or mapped.stamp > latest[mapped.external_id].stamp:
            latest[mapped.external_id] = mapped
    out: dict[str, tuple[Any, ...]] = {key: ("live", at(0), seed(key)) for key in SEEDED}
    for key, mapped in latest.items():
        ours = seed(key) if key in SEEDED else {"model": None, "site_id": None}
        live = ("live", mapped.stamp, {**ours, **mapped.data})
        out[key] = ("deleted", mapped.stamp) if mapped.deleted else live
    return out


BODIES = st.sampled_from([("S1", None), ("S1", "Pump"), ("S2", "Pump")])  # often alike


@st.composite
def histories(draw: st.DrawFn) -> list[Mapped[Any]]:
    """Versions of every record, at most one a stamp: a body, or (for a seeded record) a
    deletion."""
    versions: list[Mapped[Any]] = []
    for key in SEEDED + NEW:
        for minute in sorted(draw(st.sets(st.integers(1, 5), max_size=4))):
            bodies = st.one_of(st.none(), BODIES) if key in SEEDED else BODIES
            versions.append(version(key, minute, draw(bodies)))
    return versions


@st.composite
def pages_of(draw: st.DrawFn, versions: list[Mapped[Any]]) -> list[list[Mapped[Any]]]:
    """``versions`` (some of them twice) in any order, cut into pages."""
    again = draw(st.lists(st.sampled_from(versions), max_size=3)) if versions else []
    order = draw(st.permutations(versions + again))
    if len(order) < 2:
        return [order]
    cuts = sorted(draw(st.sets(st.integers(1, len(order) - 1), max_size=3)))
    return [order[start:end] for start, end in zip([0, *cuts], [*cuts, len(order)], strict=True)]


def loose(keys: Sequence[str], minutes: tuple[int, int]) -> st.SearchStrategy[Mapped[Any]]:
    """Any version of ``keys`` stamped within ``minutes``, a body or a deletion (two of one
    stamp may differ)."""
    body = st.one_of(st.none(), BODIES)
    return st.builds(version, st.sampled_from(keys), st.integers(*minutes), body)


# -- the properties -----------------------------------------------------------------------


@given(st.data())
def test_a_page_applied_again_decides_nothing_but_skips(data: st.DataObject) -> None:
    versions = data.draw(histories())
    *before, page = data.draw(pages_of(versions))
    store = Store.seeded()
    for earlier in before:
        store.apply(earlier)
    store.apply(page)
    shown, writes = store.view(), store.writes
    again = store.apply(page)
    assert {decision.action for decision in again} <= SKIPS
    assert not any(decision.restamp for decision in again)
    assert (store.view(), store.writes) == (shown, writes)


@given(st.data())
def test_the_newest_version_wins_whatever_order_the_pages_and_records_come_in(
    data: st.DataObject,
) -> None:
    versions = data.draw(histories())
    store = Store.seeded()
    for page in data.draw(pages_of(versions)):
        store.apply(page)
    assert store.view() == newest(versions)


@given(st.lists(st.lists(loose(SEEDED + NEW, (0, 6)), max_size=6), max_size=4))
def test_a_stale_version_never_overwrites_a_newer_one(pages: list[list[Mapped[Any]]]) -> None:
    store = Store.seeded()
    for page in pages:
        for mapped in page:  # one at a time: each decision against the row it meets
            key = key_of(mapped)
            was = store.rows.get(key)
            was = None if was is None else replace(was, values=dict(was.values))
            (decision,) = store.apply([mapped])
            if was is None:
                continue
            assert store.rows[key].stamp >= was.stamp
            if mapped.stamp < was.stamp:
                assert decision.action is Action.STALE
                assert store.rows[key] == was


@given(st.data())
def test_a_tombstone_stays_a_tombstone_against_older_versions(data: st.DataObject) -> None:
    key = data.draw(st.sampled_from(SEEDED))
    minute = data.draw(st.integers(1, 6))
    store = Store.seeded()
    store.apply([version(key, minute, None)])
    assert store.view()[key] == ("deleted", at(minute))
    older = st.lists(st.lists(loose([key], (0, minute)), min_size=1, max_size=5), max_size=3)
    for page in data.draw(older):
        decisions = store.apply(page)
        assert {decision.action for decision in decisions} == {Action.STALE}
    assert store.view()[key] == ("deleted", at(minute))


# -- examples -------------------------------------------------------------------------------


def one(mapped: Mapped[Any], held: Held) -> Action:
    """What ``classify`` does with ``mapped`` against the stored row ``held``."""
    (decision,) = classify([mapped], {key_of(mapped): held}, {}, lambda name: name)
    return decision.action


def test_a_version_stamped_like_the_stored_one_applies_only_if_live_and_different() -> None:
    live = Held(1, at(3), content=seed("A1"))
    # A feed that stamps by the second may change a record twice in one second.
    assert one(version("A1", 3, ("S1", None)), live) is Action.UPDATE
    assert one(version("A1", 3, ("S0", None)), live) is Action.UNCHANGED
    assert one(version("A1", 3, None), live) is Action.STALE
    tombstone = Held(1, at(3), deleted=True, content=seed("A1"))
    assert one(version("A1", 3, ("S1", None)), tombstone) is Action.STALE
    assert one(version("A1", 3, None), tombstone) is Action.STALE
    # A newer version brings a tombstoned record back, even with the values under it.
    assert one(version("A1", 4, ("S0", None)), tombstone) is Action.UPDATE


def test_a_record_whose_reference_names_no_stored_row_is_held_with_the_remote_field() -> None:
    site = ExternalRef(SYSTEM, "site", "S-100")
    mapped = replace(version("B1", 1, ("S1", "Pump")), refs={"site_id": site})
    (decision,) = classify([mapped], {}, {}, lambda name: f"Equipment.{name}")
    assert (decision.action, decision.remote_field) == (Action.QUARANTINE, "Equipment.site_id")
    assert decision.reason == f"no site with sap id S-100 {DANGLING}"
    assert not decision.resolves
    (placed,) = classify([mapped], {}, {"site": {(SYSTEM, "S-100"): 9}}, lambda name: name)
    assert placed.action is Action.INSERT and placed.model.site_id == 9


# -- work orders: intake once, then the ownership policy ------------------------------------

RAISED: dict[str, Any] = json.loads((FIXTURES / "work_order_query.json").read_text())["records"][0]
MAPPING = SalesforceMapping()
ORDERS = policy_of(MAPPING, "salesforce")
LATER = "2026-11-04T09:30:00.000+0000"  # a stamp later than RAISED's
TARGETS: dict[Entity, dict[Key, int]] = {
    "customer": {("salesforce", RAISED["AccountId"]): 3},
    "site": {("salesforce", RAISED["AccountId"]): 4},
    "asset": {("salesforce", RAISED["AssetId"]): 5},
    "contact": {("salesforce", RAISED["ContactId"]): 6},
}


def order(**fields: Any) -> Mapped[Any]:
    """The raised order's record in Salesforce, with ``fields`` changed there."""
    return to_canonical(MAPPING, "work_order", RAISED | fields)


def taken_in() -> Held:
    """The order as intake stored it: its values, stamp and status."""
    mapped = order()
    ids = {
        name: TARGETS[ref.entity][ref.system, ref.external_id] for name, ref in mapped.refs.items()
    }
    values = mapped.canonical(ids).model_dump()
    return Held(41, mapped.stamp, content=values, remote_status="New")


def decide(
    mapped: Mapped[Any],
    held: Held | None = None,
    targets: Mapping[Entity, Mapping[Key, int]] | None = None,
) -> Decision:
    """The decision on ``mapped`` against the stored order ``held`` (None: none)."""
    stored = {} if held is None else {key_of(mapped): held}
    remote_field = partial(MAPPING.remote_field, "work_order")
    (decision,) = classify([mapped], stored, targets or TARGETS, remote_field, ORDERS)
    return decision


def test_a_status_edited_in_salesforce_is_ignored_and_recorded() -> None:
    decision = decide(order(Status="Completed", SystemModstamp=LATER), taken_in())
    assert decision.action is Action.IGNORED and decision.written
    assert decision.changes == {}
    assert decision.ignored == {"system": "salesforce", "status": "Completed"}
    assert decision.remote_status == "Completed"  # seen there: the next edit is compared to it


def test_fields_salesforce_owns_are_applied_and_the_others_stay_ours() -> None:
    edited = order(Subject="Pump 3 rattles", Priority="Low", SystemModstamp=LATER)
    decision = decide(edited, taken_in())
    assert decision.action is Action.UPDATE
    assert decision.changes == {"summary": "Pump 3 rattles"}  # the priority is ours
    assert decision.ignored == {}
    both = decide(
        order(Subject="Pump 3 rattles", Status="Closed", SystemModstamp=LATER), taken_in()
    )
    assert (both.action, both.changes) == (Action.UPDATE, {"summary": "Pump 3 rattles"})
    assert both.ignored == {"system": "salesforce", "status": "Closed"}


def test_a_deletion_in_salesforce_is_recorded_and_changes_nothing() -> None:
    decision = decide(order(IsDeleted=True, SystemModstamp=LATER), taken_in())
    assert decision.action is Action.IGNORED
    assert decision.ignored == {"system": "salesforce", "deleted": True}
    assert (decision.changes, decision.remote_status) == ({}, "New")


def test_our_own_write_coming_back_keeps_only_its_stamp() -> None:
    echo = order(Fieldbridge_Id__c="WO-1042", SystemModstamp=LATER)
    decision = decide(echo, taken_in())
    assert decision.action is Action.UNCHANGED and not decision.written
    assert (decision.changes, decision.ignored, decision.remote_status) == ({}, {}, "New")
    assert decide(order(), taken_in()).action is Action.STALE  # the version stored, again


def test_a_held_order_needs_only_the_references_salesforce_owns() -> None:
    moved = order(AssetId="02i8d0000001zzzAAA", Subject="Pump 4", SystemModstamp=LATER)
    decision = decide(moved, taken_in())
    assert (decision.action, decision.changes) == (Action.UPDATE, {"summary": "Pump 4"})
    gone = order(ContactId="0038d00000ZzZzZAAV", SystemModstamp=LATER)
    held = decide(gone, taken_in())
    assert (held.action, held.remote_field) == (Action.QUARANTINE, "WorkOrder.ContactId")


def test_intake_takes_in_a_new_order_once_in_an_intake_status() -> None:
    new = decide(order())
    assert new.action is Action.INSERT and isinstance(new.model, canonical.WorkOrder)
    assert (new.model.site_id, new.model.asset_id, new.model.contact_id) == (4, 5, 6)
    assert decide(order(Status="In Progress")).action is Action.NOTHING  # left there
    stray = decide(order(Fieldbridge_Id__c="WO-9"))
    assert (stray.action, stray.remote_field) == (Action.QUARANTINE, "WorkOrder.Fieldbridge_Id__c")
    assert stray.reason == "names WO-9, which is no order here"
    unplaced = decide(order(), targets={**TARGETS, "asset": {}})
    assert (unplaced.action, unplaced.remote_field) == (Action.QUARANTINE, "WorkOrder.AssetId")
    assert DANGLING in unplaced.reason
