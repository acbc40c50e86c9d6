"""What changed in a technician's day since their last read (``GET /me/changes?since=TOKEN``):
the orders changed or newly theirs, in full, and the ids of those no longer theirs; with
nothing changed, the same token back for one indexed read. A token older than the change feed
keeps answers 410 (fetch the day again); one that is no token, 422."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update

from orchestrator.domain.lifecycle import Actor, Role
from orchestrator.field import packet
from orchestrator.store import models
from orchestrator.store.db import utcnow
from orchestrator.work_orders import commands
from tests.support.databases import statements
from tests.support.http import Api, Mover, World
from tests.support.lifecycle import new_order

BERLIN = ZoneInfo("Europe/Berlin")
FEED = models.table_of(models.TechnicianChange)


def in_a_week() -> date:
    return datetime.now(BERLIN).date() + timedelta(days=7)


def at_site(day: date, hour: int, minute: int = 0) -> str:
    """Wall-clock time at the world's site (Berlin), as the office types it in."""
    return datetime.combine(day, time(hour, minute)).isoformat()


def triaged(api: Api, world: World, move: Mover) -> int:
    oid = new_order(api, world)["id"]
    move(
        oid,
        world.dispatcher,
        "triaged",
        priority=3,
        division_id=world.division_id,
        work_type_id=world.work_type_id,
    )
    return oid


def schedule(move: Mover, world: World, oid: int, technician_id: int, start: str, end: str) -> None:
    """Schedule (or re-plan) the order for the technician in the window."""
    move(
        oid,
        world.dispatcher,
        "scheduled",
        technician_id=technician_id,
        window_start=start,
        window_end=end,
    )


def planned(api: Api, world: World, move: Mover, technician_id: int, start: str, end: str) -> int:
    oid = triaged(api, world, move)
    schedule(move, world, oid, technician_id, start, end)
    return oid


def token_of_day(api: Api, token: str, day: date) -> str:
    return api.call("GET", f"/api/v1/me/day?date={day.isoformat()}", token, expect=200).json()[
        "sync_token"
    ]


def changes(api: Api, token: str, since: str, expect: int = 200) -> dict[str, Any]:
    return api.call("GET", f"/api/v1/me/changes?since={since}", token, expect=expect).json()


def test_the_office_changes_show_up_as_changed_new_and_removed_orders(
    api: Api, world: World, move: Mover
) -> None:
    day = in_a_week()
    tess, theo = world.technician_id, world.other_technician_id
    replanned = planned(api, world, move, tess, at_site(day, 8), at_site(day, 9))
    called_off = planned(api, world, move, tess, at_site(day, 10), at_site(day, 11))
    handed_over = planned(api, world, move, tess, at_site(day, 12), at_site(day, 13))
    taken_back = planned(api, world, move, tess, at_site(day, 14), at_site(day, 15))
    untouched = planned(api, world, move, tess, at_site(day, 16), at_site(day, 17))
    theos = planned(api, world, move, theo, at_site(day, 8), at_site(day, 9))
    waiting = triaged(api, world, move)
    since = token_of_day(api, world.tech_token, day)
    theo_since = token_of_day(api, world.other_tech_token, day)

    schedule(move, world, replanned, tess, at_site(day, 15, 30), at_site(day, 16, 30))
    move(called_off, world.dispatcher, "cancelled", reason="Customer fixed it themselves")
    schedule(move, world, handed_over, theo, at_site(day, 12), at_site(day, 13))
    # Changed, then no longer hers: only removed.
    schedule(move, world, taken_back, tess, at_site(day, 7), at_site(day, 8))
    move(taken_back, world.dispatcher, "triaged", reason="Parts not in stock")
    schedule(move, world, waiting, tess, at_site(day, 13), at_site(day, 14))  # newly hers
    schedule(move, world, theos, theo, at_site(day, 9), at_site(day, 10))  # Theo's own

    delta = changes(api, world.tech_token, since)

    assert [o["id"] for o in delta["orders"]] == [called_off, waiting, replanned]  # by window
    assert delta["removed"] == sorted([handed_over, taken_back])
    assert untouched not in {o["id"] for o in delta["orders"]}
    orders = {o["id"]: o for o in delta["orders"]}
    assert orders[called_off]["status"] == "cancelled"
    assert [n["state"] for n in orders[called_off]["notes"]] == ["cancelled"]
    assert (
        orders[replanned]["window_local"]["start"]
        == datetime.combine(day, time(15, 30), tzinfo=BERLIN).isoformat()
    )
    read = api.call("GET", f"/api/v1/work-orders/{waiting}", world.tech_token).json()
    assert {k: orders[waiting][k] for k in read} == read  # in full, as the day shows it
    assert orders[waiting]["site"]["id"] == world.site_id
    assert orders[waiting]["work_type"]["code"] == "PUMP-SVC"
    assert delta["sync_token"] != since

    again = changes(api, world.tech_token, delta["sync_token"])
    assert again == {"sync_token": delta["sync_token"], "orders": [], "removed": []}

    theo_delta = changes(api, world.other_tech_token, theo_since)
    assert [o["id"] for o in theo_delta["orders"]] == [theos, handed_over]
    assert theo_delta["removed"] == []


def test_an_edit_the_sync_brings_in_is_a_change_too(api: Api, world: World, move: Mover) -> None:
    day = in_a_week()
    oid = planned(api, world, move, world.technician_id, at_site(day, 8), at_site(day, 9))
    since = token_of_day(api, world.tech_token, day)
    with api.container.new_uow() as uow:  # as the inbound sync applies a remote's edit
        orders = models.table_of(models.WorkOrder)
        owned = [orders.c.id, orders.c.summary, orders.c.description, orders.c.contact_id]
        stored = select(*owned).where(orders.c.id == oid)
        commands.apply_system_edits(
            uow,
            uow.connection().execute(stored).one(),  # the fields a remote owns, no more
            Actor(subject="sync:salesforce", role=Role.INTEGRATION),
            {"summary": "Pump 3 vibrates, and it is loud"},
            remote_stamp=utcnow(),
            remote_status="Open",
            ignored={},
        )
        uow.commit()

    delta = changes(api, world.tech_token, since)

    assert [(o["id"], o["summary"]) for o in delta["orders"]] == [
        (oid, "Pump 3 vibrates, and it is loud")
    ]


def test_a_day_read_after_a_change_has_it_and_its_token_does_not_send_it_again(
    api: Api, world: World, move: Mover
) -> None:
    day = in_a_week()
    oid = planned(api, world, move, world.technician_id, at_site(day, 8), at_site(day, 9))
    since = token_of_day(api, world.tech_token, day)
    schedule(move, world, oid, world.technician_id, at_site(day, 10), at_site(day, 11))
    fresh = api.call("GET", f"/api/v1/me/day?date={day.isoformat()}", world.tech_token).json()
    assert [o["window_local"]["start"][11:16] for o in fresh["orders"]] == ["10:00"]
    assert changes(api, world.tech_token, fresh["sync_token"])["orders"] == []
    assert [o["id"] for o in changes(api, world.tech_token, since)["orders"]] == [oid]


def test_an_empty_delta_is_one_indexed_read_and_the_same_token(
    api: Api, world: World, move: Mover
) -> None:
    day = in_a_week()
    planned(api, world, move, world.technician_id, at_site(day, 8), at_site(day, 9))
    since = token_of_day(api, world.tech_token, day)
    for _ in range(3):  # the feed moves on for Theo
        planned(api, world, move, world.other_technician_id, at_site(day, 8), at_site(day, 9))

    with statements(api.container) as seen:
        delta = changes(api, world.tech_token, since)

    assert delta == {"sync_token": since, "orders": [], "removed": []}
    # Past the token's revocation check: one read.
    reads = [s for s in seen if s.startswith("SELECT") and "api_tokens" not in s]
    assert len(reads) == 1 and "technician_changes" in reads[0], seen


def _feed_ids(api: Api) -> tuple[int, int]:
    with api.container.new_uow() as uow:
        low, high = uow.connection().execute(select(func.min(FEED.c.id), func.max(FEED.c.id))).one()
    return low, high


def _age_the_feed(api: Api, days: float) -> int:
    """Make every row of the change feed ``days`` old, as if written then: how many."""
    with api.container.new_uow() as uow:
        aged = uow.connection().execute(update(FEED).values(at=utcnow() - timedelta(days=days)))
        uow.commit()
    return int(aged.rowcount)


def _prune(api: Api, days: float, batch: int = packet.PRUNE_BATCH) -> int:
    with api.container.new_uow() as uow:
        return packet.prune_changes(uow, days, batch=batch)


def test_a_token_older_than_the_feed_keeps_is_gone_and_the_day_starts_again(
    api: Api, world: World, move: Mover
) -> None:
    day = in_a_week()
    tess = world.technician_id
    oid = planned(api, world, move, tess, at_site(day, 8), at_site(day, 9))
    since = token_of_day(api, world.tech_token, day)
    schedule(move, world, oid, tess, at_site(day, 10), at_site(day, 11))
    schedule(move, world, oid, tess, at_site(day, 12), at_site(day, 13))
    aged = _age_the_feed(api, days=8)
    schedule(move, world, oid, tess, at_site(day, 14), at_site(day, 15))  # written now

    assert aged == 3  # scheduled, and re-planned twice
    assert _prune(api, days=7, batch=2) == aged  # two rows a round
    assert _prune(api, days=7) == 0
    low, high = _feed_ids(api)
    assert low == high  # the one written now is kept

    gone = api.call("GET", f"/api/v1/me/changes?since={since}", world.tech_token, expect=410)
    assert gone.headers["content-type"] == "application/problem+json"
    assert "fetch the day again" in gone.json()["detail"]
    fresh = token_of_day(api, world.tech_token, day)
    assert changes(api, world.tech_token, fresh) == {
        "sync_token": fresh,
        "orders": [],
        "removed": [],
    }


def test_pruning_keeps_the_newest_row_and_the_tokens_it_still_answers(
    api: Api, world: World, move: Mover
) -> None:
    day = in_a_week()
    planned(api, world, move, world.technician_id, at_site(day, 8), at_site(day, 9))
    planned(api, world, move, world.technician_id, at_site(day, 10), at_site(day, 11))
    since = token_of_day(api, world.tech_token, day)
    aged = _age_the_feed(api, days=30)

    assert _prune(api, days=7) == aged - 1
    assert _feed_ids(api) == (packet.decode_token(since),) * 2
    # Nothing changed after the token, and nothing after it was pruned: still answered.
    assert changes(api, world.tech_token, since) == {
        "sync_token": since,
        "orders": [],
        "removed": [],
    }
    # A token from after the newest row is from a store this one is not (a restore): gone.
    ahead = packet.encode_token(packet.decode_token(since) + 5)
    changes(api, world.tech_token, ahead, expect=410)


def test_a_token_that_is_no_token_is_refused_by_name(api: Api, world: World) -> None:
    for wrong in ("abc", "c", "C1", "c01", "c-1", "c" + "z" * 13, "c" + "z" * 14, "12"):
        problem = api.call("GET", f"/api/v1/me/changes?since={wrong}", world.tech_token, expect=422)
        assert [e["field"] for e in problem.json()["errors"]] == ["since"], wrong
    missing = api.call("GET", "/api/v1/me/changes", world.tech_token, expect=422)
    assert [e["field"] for e in missing.json()["errors"]] == ["since"]
    api.call("GET", "/api/v1/me/changes?since=c0", world.dispatcher, expect=403)


def test_tokens_name_feed_rows_and_nothing_else() -> None:
    for feed_id in (0, 1, 35, 36, 1295, 2**40 + 7, 2**63 - 1):
        assert packet.decode_token(packet.encode_token(feed_id)) == feed_id
    assert packet.encode_token(36) == "c10"
