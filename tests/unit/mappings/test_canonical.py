"""The canonical model's own rules: time zones and DST, shifts, certifications, validation."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from mappings.canonical import (
    Certification,
    Customer,
    HoursException,
    Interval,
    Site,
    SourceRef,
    Technician,
    WorkType,
    local_to_utc,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")

# 2026 DST changes (both Sundays): Berlin 29 Mar 02:00 -> 03:00 and 25 Oct 03:00 -> 02:00;
# New York 8 Mar 02:00 -> 03:00 and 1 Nov 02:00 -> 01:00.
BERLIN_SPRING, BERLIN_FALL = date(2026, 3, 29), date(2026, 10, 25)
NY_SPRING, NY_FALL = date(2026, 3, 8), date(2026, 11, 1)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def site(**over: Any) -> Site:
    values: dict[str, Any] = {
        "name": "Plant 3",
        "address": "Hafenstr. 1, Hamburg",
        "latitude": 53.5,
        "longitude": 10.0,
        "time_zone": "Europe/Berlin",
    }
    return Site(**(values | over))


def technician(**over: Any) -> Technician:
    values: dict[str, Any] = {
        "name": "Tom",
        "home_latitude": 52.5,
        "home_longitude": 13.4,
        "time_zone": "Europe/Berlin",
    }
    return Technician(**(values | over))


# --- time zones ----------------------------------------------------------------------------------


def assert_zone_refused(zone: str) -> None:
    with pytest.raises(ValidationError) as info:
        site(time_zone=zone)
    errors = info.value.errors()
    assert [e["loc"] for e in errors] == [("time_zone",)]
    assert f"unknown IANA time zone {zone!r}" in errors[0]["msg"]


@pytest.mark.parametrize("zone", ["Mars/Olympus", "Europe/Berlinn", "CEST", "", "../../etc/passwd"])
def test_unknown_iana_zone_is_refused_with_a_clear_message(zone: str) -> None:
    assert_zone_refused(zone)


@pytest.mark.parametrize("zone", ["Europe", "America", "America/Indiana"])
def test_a_zone_group_name_is_refused_like_any_unknown_zone(zone: str) -> None:
    # "Europe" is a folder of the tz database, not a zone: a user typing it must get the same
    # validation error as for any other unknown zone (not an unhandled IsADirectoryError).
    assert_zone_refused(zone)


def test_technician_time_zone_is_checked_too() -> None:
    with pytest.raises(ValidationError, match="unknown IANA time zone"):
        technician(time_zone="Nowhere/Special")


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/New_York", "UTC", "Asia/Kolkata"])
def test_known_zones_are_accepted(zone: str) -> None:
    assert site(time_zone=zone).time_zone == zone


# --- local_to_utc --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "hhmm", "zone", "expected"),
    [
        # Ordinary days: winter and summer offsets.
        (date(2026, 1, 15), "08:00", BERLIN, utc(2026, 1, 15, 7)),
        (date(2026, 7, 15), "08:00", BERLIN, utc(2026, 7, 15, 6)),
        (date(2026, 1, 15), "08:00", NEW_YORK, utc(2026, 1, 15, 13)),
        (date(2026, 7, 15), "08:00", NEW_YORK, utc(2026, 7, 15, 12)),
        # Berlin spring forward: 02:00-03:00 does not exist; a time in it moves forward.
        (BERLIN_SPRING, "01:59", BERLIN, utc(2026, 3, 29, 0, 59)),
        (BERLIN_SPRING, "02:30", BERLIN, utc(2026, 3, 29, 1, 30)),
        (BERLIN_SPRING, "03:00", BERLIN, utc(2026, 3, 29, 1, 0)),
        # Berlin fall back: 02:00-03:00 happens twice; the first (CEST) is taken.
        (BERLIN_FALL, "02:30", BERLIN, utc(2026, 10, 25, 0, 30)),
        (BERLIN_FALL, "03:00", BERLIN, utc(2026, 10, 25, 2, 0)),
        # New York spring forward and fall back.
        (NY_SPRING, "02:30", NEW_YORK, utc(2026, 3, 8, 7, 30)),
        (NY_SPRING, "03:00", NEW_YORK, utc(2026, 3, 8, 7, 0)),
        (NY_FALL, "01:30", NEW_YORK, utc(2026, 11, 1, 5, 30)),
        (NY_FALL, "02:00", NEW_YORK, utc(2026, 11, 1, 7, 0)),
        # 24:00 is the next midnight (in that night's offset).
        (BERLIN_SPRING, "24:00", BERLIN, utc(2026, 3, 29, 22)),
        (BERLIN_FALL, "24:00", BERLIN, utc(2026, 10, 25, 23)),
        (date(2026, 12, 31), "24:00", BERLIN, utc(2026, 12, 31, 23)),
        (NY_FALL, "24:00", NEW_YORK, utc(2026, 11, 2, 5)),
        (date(2028, 2, 28), "24:00", NEW_YORK, utc(2028, 2, 29, 5)),
    ],
)
def test_local_to_utc(day: date, hhmm: str, zone: ZoneInfo, expected: datetime) -> None:
    got = local_to_utc(day, hhmm, zone)
    assert got == expected
    assert got.utcoffset() == timedelta(0)
    assert got.tzinfo is UTC


def test_gap_time_lands_at_the_same_instant_as_the_wall_clock_after_the_gap() -> None:
    # 02:30 in the gap is 03:30 CEST: the clock moved forward by the hour.
    moved = local_to_utc(BERLIN_SPRING, "02:30", BERLIN)
    assert moved.astimezone(BERLIN).strftime("%H:%M") == "03:30"
    assert moved == local_to_utc(BERLIN_SPRING, "03:30", BERLIN)


def test_fold_time_is_the_first_of_its_two_occurrences() -> None:
    first = local_to_utc(BERLIN_FALL, "02:30", BERLIN)
    assert first.astimezone(BERLIN).utcoffset() == timedelta(hours=2)  # still summer time
    second = datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=BERLIN).astimezone(UTC)
    assert second - first == timedelta(hours=1)


# --- shifts --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "day", "start_utc"),
    [
        ("Europe/Berlin", BERLIN_SPRING, utc(2026, 3, 29, 6)),
        ("Europe/Berlin", BERLIN_FALL, utc(2026, 10, 25, 7)),
        ("America/New_York", NY_SPRING, utc(2026, 3, 8, 12)),
        ("America/New_York", NY_FALL, utc(2026, 11, 1, 13)),
    ],
)
def test_a_day_shift_is_nine_hours_on_both_dst_days(
    zone: str, day: date, start_utc: datetime
) -> None:
    assert day.weekday() == 6  # the changes are on Sundays
    tech = technician(time_zone=zone, weekly_hours={"sun": [{"start": "08:00", "end": "17:00"}]})
    assert tech.shifts_on(day) == [(start_utc, start_utc + timedelta(hours=9))]


@pytest.mark.parametrize(
    ("zone", "day", "hours"),
    [
        ("Europe/Berlin", BERLIN_SPRING, 23),
        ("Europe/Berlin", BERLIN_FALL, 25),
        ("Europe/Berlin", date(2026, 6, 7), 24),
        ("America/New_York", NY_SPRING, 23),
        ("America/New_York", NY_FALL, 25),
    ],
)
def test_a_whole_day_shift_is_as_long_as_the_day(zone: str, day: date, hours: int) -> None:
    tech = technician(time_zone=zone, weekly_hours={"sun": [{"start": "00:00", "end": "24:00"}]})
    [(start, end)] = tech.shifts_on(day)
    assert end - start == timedelta(hours=hours)
    assert start.astimezone(ZoneInfo(zone)).date() == day
    assert end.astimezone(ZoneInfo(zone)).date() == day + timedelta(days=1)


def test_split_shift_gives_two_intervals_in_order() -> None:
    tech = technician(
        weekly_hours={
            "mon": [{"start": "07:00", "end": "11:00"}, {"start": "13:00", "end": "17:30"}]
        }
    )
    assert tech.shifts_on(date(2026, 1, 12)) == [
        (utc(2026, 1, 12, 6), utc(2026, 1, 12, 10)),
        (utc(2026, 1, 12, 12), utc(2026, 1, 12, 16, 30)),
    ]


def test_no_weekly_hours_that_weekday_means_no_shift() -> None:
    tech = technician(weekly_hours={"mon": [{"start": "08:00", "end": "17:00"}]})
    assert tech.shifts_on(date(2026, 1, 13)) == []  # a Tuesday


def test_dated_exception_overrides_weekly_hours() -> None:
    monday, next_monday = date(2026, 1, 12), date(2026, 1, 19)
    tech = technician(
        weekly_hours={"mon": [{"start": "08:00", "end": "17:00"}]},
        hours_exceptions=[
            {"date": monday.isoformat(), "hours": [{"start": "10:00", "end": "12:00"}]},
            {"date": "2026-01-14", "hours": [{"start": "09:00", "end": "10:00"}]},  # a Wednesday
        ],
    )
    assert tech.shifts_on(monday) == [(utc(2026, 1, 12, 9), utc(2026, 1, 12, 11))]
    assert tech.shifts_on(next_monday) == [(utc(2026, 1, 19, 7), utc(2026, 1, 19, 16))]
    # An exception can add hours on a day without weekly hours.
    assert tech.shifts_on(date(2026, 1, 14)) == [(utc(2026, 1, 14, 8), utc(2026, 1, 14, 9))]


def test_an_exception_with_no_hours_is_a_day_off() -> None:
    tech = technician(
        weekly_hours={"mon": [{"start": "08:00", "end": "17:00"}]},
        hours_exceptions=[{"date": "2026-01-12", "hours": [], "reason_code": "PTO"}],
    )
    assert tech.shifts_on(date(2026, 1, 12)) == []
    assert HoursException(date=date(2026, 1, 12)).hours == []


def test_duplicate_exception_dates_are_refused() -> None:
    with pytest.raises(ValidationError, match="more than one exception for 2026-01-12"):
        technician(
            hours_exceptions=[
                {"date": "2026-01-12", "hours": []},
                {"date": "2026-01-13", "hours": []},
                {"date": "2026-01-12", "hours": [{"start": "08:00", "end": "09:00"}]},
            ]
        )


# --- certifications ------------------------------------------------------------------------------


def test_certification_valid_on_counts_the_expiry_day() -> None:
    cert = Certification(code="F-GAS", issued_on=date(2026, 1, 1), expires_on=date(2026, 12, 31))
    assert cert.valid_on(date(2026, 1, 1)) is True
    assert cert.valid_on(date(2026, 6, 1)) is True
    assert cert.valid_on(date(2026, 12, 31)) is True
    assert cert.valid_on(date(2027, 1, 1)) is False
    assert cert.valid_on(date(2025, 12, 31)) is False


def test_certification_without_dates_is_always_valid() -> None:
    assert Certification(code="F-GAS").valid_on(date(1999, 1, 1)) is True
    assert Certification(code="F-GAS", expires_on=date(2026, 1, 1)).valid_on(date(1990, 1, 1))
    assert not Certification(code="F-GAS", issued_on=date(2026, 1, 1)).valid_on(date(2025, 1, 1))


def test_certification_expiring_before_issue_is_refused() -> None:
    with pytest.raises(ValidationError, match="expires_on is before issued_on"):
        Certification(code="X", issued_on=date(2026, 2, 1), expires_on=date(2026, 1, 31))
    # Same day is fine: valid for that one day.
    one_day = Certification(code="X", issued_on=date(2026, 2, 1), expires_on=date(2026, 2, 1))
    assert one_day.valid_on(date(2026, 2, 1))


def test_certified_on_is_judged_on_the_technicians_local_date() -> None:
    tech = technician(
        time_zone="Pacific/Auckland",
        certifications=[{"code": "F-GAS", "expires_on": "2026-06-30"}],
    )
    instant = utc(2026, 6, 30, 13)  # already 1 July, 01:00 in Auckland
    local_day = instant.astimezone(ZoneInfo(tech.time_zone)).date()
    assert local_day == date(2026, 7, 1)
    assert tech.certified_on("F-GAS", local_day) is False
    assert tech.certified_on("F-GAS", date(2026, 6, 30)) is True
    assert tech.certified_on("ELEC", date(2026, 6, 30)) is False


def test_certified_on_any_matching_certificate_counts() -> None:
    tech = technician(
        certifications=[
            {"code": "F-GAS", "expires_on": "2025-12-31"},
            {"code": "F-GAS", "issued_on": "2026-01-05"},
        ]
    )
    assert tech.certified_on("F-GAS", date(2025, 12, 31))
    assert not tech.certified_on("F-GAS", date(2026, 1, 2))  # the gap between the two
    assert tech.certified_on("F-GAS", date(2026, 1, 5))


# --- validation ----------------------------------------------------------------------------------


def test_work_type_checklist_duplicate_codes_are_refused() -> None:
    base = {"code": "HVAC-SVC", "name": "HVAC service", "default_duration_min": 60}
    with pytest.raises(
        ValidationError, match="checklist item code 'isolate' appears more than once"
    ):
        WorkType(
            **base,
            checklist=[
                {"code": "isolate", "label": "Isolate"},
                {"code": "inspect", "label": "Inspect"},
                {"code": " isolate ", "label": "Isolate again"},
            ],
        )
    ok = WorkType(
        **base, checklist=[{"code": "isolate", "label": "I"}, {"code": "x", "label": "X"}]
    )
    assert [i.code for i in ok.checklist] == ["isolate", "x"]


@pytest.mark.parametrize(
    ("given", "missing"),
    [
        ({"source_system": "salesforce"}, "external_id"),
        ({"external_id": "0015g00000ABC"}, "source_system"),
    ],
)
def test_source_ref_needs_both_or_neither(given: dict[str, str], missing: str) -> None:
    with pytest.raises(ValidationError, match=f"{missing} is required"):
        SourceRef(**given)
    with pytest.raises(ValidationError, match=f"{missing} is required"):
        Customer(name="ACME", **given)


def test_source_ref_both_or_neither_are_fine() -> None:
    both = Customer(name="ACME", source_system="sap", external_id="4711")
    assert (both.source_system, both.external_id) == ("sap", "4711")
    neither = Customer(name="ACME")
    assert (neither.source_system, neither.external_id) == (None, None)


@pytest.mark.parametrize(
    ("start", "end"), [("08:00", "08:00"), ("17:00", "08:00"), ("12:30", "12:29")]
)
def test_interval_must_end_after_it_starts(start: str, end: str) -> None:
    with pytest.raises(ValidationError, match="is not after start"):
        Interval(start=start, end=end)


@pytest.mark.parametrize("bad", ["8:00", "24:30", "25:00", "12:60", "noon", "12:00:00"])
def test_interval_times_are_hh_mm(bad: str) -> None:
    with pytest.raises(ValidationError, match="is not a local time HH:MM"):
        Interval(start="00:00", end=bad)
    with pytest.raises(ValidationError, match="is not a local time HH:MM"):
        Interval(start=bad, end="23:59")


def test_interval_may_end_at_24_00() -> None:
    assert Interval(start="22:00", end="24:00").end == "24:00"
