"""How good and how fast the scheduling engine is, beside the engines it is built on.

Usage::

    .venv/bin/python bench/scheduler_bench.py [--full] [--json PATH]
        [--only solomon|days|insert|production]

Three parts, one run:

* Solomon VRPTW (../shared/bench/solomon): a representative 12 instances at 10 s each (all 56
  at 30 s with ``--full``) for ``auto``, plain PyVRP and plain VROOM at the same time limit,
  every route checked in exact doubles; gap to the distance-only best known.
* Field-service days from ``bench/fieldgen.py`` (seeded): 50 x 500, 200 x 2,000 in 4
  territories and 500 x 5,000 in 10 territories, each planned by ``auto`` and by plain VROOM
  (the whole day in one solve, exploration level 5, both cores) with the same time limit:
  wall time, share of jobs assigned, priority-weighted share, travel per assigned job.
* Urgent insertion (``scheduler/insert.py``): 30 new priority-1 jobs, each inserted on its
  own into the same stored 200 x 2,000 plan (the days part's ``auto`` plan, or plain VROOM
  at 10 s with ``--only insert``): p50, p95 and worst milliseconds per insertion (the
  validator's check included), and how many were placed, placed by bumping a less urgent
  job, or left unassigned. Floor: p95 under 1 s.

``--only production`` (not part of the default run: it needs ``redis-server``): the 500 x
5,000 day planned with its parts as ``fieldbridge.plan.part`` tasks over two ``fieldbridge
worker`` processes on a Redis of their own, as the production mode's schedule run does,
beside the same day on this process's pool, same limit: wall time, quality, tasks run.

Floors (issue "Scheduling engine"): on all 56 Solomon instances at 30 s, auto's mean gap at
most plain PyVRP's + 0.05 points and its worst at most PyVRP's worst + 0.5 points, every route
feasible; field days at least as good as plain VROOM in the same time (priority-weighted
share first, then travel); 500 x 5,000 in ten territories within 120 s wall time.

``--json PATH`` writes one flat object whose keys carry their unit
(``solomon_auto_mean_gap_pct``, ``day_500x5000_auto_seconds``, ``insert_p95_ms``, ...).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.fieldgen import generate
from scheduler import solomon, vroom_engine
from scheduler.insert import insert
from scheduler.instance import compile_problem
from scheduler.model import Plan, Problem
from scheduler.routes import to_plan
from scheduler.solve import solve
from scheduler.validate import violations

console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)
DAYS = [  # technicians, jobs, territories, seconds
    (50, 500, 1, 20.0),
    (200, 2000, 4, 60.0),
    (500, 5000, 10, 110.0),
]


def plain_vroom(problem: Problem, limit_s: float) -> Plan:
    """VROOM as shipped: the whole day in one solve, level 5, both cores, the same limit."""
    began = time.perf_counter()
    inst = compile_problem(problem)
    routes = vroom_engine.solve(inst, time_limit_s=limit_s, exploration=5, threads=2)
    return to_plan(inst, routes, "vroom", time.perf_counter() - began)


def better_or_equal(plan: Plan, other: Plan) -> bool:
    """Priority-weighted share first (to 1e-9), then travel."""
    sa, sb = plan.totals.priority_weighted_share, other.totals.priority_weighted_share
    if abs(sa - sb) > 1e-9:
        return sa > sb
    return plan.totals.travel_s <= other.totals.travel_s


def run_days(out: dict[str, Any], seed: int, keep: dict[str, Plan] | None = None) -> None:
    table = Table(title="field-service days: auto beside plain VROOM, same time limit")
    for col in (
        "day",
        "engine",
        "limit s",
        "wall s",
        "assigned",
        "priority-weighted",
        "travel s/job",
        "valid",
        "verdict",
    ):
        table.add_column(col, justify="left" if col in ("day", "engine", "verdict") else "right")
    for techs, jobs, territories, limit in DAYS:
        key = f"day_{techs}x{jobs}"
        problem = generate(techs, jobs, territories=territories, seed=seed)
        console.print(f"[bold]{techs} x {jobs}[/bold] ({territories} territories, {limit:.0f} s)")
        began = time.perf_counter()
        auto = solve(problem, engine="auto", time_limit_s=limit)
        auto_wall = time.perf_counter() - began
        began = time.perf_counter()
        vroom = plain_vroom(problem, limit)
        vroom_wall = time.perf_counter() - began
        ok = better_or_equal(auto, vroom)
        if keep is not None:
            keep[key] = auto  # the urgent-insertion part inserts into this plan
        for name, plan, wall in (("auto", auto, auto_wall), ("vroom", vroom, vroom_wall)):
            valid = not violations(problem, plan)
            totals = plan.totals
            table.add_row(
                f"{techs} x {jobs}" if name == "auto" else "",
                name,
                f"{limit:.0f}",
                f"{wall:.1f}",
                f"{totals.assigned / totals.jobs:.1%}",
                f"{totals.priority_weighted_share:.2%}",
                f"{totals.travel_s_per_job or 0:.0f}",
                "yes" if valid else "[red]NO[/red]",
                ("[green]as good or better[/green]" if ok else "[red]worse[/red]")
                if name == "auto"
                else "",
            )
            out[f"{key}_{name}_seconds"] = round(wall, 2)
            out[f"{key}_{name}_assigned_share"] = round(totals.assigned / totals.jobs, 5)
            out[f"{key}_{name}_priority_weighted_share"] = totals.priority_weighted_share
            out[f"{key}_{name}_travel_s_per_job"] = totals.travel_s_per_job
            out[f"{key}_{name}_valid"] = valid
        out[f"{key}_time_limit_s"] = limit
        out[f"{key}_auto_at_least_vroom"] = ok
    console.print(table)


# --- urgent insertion ----------------------------------------------------------------------------

INSERT_DAY = "day_200x2000"
INSERTS = 30
INSERT_FLOOR_MS = 1000.0


def run_insert(out: dict[str, Any], seed: int, plan: Plan | None) -> None:
    """Urgent jobs inserted one at a time, each into the same stored 200 x 2,000 plan."""
    problem = generate(200, 2000, territories=4, seed=seed)
    source = "auto, days part"
    if plan is None:
        console.print("[bold]200 x 2000[/bold]: planning the stored day (vroom, 10 s)")
        plan = solve(problem, engine="vroom", time_limit_s=10)
        source = "vroom 10 s"
    # new work from another seeded day of the same city: any job may be urgent
    extra = generate(4, INSERTS, territories=4, seed=seed + 1000)
    urgent = [
        j.model_copy(update={"id": f"urgent-{n:02d}", "priority": 1, "pinned_technician": None})
        for n, j in enumerate(extra.jobs, 1)
    ]
    times: list[float] = []
    outcome = {"placed": 0, "bumped": 0, "unassigned": 0}
    for job in urgent:
        day = Problem.model_construct(
            technicians=problem.technicians, jobs=[*problem.jobs, job], travel=problem.travel
        )
        began = time.perf_counter()
        result = insert(day, plan, job.id)  # runs validate.check on the result
        times.append(1000 * (time.perf_counter() - began))
        if result.technician is None:
            outcome["unassigned"] += 1
        else:
            outcome["bumped" if result.bumped else "placed"] += 1
    times.sort()
    p50, p95 = statistics.median(times), times[math.ceil(0.95 * len(times)) - 1]
    ok = p95 < INSERT_FLOOR_MS
    table = Table(title="urgent insertion: one priority-1 job into the stored day, validated")
    for col in (
        "day",
        "stored plan",
        "jobs",
        "p50 ms",
        "p95 ms",
        "max ms",
        "placed",
        "bumped",
        "unassigned",
        "verdict",
    ):
        table.add_column(
            col, justify="left" if col in ("day", "stored plan", "verdict") else "right"
        )
    table.add_row(
        "200 x 2000",
        source,
        str(len(times)),
        f"{p50:.1f}",
        f"{p95:.1f}",
        f"{times[-1]:.1f}",
        str(outcome["placed"]),
        str(outcome["bumped"]),
        str(outcome["unassigned"]),
        "[green]p95 < 1 s[/green]" if ok else "[red]p95 >= 1 s[/red]",
    )
    console.print(table)
    out["insert_jobs"] = len(times)
    out["insert_p50_ms"] = round(p50, 1)
    out["insert_p95_ms"] = round(p95, 1)
    out["insert_max_ms"] = round(times[-1], 1)
    out["insert_placed_jobs"] = outcome["placed"]
    out["insert_bumped_jobs"] = outcome["bumped"]
    out["insert_unassigned_jobs"] = outcome["unassigned"]
    out["insert_floor_met"] = ok


SOLOMON = Path(__file__).resolve().parent.parent.parent / "shared" / "bench" / "solomon"
TWELVE = [
    "C101",
    "C104",
    "C201",
    "C204",
    "R101",
    "R104",
    "R201",
    "R204",
    "RC101",
    "RC104",
    "RC201",
    "RC204",
]  # both series of each family, tight and loose windows
ENGINES = ("auto", "pyvrp", "vroom")


def run_solomon(out: dict[str, Any], full: bool) -> None:
    files = sorted(SOLOMON.glob("*.txt")) if full else [SOLOMON / f"{n}.txt" for n in TWELVE]
    limit = 30.0 if full else 10.0
    if not SOLOMON.is_dir():
        console.print(f"[yellow]Solomon skipped: {SOLOMON} is absent[/yellow]")
        return
    bks = solomon.read_bks(SOLOMON / "bks.csv")
    gaps: dict[str, list[float]] = {e: [] for e in ENGINES}
    feasible: dict[str, int] = dict.fromkeys(ENGINES, 0)
    table = Table(
        title=f"Solomon VRPTW, {len(files)} instances, {limit:.0f} s each: gap to "
        "distance-only best known, exact doubles"
    )
    for col in ("instance", "bks", *(f"{e} gap %" for e in ENGINES)):
        table.add_column(col, justify="left" if col == "instance" else "right")
    for number, path in enumerate(files, 1):
        instance = solomon.load(path)
        problem = solomon.to_problem(instance)
        best = bks[instance.name]
        row = [instance.name, f"{best:.2f}"]
        for engine in ENGINES:
            result = solomon.measure(
                instance,
                problem,
                engine=engine,  # type: ignore[arg-type]
                time_limit_s=limit,
                best_known=best,
            )
            assert result.gap_pct is not None
            gaps[engine].append(result.gap_pct)
            feasible[engine] += result.feasible
            mark = "" if result.feasible else " [red]infeasible[/red]"
            row.append(f"{result.gap_pct:+.2f}{mark}")
        console.print(f"  [{number}/{len(files)}] {'  '.join(row)}")
        table.add_row(*row)
    table.add_row("mean", "", *(f"{statistics.mean(gaps[e]):+.2f}" for e in ENGINES))
    table.add_row("worst", "", *(f"{max(gaps[e]):+.2f}" for e in ENGINES))
    table.add_row("feasible", "", *(f"{feasible[e]}/{len(files)}" for e in ENGINES))
    for engine in ENGINES:
        out[f"solomon_{engine}_mean_gap_pct"] = round(statistics.mean(gaps[engine]), 4)
        out[f"solomon_{engine}_worst_gap_pct"] = round(max(gaps[engine]), 4)
        out[f"solomon_{engine}_feasible_instances"] = feasible[engine]
    out["solomon_instances"] = len(files)
    out["solomon_time_limit_s"] = limit
    console.print(table)
    auto_gaps, pyvrp_gaps = gaps["auto"], gaps["pyvrp"]
    mean_ok = statistics.mean(auto_gaps) <= statistics.mean(pyvrp_gaps) + 0.05
    worst_ok = max(auto_gaps) <= max(pyvrp_gaps) + 0.5
    all_ok = feasible["auto"] == len(files)
    out["solomon_auto_floor_met"] = mean_ok and worst_ok and all_ok
    verdict = "[green]met[/green]" if mean_ok and worst_ok and all_ok else "[red]MISSED[/red]"
    console.print(
        f"auto against plain PyVRP: mean {statistics.mean(auto_gaps):+.3f} "
        f"vs {statistics.mean(pyvrp_gaps):+.3f} (floor +0.05 points), "
        f"worst {max(auto_gaps):+.2f} vs {max(pyvrp_gaps):+.2f} (floor +0.5), "
        f"feasible {feasible['auto']}/{len(files)}: {verdict}"
    )


# --- the production mode: a day's parts as Celery tasks over two workers ---------------------

PRODUCTION_DAY = (500, 5000, 10, 110.0)


def run_production(out: dict[str, Any], seed: int) -> None:
    """The 500 x 5,000 day (ten territories) planned by ``auto`` with its parts sent as
    ``fieldbridge.plan.part`` tasks over two ``fieldbridge worker`` processes (concurrency 2,
    a Redis of their own), as a schedule run does in the production mode, beside the same
    day on this process's pool (the embedded mode), same limit; both plans checked."""
    import os
    import shutil
    import subprocess
    import tempfile

    from devtools.chaos import FIELDBRIDGE, Redis
    from orchestrator.runtime import tasks
    from orchestrator.runtime.settings import Settings
    from orchestrator.store.migrate import upgrade

    if shutil.which("redis-server") is None:
        console.print("[yellow]production part skipped: no redis-server on PATH[/yellow]")
        return
    techs, jobs, territories, limit = PRODUCTION_DAY
    problem = generate(techs, jobs, territories=territories, seed=seed)
    at_once = Settings().plan_parts_at_once
    with tempfile.TemporaryDirectory(prefix="fb-plan-bench-") as tmp:
        work = Path(tmp)
        redis = Redis(work)
        redis.start()
        workers: list[subprocess.Popen[bytes]] = []
        try:
            url = f"sqlite:///{work / 'store.db'}"
            upgrade(url)
            env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDBRIDGE_")}
            env |= {
                "FIELDBRIDGE_DATABASE_URL": url,
                "FIELDBRIDGE_BROKER_URL": redis.url,
                "FIELDBRIDGE_SECRET_KEY_FILE": str(work / "key"),
                "FIELDBRIDGE_OUTBOX_RELAY_EVERY_S": "600",
            }
            for number in (1, 2):
                log = (work / f"worker{number}.log").open("ab")
                workers.append(subprocess.Popen(
                    [FIELDBRIDGE, "worker", "--concurrency", "2", "--hostname", f"w{number}@%h"],
                    env=env, stdout=log, stderr=subprocess.STDOUT,
                ))  # fmt: skip
            deadline = time.monotonic() + 60
            while not all(b"ready" in (work / f"worker{n}.log").read_bytes() for n in (1, 2)):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the workers did not start (logs in {work})")
                time.sleep(0.1)
            tasks.configure(Settings(database_url=url, broker_url=redis.url,
                                     secret_key_file=work / "key"))  # fmt: skip
            parts = tasks.PartTasks(grace_s=60)
            console.print(
                f"[bold]{techs} x {jobs}[/bold] ({territories} territories, {limit:.0f} s): "
                "over two workers, then this process's pool"
            )
            began = time.perf_counter()
            try:
                spread = solve(problem, engine="auto", time_limit_s=limit, executor=parts,
                               workers=at_once)  # fmt: skip
            finally:
                parts.shutdown(wait=False)
            spread_wall = time.perf_counter() - began
            sent = parts.sent
        finally:
            for process in workers:
                process.terminate()
            for process in workers:
                process.wait(timeout=30)
            redis.stop()
    began = time.perf_counter()
    pooled = solve(problem, engine="auto", time_limit_s=limit)
    pooled_wall = time.perf_counter() - began
    table = Table(title="a day's parts as tasks over two workers, beside this process's pool")
    for col in ("mode", "limit s", "wall s", "assigned", "priority-weighted", "travel s/job",
                "valid", "parts"):  # fmt: skip
        table.add_column(col, justify="left" if col == "mode" else "right")
    key = f"day_{techs}x{jobs}"
    for name, plan, wall, tasks_sent in (("workers", spread, spread_wall, str(sent)),
                                         ("pool", pooled, pooled_wall, "")):  # fmt: skip
        totals, valid = plan.totals, not violations(problem, plan)
        table.add_row(name, f"{limit:.0f}", f"{wall:.1f}",
                      f"{totals.assigned / totals.jobs:.1%}",
                      f"{totals.priority_weighted_share:.2%}",
                      f"{totals.travel_s_per_job or 0:.0f}",
                      "yes" if valid else "[red]NO[/red]", tasks_sent)  # fmt: skip
        out[f"{key}_{name}_seconds"] = round(wall, 2)
        out[f"{key}_{name}_priority_weighted_share"] = totals.priority_weighted_share
        out[f"{key}_{name}_travel_s_per_job"] = totals.travel_s_per_job
        out[f"{key}_{name}_valid"] = valid
    out[f"{key}_workers_part_tasks"] = sent
    out[f"{key}_workers_to_pool_seconds_ratio_x"] = round(spread_wall / pooled_wall, 3)
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--full", action="store_true", help="all 56 Solomon instances at 30 s")
    parser.add_argument(
        "--only",
        choices=["solomon", "days", "insert", "production"],
        help="run one part (production: a day's parts as tasks over two workers, only this way)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="write the figures as one flat JSON object")
    args = parser.parse_args(argv)
    out: dict[str, Any] = {}
    if args.only in (None, "solomon"):
        run_solomon(out, args.full)
    plans: dict[str, Plan] = {}
    if args.only in (None, "days"):
        run_days(out, args.seed, plans)
    if args.only in (None, "insert"):
        run_insert(out, args.seed, plans.get(INSERT_DAY))
    if args.only == "production":
        run_production(out, args.seed)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
        console.print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
