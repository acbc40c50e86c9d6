"""``fieldbridge demo``: the whole story against the simulators, checked by their ledgers."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from tests.support.cli import FIELDBRIDGE


def test_the_demo_closes_orders_and_every_destination_has_each_once(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDBRIDGE_")}
    env["COLUMNS"] = "200"
    page = tmp_path / "report.html"
    done = subprocess.run(
        [FIELDBRIDGE, "demo", "--orders", "12", "--seed", "3", "--html", str(page)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    out = done.stderr
    assert done.returncode == 0, out
    assert "OK: every closed order reached each destination exactly once" in out
    closed = int(re.search(r"│ closed\s+│\s+(\d+) │", out).group(1))  # type: ignore[union-attr]
    assert closed >= 10  # a revisit the next day closes the cannot-complete ones too
    assert re.search(rf"first-time-fix rate: \d+% \(\d+ of {closed} closed", out)
    for destination in ("erp", "finance"):
        assert re.search(rf"│ {destination}\s+│\s+{closed} │\s+0 │\s+0 │", out), destination
    crm = re.search(r"│ crm\s+│\s+(\d+) │\s+0 │\s+0 │", out)  # jobs and certification pushes
    assert crm is not None and int(crm.group(1)) > closed
    for ledger in ("Salesforce WorkOrder", "SAP invoice request", "finance"):
        assert re.search(rf"│ {ledger}\s+│\s+{closed} │\s+{closed} │ none", out), ledger
    assert "fieldbridge demo: OK" in page.read_text()
    assert not (tmp_path / "fieldbridge.db").exists(), "the store lives in a temporary directory"
