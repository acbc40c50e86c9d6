"""The access-control matrix: who may call what, as ``docs/access-matrix.md`` states it.

One row per operation of the OpenAPI document (``GET /api/v1/work-orders``), one column per
caller: each role's token, no token (``anonymous``), and an admin's token that has
``expired``, was ``revoked`` or was ``tampered`` with (a requester's, its role rewritten to
admin, its signature kept). An entry is what that caller gets:

- ``ok``: past the token and role checks; the answer is neither 401 nor 403 (it may still be a
  404, 409 or 422 for the data or the body it was sent);
- ``401``, ``403``: refused so;
- ``404``: refused as if the resource did not exist (an order the caller may not see).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from orchestrator.domain.lifecycle import Role

MATRIX_FILE = Path(__file__).resolve().parents[2] / "docs" / "access-matrix.md"
ANONYMOUS = "anonymous"
CALLERS = (*(role.value for role in Role), ANONYMOUS)
"""Who holds a valid token of each role, and who holds none."""
BAD_TOKENS = ("expired", "revoked", "tampered")
COLUMNS = (*CALLERS, *BAD_TOKENS)
OUTCOMES = frozenset({"ok", "401", "403", "404"})
REFUSALS = frozenset({"401", "403"})
"""Entries where the answer cannot depend on the request beyond its token."""

_ROW = re.compile(r"^\|\s*`(?P<label>[A-Z]+ /[^`]*)`\s*\|(?P<cells>.*)\|\s*$")
_HEADER = re.compile(r"^\|\s*operation\s*\|")


def read_matrix(path: Path = MATRIX_FILE) -> dict[str, dict[str, str]]:
    """Each operation's row, by its label (``METHOD /path``): caller -> expected outcome.
    A table that is malformed (another column order, an unknown outcome, a row twice)
    raises ``ValueError`` naming the line."""
    rows: dict[str, dict[str, str]] = {}
    header_seen = False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        where = f"{path.name}:{number}"
        if _HEADER.match(line):
            names = [cell.strip() for cell in line.strip().strip("|").split("|")][1:]
            if tuple(names) != COLUMNS:
                raise ValueError(f"{where}: the columns must be operation, {', '.join(COLUMNS)}")
            header_seen = True
            continue
        row = _ROW.match(line)
        if row is None:
            continue
        if not header_seen:
            raise ValueError(f"{where}: a row before the table's header")
        cells = [cell.strip() for cell in row["cells"].split("|")]
        unknown = [cell for cell in cells if cell not in OUTCOMES]
        if len(cells) != len(COLUMNS) or unknown:
            raise ValueError(f"{where}: {len(COLUMNS)} entries of {sorted(OUTCOMES)} expected")
        if row["label"] in rows:
            raise ValueError(f"{where}: {row['label']} has a row already")
        rows[row["label"]] = dict(zip(COLUMNS, cells, strict=True))
    return rows


def operation_labels(spec: dict[str, Any]) -> list[str]:
    """Every operation of an OpenAPI document, as the table (and schemathesis) names it."""
    return [
        f"{method.upper()} {path}"
        for path, operations in spec["paths"].items()
        for method in operations
    ]


def outcome(status: int, expected: str) -> str:
    """What an answer's ``status`` shows, in the table's words: ``expected`` when it agrees,
    else the status itself (``"422"`` where ``401`` was expected)."""
    agrees = status not in (401, 403) if expected == "ok" else status == int(expected)
    return expected if agrees else str(status)
