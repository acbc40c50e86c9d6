"""The production mode's planning task decodes its message as JSON only: a crafted pickle in a
``fieldbridge.plan.part`` message is refused, never loaded (through Redis, with a worker:
``tests/integration/test_production_mode.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.runtime import tasks
from scheduler import wire
from tests.support.crafted import crafted


def test_the_part_task_refuses_a_crafted_pickle_unread(tmp_path: Path) -> None:
    path = tmp_path / "owned"
    with pytest.raises(Exception) as refused:  # any: first the file, then which one
        tasks.plan_part(crafted(path))  # the task's own body, as a worker runs it
    assert not path.exists(), "the message was unpickled: its code ran"
    assert isinstance(refused.value, wire.Refused)
    assert "not a part's race in JSON" in str(refused.value)
