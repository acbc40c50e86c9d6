"""A technician's working day as the scheduler sees it, and the window a customer is told."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from mappings import canonical
from orchestrator.planning.problem import technician_for_day
from orchestrator.planning.runs import appointment_window


def tech(**extra: object) -> canonical.Technician:
    data: dict[str, object] = {
        "name": "Tess",
        "home_latitude": 52.5,
        "home_longitude": 13.4,
        "time_zone": "Europe/Berlin",
        "weekly_hours": {"mon": [{"start": "08:00", "end": "17:00"}]},
    }
    return canonical.Technician.model_validate(data | extra)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_a_day_off_is_no_technician() -> None:
    assert technician_for_day(7, tech(), date(2026, 6, 9)) is None  # a Tuesday


def test_a_plain_day_is_its_hours_in_utc_with_the_break_rule_inside() -> None:
    rule = {"window": {"start": "12:00", "end": "13:30"}, "minutes": 30}
    day = technician_for_day(7, tech(break_rule=rule), date(2026, 6, 8))
    assert day is not None
    assert (day.id, day.shift.start, day.shift.end) == (
        "7",
        utc("2026-06-08T06:00"),
        utc("2026-06-08T15:00"),
    )
    [lunch] = day.breaks
    assert (lunch.window.start, lunch.window.end, lunch.minutes) == (
        utc("2026-06-08T10:00"),
        utc("2026-06-08T11:30"),
        30,
    )


def test_a_split_shift_is_one_shift_with_its_gap_as_a_fixed_break() -> None:
    hours = {"mon": [{"start": "08:00", "end": "12:00"}, {"start": "13:00", "end": "17:00"}]}
    day = technician_for_day(7, tech(weekly_hours=hours), date(2026, 6, 8))
    assert day is not None
    assert (day.shift.start, day.shift.end) == (utc("2026-06-08T06:00"), utc("2026-06-08T15:00"))
    [gap] = day.breaks
    assert (gap.window.start, gap.window.end, gap.minutes) == (
        utc("2026-06-08T10:00"),
        utc("2026-06-08T10:00"),
        60,
    )


def test_hours_follow_the_wall_clock_across_a_dst_change() -> None:
    hours = {"sun": [{"start": "08:00", "end": "17:00"}]}
    spring = technician_for_day(7, tech(weekly_hours=hours), date(2026, 3, 29))
    winter = technician_for_day(7, tech(weekly_hours=hours), date(2026, 3, 22))
    assert spring is not None and winter is not None
    assert spring.shift.start == utc("2026-03-29T06:00")  # CEST, UTC+2
    assert winter.shift.start == utc("2026-03-22T07:00")  # CET, UTC+1


def test_certifications_and_stock_come_along() -> None:
    day = technician_for_day(
        7,
        tech(
            skills=["pumps"],
            certifications=[{"code": "ELEC-1", "expires_on": "2026-06-01"}],
            van_stock={"seal": 3},
            territory_id=4,
        ),
        date(2026, 6, 8),
    )
    assert day is not None
    assert day.skills == ["pumps"] and day.van_stock == {"seal": 3} and day.territory == "4"
    assert [(c.code, c.valid_on(day.day)) for c in day.certifications] == [("ELEC-1", False)]


def test_the_appointment_window_holds_the_planned_start_on_quarter_hours() -> None:
    start = datetime(2026, 6, 8, 9, 37, 12, tzinfo=UTC)
    begin, end = appointment_window(start, 120)
    assert (begin, end) == (utc("2026-06-08T08:30"), utc("2026-06-08T10:30"))
    for minutes in range(0, 24 * 60, 7):
        at = datetime(2026, 6, 8, tzinfo=UTC) + timedelta(minutes=minutes, seconds=31)
        begin, end = appointment_window(at, 60)
        assert begin <= at <= end and begin.minute % 15 == 0 and end - begin == timedelta(hours=1)
