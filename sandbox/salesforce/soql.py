"""A subset of SOQL: a tokenizer, a recursive-descent parser and a compiler to Python closures.

Grammar (keywords are case-insensitive)::

    query      := SELECT items FROM name [WHERE cond] [ORDER BY order (, order)*]
                  [LIMIT int] [OFFSET int]
    items      := item (, item)*
    item       := path | COUNT ( [path] )
    path       := name (. name)*            -- Account.Name follows a lookup to its parent
    cond       := term (AND term)* | term (OR term)*   -- mixing AND and OR needs parentheses
    term       := NOT term | ( cond ) | path op literal | path [NOT] IN ( literal, ... )
                | path LIKE 'pattern'
    op         := = | != | <> | < | <= | > | >=
    order      := path [ASC | DESC] [NULLS FIRST | NULLS LAST]
    literal    := 'string' | number | TRUE | FALSE | NULL | 2026-01-31 | 2026-01-31T08:00:00Z

Errors are those of a real org: ``MALFORMED_QUERY`` for syntax, ``INVALID_TYPE`` for an
unknown object, ``INVALID_FIELD`` for an unknown field or a literal of the wrong type,
``INVALID_QUERY_FILTER_OPERATOR`` for a malformed Id, each with the query, a caret and
``ERROR at Row:r:Column:c`` in the message.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sandbox.salesforce.schema import NUMBER_TYPES, Field, SObjectType, normalize_id

Row = list[Any]
Getter = Callable[[Row], Any]
Lookup = Callable[[str], Mapping[str, Row]]

KEYWORDS = frozenset(
    {
        "select",
        "from",
        "where",
        "order",
        "by",
        "asc",
        "desc",
        "nulls",
        "first",
        "last",
        "limit",
        "offset",
        "and",
        "or",
        "not",
        "in",
        "like",
        "true",
        "false",
        "null",
        "group",
        "having",
        "with",
        "for",
        "using",
        "includes",
        "excludes",
        "typeof",
    }
)

_TOKEN = re.compile(
    r"""
     (?P<ws>\s+)
    |(?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:?\d{2}))
    |(?P<date>\d{4}-\d{2}-\d{2}(?![\dT]))
    |(?P<number>[+-]?(?:\d+\.\d*|\.\d+|\d+)(?![A-Za-z_]))
    |(?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    |(?P<op><=|>=|!=|<>|=|<|>)
    |(?P<punct>[(),.])
    """,
    re.VERBOSE,
)


class SoqlError(Exception):
    """A query the org refuses: ``code`` is the errorCode, ``message`` the full message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # ident, string, number, date, datetime, op, punct, eof
    text: str
    pos: int
    value: Any = None  # strings: the unescaped text; numbers: the float
    like: str | None = None  # strings: the pattern as a regular expression

    @property
    def keyword(self) -> str | None:
        lowered = self.text.lower()
        return lowered if self.kind == "ident" and lowered in KEYWORDS else None


def _error(query: str, pos: int, code: str, message: str) -> SoqlError:
    """The message a real org gives: the query's line, a caret under the spot, the position."""
    before = query[:pos]
    row = before.count("\n") + 1
    line_start = before.rfind("\n") + 1
    line_end = query.find("\n", pos)
    line = query[line_start : line_end if line_end >= 0 else len(query)]
    col = pos - line_start + 1
    caret = " " * (col - 1) + "^"
    return SoqlError(code, f"\n{line}\n{caret}\nERROR at Row:{row}:Column:{col}\n{message}")


def tokenize(query: str) -> list[Token]:
    tokens: list[Token] = []
    pos, n = 0, len(query)
    while pos < n:
        if query[pos] == "'":
            tokens.append(_string(query, pos))
            pos = tokens[-1].pos + len(tokens[-1].text)
            continue
        m = _TOKEN.match(query, pos)
        if m is None:
            raise _error(
                query,
                pos,
                "MALFORMED_QUERY",
                f"line 1:{pos} no viable alternative at character '{query[pos]}'",
            )
        kind = m.lastgroup or ""
        text = m.group()
        if kind != "ws":
            value = float(text) if kind == "number" else None
            tokens.append(Token(kind, text, pos, value))
        pos = m.end()
    tokens.append(Token("eof", "<EOF>", n))
    return tokens


def _string(query: str, start: int) -> Token:
    plain: list[str] = []
    like: list[str] = []
    pos = start + 1
    escapes = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", "'": "'", '"': '"'}
    while pos < len(query):
        ch = query[pos]
        if ch == "'":
            return Token(
                "string", query[start : pos + 1], start, "".join(plain), "".join(like) + r"\Z"
            )
        if ch == "\\":
            nxt = query[pos + 1 : pos + 2]
            if nxt in escapes:
                plain.append(escapes[nxt])
                like.append(re.escape(escapes[nxt]))
            elif nxt == "\\":
                plain.append("\\")
                like.append(re.escape("\\"))
            elif nxt in ("%", "_"):  # a literal % or _ in a LIKE pattern
                plain.append("\\" + nxt)
                like.append(re.escape(nxt))
            else:
                raise _error(
                    query,
                    pos,
                    "MALFORMED_QUERY",
                    f"Invalid string literal '{query[start : pos + 2]}'. Illegal character "
                    "sequence '\\" + nxt + "' in string literal.",
                )
            pos += 2
            continue
        plain.append(ch)
        like.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        pos += 1
    raise _error(query, start, "MALFORMED_QUERY", f"unexpected token: '{query[start:]}'")


# --- the syntax tree ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Path:
    parts: tuple[str, ...]
    pos: int

    @property
    def text(self) -> str:
        return ".".join(self.parts)


@dataclass(frozen=True, slots=True)
class Literal:
    kind: str  # string, number, boolean, null, date, datetime
    value: Any
    token: Token


@dataclass(frozen=True, slots=True)
class SelectItem:
    path: Path | None
    count: bool = False
    pos: int = 0


@dataclass(frozen=True, slots=True)
class Compare:
    path: Path
    op: str  # = != < <= > >= in notin like
    value: Literal | tuple[Literal, ...]
    pos: int


@dataclass(frozen=True, slots=True)
class BoolOp:
    op: str  # and, or
    items: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Not:
    item: Any


@dataclass(frozen=True, slots=True)
class OrderItem:
    path: Path
    desc: bool
    nulls_last: bool


@dataclass
class Query:
    text: str
    items: list[SelectItem]
    sobject: str
    sobject_pos: int
    where: Any = None
    order: list[OrderItem] = field(default_factory=list)
    limit: int | None = None
    offset: int | None = None


class _Parser:
    def __init__(self, query: str) -> None:
        self.query = query
        self.tokens = tokenize(query)
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def unexpected(self, tok: Token | None = None) -> SoqlError:
        tok = tok or self.tok
        return _error(self.query, tok.pos, "MALFORMED_QUERY", f"unexpected token: '{tok.text}'")

    def at_keyword(self, *words: str) -> bool:
        return self.tok.keyword in words

    def expect_keyword(self, word: str) -> Token:
        if self.tok.keyword != word:
            raise self.unexpected()
        return self.advance()

    def expect_punct(self, text: str) -> Token:
        if self.tok.kind != "punct" or self.tok.text != text:
            raise self.unexpected()
        return self.advance()

    def name(self) -> Token:
        if self.tok.kind != "ident" or self.tok.keyword is not None:
            raise self.unexpected()
        return self.advance()

    def path(self) -> Path:
        first = self.name()
        parts = [first.text]
        while self.tok.kind == "punct" and self.tok.text == ".":
            self.advance()
            parts.append(self.name().text)
        return Path(tuple(parts), first.pos)

    def integer(self) -> int:
        tok = self.tok
        if tok.kind != "number" or not tok.text.isdigit():
            raise self.unexpected()
        self.advance()
        return int(tok.text)

    def parse(self) -> Query:
        self.expect_keyword("select")
        items = [self.select_item()]
        while self.tok.kind == "punct" and self.tok.text == ",":
            self.advance()
            items.append(self.select_item())
        self.expect_keyword("from")
        obj = self.name()
        q = Query(self.query, items, obj.text, obj.pos)
        if self.at_keyword("where"):
            self.advance()
            q.where = self.condition()
        if self.at_keyword("order"):
            self.advance()
            self.expect_keyword("by")
            q.order.append(self.order_item())
            while self.tok.kind == "punct" and self.tok.text == ",":
                self.advance()
                q.order.append(self.order_item())
        if self.at_keyword("limit"):
            self.advance()
            q.limit = self.integer()
        if self.at_keyword("offset"):
            self.advance()
            q.offset = self.integer()
        if self.tok.kind != "eof":
            raise self.unexpected()
        return q

    def select_item(self) -> SelectItem:
        tok = self.tok
        if tok.kind == "ident" and tok.text.lower() == "count" and self.peek_is("("):
            self.advance()
            self.expect_punct("(")
            path = None
            if not (self.tok.kind == "punct" and self.tok.text == ")"):
                path = self.path()
            self.expect_punct(")")
            return SelectItem(path, count=True, pos=tok.pos)
        return SelectItem(self.path(), pos=tok.pos)

    def peek_is(self, text: str) -> bool:
        nxt = self.tokens[self.i + 1]
        return nxt.kind == "punct" and nxt.text == text

    def order_item(self) -> OrderItem:
        path = self.path()
        desc = False
        if self.at_keyword("asc", "desc"):
            desc = self.advance().keyword == "desc"
        nulls_last = desc  # ascending puts nulls first, descending last
        if self.at_keyword("nulls"):
            self.advance()
            if not self.at_keyword("first", "last"):
                raise self.unexpected()
            nulls_last = self.advance().keyword == "last"
        return OrderItem(path, desc, nulls_last)

    def condition(self) -> Any:
        first = self.term()
        if not self.at_keyword("and", "or"):
            return first
        op = self.tok.keyword or ""
        items = [first]
        while self.at_keyword("and", "or"):
            if self.tok.keyword != op:  # SOQL wants parentheses where AND and OR meet
                raise self.unexpected()
            self.advance()
            items.append(self.term())
        return BoolOp(op, tuple(items))

    def term(self) -> Any:
        if self.at_keyword("not"):
            self.advance()
            return Not(self.term())
        if self.tok.kind == "punct" and self.tok.text == "(":
            self.advance()
            inner = self.condition()
            self.expect_punct(")")
            return inner
        path = self.path()
        tok = self.tok
        if tok.kind == "op":
            self.advance()
            op = "!=" if tok.text == "<>" else tok.text
            return Compare(path, op, self.literal(), tok.pos)
        if self.at_keyword("not"):
            self.advance()
            self.expect_keyword("in")
            return Compare(path, "notin", self.literal_list(), tok.pos)
        if self.at_keyword("in"):
            self.advance()
            return Compare(path, "in", self.literal_list(), tok.pos)
        if self.at_keyword("like"):
            self.advance()
            value = self.literal()
            if value.kind != "string":
                raise self.unexpected(value.token)
            return Compare(path, "like", value, tok.pos)
        raise self.unexpected()

    def literal_list(self) -> tuple[Literal, ...]:
        self.expect_punct("(")
        values = [self.literal()]
        while self.tok.kind == "punct" and self.tok.text == ",":
            self.advance()
            values.append(self.literal())
        self.expect_punct(")")
        return tuple(values)

    def literal(self) -> Literal:
        tok = self.tok
        if tok.kind in ("string", "number", "date", "datetime"):
            self.advance()
            return Literal(
                tok.kind, tok.value if tok.kind in ("string", "number") else tok.text, tok
            )
        if tok.keyword in ("true", "false"):
            self.advance()
            return Literal("boolean", tok.keyword == "true", tok)
        if tok.keyword == "null":
            self.advance()
            return Literal("null", None, tok)
        raise self.unexpected()


def parse(query: str) -> Query:
    return _Parser(query).parse()


# --- binding to the org's schema -----------------------------------------------------------


def datetime_text(value: datetime) -> str:
    """A datetime as the org writes it: UTC, milliseconds, ``+0000``."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


@dataclass
class Resolved:
    getter: Getter
    field: Field
    chain: tuple[Field, ...]  # the lookup fields followed (empty for a field of the object)


@dataclass
class Compiled:
    sobject: SObjectType
    predicate: Callable[[Row], bool] | None
    order: list[tuple[Getter, bool, bool, bool]]  # getter, descending, nulls last, casefold
    render: Callable[[Row, str], dict[str, Any]]
    count_only: bool  # SELECT COUNT() FROM ...
    count_items: list[Resolved | None]  # SELECT COUNT(Id), COUNT() ...
    limit: int | None
    offset: int | None


def _no_such_column(q: Query, path: Path, obj: SObjectType) -> SoqlError:
    return _error(
        q.text,
        path.pos,
        "INVALID_FIELD",
        f"No such column '{path.parts[-1]}' on entity '{obj.name}'. If you are attempting to "
        "use a custom field, be sure to append the '__c' after the custom field name. Please "
        "reference your WSDL or the describe call for the appropriate names.",
    )


class Binder:
    """Turns a parsed query into closures over the org's rows."""

    def __init__(self, schema: Mapping[str, SObjectType], lookup: Lookup) -> None:
        self.schema = schema
        self.schema_lower = {name.lower(): t for name, t in schema.items()}
        self.lookup = lookup

    def compile(self, q: Query) -> Compiled:
        obj = self.schema_lower.get(q.sobject.lower())
        if obj is None:
            raise _error(
                q.text,
                q.sobject_pos,
                "INVALID_TYPE",
                f"sObject type '{q.sobject}' is not supported. If you are attempting to use a "
                "custom object, be sure to append the '__c' after the entity name. Please "
                "reference your WSDL or the describe call for the appropriate names.",
            )
        counts = [item for item in q.items if item.count]
        count_only = False
        count_items: list[Resolved | None] = []
        if counts:
            if len(counts) != len(q.items):
                plain = next(item for item in q.items if not item.count)
                raise _error(
                    q.text,
                    plain.pos,
                    "MALFORMED_QUERY",
                    f"Field must be grouped or aggregated: {plain.path.text if plain.path else ''}",
                )
            count_only = len(counts) == 1 and counts[0].path is None
            count_items = [self.resolve(q, obj, c.path) if c.path else None for c in counts]
        seen: set[str] = set()
        for item in q.items:
            if item.path is None or item.count:
                continue
            key = self.canonical(q, obj, item.path).lower()
            if key in seen:
                raise _error(
                    q.text, item.pos, "MALFORMED_QUERY", f"duplicate field selected: {key}"
                )
            seen.add(key)
        predicate = self.condition(q, obj, q.where) if q.where is not None else None
        order = []
        for o in q.order:
            r = self.resolve(q, obj, o.path)
            order.append((r.getter, o.desc, o.nulls_last, r.field.text))
        render = self.renderer(q, obj)
        return Compiled(obj, predicate, order, render, count_only, count_items, q.limit, q.offset)

    # paths

    def canonical(self, q: Query, obj: SObjectType, path: Path) -> str:
        r = self.resolve(q, obj, path)
        return ".".join([*(f.relationship_name or "" for f in r.chain), r.field.name])

    def resolve(self, q: Query, obj: SObjectType, path: Path) -> Resolved:
        parts = list(path.parts)
        first = parts[0].lower()
        if len(parts) > 1 and first == obj.name.lower() and first not in obj.relationships:
            parts = parts[1:]  # SELECT Account.Name FROM Account
        chain: list[Field] = []
        current = obj
        for part in parts[:-1]:
            rel = current.relationships.get(part.lower())
            if rel is None:
                raise _error(
                    q.text,
                    path.pos,
                    "INVALID_FIELD",
                    f"Didn't understand relationship '{part}' in field path. If you are "
                    "attempting to use a custom relationship, be sure to append the '__r' "
                    "after the custom relationship name. Please reference your WSDL or the "
                    "describe call for the appropriate names.",
                )
            chain.append(rel)
            current = self.schema[rel.reference_to[0]]
        f = current.field(parts[-1])
        if f is None:
            raise _no_such_column(q, path, current)
        index = current.index[f.name]
        if not chain:
            return Resolved(_item(index), f, ())
        steps = []
        walk = obj
        for rel in chain:
            steps.append((walk.index[rel.name], rel.reference_to[0]))
            walk = self.schema[rel.reference_to[0]]
        lookup = self.lookup

        def getter(row: Row) -> Any:
            for ref_index, target in steps:
                ref = row[ref_index]
                if ref is None:
                    return None
                parent = lookup(target).get(ref)
                if parent is None or parent[1]:  # missing or deleted
                    return None
                row = parent
            return row[index]

        return Resolved(getter, f, tuple(chain))

    # WHERE

    def condition(self, q: Query, obj: SObjectType, node: Any) -> Callable[[Row], bool]:
        if isinstance(node, BoolOp):
            parts = [self.condition(q, obj, item) for item in node.items]
            if node.op == "and":
                return lambda row: all(p(row) for p in parts)
            return lambda row: any(p(row) for p in parts)
        if isinstance(node, Not):
            inner = self.condition(q, obj, node.item)
            return lambda row: not inner(row)
        assert isinstance(node, Compare)
        return self.compare(q, obj, node)

    def compare(self, q: Query, obj: SObjectType, c: Compare) -> Callable[[Row], bool]:
        r = self.resolve(q, obj, c.path)
        get, f = r.getter, r.field
        if c.op == "like":
            assert isinstance(c.value, Literal)
            if not f.text:
                raise _error(
                    q.text,
                    c.pos,
                    "INVALID_FIELD",
                    f"invalid operator on {f.type} field: {f.name}",
                )
            pattern = re.compile(c.value.token.like or "", re.IGNORECASE | re.DOTALL)
            return lambda row: (v := get(row)) is not None and pattern.match(v) is not None
        if c.op in ("in", "notin"):
            assert isinstance(c.value, tuple)
            values = {self.value(q, f, lit) for lit in c.value}
            if f.text:
                values = {v.lower() if isinstance(v, str) else v for v in values}

                def norm(v: Any) -> Any:
                    return v.lower() if isinstance(v, str) else v
            else:

                def norm(v: Any) -> Any:
                    return v

            if c.op == "in":
                return lambda row: norm(get(row)) in values
            return lambda row: norm(get(row)) not in values
        assert isinstance(c.value, Literal)
        value = self.value(q, f, c.value)
        if value is None:
            if c.op == "=":
                return lambda row: get(row) is None
            if c.op == "!=":
                return lambda row: get(row) is not None
            return lambda row: False
        if f.text:
            value = value.lower()
            base = get

            def get(row: Row) -> Any:
                v = base(row)
                return v.lower() if v is not None else None

        op = c.op
        if op == "=":
            return lambda row: get(row) == value
        if op == "!=":
            return lambda row: get(row) != value
        if op == "<":
            return lambda row: (v := get(row)) is not None and v < value
        if op == "<=":
            return lambda row: (v := get(row)) is not None and v <= value
        if op == ">":
            return lambda row: (v := get(row)) is not None and v > value
        return lambda row: (v := get(row)) is not None and v >= value

    def value(self, q: Query, f: Field, lit: Literal) -> Any:
        """The literal as the org stores values of ``f``, or INVALID_FIELD when it cannot be."""
        if lit.kind == "null":
            return None
        t = f.type

        def wrong(kind: str, quoted: bool) -> SoqlError:
            return _error(
                q.text,
                lit.token.pos,
                "INVALID_FIELD",
                f"value of filter criterion for field '{f.name}' must be of type {kind} and "
                + (
                    "should be enclosed in quotes" if quoted else "should not be enclosed in quotes"
                ),
            )

        if t in ("id", "reference"):
            if lit.kind != "string":
                raise wrong("id", True)
            normal = normalize_id(lit.value)
            if normal is None:
                raise _error(
                    q.text,
                    lit.token.pos,
                    "INVALID_QUERY_FILTER_OPERATOR",
                    f"invalid ID field: {lit.value}",
                )
            return normal
        if f.text:
            if lit.kind != "string":
                raise wrong("string", True)
            return lit.value
        if t in NUMBER_TYPES:
            if lit.kind != "number":
                raise wrong("double" if t != "int" else "int", False)
            return lit.value
        if t == "boolean":
            if lit.kind != "boolean":
                raise wrong("boolean", False)
            return lit.value
        if t == "date":
            if lit.kind != "date":
                raise wrong("date", False)
            try:
                return date.fromisoformat(lit.value).isoformat()
            except ValueError:
                raise wrong("date", False) from None
        if t == "datetime":
            if lit.kind != "datetime":
                raise wrong("dateTime", False)
            try:
                return datetime_text(datetime.fromisoformat(lit.value))
            except ValueError:
                raise wrong("dateTime", False) from None
        raise wrong(t, False)

    # SELECT

    def renderer(self, q: Query, obj: SObjectType) -> Callable[[Row, str], dict[str, Any]]:
        tree: dict[str, Any] = {}  # name -> index (a field) or (ref index, type, subtree)
        for item in q.items:
            if item.path is None or item.count:
                continue
            r = self.resolve(q, obj, item.path)
            node = tree
            walk = obj
            for rel in r.chain:
                rel_name = rel.relationship_name or ""
                target = self.schema[rel.reference_to[0]]
                if rel_name not in node:
                    node[rel_name] = (walk.index[rel.name], target, {})
                node = node[rel_name][2]
                walk = target
            node[r.field.name] = walk.index[r.field.name]
        lookup = self.lookup

        def render(sobject: SObjectType, node: dict[str, Any], row: Row, version: str) -> dict:
            out: dict[str, Any] = {
                "attributes": {
                    "type": sobject.name,
                    "url": f"/services/data/v{version}/sobjects/{sobject.name}/{row[0]}",
                }
            }
            for name, spec in node.items():
                if isinstance(spec, int):
                    out[name] = row[spec]
                    continue
                ref_index, target, sub = spec
                ref = row[ref_index]
                parent = lookup(target.name).get(ref) if ref is not None else None
                if parent is None or parent[1]:
                    out[name] = None
                else:
                    out[name] = render(target, sub, parent, version)
            return out

        return lambda row, version: render(obj, tree, row, version)


def _item(index: int) -> Getter:
    return lambda row: row[index]
