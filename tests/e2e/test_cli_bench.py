"""``fieldbridge bench solomon`` as a user runs it, on the shared Solomon benchmark files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from scheduler import solomon

BENCH = Path(__file__).resolve().parents[2].parent / "shared" / "bench"
SOLOMON = BENCH / "solomon"

pytestmark = pytest.mark.skipif(
    not BENCH.is_dir(),
    reason=f"the shared benchmark data is absent: no {BENCH} beside the repository",
)

KEYS = {"instance", "engine", "seconds", "vehicles", "distance", "routes", "feasible", "gap_pct"}


def test_bench_solomon_solves_c101_within_ten_percent_of_the_best_known(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    c101 = SOLOMON / "C101.txt"
    args = ["bench", "solomon", str(c101), "--engine", "vroom", "--time-limit", "1"]
    result = CliRunner().invoke(app, [*args, "--json", str(out)])
    assert result.exit_code == 0, result.output
    [row] = json.loads(out.read_text())
    assert set(row) == KEYS
    assert row["instance"] == "C101" and row["engine"] == "vroom"
    assert row["feasible"] is True
    assert row["gap_pct"] is not None and row["gap_pct"] < 10
    served = sorted(c for route in row["routes"] for c in route)
    assert served == list(range(1, 101))
    assert row["vehicles"] == len(row["routes"]) <= 25
    instance = solomon.load(c101)
    assert row["distance"] == solomon.evaluate(instance, row["routes"])[0]
    bks = solomon.read_bks(SOLOMON / "bks.csv")["C101"]  # the default --bks: beside the file
    assert row["gap_pct"] == pytest.approx(100 * (row["distance"] - bks) / bks)
    assert "C101" in result.stderr and "mean" in result.stderr


def test_bench_solomon_refuses_a_malformed_file_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "R999.txt"
    lines = (SOLOMON / "R101.txt").read_text().splitlines()
    lines[12] = lines[12].split()[0] + " 35 x 10 0 230 10"
    bad.write_text("\n".join(lines))
    result = CliRunner().invoke(
        app, ["bench", "solomon", str(bad), "--json", str(tmp_path / "out.json")]
    )
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [f"error: {bad}, line 13: 'x' is not a number"]
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_bench_solomon_refuses_a_missing_file_and_an_unknown_engine(tmp_path: Path) -> None:
    out = str(tmp_path / "out.json")
    missing = CliRunner().invoke(
        app, ["bench", "solomon", str(tmp_path / "nope.txt"), "--json", out]
    )
    assert missing.exit_code == 2
    assert "cannot read" in missing.stderr and "nope.txt" in missing.stderr
    engine = CliRunner().invoke(
        app, ["bench", "solomon", str(SOLOMON / "C101.txt"), "--engine", "magic", "--json", out]
    )
    assert engine.exit_code == 2 and "--engine must be one of" in engine.stderr


def test_a_bks_file_beside_without_distance_only_values_leaves_the_gap_out(
    tmp_path: Path,
) -> None:
    lines = (SOLOMON / "R101.txt").read_text().splitlines()
    instance = tmp_path / "R101.txt"
    instance.write_text("\n".join(lines[:20]))  # the depot and the first ten customers
    (tmp_path / "bks.csv").write_text("instance,vehicles_first_bks_distance\nR101,1650.8\n")
    out = tmp_path / "out.json"
    result = CliRunner().invoke(
        app, ["bench", "solomon", str(instance), "--time-limit", "1", "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    [row] = json.loads(out.read_text())
    assert row["gap_pct"] is None and row["feasible"] is True
    assert "no best-known distances, gaps left out" in result.stderr
    bks = ["--bks", str(tmp_path / "bks.csv")]
    explicit = CliRunner().invoke(
        app, ["bench", "solomon", str(instance), *bks, "--json", str(out)]
    )
    assert explicit.exit_code == 2 and "no 'distance_only_bks' column" in explicit.stderr
