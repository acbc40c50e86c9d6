"""When a maintenance plan's occurrences fall (``orchestrator.maintenance.rules``)."""

from __future__ import annotations

from datetime import date

import pytest

from orchestrator.maintenance import rules
from orchestrator.maintenance.rules import Last


def due(rule: str, counts_from: rules.CountsFrom, last: Last | None, until: date) -> list[date]:
    return list(rules.due(rule, date(2027, 1, 15), counts_from, last, until))


def test_a_schedule_plan_makes_every_occurrence_of_its_rule_up_to_the_day() -> None:
    assert due("FREQ=MONTHLY;INTERVAL=3", "schedule", None, date(2027, 12, 31)) == [
        date(2027, 1, 15), date(2027, 4, 15), date(2027, 7, 15), date(2027, 10, 15)
    ]  # fmt: skip
    assert due("RRULE:FREQ=WEEKLY;BYDAY=MO", "schedule", None, date(2027, 2, 1)) == [
        date(2027, 1, 18), date(2027, 1, 25), date(2027, 2, 1)
    ]  # fmt: skip


def test_a_schedule_plan_goes_on_after_the_last_made_whatever_became_of_its_order() -> None:
    late = Last(date(2027, 4, 15), done_on=date(2027, 6, 30))
    assert due("FREQ=MONTHLY;INTERVAL=3", "schedule", late, date(2027, 10, 15)) == [
        date(2027, 7, 15), date(2027, 10, 15)
    ]  # fmt: skip
    open_one = Last(date(2027, 4, 15))
    assert due("FREQ=MONTHLY;INTERVAL=3", "schedule", open_one, date(2027, 7, 14)) == []


def test_a_completion_plan_counts_from_the_last_completion() -> None:
    rule = "FREQ=MONTHLY;INTERVAL=3"
    assert due(rule, "completion", None, date(2027, 12, 31)) == [date(2027, 1, 15)]
    late = Last(date(2027, 1, 15), done_on=date(2027, 2, 20))  # a late job moves the next one
    assert due(rule, "completion", late, date(2027, 12, 31)) == [date(2027, 5, 20)]
    early = Last(date(2027, 1, 15), done_on=date(2027, 1, 5))
    assert due(rule, "completion", early, date(2027, 12, 31)) == [date(2027, 4, 5)]


def test_a_completion_plan_waits_for_the_open_order_and_skips_a_cancelled_one() -> None:
    rule = "FREQ=MONTHLY"
    assert due(rule, "completion", Last(date(2027, 3, 15)), date(2030, 1, 1)) == []
    cancelled = Last(date(2027, 3, 15), cancelled=True)
    assert due(rule, "completion", cancelled, date(2030, 1, 1)) == [date(2027, 4, 15)]


def test_a_completion_far_ahead_of_its_due_day_never_goes_back_before_it() -> None:
    very_early = Last(date(2027, 3, 20), done_on=date(2027, 3, 1))
    assert due("FREQ=WEEKLY", "completion", very_early, date(2027, 12, 31)) == [date(2027, 3, 22)]


def test_the_horizon_and_the_lead_time_say_how_far_ahead_orders_appear() -> None:
    assert rules.through(date(2027, 1, 1), 30, 0) == date(2027, 1, 31)
    assert rules.through(date(2027, 1, 1), 30, 14) == date(2027, 2, 14)
    assert due("FREQ=MONTHLY", "schedule", None, rules.through(date(2027, 1, 1), 30, 0)) == [
        date(2027, 1, 15)
    ]
    assert due("FREQ=MONTHLY", "schedule", None, rules.through(date(2027, 1, 1), 30, 31)) == [
        date(2027, 1, 15), date(2027, 2, 15)
    ]  # fmt: skip


def test_a_rule_with_an_end_makes_no_more_after_it() -> None:
    rule = "FREQ=MONTHLY;COUNT=2"
    assert due(rule, "schedule", None, date(2030, 1, 1)) == [date(2027, 1, 15), date(2027, 2, 15)]
    assert due(rule, "schedule", Last(date(2027, 2, 15)), date(2030, 1, 1)) == []


@pytest.mark.parametrize(
    "bad",
    ["", "nonsense", "FREQ=HOURLY", "FREQ=WEEKLY;BYDAY=XX", "INTERVAL=2",
     "DTSTART:20270101T000000\nRRULE:FREQ=DAILY"],
)  # fmt: skip
def test_a_rule_that_is_not_one_daily_or_coarser_rrule_is_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        rules.check(bad)
