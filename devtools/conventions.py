"""``python -m devtools.conventions PATH ...``: two rules of the house that no linter here
checks, over every ``.py`` file under the paths (migrations are not read).

- No function is longer than 80 lines (``--max-lines``), from its ``def`` to its last line,
  docstring included, unless a ``# long: <why>`` comment stands on the line of its ``def`` or
  just above it (or above its decorators).
- No name is a single letter outside a comprehension or a lambda: an argument, an assigned
  or loop variable, an exception, a function or a class (``_`` is not a name; a type
  variable, ``T = TypeVar("T")``, is allowed).

Prints each finding as ``path:line: ...`` and exits 1 when there is one, 0 otherwise.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterator
from pathlib import Path

MAX_LINES = 80
SKIPPED = ("migrations",)
REASON = "# long:"
TYPE_VARIABLES = ("TypeVar", "ParamSpec", "TypeVarTuple")
Function = ast.FunctionDef | ast.AsyncFunctionDef
COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp, ast.Lambda)


def long_functions(tree: ast.AST, lines: list[str], limit: int) -> Iterator[tuple[int, str]]:
    """Functions longer than ``limit`` lines that give no reason."""
    for node in ast.walk(tree):
        if isinstance(node, Function):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > limit and not _excused(lines, node):
                yield node.lineno, f"{node.name} is {length} lines (at most {limit})"


def _excused(lines: list[str], node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    candidates = [lines[node.lineno - 1]] + ([lines[first - 2]] if first >= 2 else [])
    return any(REASON in line for line in candidates)


def single_letters(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """Names of one letter outside comprehensions and lambdas."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, COMPREHENSIONS):
            inside.update(id(sub) for sub in ast.walk(node))
        elif isinstance(node, ast.Assign) and _makes_type_variable(node):
            inside.update(id(target) for target in node.targets)
    for node in ast.walk(tree):
        if id(node) in inside:
            continue
        name = _bound_name(node)
        if name is not None and len(name) == 1 and name != "_":
            yield getattr(node, "lineno", 0), f"the name {name!r} is a single letter"


def _makes_type_variable(node: ast.Assign) -> bool:
    call = node.value
    return (
        isinstance(call, ast.Call)
        and isinstance(call.func, ast.Name | ast.Attribute)
        and (call.func.id if isinstance(call.func, ast.Name) else call.func.attr) in TYPE_VARIABLES
    )


def _bound_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.arg):
        return node.arg
    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
        return node.id
    if isinstance(node, ast.ExceptHandler):
        return node.name
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return node.name
    return None


def python_files(paths: list[Path]) -> Iterator[Path]:
    for root in paths:
        found = [root] if root.is_file() else sorted(root.rglob("*.py"))
        yield from (p for p in found if not any(part in SKIPPED for part in p.parts))


def findings(path: Path, max_lines: int) -> Iterator[str]:
    text = path.read_text(encoding="utf-8")
    tree = ast.parse(text, filename=str(path))
    found = [*long_functions(tree, text.splitlines(), max_lines), *single_letters(tree)]
    for line, what in sorted(found):
        yield f"{path}:{line}: {what}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--max-lines", type=int, default=MAX_LINES, help="of a function")
    args = parser.parse_args(argv)
    found = [line for path in python_files(args.paths) for line in findings(path, args.max_lines)]
    for line in found:
        print(line)
    if found:
        print(f"{len(found)} findings (a long function may say why with '{REASON} ...')")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
