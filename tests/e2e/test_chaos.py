"""The chaos run, small: the production mode (its own Redis, the API and two workers) closes
120 orders while the simulators fail 30% of their calls, one worker is killed with SIGKILL
mid-batch and Redis restarts (its queued messages lost): nothing is lost, nothing done twice."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from devtools.chaos import ChaosOptions, run_chaos


@pytest.mark.skipif(
    shutil.which("redis-server") is None, reason="redis-server is not installed (.ci/run has it)"
)
def test_a_worker_killed_and_redis_restarted_lose_nothing_and_repeat_nothing(
    tmp_path: Path,
) -> None:
    summary = run_chaos(ChaosOptions(orders=120, fault_rate=0.3, seed=11, workdir=tmp_path))
    assert summary["outbox"] == {"delivered": 360}, summary
    assert (summary["lost"], summary["duplicates"]) == (0, 0), summary
    assert summary["effective_updates"] == summary["effective_billing"] == 120
    assert summary["effective_finance"] == 120
    assert summary["sends_per_delivery"] >= 1.0, "30% of the calls failed: some were sent again"
