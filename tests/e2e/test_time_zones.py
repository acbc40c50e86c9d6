"""Windows and shifts across a daylight-saving change: stored in UTC, shown in local time."""

from __future__ import annotations

from tests.support.http import Api, Mover, World
from tests.support.lifecycle import advance, new_order


def _triaged(api: Api, world: World, move: Mover) -> int:
    oid = new_order(api, world)["id"]
    advance(api, world, move, oid, "triaged")
    return oid


def test_a_window_across_the_spring_change_is_stored_in_utc_and_shown_locally(
    api: Api, world: World, move: Mover
) -> None:
    oid = _triaged(api, world, move)
    # Berlin, 29 March 2026: 02:00 CET jumps to 03:00 CEST.
    out = move(
        oid,
        world.dispatcher,
        "scheduled",
        technician_id=world.technician_id,
        window_start="2026-03-29T01:30:00+01:00",
        window_end="2026-03-29T03:30:00+02:00",
    ).json()
    assert out["window_start"].startswith("2026-03-29T00:30:00")
    assert out["window_end"].startswith("2026-03-29T01:30:00")
    assert out["window_local"] == {
        "start": "2026-03-29T01:30:00+01:00",
        "end": "2026-03-29T03:30:00+02:00",
        "time_zone": "Europe/Berlin",
    }
    status = api.call("GET", f"/status/{out['tracking_code']}", None, expect=200).json()
    assert status["appointment_window"]["end"] == "2026-03-29T03:30:00+02:00"


def test_local_times_without_offset_are_read_at_the_site(
    api: Api, world: World, move: Mover
) -> None:
    oid = _triaged(api, world, move)
    out = move(
        oid,
        world.dispatcher,
        "scheduled",
        technician_id=world.technician_id,
        window_start="2026-10-26T08:00:00",
        window_end="2026-10-26T10:00:00",
    ).json()
    # The day after the autumn change Berlin is back on CET (+01:00).
    assert out["window_start"].startswith("2026-10-26T07:00:00")
    assert out["window_local"]["start"] == "2026-10-26T08:00:00+01:00"


def test_a_local_time_in_the_gap_or_the_fold_is_refused_by_name(
    api: Api, world: World, move: Mover
) -> None:
    oid = _triaged(api, world, move)
    gap = move(
        oid,
        world.dispatcher,
        "scheduled",
        expect=422,
        technician_id=world.technician_id,
        window_start="2026-03-29T02:30:00",
        window_end="2026-03-29T04:00:00",
    ).json()
    assert gap["errors"][0]["field"] == "window_start"
    assert "DST gap" in gap["errors"][0]["reason"]
    fold = move(
        oid,
        world.dispatcher,
        "scheduled",
        expect=422,
        technician_id=world.technician_id,
        window_start="2026-10-25T01:00:00",
        window_end="2026-10-25T02:30:00",
    ).json()
    assert fold["errors"][0]["field"] == "window_end"
    assert "twice" in fold["errors"][0]["reason"]


def test_window_must_end_after_it_starts(api: Api, world: World, move: Mover) -> None:
    oid = _triaged(api, world, move)
    body = move(
        oid,
        world.dispatcher,
        "scheduled",
        expect=422,
        technician_id=world.technician_id,
        window_start="2026-06-10T11:00:00+02:00",
        window_end="2026-06-10T09:00:00+02:00",
    ).json()
    assert body["errors"][0]["field"] == "window_end"


def test_technician_hours_keep_their_wall_clock_across_dst(api: Api, world: World) -> None:
    tech = api.call("GET", f"/api/v1/technicians/{world.technician_id}", world.dispatcher).json()
    assert tech["weekly_hours"]["mon"] == [{"start": "08:00", "end": "17:00"}]
    assert tech["time_zone"] == "Europe/Berlin"
    etag = f'"{tech["version"]}"'
    out = api.call(
        "PATCH",
        f"/api/v1/technicians/{world.technician_id}",
        world.dispatcher,
        json={"hours_exceptions": [{"date": "2026-03-30", "hours": []}]},
        headers={"If-Match": etag},
        expect=200,
    ).json()
    assert out["hours_exceptions"] == [{"date": "2026-03-30", "hours": [], "reason_code": None}]
    bad = api.call(
        "PATCH",
        f"/api/v1/technicians/{world.technician_id}",
        world.dispatcher,
        json={"time_zone": "Mars/Olympus_Mons"},
        headers={"If-Match": f'"{out["version"]}"'},
        expect=422,
    ).json()
    assert bad["errors"][0]["field"] == "time_zone"
