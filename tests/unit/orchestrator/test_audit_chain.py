"""The audit trail's canonical JSON and hash chain, and what ``verify_chain`` catches."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from orchestrator.domain.audit import (
    GENESIS,
    EventBody,
    canonical_json,
    iso_utc,
    sha256_hex,
    verify_chain,
)

T0 = datetime(2026, 3, 29, 0, 59, 59, 123456, tzinfo=UTC)


# --- canonical JSON ------------------------------------------------------------------------------


def test_keys_are_sorted_at_every_depth_and_separators_compact() -> None:
    value = {"b": 1, "a": {"z": [3, {"y": 1, "x": 2}], "c": None}, "A": True}
    assert canonical_json(value) == b'{"A":true,"a":{"c":null,"z":[3,{"x":2,"y":1}]},"b":1}'


def test_insertion_order_does_not_matter() -> None:
    assert canonical_json({"x": 1, "y": 2}) == canonical_json({"y": 2, "x": 1})


def test_non_ascii_is_utf8_not_escaped() -> None:
    assert canonical_json({"name": "Müller €"}) == '{"name":"Müller €"}'.encode()


def test_datetimes_are_utc_with_microseconds_and_z() -> None:
    assert canonical_json({"at": T0}) == b'{"at":"2026-03-29T00:59:59.123456Z"}'
    # Whole seconds still carry six digits of microseconds.
    whole = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert canonical_json([whole]) == b'["2026-01-02T03:04:05.000000Z"]'


def test_aware_datetimes_in_other_zones_are_converted_to_utc() -> None:
    berlin_summer = datetime(2026, 7, 1, 12, 0, 0, 5, tzinfo=timezone(timedelta(hours=2)))
    assert iso_utc(berlin_summer) == "2026-07-01T10:00:00.000005Z"
    assert canonical_json({"at": berlin_summer}) == canonical_json(
        {"at": datetime(2026, 7, 1, 10, 0, 0, 5, tzinfo=UTC)}
    )


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        canonical_json({"at": datetime(2026, 1, 1, 12, 0)})
    with pytest.raises(ValueError, match="naive"):
        iso_utc(datetime(2026, 1, 1, 12, 0))


def test_values_with_no_canonical_form_are_refused() -> None:
    with pytest.raises(TypeError, match="not canonical JSON"):
        canonical_json({"x": {1, 2}})
    with pytest.raises(TypeError):
        canonical_json({"x": b"bytes"})


def test_sha256_hex_of_text_and_bytes_agree() -> None:
    assert sha256_hex("abc") == sha256_hex(b"abc") == hashlib.sha256(b"abc").hexdigest()
    assert len(GENESIS) == 64 and set(GENESIS) == {"0"}


# --- event digests -------------------------------------------------------------------------------


def body(seq: int = 1, prev_hash: str = GENESIS, **over: object) -> EventBody:
    values: dict[str, object] = {
        "work_order_id": 42,
        "seq": seq,
        "at": T0 + timedelta(minutes=seq),
        "actor": "dan",
        "role": "dispatcher",
        "kind": "transition",
        "from_state": "new",
        "to_state": "triaged",
        "payload": {"priority": 2, "division_id": 1, "work_type_id": 3},
        "prev_hash": prev_hash,
    }
    values.update(over)
    return EventBody(**values)  # type: ignore[arg-type]


def test_digest_is_sha256_of_a_known_canonical_text() -> None:
    # Written out by hand: a change to the canonical form would break every stored chain.
    expected_text = (
        '{"actor":"dan","at":"2026-03-29T01:00:59.123456Z","from":"new","kind":"transition",'
        '"payload":{"division_id":1,"priority":2,"work_type_id":3},'
        '"prev_hash":"' + GENESIS + '","role":"dispatcher","seq":1,"to":"triaged",'
        '"work_order_id":42}'
    )
    event = body()
    assert canonical_json(event.as_dict()) == expected_text.encode()
    assert event.digest() == hashlib.sha256(expected_text.encode()).hexdigest()


def test_digest_is_stable_and_independent_of_zone_and_payload_order() -> None:
    event = body()
    same_instant = T0.astimezone(timezone(timedelta(hours=-5))) + timedelta(minutes=1)
    reordered = {"work_type_id": 3, "division_id": 1, "priority": 2}
    assert event.digest() == body().digest()
    assert event.digest() == body(at=same_instant, payload=reordered).digest()


@pytest.mark.parametrize(
    "change",
    [
        {"work_order_id": 43},
        {"seq": 2},
        {"at": T0 + timedelta(minutes=1, microseconds=1)},
        {"actor": "eve"},
        {"role": "admin"},
        {"kind": "updated"},
        {"from_state": None},
        {"to_state": "cancelled"},
        {"payload": {"priority": 1, "division_id": 1, "work_type_id": 3}},
        {"prev_hash": "f" * 64},
    ],
    ids=lambda c: next(iter(c)),
)
def test_every_field_is_covered_by_the_digest(change: dict[str, object]) -> None:
    assert replace(body(), **change).digest() != body().digest()  # type: ignore[arg-type]


def test_naive_event_time_cannot_be_hashed() -> None:
    with pytest.raises(ValueError):
        body(at=datetime(2026, 1, 1)).digest()


# --- chains --------------------------------------------------------------------------------------


def chain(count: int = 4) -> list[tuple[int, EventBody, str]]:
    """An intact chain of ``count`` events: (event id, body, stored hash)."""
    out: list[tuple[int, EventBody, str]] = []
    prev = GENESIS
    kinds = ["created", "transition", "checklist_updated", "attachment_added", "transition"]
    for seq in range(1, count + 1):
        event = body(seq, prev, kind=kinds[(seq - 1) % len(kinds)], payload={"step": seq})
        out.append((100 + seq, event, event.digest()))
        prev = event.digest()
    return out


def test_an_intact_chain_verifies() -> None:
    assert verify_chain(chain()) is None
    assert verify_chain(chain(1)) is None
    assert verify_chain([]) is None


def test_altered_payload_is_detected_at_that_event() -> None:
    events = chain()
    eid, event, stored = events[2]
    events[2] = (eid, replace(event, payload={"step": 999}), stored)
    broken = verify_chain(events)
    assert broken is not None
    assert (broken.work_order_id, broken.seq, broken.event_id) == (42, 3, 103)
    assert "hash does not match" in broken.reason


def test_altered_actor_is_detected() -> None:
    events = chain()
    eid, event, stored = events[1]
    events[1] = (eid, replace(event, actor="mallory"), stored)
    broken = verify_chain(events)
    assert broken is not None and broken.seq == 2 and broken.event_id == 102
    assert "hash does not match" in broken.reason


def test_rehashing_an_altered_event_breaks_the_next_link() -> None:
    events = chain()
    eid, event, _ = events[1]
    forged = replace(event, actor="mallory")
    events[1] = (eid, forged, forged.digest())
    broken = verify_chain(events)
    assert broken is not None and broken.seq == 3
    assert "prev_hash" in broken.reason


def test_reordered_events_are_detected() -> None:
    events = chain()
    events[1], events[2] = events[2], events[1]
    broken = verify_chain(events)
    assert broken is not None
    assert (broken.seq, broken.event_id) == (3, 103)
    assert broken.reason == "expected seq 2"


def test_a_missing_event_is_detected() -> None:
    events = chain()
    del events[1]
    broken = verify_chain(events)
    assert broken is not None and broken.seq == 3 and broken.reason == "expected seq 2"


def test_a_missing_first_event_is_detected() -> None:
    broken = verify_chain(chain()[1:])
    assert broken is not None and broken.seq == 2 and broken.reason == "expected seq 1"


def test_a_duplicated_event_is_detected() -> None:
    events = chain()
    events.insert(2, events[1])
    broken = verify_chain(events)
    assert broken is not None and broken.reason == "expected seq 3"


def test_wrong_prev_hash_is_detected_even_when_its_own_hash_is_consistent() -> None:
    events = chain()
    eid, event, _ = events[2]
    relinked = replace(event, prev_hash="a" * 64)
    events[2] = (eid, relinked, relinked.digest())
    broken = verify_chain(events)
    assert broken is not None and broken.seq == 3
    assert broken.reason == "prev_hash does not match previous event"


def test_first_event_must_link_to_genesis() -> None:
    events = chain()
    eid, event, _ = events[0]
    relinked = replace(event, prev_hash="1" * 64)
    events[0] = (eid, relinked, relinked.digest())
    broken = verify_chain(events)
    assert broken is not None and broken.seq == 1 and "prev_hash" in broken.reason


def test_a_tampered_stored_hash_is_detected() -> None:
    events = chain()
    eid, event, _ = events[-1]
    events[-1] = (eid, event, "e" * 64)
    broken = verify_chain(events)
    assert broken is not None and broken.seq == 4 and "hash does not match" in broken.reason
