"""The benchmark's field-service days: the same seed gives the same day, shaped as described."""

from __future__ import annotations

from collections import Counter

from bench.fieldgen import generate
from scheduler.instance import compile_problem


def test_the_same_seed_gives_the_same_day_and_another_seed_another() -> None:
    assert generate(20, 200, seed=7) == generate(20, 200, seed=7)
    assert generate(20, 200, seed=7) != generate(20, 200, seed=8)


def test_a_day_has_the_mix_the_benchmark_promises() -> None:
    day = generate(100, 2000, territories=4, seed=3)
    jobs, techs = day.jobs, day.technicians
    assert len(techs) == 100 and len(jobs) == 2000
    assert (
        {t.territory for t in techs} == {j.territory for j in jobs} == {"T01", "T02", "T03", "T04"}
    )
    share = Counter(j.priority == 1 for j in jobs)[True] / len(jobs)
    assert 0.07 < share < 0.13  # about 10% urgent
    pinned = sum(j.pinned_technician is not None for j in jobs) / len(jobs)
    assert 0.12 < pinned < 0.22  # about 20%, where someone may do them
    assert all(len(t.breaks) == 1 and t.breaks[0].minutes == 30 for t in techs)
    expired = [c for t in techs for c in t.certifications if not c.valid_on(t.day)]
    assert expired, "some certifications have expired"
    inst = compile_problem(day)
    pins = [j for j, job in enumerate(jobs) if job.pinned_technician is not None]
    assert all(inst.eligible[j] for j in pins), "a pin goes to someone who may do the job"
