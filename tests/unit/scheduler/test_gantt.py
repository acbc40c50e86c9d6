"""The plan as a Gantt chart: well-formed SVG, one row per technician, a bar per stop."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from scheduler.gantt import PRIORITY_COLOURS, gantt_svg
from scheduler.model import Plan, Problem, Totals
from scheduler.solve import solve
from tests.support.day import job, problem, tech, window

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg.encode())  # well-formed, or this raises
    assert root.tag == f"{SVG}svg"
    return root


def rows(root: ET.Element, kind: str = "row") -> list[ET.Element]:
    return [g for g in root.iter(f"{SVG}g") if g.get("class") == kind]


def bars(element: ET.Element, kind: str) -> list[ET.Element]:
    return [r for r in element.iter(f"{SVG}rect") if r.get("class") == kind]


def tip(element: ET.Element) -> str:
    title = element.find(f"{SVG}title")
    assert title is not None and title.text is not None
    return title.text


def day() -> tuple[Problem, Plan]:
    lunch = {"window": window((12, 0), (13, 0)), "minutes": 30}
    day_problem = problem(
        [tech("tess", breaks=[lunch]), tech("theo"), tech("idle", skills=["none"])],
        [
            job("a", priority=1, duration_s=3600, pinned_technician="tess"),
            job("b", lat=52.51, duration_s=5400, pinned_technician="tess"),
            job("c", lat=52.49, pinned_technician="theo", windows=[window((9, 0), (10, 0))]),
            job("x", skills=["hv"]),
            job("y", skills=["hv"]),
            job("z", parts={"P1": 1}),
        ],
    )
    return day_problem, solve(day_problem, engine="vroom", time_limit_s=1)


def test_one_row_per_routed_technician_and_a_work_bar_per_stop_titled_with_its_job() -> None:
    day_problem, plan = day()
    root = parse(gantt_svg(plan, day_problem, title="Monday"))
    assert [g.get("data-technician") for g in rows(root)] == ["tess", "theo"]
    assert [g.get("data-technician") for g in rows(root, "row idle")] == ["idle"]
    for row, route in zip(rows(root), plan.routes, strict=True):
        work = bars(row, "work")
        assert [tip(b).split()[0] for b in work] == [s.job for s in route.stops]
        assert len(bars(row, "break")) == len(route.breaks)
        assert bars(row, "travel") and bars(row, "shift")
    tess = rows(root)[0]
    (bar_a,) = (b for b in bars(tess, "work") if tip(b).startswith("a "))
    assert bar_a.get("fill") == PRIORITY_COLOURS[1]
    assert "priority 1" in tip(bar_a) and "(tess)" in tip(bar_a)
    assert "a" in [t.text for t in tess.iter(f"{SVG}text")]  # an hour is wide enough


def test_times_are_on_the_technicians_hours_and_the_footer_groups_the_left_out() -> None:
    day_problem, plan = day()
    root = parse(gantt_svg(plan, day_problem))
    texts = [t.text or "" for t in root.iter(f"{SVG}text")]
    assert "times in Europe/Berlin" in texts
    assert "08:00" in texts and "12:00" in texts
    title = root.find(f"{SVG}title")
    assert title is not None and title.text == "Plan 2026-12-07 (vroom)"
    assert "3 of 6 job(s) unassigned" in texts
    assert "skill (2):" in texts and "parts (1):" in texts
    assert "no technician holds skill 'hv': x, y" in texts


def test_without_the_problem_the_chart_still_draws_every_stop() -> None:
    _, plan = day()
    root = parse(gantt_svg(plan))
    assert len(rows(root)) == 2 and rows(root, "row idle") == []
    assert len(bars(root, "work")) == sum(len(r.stops) for r in plan.routes)
    assert not bars(root, "shift")


def test_several_time_zones_are_shown_in_the_first_and_said_so() -> None:
    la = {
        "time_zone": "America/Los_Angeles",
        "start": {"lat": 34.05, "lon": -118.25},
        "shift": window((8, 0), (17, 0), offset="-08:00"),
    }
    day_problem = problem(
        [tech("tess"), tech("lara", **la)],
        [job("berlin"), job("la", lat=34.06, lon=-118.24)],
    )
    plan = solve(day_problem, engine="vroom", time_limit_s=1)
    texts = [t.text or "" for t in parse(gantt_svg(plan, day_problem)).iter(f"{SVG}text")]
    first = plan.routes[0].technician
    zone = "Europe/Berlin" if first == "tess" else "America/Los_Angeles"
    note = f"times in {zone} (the technicians work in 2 time zones; all are shown in this one)"
    assert note in texts


def test_every_text_is_escaped() -> None:
    nasty = '<J&1>"'
    day_problem = problem(
        [tech('<T&"1">')],
        [job(nasty), job("bad", skills=["<script>"])],
    )
    plan = solve(day_problem, engine="vroom", time_limit_s=1)
    svg = gantt_svg(plan, day_problem, title="</svg><script>alert(1)</script>")
    assert "<script>" not in svg and "<J&1>" not in svg
    root = parse(svg)
    (row,) = rows(root)
    assert row.get("data-technician") == '<T&"1">'
    (work,) = bars(row, "work")
    assert tip(work).startswith(nasty + " ")
    texts = [t.text or "" for t in root.iter(f"{SVG}text")]
    assert "no technician holds skill '<script>': bad" in texts
    title = root.find(f"{SVG}title")
    assert title is not None and title.text == "</svg><script>alert(1)</script>"


def test_characters_xml_cannot_hold_are_replaced() -> None:
    day_problem = problem([tech("tess")], [job("j\x01")])
    root = parse(gantt_svg(solve(day_problem, engine="vroom", time_limit_s=1), day_problem))
    (work,) = bars(root, "work")
    assert tip(work).startswith("j\ufffd ")


def test_an_empty_plan_is_a_chart_that_says_so() -> None:
    empty = Plan(
        engine="vroom",
        seconds=0.0,
        routes=[],
        unassigned=[],
        totals=Totals(
            jobs=0, assigned=0, travel_s=0, priority_weighted_share=1.0, travel_s_per_job=None
        ),
    )
    root = parse(gantt_svg(empty))
    texts = [t.text or "" for t in root.iter(f"{SVG}text")]
    assert rows(root) == [] and "no routes in this plan" in texts
    assert "all 0 job(s) assigned" in texts
    nobody = problem([], [job("j")])
    root = parse(gantt_svg(solve(nobody, engine="vroom"), nobody))
    texts = [t.text or "" for t in root.iter(f"{SVG}text")]
    assert "1 of 1 job(s) unassigned" in texts and "no_technician (1):" in texts
