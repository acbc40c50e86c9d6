"""``fieldbridge plan`` as a user runs it: a problem file in, a checked plan file out."""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

from scheduler import validate
from scheduler.model import Plan
from tests.support.cli import FIELDBRIDGE
from tests.support.day import job, problem, tech


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([FIELDBRIDGE, *args], capture_output=True, text=True, timeout=120)


def test_plan_writes_a_valid_plan_and_shows_a_summary(tmp_path: Path) -> None:
    day_problem = problem(
        [tech("tess", skills=["pumps"]), tech("theo")],
        [job("a", skills=["pumps"]), job("b", lat=52.51), job("c", skills=["gas"])],
    )
    (tmp_path / "p.json").write_text(day_problem.model_dump_json())
    done = run("plan", "--problem", str(tmp_path / "p.json"), "--out", str(tmp_path / "plan.json"))
    assert done.returncode == 0, done.stderr
    plan = Plan.model_validate_json((tmp_path / "plan.json").read_text())
    assert validate.violations(day_problem, plan) == []
    assert {s.job for r in plan.routes for s in r.stops} == {"a", "b"}
    assert "2/3 jobs assigned" in done.stderr
    assert "unassigned (skill): 1" in done.stderr


def test_plan_without_out_prints_the_plan_on_stdout(tmp_path: Path) -> None:
    (tmp_path / "p.json").write_text(problem([tech("tess")], [job("a")]).model_dump_json())
    done = run("plan", "--problem", str(tmp_path / "p.json"), "--engine", "vroom")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["totals"]["assigned"] == 1


def test_schema_describes_the_problem_format() -> None:
    done = run("plan", "--schema")
    assert done.returncode == 0
    schema = json.loads(done.stdout)
    assert set(schema["properties"]) == {"technicians", "jobs", "travel"}
    assert "pinned_start" in schema["$defs"]["Job"]["properties"]


def test_a_malformed_problem_is_refused_naming_each_item_and_field(tmp_path: Path) -> None:
    bad = {"technicians": [{"id": "a"}], "jobs": [{"id": "j", "duration_s": -1}]}
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    done = run("plan", "--problem", str(tmp_path / "bad.json"))
    assert done.returncode == 2
    assert "technicians.0.time_zone: Field required" in done.stderr
    assert "jobs.0.duration_s: Input should be greater than 0" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_missing_file_or_unknown_engine_is_one_clear_line(tmp_path: Path) -> None:
    done = run("plan", "--problem", str(tmp_path / "nope.json"))
    assert done.returncode == 2 and "cannot read" in done.stderr
    (tmp_path / "p.json").write_text(problem([tech("tess")], []).model_dump_json())
    done = run("plan", "--problem", str(tmp_path / "p.json"), "--engine", "magic")
    assert done.returncode == 2 and "--engine must be one of" in done.stderr


def test_an_engine_that_cannot_express_the_day_says_why_in_one_line(tmp_path: Path) -> None:
    lunch = {
        "window": {"start": "2026-12-07T12:00:00+01:00", "end": "2026-12-07T13:00:00+01:00"},
        "minutes": 30,
    }
    (tmp_path / "p.json").write_text(
        problem([tech("tess", breaks=[lunch])], [job("a")]).model_dump_json()
    )
    done = run("plan", "--problem", str(tmp_path / "p.json"), "--engine", "pyvrp")
    assert done.returncode == 2
    assert "the pyvrp engine cannot plan this day" in done.stderr and "'tess'" in done.stderr
    assert "Traceback" not in done.stderr


def test_gantt_writes_the_plan_as_an_svg_timeline(tmp_path: Path) -> None:
    day_problem = problem(
        [tech("tess"), tech("theo")],
        [job("a"), job("b", lat=52.51), job("c", skills=["gas"])],
    )
    (tmp_path / "p.json").write_text(day_problem.model_dump_json())
    svg_path = tmp_path / "day.svg"
    done = run(
        "plan",
        "--problem",
        str(tmp_path / "p.json"),
        "--out",
        str(tmp_path / "plan.json"),
        "--engine",
        "vroom",
        "--gantt",
        str(svg_path),
    )
    assert done.returncode == 0, done.stderr
    assert "Gantt chart written to" in done.stderr
    plan = Plan.model_validate_json((tmp_path / "plan.json").read_text())
    root = ET.fromstring(svg_path.read_bytes())
    ns = "{http://www.w3.org/2000/svg}"
    routed = [g.get("data-technician") for g in root.iter(f"{ns}g") if g.get("class") == "row"]
    assert routed == [r.technician for r in plan.routes]
    work = [r for r in root.iter(f"{ns}rect") if r.get("class") == "work"]
    assert len(work) == 2
    title = root.find(f"{ns}title")
    assert title is not None and title.text == "p.json: vroom plan"
    texts = [t.text for t in root.iter(f"{ns}text")]
    assert "1 of 3 job(s) unassigned" in texts


def test_a_gantt_path_that_cannot_be_written_is_one_clear_line(tmp_path: Path) -> None:
    (tmp_path / "p.json").write_text(problem([tech("tess")], [job("a")]).model_dump_json())
    done = run(
        "plan",
        "--problem",
        str(tmp_path / "p.json"),
        "--engine",
        "vroom",
        "--gantt",
        str(tmp_path / "no" / "such" / "dir.svg"),
    )
    assert done.returncode == 2
    assert "cannot write" in done.stderr and "Traceback" not in done.stderr
