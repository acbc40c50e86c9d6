"""Log records carry the request or task they belong to, in text and in JSON."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from orchestrator.runtime import logs


@pytest.fixture
def stream() -> Iterator[tuple[io.StringIO, list[logging.Handler]]]:
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    out = io.StringIO()
    yield out, before
    root.handlers[:] = before
    root.setLevel(level)


def emit(out: io.StringIO, fmt: str) -> list[str]:
    handler = logs.configure(fmt, "INFO")  # type: ignore[arg-type]
    handler.setStream(out)  # type: ignore[attr-defined]
    log = logging.getLogger("fieldbridge.test")
    log.info("outside")
    with logs.bound(request="req-1"):
        log.info("in a request")
        with logs.bound(task="task-9"):
            log.warning("in a task", extra={"order": 42})
    log.info("outside again")
    return out.getvalue().splitlines()


def test_text_lines_name_the_request_and_the_task(stream: tuple[io.StringIO, list]) -> None:
    lines = emit(stream[0], "text")
    assert lines[0].endswith("INFO fieldbridge.test outside")
    assert lines[1].endswith("INFO fieldbridge.test [request req-1] in a request")
    assert lines[2].endswith("WARNING fieldbridge.test [request req-1, task task-9] in a task")
    assert lines[3].endswith("INFO fieldbridge.test outside again")


def test_json_lines_carry_the_ids_and_the_extras(stream: tuple[io.StringIO, list]) -> None:
    records = [json.loads(line) for line in emit(stream[0], "json")]
    assert [(r["message"], r["request_id"], r["task_id"]) for r in records] == [
        ("outside", None, None),
        ("in a request", "req-1", None),
        ("in a task", "req-1", "task-9"),
        ("outside again", None, None),
    ]
    assert records[2]["level"] == "WARNING" and records[2]["logger"] == "fieldbridge.test"
    assert records[2]["order"] == 42 and "time" in records[2]


def test_a_callers_id_is_kept_when_it_is_sane() -> None:
    assert logs.new_request_id("abc-123_X.y:z") == "abc-123_X.y:z"
    made = logs.new_request_id("no spaces allowed")
    assert made != "no spaces allowed" and len(made) == 32
    assert logs.new_request_id("x" * 65) != "x" * 65 and len(logs.new_request_id(None)) == 32
