"""``wire``: a part's race and its routes cross the broker as JSON, and nothing else does."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from scheduler import auto, wire
from scheduler.instance import Instance, compile_problem
from tests.support.crafted import crafted
from tests.support.day import job, problem, tech, window
from tests.unit.scheduler.test_auto import NORTH, SOUTH, two_territories


def over_the_broker(message: Any) -> Any:
    """What a worker receives: the message through JSON, as Celery's serializer sends it."""
    return json.loads(json.dumps(message))


def assert_same(got: Instance, sent: Instance) -> None:
    assert got.problem.technicians == sent.problem.technicians
    assert got.problem.jobs == sent.problem.jobs
    assert got.problem.travel == sent.problem.travel
    assert got.epoch == sent.epoch
    for name in ("shifts", "breaks", "windows", "service", "eligible", "why_not"):
        assert getattr(got, name) == getattr(sent, name), name
    for name in ("go", "back"):
        assert getattr(got, name).dtype == np.int64
        assert np.array_equal(getattr(got, name), getattr(sent, name)), name


def test_a_race_crosses_as_json_and_arrives_as_it_left() -> None:
    lunch = [{"window": window((12, 0), (13, 0)), "minutes": 30}]
    inst = compile_problem(two_territories(breaks=lunch))
    every = inst.subset(list(range(len(inst.technicians))), list(range(len(inst.jobs))))
    assert every.why_not  # "east": nobody works its territory
    deadline = time.time() + 5
    message = over_the_broker(wire.dump_race("vroom", every, 2.5, deadline, 1))
    engine, part, share_s, got_deadline, threads = wire.load_race(message)
    assert (engine, share_s, got_deadline, threads) == ("vroom", 2.5, deadline, 1)
    assert_same(part, every)
    routes = auto.race(engine, part, 1.0, time.time() + 1, threads)
    assert routes
    assert wire.load_routes(over_the_broker(wire.dump_routes(routes))) == routes
    assert wire.load_routes(over_the_broker(wire.dump_routes(None))) is None


def test_a_part_may_name_a_preferred_technician_of_another_part() -> None:
    """A part keeps its jobs' wishes though it lacks the technician: the day's rules, not the
    part's, decided them (``Instance.subset``)."""
    day = problem(
        [tech("n1", territory="N", start=NORTH), tech("s1", territory="S", start=SOUTH)],
        [job("n0", territory="N", preferred_technician="s1"), job("s0", territory="S")],
    )
    inst = compile_problem(day)
    north = next(p for p in auto.components(inst) if inst.jobs[p.jobs[0]].id == "n0")
    part = inst.subset(north.technicians, north.jobs)
    message = over_the_broker(wire.dump_race("pyvrp", part, 1.0, time.time() + 1, 1))
    assert_same(wire.load_race(message)[1], part)


def test_a_crafted_pickle_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "owned"
    for message in (crafted(path), {"engine": "vroom", "part": crafted(path)}):
        with pytest.raises(wire.Refused, match="not a part's race in JSON"):
            wire.load_race(message)
        with pytest.raises(wire.Refused, match="not a part's routes in JSON"):
            wire.load_routes(message)
    assert not path.exists()


def test_a_race_whose_numbers_do_not_fit_its_part_is_refused() -> None:
    inst = compile_problem(two_territories())
    message = over_the_broker(wire.dump_race("vroom", inst, 1.0, time.time() + 1, 1))
    message["part"]["go"] = message["part"]["go"][:-1]
    with pytest.raises(wire.Refused, match="go: 2 rows for 3"):
        wire.load_race(message)
    message = over_the_broker(wire.dump_race("vroom", inst, 1.0, time.time() + 1, 1))
    message["part"]["eligible"][0] = [7]
    with pytest.raises(wire.Refused, match="eligible: a technician index out of range"):
        wire.load_race(message)
    message["engine"] = "os.system"
    with pytest.raises(wire.Refused, match="engine"):
        wire.load_race(message)
