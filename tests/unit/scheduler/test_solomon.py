"""Solomon VRPTW instances: reading them, posing them as our problem, judging routes exactly.

The tiny instance below is small enough to solve by hand: customer 2 closes at 14, so it
must be the first stop of its route (straight from the depot it is reached at 10, through
any other customer at 15 at the earliest); customers 1, 2 and 3 fill one van (30), and
customer 4 (20, open 100..120) goes with 5 (no load). The best plan is 0-2-1-3-0 (10 + 5 +
6 + 5) and 0-4-5-0 (5 + sqrt(20) + 5): 36 + sqrt(20), which a brute force confirms.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from scheduler import solomon
from scheduler.model import Plan, Route, Stop, Totals
from scheduler.solve import solve

TINY = """TINY

VEHICLE
NUMBER     CAPACITY
  3          30

CUSTOMER
CUST NO.  XCOORD.   YCOORD.    DEMAND   READY TIME  DUE DATE   SERVICE   TIME

    0      0          0          0          0        200          0
    1      3          4         10          0         50          5
    2      6          8         10          0         14          5
    3     -3          4         10          0         50          5
    4      0         -5         20        100        120          5
    5     -4         -3          0          0        200          5
"""
OPTIMUM = 36 + math.sqrt(20)
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@pytest.fixture
def tiny() -> solomon.SolomonInstance:
    return solomon.parse(TINY)


def at(seconds: int) -> datetime:
    return EPOCH + timedelta(seconds=seconds)


# --- parsing --------------------------------------------------------------------------------


def test_parse_reads_the_fleet_the_depot_and_every_customer(
    tiny: solomon.SolomonInstance,
) -> None:
    assert (tiny.name, tiny.vehicles, tiny.capacity) == ("TINY", 3, 30)
    assert tiny.depot == solomon.Customer(0, 0.0, 0.0, 0, 0.0, 200.0, 0.0)
    assert [c.number for c in tiny.customers] == [1, 2, 3, 4, 5]
    assert tiny.customer(4) == solomon.Customer(4, 0.0, -5.0, 20, 100.0, 120.0, 5.0)
    assert tiny.customer(2).due == 14.0 and tiny.customer(5).demand == 0


def test_parse_takes_the_files_crlf_line_ends_and_load_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "TINY.txt"
    path.write_bytes(TINY.replace("\n", "\r\n").encode())
    assert solomon.load(path) == solomon.parse(TINY)


@pytest.mark.parametrize(
    ("line", "text", "says"),
    [
        (5, "  3          30   7", "VEHICLE NUMBER and CAPACITY (2 numbers), found 3"),
        (5, "  0          30", "VEHICLE NUMBER must be a whole number of at least 1"),
        (12, "    2      6          8", "expected 7 numbers (CUST NO., XCOORD."),
        (13, "    3     -3  four  10  0  50  5", "'four' is not a number"),
        (14, "    4      0  -5  20  130  120  5", "DUE DATE 120 is before READY TIME 130"),
        (15, "    3     -4  -3   0    0  200  5", "customer 3 is listed twice (first on line 13)"),
        (10, "    9      0   0   0    0  200  0", "the first row must be the depot"),
        (10, "    0      0   0   5    0  200  0", "must have DEMAND 0 and SERVICE TIME 0"),
        (16, "the end", "expected a customer row"),
    ],
)
def test_parse_names_the_line_that_does_not_fit(line: int, text: str, says: str) -> None:
    lines = [*TINY.splitlines(), ""]
    lines[line - 1] = text
    with pytest.raises(solomon.SolomonFormatError) as caught:
        solomon.parse("\n".join(lines), source="tiny.txt")
    assert caught.value.line == line
    assert str(caught.value).startswith(f"tiny.txt, line {line}: ")
    assert says in str(caught.value)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "empty"),
        ("TINY\n\nVEHICLE\nNUMBER CAPACITY\n", "no VEHICLE NUMBER/CAPACITY row"),
        ("TINY\nVEHICLE\nNUMBER CAPACITY\n 3 30\nCUSTOMER\n", "no customer rows"),
    ],
)
def test_parse_refuses_a_text_that_stops_short(text: str, says: str) -> None:
    with pytest.raises(solomon.SolomonFormatError, match=says):
        solomon.parse(text, source="short.txt")


def test_load_refuses_a_binary_file_by_name(tmp_path: Path) -> None:
    path = tmp_path / "x.txt"
    path.write_bytes(b"TINY\n\xff\xfe")
    with pytest.raises(solomon.SolomonFormatError, match=r"x\.txt, line 2: not a text file"):
        solomon.load(path)


def test_read_bks_reads_the_distance_only_column(tmp_path: Path) -> None:
    path = tmp_path / "bks.csv"
    path.write_text(
        "instance,distance_only_bks,distance_only_vehicles,vehicles_first_bks_vehicles\n"
        "C101,828.94,10,10\nR101,1637.7,20,19\nX1,,,\n"
    )
    assert solomon.read_bks(path) == {"C101": 828.94, "R101": 1637.7}
    path.write_text("instance,vehicles\nC101,10\n")
    with pytest.raises(ValueError, match="line 1: no 'distance_only_bks' column"):
        solomon.read_bks(path)
    path.write_text("instance,distance_only_bks\nC101,lots\n")
    with pytest.raises(ValueError, match="line 2: distance_only_bks 'lots'"):
        solomon.read_bks(path)


# --- our problem ----------------------------------------------------------------------------


def test_to_problem_poses_vehicles_as_technicians_and_customers_as_jobs(
    tiny: solomon.SolomonInstance,
) -> None:
    problem = solomon.to_problem(tiny)  # services of 5 units: the full 1000 s per unit
    assert [t.id for t in problem.technicians] == ["v1", "v2", "v3"]
    for tech in problem.technicians:
        assert tech.start.index == 0 and tech.home_end.index == 0
        assert (tech.shift.start, tech.shift.end) == (at(0), at(200_000))
        assert tech.van_stock == {"load": 30} and tech.time_zone == "UTC"
    jobs = {j.id: j for j in problem.jobs}
    assert list(jobs) == ["1", "2", "3", "4", "5"]
    assert [j.location.index for j in problem.jobs] == [1, 2, 3, 4, 5]
    assert (jobs["4"].windows[0].start, jobs["4"].windows[0].end) == (at(100_000), at(120_000))
    assert (jobs["2"].windows[0].start, jobs["2"].windows[0].end) == (at(0), at(14_000))
    assert all(j.duration_s == 5000 and j.priority == 3 for j in problem.jobs)
    assert jobs["4"].parts == {"load": 20} and jobs["5"].parts == {}
    matrix = problem.travel.matrix_s
    assert matrix is not None
    assert matrix[0][1] == 5000 and matrix[1][3] == 6000 and matrix[3][1] == 6000
    assert matrix[2][3] == 9849  # sqrt(97) = 9.84886..., rounded up
    assert matrix[4][5] == 4473  # sqrt(20) = 4.47213...
    assert all(matrix[i][i] == 0 for i in range(6))


def test_to_problem_rounds_every_leg_up_so_integer_plans_hold_in_doubles(
    tiny: solomon.SolomonInstance,
) -> None:
    places = [tiny.depot, *tiny.customers]
    for scale in (1, 7, 1000):
        matrix = solomon.to_problem(tiny, scale=scale).travel.matrix_s
        assert matrix is not None
        for row, origin in enumerate(places):
            for column, destination in enumerate(places):
                exact = solomon.distance(origin, destination) * scale
                assert exact <= matrix[row][column] < exact + 1


def test_the_scale_stays_within_what_a_job_and_the_engines_accept(
    tiny: solomon.SolomonInstance,
) -> None:
    assert solomon.safe_scale(tiny) == solomon.MAX_SCALE == 1000
    clustered = solomon.parse(TINY.replace("         5\n", "        90\n"))  # a C-type service
    assert solomon.safe_scale(clustered) == 960  # 90 units x 960 s = 24 h, a job's longest
    assert max(j.duration_s for j in solomon.to_problem(clustered).jobs) == 86_400
    with pytest.raises(ValueError, match="scale 1000 does not fit"):
        solomon.to_problem(clustered, scale=1000)


# --- judging routes -------------------------------------------------------------------------


def test_evaluate_measures_exact_distance_and_accepts_a_feasible_plan(
    tiny: solomon.SolomonInstance,
) -> None:
    distance, feasible, reasons = solomon.evaluate(tiny, [[2, 1, 3], [4, 5]])
    assert feasible and reasons == []
    assert distance == pytest.approx(OPTIMUM, abs=1e-9)
    distance, feasible, _ = solomon.evaluate(tiny, [[2], [1], [3], [], [5, 4]])
    assert feasible is False  # four routes, three vehicles
    assert distance == pytest.approx(20 + 10 + 10 + 5 + math.sqrt(20) + 5, abs=1e-9)


@pytest.mark.parametrize(
    ("routes", "says"),
    [
        ([[1, 2, 3], [4, 5]], "customer 2 starts at 15.0000, due 14"),
        ([[2, 1, 3, 4], [5]], "carries 50, the capacity is 30"),
        ([[2, 1, 3], [4]], "customer 5 is not served"),
        ([[2, 1, 3], [4, 5, 1]], "customer 1 is served 2 times"),
        ([[2, 1, 3], [4, 5, 9]], "no customer 9"),
        ([[2], [1, 3], [4, 5]], None),
        ([[2], [1], [3], [4, 5]], "4 routes, the fleet has 3 vehicles"),
    ],
)
def test_evaluate_says_what_is_infeasible(
    tiny: solomon.SolomonInstance, routes: list[list[int]], says: str | None
) -> None:
    _, feasible, reasons = solomon.evaluate(tiny, routes)
    if says is None:
        assert feasible and not reasons
    else:
        assert not feasible
        assert any(says in r for r in reasons), reasons


def test_evaluate_holds_the_depot_closing_to_a_thousandth() -> None:
    def back_late(due: str) -> bool:  # 0-2-0 is back at 10 + 5 + 10 = 25
        late = solomon.parse(TINY.replace("0        200          0", f"0  {due}  0"))
        _, _, reasons = solomon.evaluate(late, [[2]])
        return any(r.startswith("route 1: back at 25.0000, the depot closes") for r in reasons)

    assert not back_late("25") and not back_late("24.9995")
    assert back_late("24.998")


def _partitions(items: list[int]) -> Iterator[list[list[int]]]:
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for part in _partitions(rest):
        for index in range(len(part)):
            yield [*part[:index], [first, *part[index]], *part[index + 1 :]]
        yield [[first], *part]


def test_a_brute_force_confirms_the_hand_computed_optimum(
    tiny: solomon.SolomonInstance,
) -> None:
    best = math.inf
    for part in _partitions([c.number for c in tiny.customers]):
        for routes in itertools.product(*(itertools.permutations(r) for r in part)):
            distance, feasible, _ = solomon.evaluate(tiny, [list(r) for r in routes])
            if feasible:
                best = min(best, distance)
    assert best == pytest.approx(OPTIMUM, abs=1e-9)


# --- through the engine ---------------------------------------------------------------------


def test_vroom_finds_the_optimum_of_the_tiny_instance(tiny: solomon.SolomonInstance) -> None:
    plan = solve(solomon.to_problem(tiny), engine="vroom", time_limit_s=1)
    assert plan.unassigned == []
    routes = solomon.routes_of(plan)
    distance, feasible, reasons = solomon.evaluate(tiny, routes)
    assert feasible, reasons
    assert distance == pytest.approx(OPTIMUM, abs=1e-9)
    assert sorted(map(sorted, routes)) == [[1, 2, 3], [4, 5]]
    assert [2, 1, 3] in routes


def test_routes_of_lists_customer_numbers_and_drops_empty_routes() -> None:
    def stop(job: str, slot: int) -> Stop:
        return Stop(job=job, arrival=at(slot), start=at(slot), end=at(slot + 1), travel_s=1)

    def route(tech: str, stops: list[Stop]) -> Route:
        return Route(
            technician=tech, start=at(0), end=at(99), stops=stops, breaks=[], travel_s=0, work_s=0
        )

    plan = Plan(
        engine="vroom",
        seconds=0.0,
        routes=[
            route("v1", [stop("12", 1), stop("3", 5)]),
            route("v2", []),
            route("v3", [stop("100", 2)]),
        ],
        unassigned=[],
        totals=Totals(
            jobs=3, assigned=3, travel_s=0, priority_weighted_share=1.0, travel_s_per_job=0.0
        ),
    )
    assert solomon.routes_of(plan) == [[12, 3], [100]]
