"""``python -m devtools.function_length [--max N] PATH ...``: every function longer than
``--max`` lines (80), from its ``def`` to its last line, docstring included.

A function may be longer when a comment says why: ``# long: <why>`` on the line of its
``def`` or on the line just above it (or above its decorators). Migrations are not read.
Exits 1 when any function is too long and says none, 0 otherwise.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterator
from pathlib import Path

LIMIT = 80
SKIPPED = ("migrations",)
REASON = "# long:"


def functions(tree: ast.AST) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def excused(lines: list[str], node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Whether a ``# long:`` comment stands on the ``def`` line or just above the function."""
    first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    candidates = [lines[node.lineno - 1]]
    if first >= 2:
        candidates.append(lines[first - 2])
    return any(REASON in line for line in candidates)


def too_long(path: Path, limit: int) -> Iterator[str]:
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    for node in functions(ast.parse(text, filename=str(path))):
        length = (node.end_lineno or node.lineno) - node.lineno + 1
        if length > limit and not excused(lines, node):
            yield f"{path}:{node.lineno}: {node.name} is {length} lines (at most {limit})"


def python_files(paths: list[Path]) -> Iterator[Path]:
    for root in paths:
        found = [root] if root.is_file() else sorted(root.rglob("*.py"))
        yield from (p for p in found if not any(part in SKIPPED for part in p.parts))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--max", type=int, default=LIMIT, help="lines a function may have")
    args = parser.parse_args(argv)
    found = [line for path in python_files(args.paths) for line in too_long(path, args.max)]
    for line in found:
        print(line)
    if found:
        print(f"{len(found)} functions longer than {args.max} lines (say why with '{REASON}')")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
